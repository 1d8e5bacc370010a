/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_resolver.c: name resolution never blocks the loop. This binary
 * interposes getaddrinfo (the library is linked in statically, so the
 * definition below is the one it calls): the name "slow.mcsi.test" takes
 * SLOW_S seconds and then answers 127.0.0.1; every other name goes to the
 * C library's (dlsym RTLD_NEXT). While one login resolves that name, an
 * established session on the real tgtd keeps its I/O completing and its
 * keep-alive answered with no gap over MAX_GAP_MS, an add and a failover on
 * it proceed, and the slow login itself still succeeds; a login timeout
 * shorter than the resolver ends the login with its own Status; removing a
 * connection or freeing the initiator while a name resolves is clean; an
 * NBD export's TCP address is never resolved on the loop. */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "mcsi.h"
#include "mcsi_nbd.h"
#include "resolve.h"
#include "testlib.h"
#include "testopts.h"

#define SLOW_NAME "slow.mcsi.test"
#define SLOW_S 5
#define MAX_GAP_MS 200        /* the largest pause of I/O allowed meanwhile (x5 under a wrapper) */
#define IO_LEN 4096u
#define IO_PACE_MS 2          /* one I/O in flight, the next 2 ms after each completion */

static atomic_int slow_calls, slow_now, slow_most;   /* asked, resolving now, most at once */

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
  getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  if (node && !strcmp(node, SLOW_NAME)) {
    if (hints && hints->ai_flags & AI_NUMERICHOST) return EAI_NONAME;
    atomic_fetch_add(&slow_calls, 1);
    int now = atomic_fetch_add(&slow_now, 1) + 1, most = atomic_load(&slow_most);
    while (now > most && !atomic_compare_exchange_weak(&slow_most, &most, now)) {}
    sleep(SLOW_S);
    atomic_fetch_sub(&slow_now, 1);
    node = "127.0.0.1";
  }
  return real(node, service, hints, res);
}

static mcsi_initiator *ini;
static char tgt1[64], tgt2[64], slow[96];

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static mcsi_session_info *info(mcsi_id sid)
{
  mcsi_session_info *si = NULL;
  memset(&si, 0, sizeof si);
  t_get_info(ini, sid, &si);
  return si;
}

static mcsi_id login(const char *portal, int nop_ms)
{
  mcsi_login_opts *o = t_login_opts(portal, t_env("MCSI_TGT_IQN_PLAIN"), MCSI_OPT_MAX_CONNECTIONS, 4, MCSI_OPT_NOP_INTERVAL_MS, nop_ms, MCSI_OPT_NOP_TIMEOUT_MS, 500, MCSI_OPT_RECOVERY_TIMEOUT_MS, 10000, 0);
  mcsi_id sid = 0;
  mcsi_status st = mcsi_login_to_target(ini, o, &sid, NULL);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "login via %s (%s)", portal, mcsi_last_message(ini));
  return st ? 0 : sid;
}

/* ---- I/O that never stops, and the largest pause between completions ---- */

static struct {
  mcsi_id sid;
  int running, inflight, completed, failed;
  uint64_t tick;                        /* the timer that starts the next one */
  double last, max_gap;
  uint8_t buf[IO_LEN];
} io;

static void io_next(void);

static int gap_bound_ms(void)
{
  const char *wrapper = getenv("MCSI_TEST_WRAPPER");
  return wrapper && *wrapper ? 5 * MAX_GAP_MS : MAX_GAP_MS;
}

static void io_tick(mcsi_initiator *i, void *arg)
{
  (void)i; (void)arg;
  io.tick = 0;
  if (io.running) io_next();
}

static void io_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  (void)res; (void)arg;
  double t = now_s();
  io.inflight--;
  if (st) io.failed++;
  else io.completed++;
  if (t - io.last > io.max_gap) io.max_gap = t - io.last;
  io.last = t;
  if (io.running) io.tick = mcsi_timer_add(ini, IO_PACE_MS, io_tick, NULL);
}

static void io_next(void)
{
  uint64_t lba = (uint64_t)(io.completed % 64) * (IO_LEN / 512);
  mcsi_status st = io.completed % 2
    ? mcsi_read_async(ini, io.sid, 1, lba, 512, io.buf, IO_LEN, MCSI_COMPLETION(io_done, NULL))
    : mcsi_write_async(ini, io.sid, 1, lba, 512, io.buf, IO_LEN, MCSI_COMPLETION(io_done, NULL));
  if (st) io.failed++;
  else io.inflight++;
}

