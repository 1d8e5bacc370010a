/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_inflight.c: every operation in flight when its session ends gets its
 * callback exactly once (issue 14, "every request gets exactly one answer").
 * An AddConnectionToSession to a portal that accepts TCP and never answers
 * is in flight when the session is logged out: the add's callback runs once,
 * with a failing Status, before the logout's; nothing refers to the freed
 * connection afterwards (freeing the initiator used to write into it: a
 * heap use-after-free under make asan). Needs no real target. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_fixture.h"
#include "testlib.h"
#include "testopts.h"
#include "testsock.h"

/* One operation's completions: how many, the last Status, and the order. */
typedef struct seen {
  int calls;
  mcsi_status st;
  int order;
  char message[256];
} seen;

static int order_counter;

static void on_result(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)result;
  seen *s = arg;
  (void)ini;
  s->calls++;
  s->st = st;
  s->order = ++order_counter;
  snprintf(s->message, sizeof s->message, "%s", message ? message : "");
}

static void run_for(mcsi_initiator *ini, int64_t ms)
{
  int64_t end = now_ms() + ms;
  while (now_ms() < end) mcsi_process(ini, 10);
}

static int run_until(mcsi_initiator *ini, const int *flag, int64_t ms)
{
  int64_t end = now_ms() + ms;
  while (!*flag && now_ms() < end) mcsi_process(ini, 10);
  return *flag != 0;
}

/* Starts an add to the silent portal that would wait 10 s for its login. */
static int start_silent_add(fx *f, const char *silent, seen *add)
{
  mcsi_conn_opts *co = t_conn_opts(silent, MCSI_OPT_LOGIN_TIMEOUT_MS, 10000, 0);
  return t_status(mcsi_add_connection_async(f->ini, f->sid, co, MCSI_COMPLETION(on_result, add)), ISDSC_SUCCESS,
                  "an add to a silent portal starts", f);
}

/* LogoutFromTarget while the add is in flight: both answered, each once. */
static void logout_during_add(void)
{
  fake_target_opts to = { .scenario = FAKE_NORMAL, .mcs = 1 };
  char silent[64];
  int lfd = t_silent_listener(silent, sizeof silent, 16);
  fx f;
  seen add = { 0 }, out = { 0 };
  if (!T_OK(lfd >= 0, "a silent portal (%s)", silent) || !fx_init(&f, &to)) {
    if (lfd >= 0) close(lfd);
    return;
  }
  t_login_set(f.lo, MCSI_OPT_MAX_CONNECTIONS, 4);
  t_status(fx_login(&f), ISDSC_SUCCESS, "login (MaxConnections 4)", &f);
  if (start_silent_add(&f, silent, &add)) {
    run_for(f.ini, 100);
    T_EQ_INT(add.calls, 0, "the add is still in flight after 100 ms (its portal is silent)");
    int64_t t0 = now_ms();
    t_status(mcsi_logout_from_target_async(f.ini, f.sid, MCSI_COMPLETION(on_result, &out)), ISDSC_SUCCESS,
             "LogoutFromTarget starts while the add is in flight", &f);
    run_until(f.ini, &out.calls, 3000);
    T_EQ_INT(out.calls, 1, "the logout is answered once");
    t_status(out.st, ISDSC_SUCCESS, "... with ISDSC_SUCCESS", &f);
    T_EQ_INT(add.calls, 1, "the add in flight is answered once, when the session ends (%s)", add.message);
    t_status(add.st, ISDSC_CONNECTION_FAILED, "... with ISDSC_CONNECTION_FAILED", &f);
    T_OK(strstr(add.message, "logged out") != NULL, "... and says the session was logged out: \"%s\"", add.message);
    T_OK(add.order && add.order < out.order, "... before the logout's own answer");
    int64_t took = now_ms() - t0;
    T_OK(took < 2000, "both within 2 s, not the add's 10 s login timeout");
    printf("# the add and the logout answered %lld ms after the logout started\n", (long long)took);
    run_for(f.ini, 200);
    T_EQ_INT(add.calls + out.calls, 2, "and never again");
    size_t n = mcsi_session_list(f.ini, NULL, 0);
    T_EQ_INT(n, 0, "no session left");
  }
  fx_end(&f);   /* frees the initiator: nothing may touch the freed connection (make asan) */
  close(lfd);
}

/* The session is freed with the initiator while an add is in flight: its
 * callback never runs (the initiator's end says nothing), and nothing
 * touches freed memory. */
static void free_during_add(void)
{
  fake_target_opts to = { .scenario = FAKE_NORMAL, .mcs = 1 };
  char silent[64];
  int lfd = t_silent_listener(silent, sizeof silent, 16);
  fx f;
  seen add = { 0 };
  if (!T_OK(lfd >= 0, "a silent portal (%s)", silent) || !fx_init(&f, &to)) {
    if (lfd >= 0) close(lfd);
    return;
  }
  t_login_set(f.lo, MCSI_OPT_MAX_CONNECTIONS, 4);
  t_status(fx_login(&f), ISDSC_SUCCESS, "login (MaxConnections 4)", &f);
  if (start_silent_add(&f, silent, &add)) {
    run_for(f.ini, 50);
    fx_end(&f);
    T_EQ_INT(add.calls, 0, "mcsi_initiator_free with an add in flight: no callback after the end, no crash");
  } else {
    fx_end(&f);
  }
  close(lfd);
}

/* Two adds in flight and a logout, all answered, the logout last. */
static void logout_during_two_adds(void)
{
  fake_target_opts to = { .scenario = FAKE_NORMAL, .mcs = 1 };
  char silent[64];
  int lfd = t_silent_listener(silent, sizeof silent, 16);
  fx f;
  seen a = { 0 }, b = { 0 }, out = { 0 };
  if (!T_OK(lfd >= 0, "a silent portal (%s)", silent) || !fx_init(&f, &to)) {
    if (lfd >= 0) close(lfd);
    return;
  }
  t_login_set(f.lo, MCSI_OPT_MAX_CONNECTIONS, 4);
  t_status(fx_login(&f), ISDSC_SUCCESS, "login (MaxConnections 4)", &f);
  if (start_silent_add(&f, silent, &a) && start_silent_add(&f, silent, &b)) {
    run_for(f.ini, 50);
    t_status(mcsi_logout_from_target_async(f.ini, f.sid, MCSI_COMPLETION(on_result, &out)), ISDSC_SUCCESS, "logout with two adds in flight", &f);
    run_until(f.ini, &out.calls, 3000);
    run_for(f.ini, 100);
    T_OK(a.calls == 1 && b.calls == 1 && out.calls == 1, "each of the three answered once (%d, %d, %d)", a.calls,
         b.calls, out.calls);
    T_OK(a.order < out.order && b.order < out.order, "the adds before the logout");
  }
  fx_end(&f);
  close(lfd);
}

int main(void)
{
  logout_during_add();
  free_during_add();
  logout_during_two_adds();
  return t_done();
}
