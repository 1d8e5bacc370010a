/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_host_api.c: what a host program (the Lua binding) uses of the core
 * besides the operations: timers on the initiator's loop (mcsi_timer_add /
 * mcsi_timer_cancel), file descriptors on it (mcsi_fd_watch), READ CAPACITY asynchronously, and the block size kept
 * by it (mcsi_scsi_block_size). Against the fake target. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fake_fixture.h"
#include "testlib.h"

typedef struct fired {
  int n;
  int order[8];
  int in_callback_refused;       /* a blocking call inside the timer was refused */
} fired;

typedef struct tick { fired *f; int tag; mcsi_id sid; } tick;

static void on_tick(mcsi_initiator *ini, void *arg)
{
  tick *t = arg;
  if (t->f->n < 8) t->f->order[t->f->n] = t->tag;
  t->f->n++;
  if (t->sid && mcsi_logout_from_target(ini, t->sid) == ISDSC_SESSION_BUSY) t->f->in_callback_refused = 1;
}

static void timers(void)
{
  mcsi_initiator *ini = mcsi_initiator_new(NULL);
  fired f = { 0 };
  tick a = { &f, 1, 0 }, b = { &f, 2, 0 }, c = { &f, 3, 0 };
  uint64_t ib = mcsi_timer_add(ini, 40, on_tick, &b);
  uint64_t ia = mcsi_timer_add(ini, 10, on_tick, &a);
  uint64_t ic = mcsi_timer_add(ini, 20, on_tick, &c);
  T_OK(ia && ib && ic && ia != ib && ib != ic && ia != ic, "three timers, three distinct ids");
  T_OK(mcsi_next_timeout_ms(ini) >= 0 && mcsi_next_timeout_ms(ini) <= 10, "the loop's next timeout is the first timer's");
  T_EQ_INT(mcsi_timer_cancel(ini, ic), 1, "a pending timer is cancelled");
  T_EQ_INT(mcsi_timer_cancel(ini, ic), 0, "cancelling it again finds nothing");
  int64_t t0 = now_ms();
  while (f.n < 2 && now_ms() - t0 < 2000) mcsi_process(ini, -1);
  T_EQ_INT(f.n, 2, "the two timers left fired, once each");
  T_OK(f.order[0] == 1 && f.order[1] == 2, "in the order they were due");
  T_OK(now_ms() - t0 >= 35, "not before they were due");
  T_EQ_INT(mcsi_timer_cancel(ini, ia), 0, "a timer that fired cannot be cancelled");
  T_EQ_INT(mcsi_next_timeout_ms(ini), -1, "no timer left in the loop");
  T_OK(mcsi_timer_add(ini, 0, NULL, NULL) == 0, "no callback: refused");
  mcsi_timer_add(ini, 100000, on_tick, &a);      /* still pending at the end: freed with the initiator */
  mcsi_initiator_free(ini);
}

static void timer_is_a_callback(void)
{
  fx f;
  fake_target_opts to = { 0 };
  if (!fx_start(&f, &to)) {
    fx_end(&f);
    return;
  }
  fired fd = { 0 };
  tick t = { &fd, 1, f.sid };
  mcsi_timer_add(f.ini, 0, on_tick, &t);
  mcsi_process(f.ini, 100);
  T_EQ_INT(fd.n, 1, "a zero-delay timer fires at the next mcsi_process");
  T_OK(fd.in_callback_refused, "a blocking call inside a timer callback is refused (ISDSC_SESSION_BUSY)");
  fx_logout_ok(&f, "after the timer");
  fx_end(&f);
}

typedef struct cap_seen { int done; mcsi_status st; mcsi_capacity cap; int had_cap; char message[512]; } cap_seen;

static void on_capacity(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  const mcsi_capacity *cap = result_;
  (void)ini_;
  cap_seen *c = arg;
  c->st = st;
  snprintf(c->message, sizeof c->message, "%s", message ? message : "(null)");
  c->had_cap = cap != NULL;
  if (cap) c->cap = *cap;
  c->done = 1;
}