static void io_start(mcsi_id sid)
{
  memset(&io, 0, sizeof io);
  io.sid = sid;
  io.running = 1;
  io.last = now_s();
  io_next();
}

static void io_stop(void)
{
  io.running = 0;
  if (io.tick) mcsi_timer_cancel(ini, io.tick);
  io.tick = 0;
  double end = now_s() + 5;
  while (io.inflight && now_s() < end) mcsi_process(ini, 10);
}

/* ---- async operations ---- */

typedef struct op { int done; mcsi_status st; mcsi_id sid, cid; double at; char msg[512]; } op;

static void op_done(mcsi_initiator *i, mcsi_status st, const char *message, const void *result, void *arg)
{
  const mcsi_session_result *ids = result;
  op *o = arg;
  (void)i;
  o->done = 1;
  o->st = st;
  o->sid = ids->session_id;
  o->cid = ids->connection_id;
  o->at = now_s();
  snprintf(o->msg, sizeof o->msg, "%s", message ? message : "");
}

static void pump_until(const int *flag, double seconds)
{
  double end = now_s() + seconds;
  while (!*flag && now_s() < end) mcsi_process(ini, 10);
}

static void pump(double seconds)
{
  double end = now_s() + seconds;
  while (now_s() < end) mcsi_process(ini, 10);
}

/* Keep-alive of an idle session: NOP-Outs sent and answered over a span. */
typedef struct nops { uint64_t sent, got; } nops;

static nops nop_count(mcsi_id sid)
{
  mcsi_session_info *si = info(sid);
  nops n = { mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_PDUS_SENT), mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_PDUS_RECEIVED) };
  return n;
}

/* The session logged in through the slow name loses its only connection:
 * its reinstatement resolves the name again, off the loop, while A's I/O
 * goes on. */
static void reinstated_off_the_loop(mcsi_id s, mcsi_id a)
{
  mcsi_session_info *si = info(s);
  uint32_t rec0 = mcsi_session_info_get(si, MCSI_SI_RECOVERIES);
  int calls0 = atomic_load(&slow_calls);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ss -K -tn 'dport = :%s and sport = :%u' >/dev/null 2>&1", t_env("MCSI_TGT_PORT"),
           (unsigned)mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_LOCAL_PORT));
  io_start(a);
  pump(0.2);
  double t0 = now_s();
  T_OK(system(cmd) == 0, "killed the slow session's only connection (local port %u)", (unsigned)mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_LOCAL_PORT));
  pump(0.5);
  T_EQ_STR(mcsi_session_info_get_string(info(s), MCSI_SI_STATE), "recovering", "the slow session is recovering");
  while (now_s() - t0 < SLOW_S + 10 && (strcmp(mcsi_session_info_get_string(info(s), MCSI_SI_STATE), "active") || (unsigned)mcsi_session_info_get(info(s), MCSI_SI_RECOVERIES) == rec0))
    mcsi_process(ini, 10);
  double dt = now_s() - t0;
  io_stop();
  T_EQ_STR(mcsi_session_info_get_string(info(s), MCSI_SI_STATE), "active", "it was reinstated (%u recoveries)", (unsigned)mcsi_session_info_get(info(s), MCSI_SI_RECOVERIES));
  T_OK(atomic_load(&slow_calls) - calls0 == 1 && dt >= SLOW_S - 0.1,
       "its reconnection resolved %s again (%.3f s)", SLOW_NAME, dt);
  T_OK(io.max_gap * 1000 < gap_bound_ms() && io.failed == 0 && io.completed > 100,
       "A's I/O went on meanwhile: %d completed, none failed, largest gap %.0f ms", io.completed,
       io.max_gap * 1000);
}

/* One login resolves the slow name; meanwhile session A's I/O goes on,
 * idle session B's keep-alive (every 100 ms, timeout 500 ms) is answered,
 * a connection added to A logs in at once, and a connection of A killed
 * under it fails over to the other. */
