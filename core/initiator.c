/* initiator.c: the initiator object, its loop, events, messages, and the
 * blocking session operations (login, logout, discovery, task management,
 * information) built on the asynchronous machinery. */
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

/* ---- messages ------------------------------------------------------------------ */

mcsi_status mcsi_failv(mcsi_initiator *ini, mcsi_status st, const char *fmt, va_list ap)
{
  if (ini) vsnprintf(ini->message, sizeof ini->message, fmt, ap);
  return st;
}

mcsi_status mcsi_fail(mcsi_initiator *ini, mcsi_status st, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  mcsi_failv(ini, st, fmt, ap);
  va_end(ap);
  return st;
}

mcsi_status mcsi_ok(mcsi_initiator *ini)
{
  ini->message[0] = 0;
  return ISDSC_SUCCESS;
}

const char *mcsi_last_message(const mcsi_initiator *ini)
{
  if (!ini) return "no initiator";
  return ini->message[0] ? ini->message : "Success";
}

char *mcsi_strdup0(const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ---- iSCSI names (RFC 7143 4.2.7) --------------------------------------------------- */

static int valid_iscsi_name(const char *n)
{
  size_t len = n ? strlen(n) : 0;
  if (len < 5 || len > 223) return 0;
  if (strncmp(n, "iqn.", 4) && strncmp(n, "eui.", 4) && strncmp(n, "naa.", 4)) return 0;
  for (const char *p = n; *p; p++)
    if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr(".-:", *p))) return 0;
  return 1;
}

/* ---- the initiator ------------------------------------------------------------------ */

mcsi_initiator *mcsi_initiator_new(const char *iqn)
{
  char host[64] = "localhost";
  mcsi_initiator *ini = calloc(1, sizeof *ini);
  if (!ini) return NULL;
  if (iqn) {
    if (!valid_iscsi_name(iqn)) { free(ini); return NULL; }
    snprintf(ini->name, sizeof ini->name, "%s", iqn);
  } else {
    gethostname(host, sizeof host - 1);
    for (char *p = host; *p; p++) *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
    snprintf(ini->name, sizeof ini->name, "iqn.2026-11.org.mcsi:%s", host);
  }
  if (mcsi_loop_init(&ini->loop)) { free(ini); return NULL; }
  mcsi_list_init(&ini->sessions);
  mcsi_list_init(&ini->dirty);
  mcsi_list_init(&ini->graveyard);
  return ini;
}

static void free_graveyard(mcsi_initiator *ini, const mcsi_session *only)
{
  for (mcsi_link *l = ini->graveyard.next; l != &ini->graveyard;) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    l = l->next;
    if (only && c->sess != only) continue;
    mcsi_list_del(&c->link);
    mcsi_conn_free(c);
  }
}

void mcsi_initiator_free(mcsi_initiator *ini)
{
  if (!ini) return;
  mcsi_events_free(ini);
  free_graveyard(ini, NULL);
  while (!mcsi_list_empty(&ini->sessions))
    mcsi_session_free(MCSI_CONTAINER(ini->sessions.next, mcsi_session, link));
  free_graveyard(ini, NULL);
  mcsi_loop_close(&ini->loop);
  free(ini);
}

const char *mcsi_initiator_name(const mcsi_initiator *ini) { return ini ? ini->name : NULL; }

/* ---- the loop ----------------------------------------------------------------------------- */

void mcsi_mark_dirty(mcsi_conn *c)
{
  if (mcsi_list_empty(&c->dirty)) mcsi_list_push(&c->sess->ini->dirty, &c->dirty);
}

void mcsi_flush_dirty(mcsi_initiator *ini)
{
  while (!mcsi_list_empty(&ini->dirty)) mcsi_conn_flush(MCSI_CONTAINER(ini->dirty.next, mcsi_conn, dirty));
}

int mcsi_fd(const mcsi_initiator *ini) { return ini ? ini->loop.epfd : -1; }

int mcsi_next_timeout_ms(const mcsi_initiator *ini)
{
  if (!ini) return -1;
  return mcsi_list_empty(&ini->dirty) ? mcsi_loop_next_timeout(&ini->loop) : 0;
}