static void read_capacity_async(void)
{
  fx f;
  fake_target_opts to = { 0 };
  if (!fx_start(&f, &to)) {
    fx_end(&f);
    return;
  }
  uint32_t bs = 1;
  t_status(mcsi_scsi_block_size(f.ini, f.sid, 0, &bs), ISDSC_NOT_FOUND, "block size before READ CAPACITY", &f);
  T_EQ_INT(bs, 1, "nothing written when not known");
  t_status(mcsi_scsi_block_size(f.ini, 0x7777, 0, &bs), ISDSC_INVALID_SESSION_ID, "block size of an unknown session", &f);
  cap_seen c = { 0 };
  mcsi_status st = mcsi_scsi_read_capacity_async(f.ini, f.sid, 0, MCSI_COMPLETION(on_capacity, &c));
  t_status(st, ISDSC_SUCCESS, "READ CAPACITY started", &f);
  T_EQ_INT(c.done, 0, "its callback runs later, not inside the call");
  int64_t t0 = now_ms();
  while (!c.done && now_ms() - t0 < 2000) mcsi_process(f.ini, 100);
  t_status(c.st, ISDSC_SUCCESS, "READ CAPACITY answered", &f);
  T_OK(!strcmp(c.message, "Success"), "its own message: '%s'", c.message);
  T_OK(c.had_cap && c.cap.blocks == DISK_BLOCKS && c.cap.block_size == BLOCK, "the fake disk's capacity: %llu x %u",
       (unsigned long long)c.cap.blocks, c.cap.block_size);
  t_status(mcsi_scsi_block_size(f.ini, f.sid, 0, &bs), ISDSC_SUCCESS, "block size after READ CAPACITY", &f);
  T_EQ_INT(bs, BLOCK, "the block size is kept");
  t_status(mcsi_scsi_block_size(f.ini, f.sid, 1, &bs), ISDSC_NOT_FOUND, "another LUN is not known", &f);
  t_status(mcsi_scsi_read_capacity_async(f.ini, 0x7777, 0, MCSI_COMPLETION(on_capacity, &c)), ISDSC_INVALID_SESSION_ID,
           "unknown session: refused at once", &f);
  fx_logout_ok(&f, "after READ CAPACITY");
  fx_end(&f);
}

static void read_capacity_async_no_capacity(void)
{
  fake_target_opts to = { .scenario = FAKE_BAD_RESIDUAL, .variant = FAKE_RESID_NO_CAPACITY };
  fx f;
  if (!fx_start(&f, &to)) {
    fx_end(&f);
    return;
  }
  cap_seen c = { 0 };
  mcsi_scsi_read_capacity_async(f.ini, f.sid, 0, MCSI_COMPLETION(on_capacity, &c));
  int64_t t0 = now_ms();
  while (!c.done && now_ms() - t0 < 2000) mcsi_process(f.ini, 100);
  t_status(c.st, ISDSC_SCSI_REQUEST_FAILED, "GOOD without a capacity", &f);
  T_OK(!c.had_cap, "no capacity given");
  T_OK(strstr(c.message, "READ CAPACITY(16) returned") != NULL, "the callback's own message says why: '%s'", c.message);
  T_OK(strstr(mcsi_last_message(f.ini), "READ CAPACITY") == NULL,
       "and the initiator's last message is not overwritten by it: '%s'", mcsi_last_message(f.ini));
  uint32_t bs;
  t_status(mcsi_scsi_block_size(f.ini, f.sid, 0, &bs), ISDSC_NOT_FOUND, "and no block size kept", &f);
  fx_logout_any(&f, "after a bad READ CAPACITY");
  fx_end(&f);
}

/* Ids are unique in the process, whichever initiator made them. */
static void ids_across_initiators(void)
{
  fake_target_opts to = { 0 };
  fx a, b;
  if (fx_start(&a, &to) && fx_start(&b, &to)) {
    T_OK(a.sid != b.sid && a.cid != b.cid && a.sid != b.cid && a.cid != b.sid,
         "two initiators: session and connection ids all differ (%llu %llu %llu %llu)", (unsigned long long)a.sid,
         (unsigned long long)a.cid, (unsigned long long)b.sid, (unsigned long long)b.cid);
    t_status(mcsi_logout_from_target(b.ini, a.sid), ISDSC_INVALID_SESSION_ID, "one initiator does not know the other's session", &b);
    fx_logout_ok(&a, "first initiator");
    fx_logout_ok(&b, "second initiator");
  }
  fx_end(&a);
  fx_end(&b);
}

