/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_events.c: events from the core (issue 8): any number of subscribers,
 * unsubscribing from inside a callback, each event with the object's state
 * before and after, the kind table. Against the fake target. */
#include <stdio.h>
#include <string.h>

#include "fake_fixture.h"
#include "testlib.h"

#define MAX_SEEN 64

typedef struct seen {
  int n;
  mcsi_event_kind kind[MAX_SEEN];
  char old_state[MAX_SEEN][16], new_state[MAX_SEEN][16];
  uint64_t self;                 /* its own subscription, for unsubscribing */
  int leave_after;               /* unsubscribe after this many events (0: never) */
} seen;

static void record(mcsi_initiator *ini, const mcsi_event *ev, void *arg)
{
  seen *s = arg;
  if (s->n < MAX_SEEN) {
    s->kind[s->n] = ev->kind;
    snprintf(s->old_state[s->n], sizeof s->old_state[0], "%s", ev->old_state ? ev->old_state : "-");
    snprintf(s->new_state[s->n], sizeof s->new_state[0], "%s", ev->new_state ? ev->new_state : "-");
  }
  s->n++;
  if (s->leave_after && s->n == s->leave_after)
    mcsi_unsubscribe(ini, s->self);
}

static int find(const seen *s, mcsi_event_kind kind)
{
  for (int i = 0; i < s->n && i < MAX_SEEN; i++)
    if (s->kind[i] == kind)
      return i;
  return -1;
}

static void check_transition(const seen *s, mcsi_event_kind kind, const char *from, const char *to)
{
  int i = find(s, kind);
  if (!T_OK(i >= 0, "%s was told", mcsi_event_name(kind)))
    return;
  T_EQ_STR(s->old_state[i], from, "%s: old state", mcsi_event_name(kind));
  T_EQ_STR(s->new_state[i], to, "%s: new state", mcsi_event_name(kind));
}

static void test_kind_table(void)
{
  T_EQ_INT(MCSI_EV_COUNT, 12, "eleven kinds, numbered 1..11, and the count after them");
  T_OK(mcsi_event_name(0) == NULL && mcsi_event_name(MCSI_EV_COUNT) == NULL, "no name outside the kinds");
  int distinct = 1;
  for (int i = 1; i < MCSI_EV_COUNT; i++)
    for (int j = 1; j < i; j++)
      distinct &= strcmp(mcsi_event_name((mcsi_event_kind)i), mcsi_event_name((mcsi_event_kind)j)) != 0;
  T_OK(distinct, "every kind has its own name");
  T_EQ_STR(mcsi_event_name(MCSI_EV_CONN_FAILED), "conn-failed", "conn-failed by name");
}

static void test_subscribers(void)
{
  fake_target_opts to;
  seen a = { 0 }, b = { 0 }, c = { 0 };
  fx f;

  memset(&to, 0, sizeof to);
  if (!fx_init(&f, &to)) {
    fx_end(&f);
    return;
  }
  a.self = mcsi_subscribe(f.ini, record, &a);
  b.self = mcsi_subscribe(f.ini, record, &b);
  c.self = mcsi_subscribe(f.ini, record, &c);
  b.leave_after = 1;
  T_OK(a.self && b.self && c.self && a.self != b.self && b.self != c.self, "three subscriptions, three ids");
  if (t_status(fx_login(&f), ISDSC_SUCCESS, "login", &f)) {
    T_EQ_INT(a.n, 3, "subscriber 1 heard conn-logging-in, conn-active, session-active");
    T_EQ_INT(c.n, a.n, "subscriber 3 heard the same");
    T_EQ_INT(b.n, 1, "subscriber 2 left from inside its first callback and heard nothing more");
    check_transition(&a, MCSI_EV_CONN_LOGGING_IN, "-", "logging-in");
    check_transition(&a, MCSI_EV_CONN_ACTIVE, "logging-in", "active");
    check_transition(&a, MCSI_EV_SESSION_ACTIVE, "-", "active");
    mcsi_unsubscribe(f.ini, c.self);
    mcsi_unsubscribe(f.ini, c.self);
    fx_logout_ok(&f, "logout");
    check_transition(&a, MCSI_EV_SESSION_LOGGED_OUT, "active", "logged-out");
    T_EQ_INT(c.n, 3, "an unsubscribed subscriber hears nothing (unsubscribing twice is harmless)");
  }
  fx_end(&f);
}

static void test_failure_states(void)
{
  fake_target_opts to;
  seen a = { 0 };
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  fx f;

  memset(&to, 0, sizeof to);
  to.scenario = FAKE_NEVER_ANSWERS_COMMAND;
  if (fx_start(&f, &to)) {
    mcsi_set_event_callback(f.ini, record, &a);
    t_status(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), ISDSC_SERVICE_DID_NOT_RESPOND, "command timed out", &f);
    check_transition(&a, MCSI_EV_CONN_FAILED, "active", "failed");
    check_transition(&a, MCSI_EV_CONN_REMOVED, "failed", "removed");
    check_transition(&a, MCSI_EV_SESSION_FAILED, "active", "failed");
    mcsi_set_event_callback(f.ini, NULL, NULL);
    fx_logout_any(&f, "failed session");
  }
  fx_end(&f);
}

int main(void)
{
  test_kind_table();
  test_subscribers();
  test_failure_states();
  return t_done();
}
