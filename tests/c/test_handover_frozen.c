/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_handover_frozen.c: what happens to a session while it is frozen for
 * a handover (mcsi_session_handover_export), against the scripted fake
 * target (the timing of a retry or a lost connection must be forced):
 *
 * - a command answered UNIT ATTENTION (or BUSY, re-sent after a back-off)
 *   while the session is frozen is re-sent at once and finishes before the
 *   export: before, it waited in pending, the session counted as quiet, the
 *   export went on without it and the commit failed it ("handed to another
 *   process");
 * - a connection lost under a command the target never received (a CmdSN
 *   hole) while the session is frozen: the command is re-sent with its
 *   CmdSN on the other connection before the export; before, it waited, the
 *   blob carried a CmdSN past the hole, and the importer's commands stopped
 *   at the end of the target's window (RFC 7143 3.2.2.1: the target waits
 *   for the missing CmdSN): here the importer sends 40 commands, more than
 *   the window of 32;
 * - a connection added or removed while the session is being handed over
 *   (quiescing, or exported and not yet committed) is refused,
 *   ISDSC_SESSION_BUSY, with no TCP connection made: before, the login went
 *   on and finished after the blob was written (a connection the successor
 *   never learns of);
 * - a login in progress when the export starts is waited for; one that does
 *   not end within the wait is aborted (its add answers ISDSC_SESSION_BUSY,
 *   its TCP connection is closed) and the export goes on without it: before,
 *   the export gave up (a portal that swallows SYNs or logins, which a
 *   persistent target's keeper retries, made every handover fail). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fake_fixture.h"
#include "testlib.h"
#include "testopts.h"
#include "testsock.h"

#define NCMDS 4
#define AFTER 40                /* commands the importer sends: more than the fake target's window (32) */

typedef struct cmds { int done, good; mcsi_status last; char message[256]; } cmds;

static void cmd_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  cmds *c = arg;
  (void)ini;
  (void)result;
  c->done++;
  if (!st) c->good++;
  else {
    c->last = st;
    snprintf(c->message, sizeof c->message, "%s", message ? message : "");
  }
}

typedef struct exported { int done, cmds_then; mcsi_status st; mcsi_handover_blob *blob; cmds *c; char message[256]; } exported;

static void export_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  exported *e = arg;
  (void)ini;
  e->done = 1;
  e->st = st;
  e->blob = (mcsi_handover_blob *)result;
  e->cmds_then = e->c ? e->c->done : 0;
  snprintf(e->message, sizeof e->message, "%s", message ? message : "");
}

static void run_until(mcsi_initiator *ini, const int *flag, int64_t ms)
{
  int64_t end = now_ms() + ms;
  while (!*flag && now_ms() < end) mcsi_process(ini, 10);
}

static void run_for(mcsi_initiator *ini, int64_t ms)
{
  int64_t end = now_ms() + ms;
  while (now_ms() < end) mcsi_process(ini, 10);
}

/* NCMDS READs of 8 blocks each, submitted at once. */
static void submit_reads(fx *f, cmds *c, uint8_t *bufs)
{
  for (int i = 0; i < NCMDS; i++) {
    uint8_t cdb[10];
    cdb_rw10(cdb, 0x28, (uint32_t)(64 + 8 * i), 8);
    mcsi_scsi_submit(f->ini, f->sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, bufs + (size_t)i * 8 * BLOCK, 8 * BLOCK,
                     MCSI_COMPLETION(cmd_done, c));
  }
}

/* The export of f's session, started right after NCMDS commands went out. */
static int export_under_reads(fx *f, cmds *c, exported *e, uint8_t *bufs, const char *what)
{
  memset(e, 0, sizeof *e);
  e->c = c;
  submit_reads(f, c, bufs);
  mcsi_status st = mcsi_session_handover_export_async(f->ini, f->sid, 3000, MCSI_COMPLETION(export_done, e));
  if (!t_status(st, ISDSC_SUCCESS, what, f)) return 0;
  run_until(f->ini, &e->done, 5000);
  T_OK(e->done, "%s: the export ended", what);
  return e->done;
}

