/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_concurrency.c: any number of operations in flight on one initiator
 * (issue 8). 100 logins started at once, 90 to tgt and 10 to a portal that
 * accepts the TCP connection and never answers, while connections are added
 * to and removed from another session over and over: every operation
 * answers its own Status, every fast one before the first slow one, and the
 * whole takes about the slowest, not the sum. Needs the harness's tgtd. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"
#include "testsock.h"

#define FAST 90
#define SLOW 10
#define SLOW_TIMEOUT_MS 3000
#define CYCLES 10

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct op {
  int done;
  mcsi_status st;
  mcsi_id sid;
  double ended;
} op;

static void op_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  const mcsi_session_result *ids = result;
  (void)message;
  op *o = arg;
  (void)ini;
  o->done = 1;
  o->st = st;
  o->sid = ids->session_id;
  o->ended = now_ms();
}

/* Session B's connection is added and removed CYCLES times, each step
 * started from the previous one's callback. */
typedef struct churn {
  mcsi_initiator *ini;
  mcsi_id sid, cid;
  const char *portal;
  int steps, failed, finished;
  double started, worst_ms;
  mcsi_status first_fail;
} churn;

static void churn_step(churn *c);

static void churn_note(churn *c, mcsi_status st)
{
  double ms = now_ms() - c->started;
  if (ms > c->worst_ms) c->worst_ms = ms;
  if (st && !c->failed++) c->first_fail = st;
}

static void churn_removed(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)message; (void)result;
  (void)ini_;
  churn *c = arg;
  churn_note(c, st);
  churn_step(c);
}

static void churn_added(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  const mcsi_session_result *ids = result;
  (void)message;
  churn *c = arg;
  (void)ini;
  churn_note(c, st);
  c->cid = ids->connection_id;
  churn_step(c);
}

static void churn_step(churn *c)
{
  mcsi_status st;
  c->started = now_ms();
  if (c->steps == 2 * CYCLES) {
    c->finished = 1;
    return;
  }
  if (c->steps++ % 2 == 0) {
    mcsi_conn_opts *co = t_conn_opts(c->portal, 0);
    st = mcsi_add_connection_async(c->ini, c->sid, co, MCSI_COMPLETION(churn_added, c));
  } else {
    st = mcsi_remove_connection_async(c->ini, c->sid, c->cid, MCSI_COMPLETION(churn_removed, c));
  }
  if (st) {
    churn_note(c, st);
    c->finished = 1;
  }
}

int main(void)
{
  static op logins[FAST + SLOW], logouts[FAST];
  char silent[64], tgt1[64], tgt2[64];
  const char *iqn = t_env("MCSI_TGT_IQN_PLAIN");
  int lfd = t_silent_listener(silent, sizeof silent, 128);
  snprintf(tgt1, sizeof tgt1, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  snprintf(tgt2, sizeof tgt2, "127.0.0.2:%s", t_env("MCSI_TGT_PORT"));
  mcsi_initiator *ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:test-concurrency");
  if (!T_OK(lfd >= 0 && ini, "a silent portal (%s) and an initiator", silent)) return t_done();

  mcsi_login_opts *lo = t_login_opts(tgt1, iqn, MCSI_OPT_MAX_CONNECTIONS, 4, 0);
  churn c = { .ini = ini, .portal = tgt2 };
  T_EQ_INT(mcsi_login_to_target(ini, lo, &c.sid, NULL), ISDSC_SUCCESS, "session B for the add/remove churn");

  double t0 = now_ms();
  int started = 0;
  for (int i = 0; i < FAST + SLOW; i++) {
    mcsi_login_opts *o = t_login_opts(i < FAST ? (i % 2 ? tgt2 : tgt1) : silent, iqn, MCSI_OPT_LOGIN_TIMEOUT_MS, SLOW_TIMEOUT_MS, 0);
    started += mcsi_login_to_target_async(ini, o, MCSI_COMPLETION(op_done, &logins[i])) == ISDSC_SUCCESS;
  }
  churn_step(&c);
  T_EQ_INT(started, FAST + SLOW, "100 logins started at once, none refused");

  int left = 1;
  while (left && now_ms() - t0 < 30000) {
    mcsi_process(ini, 50);
    left = !c.finished;
    for (int i = 0; i < FAST + SLOW; i++) left |= !logins[i].done;
  }
  double total = now_ms() - t0, fast_last = 0, slow_first = 1e18, slowest = 0;
  int fast_ok = 0, slow_right = 0;
  for (int i = 0; i < FAST + SLOW; i++) {
    double ms = logins[i].ended - t0;
    if (ms > slowest) slowest = ms;
    if (i < FAST) {
      fast_ok += logins[i].done && logins[i].st == ISDSC_SUCCESS;
      if (ms > fast_last) fast_last = ms;
    } else {
      slow_right += logins[i].done && logins[i].st == ISDSC_LOGIN_FAILED;
      if (ms < slow_first) slow_first = ms;
    }
  }
  printf("# %d logins to tgt: last answered after %.0f ms; %d to a silent portal: first after %.0f ms;"
         " slowest %.0f ms, all %.0f ms; add/remove: %d steps, slowest %.1f ms\n",
         FAST, fast_last, SLOW, slow_first, slowest, total, c.steps, c.worst_ms);
  T_EQ_INT(fast_ok, FAST, "every login to tgt answered ISDSC_SUCCESS");
  T_EQ_INT(slow_right, SLOW, "every login to the silent portal answered ISDSC_LOGIN_FAILED (its own timeout)");
  T_OK(fast_last < slow_first, "every fast login answered before the first slow one (%.0f < %.0f ms)",
       fast_last, slow_first);
  T_OK(c.finished && c.failed == 0 && c.steps == 2 * CYCLES,
       "session B: %d adds and removes during the logins, %d failed (first: %s)", c.steps, c.failed,
       c.failed ? mcsi_status_name(c.first_fail) : "none");
  T_OK(total < 2.0 * SLOW_TIMEOUT_MS, "the whole took about the slowest (%.0f ms), not the sum of %d timeouts",
       total, SLOW);

  int out = 0;
  for (int i = 0; i < FAST; i++)
    if (logins[i].st == ISDSC_SUCCESS) out += mcsi_logout_from_target_async(ini, logins[i].sid, MCSI_COMPLETION(op_done, &logouts[i])) == 0;
  left = 1;
  while (left && now_ms() - t0 < 60000) {
    mcsi_process(ini, 50);
    left = 0;
    for (int i = 0; i < FAST; i++) left |= logins[i].st == ISDSC_SUCCESS && !logouts[i].done;
  }
  int out_ok = 0;
  for (int i = 0; i < FAST; i++) out_ok += logouts[i].done && logouts[i].st == ISDSC_SUCCESS;
  T_EQ_INT(out, FAST, "90 logouts started at once");
  T_EQ_INT(out_ok, FAST, "every logout answered ISDSC_SUCCESS");
  T_EQ_U64(mcsi_session_list(ini, NULL, 0), 1, "only session B is left");
  T_EQ_INT(mcsi_logout_from_target(ini, c.sid), ISDSC_SUCCESS, "session B logged out");
  mcsi_initiator_free(ini);
  close(lfd);
  return t_done();
}