static void slow_login_stalls_nothing(void)
{
  mcsi_id a = login(tgt1, 1000), b = login(tgt1, 100), extra = 0;
  if (!a || !b) return;
  mcsi_conn_opts *co = t_conn_opts(tgt2, 0);
  T_EQ_INT(mcsi_add_connection_to_session(ini, a, co, &extra), ISDSC_SUCCESS, "A has a second connection (%s)",
           mcsi_last_message(ini));
  io_start(a);
  pump(0.3);
  nops before = nop_count(b);
  int calls0 = atomic_load(&slow_calls);
  op slow_op = { 0 }, add_op = { 0 };
  double t0 = now_s();
  mcsi_login_opts *so = t_login_opts(slow, t_env("MCSI_TGT_IQN_PLAIN"), MCSI_OPT_LOGIN_TIMEOUT_MS, 15000, 0);
  mcsi_status st = mcsi_login_to_target_async(ini, so, MCSI_COMPLETION(op_done, &slow_op));
  double call_s = now_s() - t0;
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "login via %s started", slow);
  T_OK(call_s < 1.0, "starting it took %.3f s (< 1 s: the name resolves off the loop)", call_s);
  pump(0.5);
  double add_t0 = now_s();
  t_conn_set_string(co, MCSI_OPT_PORTAL, tgt1);
  T_EQ_INT(mcsi_add_connection_async(ini, a, co, MCSI_COMPLETION(op_done, &add_op)), ISDSC_SUCCESS, "an add on A started meanwhile");
  pump_until(&add_op.done, 10);
  T_EQ_STR(mcsi_status_name(add_op.st), "ISDSC_SUCCESS", "the add on A succeeded (%s)", add_op.msg);
  T_OK(add_op.done && add_op.at - add_t0 < 2.0 && !slow_op.done,
       "... within %.3f s, while the slow name still resolved", add_op.at - add_t0);
  /* failover: A's second connection dies; its commands go on over the others */
  mcsi_session_info *si = info(a);
  uint16_t port = mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT) > 1 ? mcsi_conn_info_get(mcsi_session_info_connection(si, 1), MCSI_CI_LOCAL_PORT) : 0;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ss -K -tn 'dport = :%s and sport = :%u' >/dev/null 2>&1", t_env("MCSI_TGT_PORT"), port);
  double fo_t0 = now_s();
  T_OK(port && system(cmd) == 0, "killed A's connection from local port %u (ss -K)", port);
  while (mcsi_session_info_get(info(a), MCSI_SI_CONNECTION_COUNT) == 3 && now_s() - fo_t0 < 3 && !slow_op.done) mcsi_process(ini, 10);
  double fo_s = now_s() - fo_t0;
  T_OK(mcsi_session_info_get(info(a), MCSI_SI_CONNECTION_COUNT) == 2 && fo_s < 2.0 && !slow_op.done,
       "A dropped the dead connection in %.3f s (< 2 s), while the slow name still resolved", fo_s);
  pump_until(&slow_op.done, SLOW_S + 10);
  double total = now_s() - t0;
  nops after = nop_count(b);
  io_stop();
  T_EQ_INT(atomic_load(&slow_calls) - calls0, 1, "the resolver was asked for %s once", SLOW_NAME);
  T_EQ_STR(mcsi_status_name(slow_op.st), "ISDSC_SUCCESS", "the login through the slow name succeeded (%s)",
           slow_op.msg);
  T_OK(total >= SLOW_S - 0.1 && total < SLOW_S + 2, "it took %.3f s (the resolver's %d s)", total, SLOW_S);
  printf("# meanwhile: %d I/Os completed on A, the largest gap %.0f ms; B sent %llu NOP-Outs, got %llu PDUs\n",
         io.completed, io.max_gap * 1000, (unsigned long long)(after.sent - before.sent),
         (unsigned long long)(after.got - before.got));
  int max_gap = gap_bound_ms();
  T_OK(io.max_gap * 1000 < max_gap, "A's I/O never paused %d ms or more (largest gap %.0f ms)", max_gap,
       io.max_gap * 1000);
  T_EQ_INT(io.failed, 0, "no I/O on A failed");
  T_OK(io.completed > 100, "A completed %d I/Os during the %.1f s", io.completed, total);
  uint64_t sent = after.sent - before.sent, got = after.got - before.got;
  T_OK(sent >= (uint64_t)(total * 10) - 10 && got + 1 >= sent,
       "B's keep-alive went on: %llu NOP-Outs in %.1f s at 100 ms, %llu answers", (unsigned long long)sent, total,
       (unsigned long long)got);
  T_EQ_STR(mcsi_session_info_get_string(info(b), MCSI_SI_STATE), "active", "B still active");
  T_EQ_STR(mcsi_session_info_get_string(info(a), MCSI_SI_STATE), "active", "A still active");
  if (slow_op.sid) reinstated_off_the_loop(slow_op.sid, a);
  if (slow_op.sid) T_EQ_INT(mcsi_logout_from_target(ini, slow_op.sid), ISDSC_SUCCESS, "logout of the slow login");
  mcsi_logout_from_target(ini, a);
  mcsi_logout_from_target(ini, b);
}

/* A login timeout shorter than the resolver: the login ends at its
 * deadline with ISDSC_DNS_NAME_UNRESOLVED; the late answer is dropped. */