int mcsi_process(mcsi_initiator *ini, int timeout_ms)
{
  if (!ini) return -1;
  mcsi_flush_dirty(ini);
  int n = mcsi_loop_poll(&ini->loop, timeout_ms);
  mcsi_flush_dirty(ini);
  if (!ini->in_callback) free_graveyard(ini, NULL);
  return n;
}

int mcsi_run_until(mcsi_initiator *ini, const int *flag, uint64_t deadline)
{
  while (!*flag) {
    int timeout = -1;
    if (deadline) {
      uint64_t now = mcsi_now_ms();
      if (now >= deadline) return -1;
      timeout = (int)(deadline - now);
    }
    if (mcsi_process(ini, timeout) < 0) return -1;
  }
  return 0;
}

/* ---- login ------------------------------------------------------------------------------- */

/* CHAP settings of a login or an added connection. */
mcsi_status mcsi_check_chap(mcsi_initiator *ini, const mcsi_chap *ch)
{
  if ((ch->target_secret || ch->target_username) && !ch->secret)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "mutual CHAP needs our own CHAP secret too");
  if ((ch->secret && !*ch->secret) || (ch->target_secret && !*ch->target_secret))
    return mcsi_fail(ini, ISDSC_INVALID_CHAP_SECRET, "empty CHAP secret");
  if ((ch->secret && strlen(ch->secret) > 255) || (ch->target_secret && strlen(ch->target_secret) > 255))
    return mcsi_fail(ini, ISDSC_INVALID_CHAP_SECRET, "CHAP secret longer than 255 bytes");
  if ((ch->username && strlen(ch->username) > 255) || (ch->target_username && strlen(ch->target_username) > 255))
    return mcsi_fail(ini, ISDSC_INVALID_CHAP_USER_NAME, "CHAP name longer than 255 bytes");
  return ISDSC_SUCCESS;
}

static mcsi_status check_opts(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery)
{
  if (!o) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no login options");
  if (!o->portal || !*o->portal) return mcsi_fail(ini, ISDSC_NO_PORTAL_SPECIFIED, "no portal given");
  if (strlen(o->portal) >= 80) return mcsi_fail(ini, ISDSC_INVALID_HOST, "portal name too long");
  if (!discovery && !valid_iscsi_name(o->target))
    return mcsi_fail(ini, ISDSC_INVALID_ISCSI_NAME, "'%.64s' is not a valid iSCSI target name",
                     o->target ? o->target : "(none)");
  mcsi_status st = mcsi_check_chap(ini, &o->chap);
  if (st) return st;
  if ((unsigned)o->header_digest > 1 || (unsigned)o->data_digest > 1)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "digest must be MCSI_DIGEST_NONE or MCSI_DIGEST_CRC32C");
  if (o->login_timeout_ms < 0 || o->command_timeout_ms < 0 || o->nop_timeout_ms < 0 || o->max_redirects < 0)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "negative timeout or redirect limit");
  if ((o->nop_interval_ms > 0 && o->nop_interval_ms < 100) || (o->nop_timeout_ms > 0 && o->nop_timeout_ms < 100))
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "NOP interval and timeout must be at least 100 ms");
  if ((unsigned)o->initial_r2t > 2 || (unsigned)o->immediate_data > 2)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "initial_r2t/immediate_data must be MCSI_DEFAULT, MCSI_YES or MCSI_NO");
  if (o->max_recv_data_segment_length && (o->max_recv_data_segment_length < 512 || o->max_recv_data_segment_length > 16777215))
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "MaxRecvDataSegmentLength must be 512..16777215");
  if ((o->max_burst_length && o->max_burst_length < 512) || o->max_burst_length > 16777215 ||
      (o->first_burst_length && o->first_burst_length < 512) || o->first_burst_length > 16777215)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "burst lengths must be 512..16777215");
  if (o->max_connections > 65535 || o->max_outstanding_r2t > 65535 || o->default_time2wait > 3600 ||
      o->default_time2retain > 3600)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "a numeric login key is out of its range");
  return ISDSC_SUCCESS;
}