typedef struct helper_seen { int calls; mcsi_status st; mcsi_inquiry inq; size_t nluns; uint64_t lun0; char message[512]; } helper_seen;

static void seen(helper_seen *h, const char *message)
{
  snprintf(h->message, sizeof h->message, "%s", message ? message : "(null)");
}

static void seen_inquiry(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  const mcsi_inquiry *inq = result_;
  (void)ini_;
  helper_seen *h = arg;
  seen(h, message);
  h->calls++;
  h->st = st;
  if (inq) h->inq = *inq;
}

static void seen_luns(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  const mcsi_lun_list *list_ = result_;
  const uint64_t *luns = list_ ? list_->luns : NULL;
  size_t count = list_ ? list_->count : 0;
  (void)ini_;
  helper_seen *h = arg;
  seen(h, message);
  h->calls++;
  h->st = st;
  h->nluns = count;
  h->lun0 = count ? luns[0] : 99;
}

static void seen_status(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  (void)ini_; (void)result_;
  helper_seen *h = arg;
  seen(h, message);
  h->calls++;
  h->st = st;
}

/* INQUIRY, REPORT LUNS and TEST UNIT READY asynchronously: started at once,
 * answered later, once, with the parsed data. */
static void scsi_helpers_async(void)
{
  fake_target_opts to = { 0 };
  helper_seen a = { 0 }, b = { 0 }, c = { 0 };
  fx f;
  if (!fx_start(&f, &to)) {
    fx_end(&f);
    return;
  }
  t_status(mcsi_scsi_inquiry_async(f.ini, f.sid, 0, -1, MCSI_COMPLETION(seen_inquiry, &a)), ISDSC_SUCCESS, "INQUIRY started", &f);
  t_status(mcsi_scsi_report_luns_async(f.ini, f.sid, MCSI_COMPLETION(seen_luns, &b)), ISDSC_SUCCESS, "REPORT LUNS started", &f);
  t_status(mcsi_scsi_test_unit_ready_async(f.ini, f.sid, 0, MCSI_COMPLETION(seen_status, &c)), ISDSC_SUCCESS, "TEST UNIT READY started", &f);
  T_OK(a.calls + b.calls + c.calls == 0, "all three in flight at once; no callback inside a call");
  int64_t t0 = now_ms();
  while ((!a.calls || !b.calls || !c.calls) && now_ms() - t0 < 2000) mcsi_process(f.ini, 50);
  T_OK(a.calls == 1 && b.calls == 1 && c.calls == 1, "each answered once");
  T_OK(a.st == ISDSC_SUCCESS && !strcmp(a.inq.vendor, "MCSI    ") && a.inq.len == 36, "INQUIRY: vendor '%s', %zu bytes",
       a.inq.vendor, a.inq.len);
  T_OK(b.st == ISDSC_SUCCESS && b.nluns == 1 && b.lun0 == 0, "REPORT LUNS: %zu LUN(s), the first %llu", b.nluns,
       (unsigned long long)b.lun0);
  t_status(c.st, ISDSC_SUCCESS, "TEST UNIT READY answered", &f);
  T_OK(!strcmp(a.message, "Success") && !strcmp(b.message, "Success") && !strcmp(c.message, "Success"),
       "each with its own message ('%s', '%s', '%s')", a.message, b.message, c.message);
  t_status(mcsi_scsi_inquiry_async(f.ini, f.sid, 0, 256, MCSI_COMPLETION(seen_inquiry, &a)), ISDSC_INVALID_PARAMETER, "a page past 255", &f);
  t_status(mcsi_scsi_test_unit_ready_async(f.ini, 0x7777, 0, MCSI_COMPLETION(seen_status, &c)), ISDSC_INVALID_SESSION_ID,
           "an unknown session: refused at once", &f);
  fx_logout_ok(&f, "after the helpers");
  fx_end(&f);
}