static void login_timeout_covers_resolution(void)
{
  op o = { 0 };
  mcsi_login_opts *so = t_login_opts(slow, t_env("MCSI_TGT_IQN_PLAIN"), MCSI_OPT_LOGIN_TIMEOUT_MS, 1000, 0);
  double t0 = now_s();
  T_EQ_INT(mcsi_login_to_target_async(ini, so, MCSI_COMPLETION(op_done, &o)), ISDSC_SUCCESS, "login with a 1 s timeout started");
  pump_until(&o.done, SLOW_S + 5);
  double dt = o.at - t0;
  T_EQ_STR(mcsi_status_name(o.st), "ISDSC_DNS_NAME_UNRESOLVED", "it ended with its own Status (%s)", o.msg);
  T_OK(strstr(o.msg, SLOW_NAME) && strstr(o.msg, "1000 ms"), "the message names the host and the timeout");
  T_OK(dt >= 0.95 && dt < 2.5, "at its login timeout (%.3f s)", dt);
  mcsi_id sid = 0;
  t0 = now_s();
  mcsi_status st = mcsi_login_to_target(ini, so, &sid, NULL);
  dt = now_s() - t0;
  T_EQ_STR(mcsi_status_name(st), "ISDSC_DNS_NAME_UNRESOLVED", "the blocking form too (%s)", mcsi_last_message(ini));
  T_OK(dt >= 0.95 && dt < 2.5, "... at its login timeout (%.3f s)", dt);
  pump(SLOW_S);   /* both late answers arrive and are dropped */
  T_EQ_INT(sid, 0, "no session came of it");
}

/* An add resolving the slow name, its session logged out meanwhile; then
 * a login resolving it when the initiator is freed. */
static void removed_or_freed_while_resolving(void)
{
  mcsi_id a = login(tgt1, 1000);
  if (!a) return;
  op add = { 0 }, out = { 0 };
  mcsi_conn_opts *co = t_conn_opts(slow, 0);
  T_EQ_INT(mcsi_add_connection_async(ini, a, co, MCSI_COMPLETION(op_done, &add)), ISDSC_SUCCESS, "an add via %s started", slow);
  pump(0.2);
  T_EQ_INT(mcsi_logout_from_target_async(ini, a, MCSI_COMPLETION(op_done, &out)), ISDSC_SUCCESS, "logout while it resolves");
  pump_until(&out.done, 5);
  T_EQ_STR(mcsi_status_name(add.st), "ISDSC_CONNECTION_FAILED", "the add ended with its session (%s)", add.msg);
  T_EQ_STR(mcsi_status_name(out.st), "ISDSC_SUCCESS", "the logout did not wait for the resolver (%s)", out.msg);
  op lo = { 0 };
  mcsi_login_opts *so = t_login_opts(slow, t_env("MCSI_TGT_IQN_PLAIN"), 0);
  T_EQ_INT(mcsi_login_to_target_async(ini, so, MCSI_COMPLETION(op_done, &lo)), ISDSC_SUCCESS, "a login via %s started", slow);
  pump(0.2);
  double t0 = now_s();
  mcsi_initiator_free(ini);
  ini = NULL;
  double dt = now_s() - t0;
  T_OK(dt < 1.0, "the initiator was freed in %.3f s, not waiting for the resolver", dt);
  T_EQ_INT(lo.done, 0, "freeing ends operations without calling them");
  /* the worker finishes after the free: nothing of the initiator is touched */
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:resolver");
  mcsi_id b = login(tgt1, 1000);
  pump(SLOW_S);
  T_EQ_STR(mcsi_session_info_get_string(info(b), MCSI_SI_STATE), "active", "a new initiator runs on while the old one's resolver finishes");
  mcsi_logout_from_target(ini, b);
}

/* An export listens on a numeric address (or localhost): a name is
 * refused at once, never resolved on the loop. */
static void export_address_not_resolved(void)
{
  mcsi_id a = login(tgt1, 1000);
  if (!a) return;
  char err[256] = "";
  int calls0 = atomic_load(&slow_calls);
  mcsi_nbd_opts o = { .tcp = SLOW_NAME ":0", .tls = MCSI_NBD_TLS_OFF };
  double t0 = now_s();
  mcsi_nbd_export *x = mcsi_nbd_export_start(ini, a, 1, &o, err, sizeof err);
  double dt = now_s() - t0;
  T_OK(!x && strstr(err, "not a numeric IP address"), "an export on %s is refused (%s)", o.tcp, err);
  T_OK(dt < 2.0 && atomic_load(&slow_calls) == calls0, "at once (%.3f s), no resolver asked", dt);
  if (x) mcsi_nbd_export_stop(x);
  o.tcp = "localhost:0";
  x = mcsi_nbd_export_start(ini, a, 1, &o, err, sizeof err);
  mcsi_nbd_info ni;
  memset(&ni, 0, sizeof ni);
  if (x) mcsi_nbd_export_info(x, &ni);
  T_OK(x && !strcmp(ni.tcp_host, "127.0.0.1") && ni.tcp_port, "localhost:0 listens on 127.0.0.1:%u (%s)",
       ni.tcp_port, x ? "Success" : err);
  if (x) mcsi_nbd_export_stop(x);
  mcsi_logout_from_target(ini, a);
}