/* Makes a session and logs in its leading connection, blocking. */
static mcsi_status login(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery, mcsi_session **out)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (ini->in_callback) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "blocking call from inside a callback");
  mcsi_status st = check_opts(ini, o, discovery);
  if (st) return st;
  mcsi_session *s = mcsi_session_new(ini, o, discovery);
  mcsi_conn *c = s ? mcsi_conn_new(s, &s->opts) : NULL;
  if (!c) {
    if (s) mcsi_session_free(s);
    return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  }
  c->leading = 1;
  mcsi_list_push(&s->conns, &c->link);
  s->nconns++;
  mcsi_emit_conn(c, MCSI_EV_CONN_LOGGING_IN, ISDSC_SUCCESS, c->portal);
  st = mcsi_login_start(c, &c->opts);
  if (!st) {
    mcsi_run_until(ini, &s->login_done, 0);
    st = s->login_status;
  }
  if (st) {
    free_graveyard(ini, s);
    mcsi_session_free(s);
    return st;
  }
  *out = s;
  return mcsi_ok(ini);
}

mcsi_status mcsi_login_to_target(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_id *sid, mcsi_id *cid)
{
  mcsi_session *s;
  mcsi_status st = login(ini, o, 0, &s);
  if (st) return st;
  mcsi_conn *c = MCSI_CONTAINER(s->conns.next, mcsi_conn, link);
  if (sid) *sid = s->id;
  if (cid) *cid = c->id;
  return st;
}

/* ---- control tasks (logout, text, task management) ---------------------------------------- */

typedef struct ctl_wait {
  int done;
  mcsi_status st;
  uint8_t response;
  uint8_t *text;
  size_t text_len;
  int text_bad;
} ctl_wait;

static void ctl_done(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  ctl_wait *w = t->arg;
  if (h && dlen) {
    uint8_t *n = realloc(w->text, w->text_len + dlen);
    if (n) {
      memcpy(n + w->text_len, data, dlen);
      w->text = n;
      w->text_len += dlen;
    } else {
      w->text_bad = 1;
    }
  }
  if (h && !(h->opcode == MCSI_OP_TEXT_RSP && !(h->flags & MCSI_F_FINAL))) {
    w->response = h->response;
    w->st = st;
    w->done = 1;
  } else if (!h) {
    w->st = st;
    w->done = 1;
  }
}

static mcsi_status run_ctl(mcsi_session *s, mcsi_task *t, ctl_wait *w, int timeout_ms)
{
  mcsi_initiator *ini = s->ini;
  t->done = ctl_done;
  t->arg = w;
  mcsi_session_submit(s, t);
  if (mcsi_run_until(ini, &w->done, mcsi_now_ms() + (uint64_t)timeout_ms) < 0) {
    mcsi_task_complete(t, ISDSC_SERVICE_DID_NOT_RESPOND);
    return mcsi_fail(ini, ISDSC_SERVICE_DID_NOT_RESPOND, "no answer from the target within %d ms", timeout_ms);
  }
  return w->st;
}

static void wait_idle(mcsi_session *s, int timeout_ms)
{
  uint64_t deadline = mcsi_now_ms() + (uint64_t)timeout_ms;
  while (s->ntasks && mcsi_now_ms() < deadline) mcsi_process(s->ini, 50);
}

static void close_all(mcsi_session *s)
{
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    c->state = MCSI_CONN_CLOSED;
    mcsi_conn_close_socket(c);
  }
}

static mcsi_conn *leading_conn(mcsi_session *s)
{
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    if (c->leading && c->state == MCSI_CONN_ACTIVE) return c;
  }
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    if (c->state == MCSI_CONN_ACTIVE) return c;
  }
  return NULL;
}

/* Removes every connection but the leading one (each with its own Logout). */
static void remove_others(mcsi_session *s)
{
  mcsi_id ids[64];
  size_t n = 0;
  mcsi_conn *lead = leading_conn(s);
  for (mcsi_link *l = s->conns.next; l != &s->conns && n < 64; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    if (c != lead && c->state == MCSI_CONN_ACTIVE) ids[n++] = c->id;
  }
  for (size_t i = 0; i < n; i++) mcsi_remove_connection_from_session(s->ini, s->id, ids[i]);
}