/* B takes the exported session, A commits; B sends AFTER commands one by one: each is answered. */
static void import_and_go_on(fx *f, exported *e, const char *what)
{
  mcsi_initiator *b = mcsi_initiator_new("iqn.2026-11.org.mcsi:test-handover-frozen-b");
  mcsi_id bsid = 0;
  mcsi_status st = mcsi_session_handover_import(b, f->lo, e->blob->data, e->blob->len, e->blob->fds, e->blob->nfds,
                                                &bsid);
  T_EQ_STR(st_name(st), "ISDSC_SUCCESS", "%s: B imports the session (%s)", what, mcsi_last_message(b));
  for (size_t i = 0; !st && i < e->blob->nfds; i++) e->blob->fds[i] = -1;   /* B's now */
  mcsi_handover_blob_free(e->blob);
  e->blob = NULL;
  if (st) {
    mcsi_session_handover_abort(f->ini, f->sid);
    mcsi_initiator_free(b);
    return;
  }
  t_status(mcsi_session_handover_commit(f->ini, f->sid), ISDSC_SUCCESS, "A commits", f);
  int answered = 0;
  static uint8_t buf[8 * BLOCK];
  for (int i = 0; i < AFTER; i++) {
    uint8_t cdb[10];
    cdb_rw10(cdb, 0x28, (uint32_t)(8 * i), 8);
    mcsi_status cst = mcsi_scsi_command(b, bsid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, NULL);
    if (cst) {
      printf("# %s: B's command %d: %s: %s\n", what, i + 1, st_name(cst), mcsi_last_message(b));
      break;
    }
    answered++;
  }
  T_EQ_INT(answered, AFTER, "%s: B's %d commands are all answered (no CmdSN hole left at the target: its window "
           "goes on)", what, AFTER);
  mcsi_logout_from_target(b, bsid);
  mcsi_initiator_free(b);
}

/* ---- 1. a command re-sent by the retry rule while frozen --------------------------------------------- */

static void retried_while_frozen(int storm, const char *what)
{
  static uint8_t bufs[NCMDS * 8 * BLOCK];
  fake_target_opts to;
  fx f;
  cmds c = { 0 };
  exported e;
  memset(&to, 0, sizeof to);
  if (!fx_start(&f, &to)) {
    fx_end(&f);
    return;
  }
  fake_target_storm(f.ft, storm, NCMDS);      /* each READ is answered UNIT ATTENTION / BUSY once */
  if (export_under_reads(&f, &c, &e, bufs, what)) {
    T_EQ_STR(st_name(e.st), "ISDSC_SUCCESS", "%s: the export succeeds (%s)", what, e.message);
    T_EQ_INT(fake_target_storm_answers(f.ft), NCMDS, "%s: the target answered each READ with the storm once", what);
    T_EQ_INT(e.cmds_then, NCMDS, "%s: every READ, re-sent while frozen, had finished when the export ended", what);
    T_EQ_INT(c.good, NCMDS, "%s: all %d succeeded (%s)", what, NCMDS, c.good < c.done ? c.message : "");
    if (!e.st && e.blob) import_and_go_on(&f, &e, what);
    else mcsi_handover_blob_free(e.blob);
  }
  T_EQ_INT(c.done, NCMDS, "%s: each READ was answered exactly once in all", what);
  fx_end(&f);
}

/* ---- 1. a connection lost while frozen, its command never received (a CmdSN hole) ----------------------- */