/* The resolver itself (core/base/resolve.h) on a loop of its own: numeric
 * hosts need no thread; at most MCSI_RESOLVE_THREADS workers, at most
 * MCSI_RESOLVE_MAX requests; cancelled requests never reach a worker or
 * a callback; closing the loop does not wait, and the last worker frees
 * what it shares with the loop (LeakSanitizer would see it otherwise). */
static int resolve_answers;

static void count_answer(mcsi_resolve_req *r, int err, const struct sockaddr_storage *addr, socklen_t len)
{
  (void)r; (void)err; (void)addr; (void)len;
  resolve_answers++;
}

static void resolver_bounds(void)
{
  struct sockaddr_storage ss;
  socklen_t len = 0;
  int calls0 = atomic_load(&slow_calls);
  T_EQ_INT(mcsi_resolve_numeric("::1", "3260", &ss, &len), 0, "::1 is numeric");
  T_OK(ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6), "... an IPv6 address");
  T_EQ_INT(mcsi_resolve_numeric(SLOW_NAME, "3260", &ss, &len), EAI_NONAME, "a name is not numeric");
  T_EQ_INT(atomic_load(&slow_calls), calls0, "... and no resolver was asked");
  mcsi_loop l;
  T_EQ_INT(mcsi_loop_init(&l), 0, "a loop of its own");
  static mcsi_resolve_req reqs[MCSI_RESOLVE_MAX + 1];
  int started = 0;
  for (int i = 0; i <= MCSI_RESOLVE_MAX; i++) {
    mcsi_resolve_init(&reqs[i], count_answer);
    if (mcsi_resolve_start(&l, &reqs[i], SLOW_NAME, "3260") == 0) started++;
  }
  T_EQ_INT(started, MCSI_RESOLVE_MAX, "%d requests taken, one more refused", MCSI_RESOLVE_MAX);
  T_EQ_INT(mcsi_resolve_start(&l, &reqs[MCSI_RESOLVE_MAX], SLOW_NAME, "3260") == -1 && errno == EAGAIN, 1,
           "... with EAGAIN");
  double t0 = now_s();
  while (atomic_load(&slow_now) < MCSI_RESOLVE_THREADS && now_s() - t0 < 2) usleep(1000);
  usleep(100000);
  T_EQ_INT(atomic_load(&slow_most), MCSI_RESOLVE_THREADS, "%d names resolve at once, no more", MCSI_RESOLVE_THREADS);
  for (int i = 0; i < MCSI_RESOLVE_MAX; i++) mcsi_resolve_cancel(&reqs[i]);
  T_OK(!mcsi_resolve_busy(&reqs[0]), "cancelled requests are idle at once");
  T_EQ_INT(mcsi_resolve_start(&l, &reqs[0], SLOW_NAME, "3260"), 0, "the cancelled ones left room");
  t0 = now_s();
  mcsi_loop_close(&l);
  T_OK(now_s() - t0 < 1.0, "closing the loop does not wait for the workers (%.3f s)", now_s() - t0);
  sleep(SLOW_S + 1);
  T_EQ_INT(atomic_load(&slow_calls) - calls0, MCSI_RESOLVE_THREADS,
           "only the %d running resolved; the cancelled and queued never reached a worker", MCSI_RESOLVE_THREADS);
  T_EQ_INT(resolve_answers, 0, "and no callback ran");
}

int main(void)
{
  snprintf(tgt1, sizeof tgt1, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  snprintf(tgt2, sizeof tgt2, "127.0.0.2:%s", t_env("MCSI_TGT_PORT"));
  snprintf(slow, sizeof slow, "%s:%s", SLOW_NAME, t_env("MCSI_TGT_PORT"));
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:resolver");
  slow_login_stalls_nothing();
  login_timeout_covers_resolution();
  export_address_not_resolved();
  removed_or_freed_while_resolving();
  mcsi_initiator_free(ini);
  resolver_bounds();
  return t_done();
}