/* Logout reason 0 on the last connection; the session ends either way. */
static mcsi_status logout_session(mcsi_session *s)
{
  mcsi_initiator *ini = s->ini;
  mcsi_status st = ISDSC_SUCCESS;
  if (s->state == MCSI_SESS_ACTIVE) {
    wait_idle(s, s->command_timeout_ms);
    remove_others(s);
    s->state = MCSI_SESS_LOGGING_OUT;
    mcsi_task *t = mcsi_task_new(s, MCSI_TASK_LOGOUT);
    mcsi_conn *c = leading_conn(s);
    if (!t || !c) {
      if (t) mcsi_task_free(t);
      st = mcsi_fail(ini, t ? ISDSC_NO_CONNECTION_AVAILABLE : ISDSC_OUT_OF_RESOURCES, "no connection to log out on");
      goto out;
    }
    ctl_wait w = { 0 };
    t->only_conn = c;
    c->logout_sent = 1;
    t->immediate = 1;
    t->logout_reason = MCSI_LOGOUT_SESSION;
    t->logout_cid = c->cid;
    st = run_ctl(s, t, &w, s->opts.login_timeout_ms);
    if (!st && w.response)
      st = mcsi_fail(ini, ISDSC_TARGET_ERROR, "Logout Response 0x%02x (%s)", w.response,
                     w.response == 1 ? "CID not found" : w.response == 2 ? "recovery not supported" : "cleanup failed");
    else if (!st)
      mcsi_ok(ini);
  } else {
    mcsi_fail(ini, ISDSC_SUCCESS, "session had no working connection; removed without a Logout");
  }
out:
  close_all(s);
  s->state = MCSI_SESS_LOGGED_OUT;
  mcsi_emit_session(s, MCSI_EV_SESSION_LOGGED_OUT, st, s->target);
  free_graveyard(ini, s);
  mcsi_session_free(s);
  return st;
}

mcsi_status mcsi_logout_from_target(mcsi_initiator *ini, mcsi_id sid)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (!s) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  if (ini->in_callback) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "blocking call from inside a callback");
  if (s->state == MCSI_SESS_LOGGING_OUT) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "already logging out");
  return logout_session(s);
}

mcsi_status mcsi_lun_reset(mcsi_initiator *ini, mcsi_id sid, uint64_t lun)
{
  mcsi_session *s = NULL;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (ini->in_callback) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "blocking call from inside a callback");
  mcsi_status st = mcsi_session_ready(ini, sid, 0, &s);
  if (st) return st;
  if (lun > 16383) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "LUN out of range");
  mcsi_task *t = mcsi_task_new(s, MCSI_TASK_TMF);
  if (!t) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  ctl_wait w = { 0 };
  t->immediate = 1;
  t->tmf_function = MCSI_TMF_LUN_RESET;
  t->lun = mcsi_lun_encode(lun);
  t->ref_itt = MCSI_RSVD_TAG;           /* Referenced Task Tag and RefCmdSN: ABORT TASK only */
  t->ref_cmdsn = 0;
  st = run_ctl(s, t, &w, s->command_timeout_ms);
  if (!st && w.response) return mcsi_fail(ini, ISDSC_TARGET_ERROR, "LUN RESET answered 0x%02x", w.response);
  if (!st) {
    s->cap_valid = 0;
    mcsi_ok(ini);
  }
  return st;
}

static void abort_done(mcsi_task *t, const char *why)
{
  mcsi_fail(t->sess->ini, ISDSC_SCSI_REQUEST_FAILED, "command aborted%s", why);
  mcsi_task_complete(t, ISDSC_SCSI_REQUEST_FAILED);
}