static void hole_while_frozen(void)
{
  static uint8_t bufs[NCMDS * 8 * BLOCK];
  const char *what = "hole";
  fake_target_opts to;
  fx f;
  cmds c = { 0 };
  exported e;
  memset(&to, 0, sizeof to);
  to.scenario = FAKE_DROP_MID_IO;
  to.variant = FAKE_DROP_UNSEEN;              /* lost on the way: the target waits for its CmdSN */
  to.drop_after = 1;
  to.drop_conn = 2;                           /* the added connection, at its first command */
  to.drop_once = 1;
  to.mcs = 1;
  to.max_connections = 4;
  if (!fx_init(&f, &to)) {
    fx_end(&f);
    return;
  }
  t_login_set(f.lo, MCSI_OPT_MAX_CONNECTIONS, 4);
  if (!t_status(fx_login(&f), ISDSC_SUCCESS, "hole: login", &f) || !fx_add_conn(&f, "hole: a second connection")) {
    fx_end(&f);
    return;
  }
  if (export_under_reads(&f, &c, &e, bufs, what)) {
    T_EQ_STR(st_name(e.st), "ISDSC_SUCCESS", "hole: the export succeeds (%s)", e.message);
    mcsi_session_info *si = NULL;
    t_get_info(f.ini, f.sid, &si);
    T_OK(si && mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED) >= 1 &&
         mcsi_session_info_connection_count(si) == 1,
         "hole: the second connection was lost under a command, re-issued on the first (%llu re-issued, %zu "
         "connections)", si ? (unsigned long long)mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED) : 0ull,
         si ? mcsi_session_info_connection_count(si) : 0);
    T_EQ_INT(e.cmds_then, NCMDS, "hole: every READ, the lost one re-sent while frozen, had finished when the "
             "export ended");
    T_EQ_INT(c.good, NCMDS, "hole: all %d succeeded (%s)", NCMDS, c.good < c.done ? c.message : "");
    if (!e.st && e.blob) import_and_go_on(&f, &e, what);
    else mcsi_handover_blob_free(e.blob);
  }
  T_EQ_INT(c.done, NCMDS, "hole: each READ was answered exactly once in all");
  fx_end(&f);
}

/* ---- 2. connections added or removed during a handover ------------------------------------------------ */

static void added_during_handover(void)
{
  fake_target_opts to;
  fx f;
  exported e = { 0 };
  cmds added = { 0 };
  memset(&to, 0, sizeof to);
  to.mcs = 1;
  to.max_connections = 4;
  if (!fx_init(&f, &to)) {
    fx_end(&f);
    return;
  }
  t_login_set(f.lo, MCSI_OPT_MAX_CONNECTIONS, 4);
  mcsi_conn_opts *co = t_conn_opts(fake_target_portal(f.ft), 0);
  mcsi_id second = 0;
  if (!t_status(fx_login(&f), ISDSC_SUCCESS, "add: login", &f) ||
      !(second = fx_add_conn(&f, "add: a second connection"))) {
    fx_end(&f);
    return;
  }
  t_status(mcsi_session_handover_export_async(f.ini, f.sid, 3000, MCSI_COMPLETION(export_done, &e)),
           ISDSC_SUCCESS, "add: the export starts", &f);
  mcsi_status st = mcsi_add_connection_async(f.ini, f.sid, co, MCSI_COMPLETION(cmd_done, &added));
  t_status(st, ISDSC_SESSION_BUSY, "add: a connection added while the session quiesces is refused", &f);
  T_OK(strstr(last_msg(&f), "handed to another process"), "add: the message says why (%s)", last_msg(&f));
  run_until(f.ini, &e.done, 5000);
  T_EQ_STR(st_name(e.st), "ISDSC_SUCCESS", "add: the export succeeds (%s)", e.message);
  T_OK(e.blob && e.blob->nfds == 2, "add: the blob carries the two connections");
  st = mcsi_add_connection_async(f.ini, f.sid, co, MCSI_COMPLETION(cmd_done, &added));
  t_status(st, ISDSC_SESSION_BUSY, "add: a connection added once it is exported is refused", &f);
  t_status(mcsi_remove_connection_async(f.ini, f.sid, second, MCSI_COMPLETION(cmd_done, &added)), ISDSC_SESSION_BUSY,
           "add: removing a (non-leading) connection of an exported session is refused", &f);
  run_for(f.ini, 300);
  T_EQ_INT(fake_target_connections(f.ft), 2, "add: the target saw no third TCP connection");
  T_EQ_INT(fake_target_logouts(f.ft), 0, "add: and no Logout");
  T_EQ_INT(added.done, 0, "add: no refused call has a callback");
  mcsi_handover_blob_free(e.blob);
  t_status(mcsi_session_handover_abort(f.ini, f.sid), ISDSC_SUCCESS, "add: A aborts the handover", &f);
  t_status(mcsi_add_connection_to_session(f.ini, f.sid, co, NULL), ISDSC_SUCCESS,
           "add: after the abort, a connection is added", &f);
  t_status(mcsi_remove_connection_from_session(f.ini, f.sid, second), ISDSC_SUCCESS,
           "add: and one is removed", &f);
  fx_logout_ok(&f, "add: logout");
  fx_end(&f);
}

