/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_completion.c: the one completion shape of the session operations
 * (mcsi_completion: done, free, arg): done runs once with the Status, the
 * message and the operation's result, then free(arg) once; a call refused
 * at once runs free only; an initiator freed with the operation pending
 * runs free only. No target: a closed port and a socket that never answers;
 * task management and a SCSI helper on the fake target. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "fake_fixture.h"
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"

typedef struct seen {
  int done, freed, freed_after_done;
  mcsi_status st;
  char message[256];
  int had_result;
  mcsi_session_result ids;
} seen;

/* What every completion records: how often done ran, its Status and message. */
static seen *record(void *arg, mcsi_status st, const char *message, const void *result)
{
  seen *s = arg;
  s->done++;
  s->st = st;
  snprintf(s->message, sizeof s->message, "%s", message ? message : "(null)");
  s->had_result = result != NULL;
  return s;
}

static void seen_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  seen *s = record(arg, st, message, result);
  (void)ini;
  if (result) memcpy(&s->ids, result, sizeof s->ids);
}

static void seen_targets(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)ini;
  record(arg, st, message, result);
}

static void seen_free(void *arg)
{
  seen *s = arg;
  s->freed++;
  s->freed_after_done = s->done > 0;
}

static void pump(mcsi_initiator *ini, const int *flag)
{
  for (int i = 0; i < 500 && !*flag; i++) mcsi_process(ini, 10);
}

/* A listening socket nobody accepts from: a login through it waits. */
static int silent_portal(char *portal, size_t len)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t al = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 8) || getsockname(fd, (struct sockaddr *)&a, &al))
    return -1;
  snprintf(portal, len, "127.0.0.1:%u", ntohs(a.sin_port));
  return fd;
}

/* A port nothing listens on (bound, then closed). */
static void closed_portal(char *portal, size_t len)
{
  int fd = silent_portal(portal, len);
  if (fd >= 0) close(fd);
}

static void test_done_then_free(void)
{
  char portal[64];
  closed_portal(portal, sizeof portal);
  mcsi_initiator *ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:test-completion");
  seen s = { 0 };
  mcsi_login_opts *o = t_login_opts(portal, "iqn.2026-11.org.mcsi.test:none", 0);
  mcsi_status st = mcsi_login_to_target_async(ini, o, (mcsi_completion){ seen_done, seen_free, &s });
  T_EQ_INT(st, ISDSC_SUCCESS, "a login to a closed port starts");
  T_EQ_INT(s.freed, 0, "free does not run while the operation runs");
  pump(ini, &s.done);
  T_EQ_INT(s.done, 1, "done ran once");
  T_EQ_STR(mcsi_status_name(s.st), "ISDSC_CONNECTION_FAILED", "with the operation's own Status (%s)", s.message);
  T_OK(s.had_result && s.ids.session_id == 0, "result: a mcsi_session_result, no session");
  T_EQ_INT(s.freed, 1, "free(arg) ran once");
  T_OK(s.freed_after_done, "after done");

  seen t = { 0 };
  st = mcsi_send_targets_async(ini, o, (mcsi_completion){ seen_targets, seen_free, &t });
  T_EQ_INT(st, ISDSC_SUCCESS, "a discovery to a closed port starts");
  pump(ini, &t.done);
  T_EQ_INT(t.done, 1, "send_targets: done ran once");
  T_OK(!t.had_result, "send_targets: no list on failure");
  T_OK(t.freed == 1 && t.freed_after_done, "send_targets: free(arg) once, after done");
  mcsi_initiator_free(ini);
}

static void test_refused(void)
{
  mcsi_initiator *ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:test-completion");
  seen s = { 0 };
  mcsi_login_opts *o = t_login_opts(NULL, "iqn.2026-11.org.mcsi.test:none", 0);
  mcsi_status st = mcsi_login_to_target_async(ini, o, (mcsi_completion){ seen_done, seen_free, &s });
  T_EQ_STR(mcsi_status_name(st), "ISDSC_NO_PORTAL_SPECIFIED", "no portal: refused at once");
  T_OK(s.freed == 1 && s.done == 0, "refused: free(arg) ran before the call returned, done never");
  seen n = { 0 };
  st = mcsi_logout_from_target_async(ini, 12345, (mcsi_completion){ NULL, seen_free, &n });
  T_EQ_INT(st, ISDSC_INVALID_PARAMETER, "no done: refused");
  T_EQ_INT(n.freed, 1, "no done: free(arg) still runs once");
  seen u = { 0 };
  st = mcsi_logout_from_target_async(ini, 12345, (mcsi_completion){ seen_done, seen_free, &u });
  T_EQ_STR(mcsi_status_name(st), "ISDSC_INVALID_SESSION_ID", "logout of an unknown session refused");
  T_OK(u.freed == 1 && u.done == 0, "logout refused: free once, done never");
  seen r = { 0 };
  st = mcsi_remove_connection_async(ini, 12345, 1, (mcsi_completion){ seen_done, seen_free, &r });
  T_OK(st != ISDSC_SUCCESS && r.freed == 1 && r.done == 0, "remove refused: free once, done never");
  seen a = { 0 };
  mcsi_conn_opts *co = t_conn_opts("127.0.0.1:1", 0);
  st = mcsi_add_connection_async(ini, 12345, co, (mcsi_completion){ seen_done, seen_free, &a });
  T_OK(st != ISDSC_SUCCESS && a.freed == 1 && a.done == 0, "add refused: free once, done never");
  seen z = { 0 };
  st = mcsi_login_to_target_async(NULL, o, (mcsi_completion){ seen_done, seen_free, &z });
  T_OK(st == ISDSC_INVALID_PARAMETER && z.freed == 1, "no initiator: refused, free once");
  mcsi_initiator_free(ini);
}