/* ABORT TASK on the connection the command went out on (allegiance). */
mcsi_status mcsi_abort_task(mcsi_initiator *ini, mcsi_id sid, uint64_t tag)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (!s) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  if (ini->in_callback) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "blocking call from inside a callback");
  mcsi_task *victim = mcsi_scsi_find_tag(s, tag);
  if (!victim) return mcsi_fail(ini, ISDSC_NOT_FOUND, "no outstanding command with tag %llu", (unsigned long long)tag);
  if (!victim->sent || !victim->conn) {            /* never reached the target */
    abort_done(victim, " before it was sent");
    return mcsi_ok(ini);
  }
  mcsi_task *t = mcsi_task_new(s, MCSI_TASK_TMF);
  if (!t) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  ctl_wait w = { 0 };
  t->immediate = 1;
  t->tmf_function = MCSI_TMF_ABORT_TASK;
  t->lun = mcsi_lun_encode(victim->lun);
  t->ref_itt = victim->itt;
  t->ref_cmdsn = victim->cmdsn;
  t->only_conn = victim->conn;
  mcsi_status st = run_ctl(s, t, &w, s->command_timeout_ms);
  if (st) return st;
  if (w.response != 0 && w.response != 1)          /* 0 function complete, 1 task does not exist */
    return mcsi_fail(ini, ISDSC_TARGET_ERROR, "ABORT TASK answered 0x%02x", w.response);
  if ((victim = mcsi_scsi_find_tag(s, tag))) abort_done(victim, " by ABORT TASK");
  return mcsi_ok(ini);
}

/* ---- discovery -------------------------------------------------------------------------------- */

static void free_entry(mcsi_target_entry *e)
{
  for (size_t i = 0; i < e->naddr; i++) free(e->addresses[i]);
  free(e->addresses);
  free(e->name);
}

void mcsi_target_list_free(mcsi_target_list *list)
{
  if (!list) return;
  for (size_t i = 0; i < list->count; i++) free_entry(&list->targets[i]);
  free(list->targets);
  free(list);
}

static int add_target(mcsi_target_list *l, const char *name)
{
  mcsi_target_entry *n = realloc(l->targets, (l->count + 1) * sizeof *n);
  if (!n) return -1;
  l->targets = n;
  memset(&n[l->count], 0, sizeof *n);
  n[l->count].name = mcsi_strdup0(name);
  if (!n[l->count].name) return -1;
  l->count++;
  return 0;
}

static int add_address(mcsi_target_entry *e, const char *addr)
{
  char **n = realloc(e->addresses, (e->naddr + 1) * sizeof *n);
  if (!n) return -1;
  e->addresses = n;
  if (!(n[e->naddr] = mcsi_strdup0(addr))) return -1;
  e->naddr++;
  return 0;
}

static mcsi_status parse_send_targets(mcsi_initiator *ini, const uint8_t *data, size_t len, mcsi_target_list **out)
{
  mcsi_text t;
  const char *bad = NULL;
  mcsi_text_init(&t);
  mcsi_target_list *l = calloc(1, sizeof *l);
  if (!l) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  if (len && mcsi_text_parse_multi(&t, data, len, &bad)) {
    mcsi_text_free(&t);                 /* what was parsed before the bad part */
    mcsi_target_list_free(l);
    return mcsi_fail(ini, ISDSC_INVALID_SENDTARGETS_TEXT, "malformed SendTargets reply: %s", bad ? bad : "out of memory");
  }
  mcsi_status st = ISDSC_SUCCESS;
  for (size_t i = 0; i < t.count && !st; i++) {
    const mcsi_kv *kv = &t.items[i];
    if (!strcmp(kv->key, "TargetName")) {
      if (add_target(l, kv->value)) st = mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
    } else if (!strcmp(kv->key, "TargetAddress")) {
      if (!l->count) st = mcsi_fail(ini, ISDSC_INVALID_SENDTARGETS_TEXT, "TargetAddress before any TargetName");
      else if (add_address(&l->targets[l->count - 1], kv->value)) st = mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
    }
  }
  mcsi_text_free(&t);
  if (st) mcsi_target_list_free(l);
  else *out = l;
  return st;
}

mcsi_status mcsi_send_targets(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_target_list **out)
{
  mcsi_session *s;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no list to fill");
  *out = NULL;
  mcsi_status st = login(ini, o, 1, &s);
  if (st) return st;
  mcsi_task *t = mcsi_task_new(s, MCSI_TASK_TEXT);
  static const char req[] = "SendTargets=All";
  ctl_wait w = { 0 };
  if (t) {
    t->text = (uint8_t *)mcsi_strdup0(req);
    t->text_len = sizeof req;          /* with its NUL */
  }
  if (!t || !t->text) st = mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  else st = run_ctl(s, t, &w, s->opts.login_timeout_ms);   /* non-immediate: istgt needs that */
  if (!st && w.text_bad) st = mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  if (!st) st = parse_send_targets(ini, w.text, w.text_len, out);
  free(w.text);
  char msg[sizeof ini->message];
  memcpy(msg, ini->message, sizeof msg);
  logout_session(s);
  memcpy(ini->message, msg, sizeof msg);   /* the discovery outcome, not the logout's */
  return st;
}