/* The TCP connection the kernel took for the silent portal: closed by the initiator (EOF or a reset)? */
static int peer_closed(int lfd)
{
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) return 0;
  struct timeval tv = { 2, 0 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {}   /* the Login Request it sent, then the end */
  close(fd);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void login_in_progress(void)
{
  fake_target_opts to;
  fx f;
  cmds added = { 0 };
  char silent[64];
  int lfd = t_silent_listener(silent, sizeof silent, 16);
  memset(&to, 0, sizeof to);
  to.mcs = 1;
  to.max_connections = 4;
  if (!T_OK(lfd >= 0, "login: a silent portal") || !fx_init(&f, &to)) {
    if (lfd >= 0) close(lfd);
    return;
  }
  t_login_set(f.lo, MCSI_OPT_MAX_CONNECTIONS, 4);
  if (!t_status(fx_login(&f), ISDSC_SUCCESS, "login: login", &f)) {
    close(lfd);
    fx_end(&f);
    return;
  }
  mcsi_conn_opts *co = t_conn_opts(silent, MCSI_OPT_LOGIN_TIMEOUT_MS, 10000, 0);
  t_status(mcsi_add_connection_async(f.ini, f.sid, co, MCSI_COMPLETION(cmd_done, &added)), ISDSC_SUCCESS,
           "login: a connection to a silent portal is added (its login hangs)", &f);
  run_for(f.ini, 100);                        /* its Login Request is out */
  mcsi_handover_blob *blob = NULL;
  int64_t t0 = now_ms();
  mcsi_status st = mcsi_session_handover_export(f.ini, f.sid, 200, &blob);
  int64_t took = now_ms() - t0;
  t_status(st, ISDSC_SUCCESS, "login: the export waits for the login under way, then aborts it and goes on", &f);
  T_OK(took >= 200 && took < 2000, "login: after the wait (%lld ms), not the login's 10 s timeout", (long long)took);
  T_OK(blob && blob->nfds == 1, "login: the blob carries the one connection that was logged in");
  T_EQ_INT(added.done, 1, "login: the add was told, once");
  T_EQ_STR(st_name(added.last), "ISDSC_SESSION_BUSY", "login: its Status");
  T_OK(strstr(added.message, "aborted") && strstr(added.message, "handed to another process"),
       "login: and why (%s)", added.message);
  T_OK(peer_closed(lfd), "login: its TCP connection was closed (nothing left half logged in at the target)");
  mcsi_handover_blob_free(blob);
  t_status(mcsi_session_handover_abort(f.ini, f.sid), ISDSC_SUCCESS, "login: A aborts the handover", &f);
  uint8_t cdb[10], buf[BLOCK];
  cdb_rw10(cdb, 0x28, 0, 1);
  t_status(mcsi_scsi_command(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, NULL), ISDSC_SUCCESS,
           "login: the session goes on", &f);
  fx_logout_ok(&f, "login: logout");
  close(lfd);
  fx_end(&f);
}

int main(void)
{
  retried_while_frozen(FAKE_STORM_UA, "unit attention");
  retried_while_frozen(FAKE_STORM_BUSY, "busy");
  hole_while_frozen();
  added_during_handover();
  login_in_progress();
  return t_done();
}