/* A pipe watched on the loop: readable when written, writable at once,
 * silent after unwatch, and an unwatch from inside another watch's callback
 * (both ready in the same poll) never runs the unwatched one. */
typedef struct piped {
  int reads, writes;
  uint64_t other;                /* unwatched from inside this callback */
  int *other_fd_calls;
} piped;

static void on_fd(mcsi_initiator *ini, int fd, int what, void *arg)
{
  piped *p = arg;
  if (what & MCSI_FD_READABLE) {
    char b[16];
    if (read(fd, b, sizeof b) > 0) p->reads++;
  }
  if (what & MCSI_FD_WRITABLE) p->writes++;
  if (p->other) {
    mcsi_fd_unwatch(ini, p->other);
    p->other = 0;
  }
  if (p->other_fd_calls) (*p->other_fd_calls)++;
}

static void fd_watches(void)
{
  mcsi_initiator *ini = mcsi_initiator_new(NULL);
  int a[2], b[2];
  if (pipe(a) || pipe(b)) {
    T_OK(0, "pipes");
    return;
  }
  piped pa = { 0 }, pb = { 0 };
  uint64_t wa = mcsi_fd_watch(ini, a[0], MCSI_FD_READABLE, on_fd, &pa);
  uint64_t wb = mcsi_fd_watch(ini, b[0], MCSI_FD_READABLE, on_fd, &pb);
  T_OK(wa && wb && wa != wb, "two watches, two distinct ids");
  T_OK(mcsi_fd_watch(ini, -1, MCSI_FD_READABLE, on_fd, &pa) == 0, "a negative fd: refused");
  T_OK(mcsi_fd_watch(ini, a[0], MCSI_FD_READABLE, NULL, &pa) == 0, "no callback: refused");
  mcsi_process(ini, 0);
  T_EQ_INT(pa.reads + pb.reads, 0, "nothing written, nothing read");
  if (write(a[1], "x", 1) != 1) T_OK(0, "write");
  for (int i = 0; i < 10 && !pa.reads; i++) mcsi_process(ini, 100);
  T_EQ_INT(pa.reads, 1, "a written pipe is readable on the loop");
  T_EQ_INT(pb.reads, 0, "the other pipe stays quiet");
  /* both ready in one poll; whichever runs first unwatches the other */
  int calls_a = 0, calls_b = 0;
  pa.other = wb, pa.other_fd_calls = &calls_a;
  pb.other = wa, pb.other_fd_calls = &calls_b;
  if (write(a[1], "y", 1) != 1 || write(b[1], "z", 1) != 1) T_OK(0, "write");
  usleep(10000);
  mcsi_process(ini, 100);
  T_EQ_INT(calls_a + calls_b, 1, "of two fds ready together, the one unwatched first never runs");
  uint64_t alive = calls_a ? wa : wb;
  T_EQ_INT(mcsi_fd_unwatch(ini, alive), 1, "the remaining watch is removed");
  T_EQ_INT(mcsi_fd_unwatch(ini, alive), 0, "removing it again finds nothing");
  T_EQ_INT(mcsi_fd_watch_set(ini, alive, MCSI_FD_READABLE), -1, "an unwatched id cannot be changed");
  uint64_t ww = mcsi_fd_watch(ini, a[1], 0, on_fd, &pa);
  mcsi_process(ini, 0);
  T_EQ_INT(pa.writes, 0, "watching nothing: no callback");
  T_EQ_INT(mcsi_fd_watch_set(ini, ww, MCSI_FD_WRITABLE), 0, "now watch for writable");
  mcsi_process(ini, 100);
  T_EQ_INT(pa.writes, 1, "an empty pipe is writable");
  mcsi_fd_watch(ini, b[0], MCSI_FD_READABLE, on_fd, &pb);   /* still watched at the end: freed with the initiator */
  mcsi_initiator_free(ini);
  close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

int main(void)
{
  fd_watches();
  scsi_helpers_async();
  ids_across_initiators();
  timers();
  timer_is_a_callback();
  read_capacity_async();
  read_capacity_async_no_capacity();
  return t_done();
}