/* ---- information -------------------------------------------------------------------------------- */

size_t mcsi_session_list(const mcsi_initiator *ini, mcsi_id *ids, size_t max)
{
  size_t n = 0;
  if (!ini) return 0;
  for (const mcsi_link *l = ini->sessions.next; l != &ini->sessions; l = l->next, n++)
    if (n < max && ids) ids[n] = MCSI_CONTAINER(l, mcsi_session, link)->id;
  return n;
}

static void addr_string(const struct sockaddr_storage *ss, char *buf, size_t len, uint16_t *port)
{
  char host[64] = "", serv[8] = "0";
  getnameinfo((const struct sockaddr *)ss, sizeof *ss, host, sizeof host, serv, sizeof serv,
              NI_NUMERICHOST | NI_NUMERICSERV);
  snprintf(buf, len, "%s", host);
  *port = (uint16_t)atoi(serv);
}

static void conn_info(const mcsi_conn *c, mcsi_conn_info *ci)
{
  memset(ci, 0, sizeof *ci);
  ci->id = c->id;
  ci->cid = c->cid;
  snprintf(ci->state, sizeof ci->state, "%s", mcsi_conn_state_name(c->state));
  ci->leading = c->leading;
  ci->primary = c->primary;
  ci->active = c->active;
  ci->weight = c->weight;
  snprintf(ci->portal, sizeof ci->portal, "%s", c->portal);
  if (c->fd >= 0) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0) addr_string(&ss, ci->local_addr, sizeof ci->local_addr, &ci->local_port);
    addr_string(&c->remote, ci->remote_addr, sizeof ci->remote_addr, &ci->remote_port);
  }
  ci->header_digest = (int)c->params.header_digest;
  ci->data_digest = (int)c->params.data_digest;
  ci->max_recv_dsl = c->params.max_recv_dsl;
  ci->max_send_dsl = c->params.max_send_dsl;
  ci->queue_depth = c->queue_depth;
  ci->stats = c->stats;
}

mcsi_status mcsi_session_get_info(mcsi_initiator *ini, mcsi_id sid, mcsi_session_info *out)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no info to fill");
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (!s) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  memset(out, 0, sizeof *out);
  out->id = s->id;
  snprintf(out->target, sizeof out->target, "%s", s->target);
  snprintf(out->target_alias, sizeof out->target_alias, "%s", s->target_alias);
  memcpy(out->isid, s->isid, 6);
  out->tsih = s->tsih;
  out->tpgt = s->tpgt;
  snprintf(out->state, sizeof out->state, "%s", mcsi_session_state_name(s->state));
  out->discovery = s->discovery;
  out->load_balance_policy = s->policy;
  out->recoveries = s->recoveries;
  out->commands_retried = s->commands_retried;
  const mcsi_params *p = &s->params;
  out->max_connections = p->max_connections;
  out->max_burst_length = p->max_burst;
  out->first_burst_length = p->first_burst;
  out->max_outstanding_r2t = p->max_outstanding_r2t;
  out->default_time2wait = p->time2wait;
  out->default_time2retain = p->time2retain;
  out->initial_r2t = (int)p->initial_r2t;
  out->immediate_data = (int)p->immediate_data;
  out->data_pdu_in_order = (int)p->data_pdu_in_order;
  out->data_sequence_in_order = (int)p->data_seq_in_order;
  out->error_recovery_level = (int)p->erl;
  out->cmdsn = s->cmdsn;
  out->exp_cmdsn = s->exp_cmdsn;
  out->max_cmdsn = s->max_cmdsn;
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    if (out->connection_count < sizeof out->connections / sizeof out->connections[0]) conn_info(MCSI_CONTAINER(l, mcsi_conn, link), &out->connections[out->connection_count]);
    out->connection_count++;
  }
  return mcsi_ok(ini);
}