static void test_freed_pending(void)
{
  char portal[64];
  int fd = silent_portal(portal, sizeof portal);
  if (!T_OK(fd >= 0, "a silent listening socket")) return;
  mcsi_initiator *ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:test-completion");
  seen s = { 0 }, d = { 0 };
  mcsi_login_opts *o = t_login_opts(portal, "iqn.2026-11.org.mcsi.test:none", MCSI_OPT_LOGIN_TIMEOUT_MS, 10000, 0);
  T_EQ_INT(mcsi_login_to_target_async(ini, o, (mcsi_completion){ seen_done, seen_free, &s }), ISDSC_SUCCESS,
           "a login that waits starts");
  T_EQ_INT(mcsi_send_targets_async(ini, o, (mcsi_completion){ seen_targets, seen_free, &d }), ISDSC_SUCCESS,
           "a discovery that waits starts");
  for (int i = 0; i < 10; i++) mcsi_process(ini, 10);
  T_OK(s.done == 0 && s.freed == 0 && d.done == 0 && d.freed == 0, "both still pending");
  mcsi_initiator_free(ini);
  T_OK(s.done == 0 && s.freed == 1, "login: the initiator freed first: free(arg) once, done never");
  T_OK(d.done == 0 && d.freed == 1, "discovery: free(arg) once, done never");
  close(fd);
}

/* Task management: the same shape (a fake target that answers TMFs). */
static void test_task_management(void)
{
  fake_target_opts to = { .scenario = FAKE_NORMAL };
  fx f;
  if (!fx_start(&f, &to)) {
    fx_end(&f);
    return;
  }
  seen s = { 0 };
  t_status(mcsi_lun_reset_async(f.ini, f.sid, 0, (mcsi_completion){ seen_done, seen_free, &s }), ISDSC_SUCCESS,
           "LUN RESET started", &f);
  pump(f.ini, &s.done);
  T_EQ_INT(s.done, 1, "lun_reset: done ran once");
  T_EQ_STR(mcsi_status_name(s.st), "ISDSC_SUCCESS", "lun_reset: the target's answer (%s)", s.message);
  T_OK(s.had_result && s.ids.session_id == f.sid, "lun_reset: result names the session");
  T_OK(s.freed == 1 && s.freed_after_done, "lun_reset: free(arg) once, after done");
  seen a = { 0 };
  mcsi_status st = mcsi_abort_task_async(f.ini, f.sid, 999999, (mcsi_completion){ seen_done, seen_free, &a });
  T_EQ_STR(mcsi_status_name(st), "ISDSC_NOT_FOUND", "abort_task of no outstanding command refused");
  T_OK(a.freed == 1 && a.done == 0, "abort_task refused: free once, done never");
  seen z = { 0 };
  st = mcsi_lun_reset_async(f.ini, 4242, 0, (mcsi_completion){ seen_done, seen_free, &z });
  T_OK(st != ISDSC_SUCCESS && z.freed == 1 && z.done == 0, "lun_reset of an unknown session refused: free once");
  seen t = { 0 };
  t_status(mcsi_scsi_test_unit_ready_async(f.ini, f.sid, 0, (mcsi_completion){ seen_done, seen_free, &t }),
           ISDSC_SUCCESS, "TEST UNIT READY started", &f);
  pump(f.ini, &t.done);
  T_OK(t.done == 1 && !t.had_result && t.freed == 1 && t.freed_after_done,
       "a SCSI helper too: done once (no result for TEST UNIT READY), then free once");
  seen q = { 0 };
  st = mcsi_scsi_inquiry_async(f.ini, f.sid, 0, 256, (mcsi_completion){ seen_done, seen_free, &q });
  T_OK(st == ISDSC_INVALID_PARAMETER && q.freed == 1 && q.done == 0, "INQUIRY of page 256 refused: free once, done never");
  static const uint8_t tur[6] = { 0 };
  seen u = { 0 };
  t_status(mcsi_scsi_submit(f.ini, f.sid, 0, tur, sizeof tur, MCSI_DIR_NONE, NULL, 0,
                            (mcsi_completion){ seen_done, seen_free, &u }), ISDSC_SUCCESS, "a command submitted", &f);
  pump(f.ini, &u.done);
  T_OK(u.done == 1 && u.had_result && u.freed == 1 && u.freed_after_done,
       "mcsi_scsi_submit: done once with its mcsi_scsi_result, then free once");
  seen v = { 0 };
  st = mcsi_scsi_submit(f.ini, f.sid, 0, tur, 0, MCSI_DIR_NONE, NULL, 0, (mcsi_completion){ seen_done, seen_free, &v });
  T_OK(st == ISDSC_INVALID_PARAMETER && v.freed == 1 && v.done == 0, "a CDB of 0 bytes refused: free once, done never");
  fx_logout_ok(&f, "task management");
  fx_end(&f);
}

int main(void)
{
  test_done_then_free();
  test_refused();
  test_freed_pending();
  test_task_management();
  return t_done();
}
