/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* initiator.c: the initiator object: its loop, the messages of its calls,
 * and its table of sessions (entries over the MC/S layer, whose hooks it
 * implements). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "initiator.h"

/* ---- messages ------------------------------------------------------------------ */

mcsi_status mcsi_fail(mcsi_initiator *ini, mcsi_status st, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  if (ini) mcsi_msgv(ini->message, st, fmt, ap);
  va_end(ap);
  return st;
}

mcsi_status mcsi_fail_msg(mcsi_initiator *ini, mcsi_status st, const char *msg)
{
  if (ini && msg != ini->message) snprintf(ini->message, sizeof ini->message, "%s", msg);
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

int mcsi_in_callback(const mcsi_initiator *ini) { return mcsi_loop_in_callback(&ini->loop); }

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
  mcsi_list_init(&ini->dead);
  mcsi_list_init(&ini->ops);
  mcsi_list_init(&ini->relays);
  mcsi_list_init(&ini->host_timers);
  mcsi_list_init(&ini->host_watches);
  mcsi_list_init(&ini->dead_watches);
  return ini;
}

static void entry_free(mcsi_entry *e)
{
  if (e->login_op) e->login_op->e = NULL;      /* operations outliving it forget it */
  if (e->logout_op) e->logout_op->e = NULL;
  if (e->handover_op) e->handover_op->e = NULL;
  mcsi_handover_blob_free(e->handover_blob);
  mcsi_list_del(&e->link);
  mcsi_mcs_destroy(&e->m);
  mcsi_lun_geo_free_all(e);
  free(e);
}

/* Frees the connections and sessions that ended, outside callbacks. */
void mcsi_reap(mcsi_initiator *ini)
{
  if (mcsi_in_callback(ini)) return;
  for (mcsi_link *l = ini->sessions.next; l != &ini->sessions; l = l->next)
    mcsi_session_reap(mcsi_entry_session(MCSI_CONTAINER(l, mcsi_entry, link)));
  while (!mcsi_list_empty(&ini->dead)) entry_free(MCSI_CONTAINER(ini->dead.next, mcsi_entry, link));
}

void mcsi_initiator_free(mcsi_initiator *ini)
{
  if (!ini) return;
  mcsi_events_free(ini);
  mcsi_ops_free(ini);
  while (!mcsi_list_empty(&ini->sessions)) mcsi_entry_discard(MCSI_CONTAINER(ini->sessions.next, mcsi_entry, link));
  mcsi_loop_clear_callbacks(&ini->loop);
  mcsi_reap(ini);
  mcsi_ops_free(ini);
  mcsi_relays_free(ini);
  mcsi_host_free(ini);
  mcsi_loop_close(&ini->loop);
  free(ini);
}

const char *mcsi_initiator_name(const mcsi_initiator *ini) { return ini ? ini->name : NULL; }

/* ---- the loop ----------------------------------------------------------------------------- */

int mcsi_fd(const mcsi_initiator *ini) { return ini ? mcsi_loop_fd(&ini->loop) : -1; }

int mcsi_next_timeout_ms(const mcsi_initiator *ini)
{
  if (!ini) return -1;
  return mcsi_loop_has_deferred(&ini->loop) ? 0 : mcsi_loop_next_timeout(&ini->loop);
}

int mcsi_process(mcsi_initiator *ini, int timeout_ms)
{
  if (!ini) return -1;
  mcsi_loop_run_deferred(&ini->loop);
  int n = mcsi_loop_poll(&ini->loop, timeout_ms);
  mcsi_host_reap(ini);
  mcsi_loop_run_deferred(&ini->loop);
  mcsi_reap(ini);
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

/* ---- options ------------------------------------------------------------------------------ */

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

/* ---- the table of sessions ------------------------------------------------------------------ */

mcsi_entry *mcsi_entry_find(mcsi_initiator *ini, mcsi_id id)
{
  for (mcsi_link *l = ini->sessions.next; l != &ini->sessions; l = l->next) {
    mcsi_entry *e = MCSI_CONTAINER(l, mcsi_entry, link);
    if (mcsi_session_id(&e->m.s) == id) return e;
  }
  return NULL;
}

int mcsi_entry_id_taken(mcsi_initiator *ini, mcsi_id id)
{
  mcsi_link *lists[] = { &ini->sessions, &ini->dead };
  for (size_t i = 0; i < 2; i++)
    for (mcsi_link *l = lists[i]->next; l != lists[i]; l = l->next) {
      mcsi_session *s = mcsi_entry_session(MCSI_CONTAINER(l, mcsi_entry, link));
      if (mcsi_session_id(s) == id) return 1;
      for (mcsi_link *c = mcsi_session_conns(s)->next; c != mcsi_session_conns(s); c = c->next)
        if (mcsi_conn_id(mcsi_conn_of_link(c)) == id) return 1;
    }
  return 0;
}

mcsi_status mcsi_entry_ready(mcsi_initiator *ini, mcsi_id sid, int recovering_ok, mcsi_entry **out)
{
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  mcsi_status st = mcsi_session_check_ready(mcsi_entry_session(e), recovering_ok, ini->message);
  if (st) return st;
  *out = e;
  return ISDSC_SUCCESS;
}

void mcsi_entry_discard(mcsi_entry *e)
{
  mcsi_mcs_stop_timers(&e->m);
  mcsi_list_del(&e->link);
  mcsi_list_push(&e->ini->dead, &e->link);
}

static mcsi_entry *entry_of(mcsi_mcs *m) { return MCSI_CONTAINER(m, mcsi_entry, m); }

static void hook_event(mcsi_mcs *m, const mcsi_event *ev) { mcsi_events_dispatch(entry_of(m)->ini, ev); }

/* The leading login ended: a session that did not come up is gone. */
static void hook_session_login_done(mcsi_mcs *m, mcsi_status st, const char *message)
{
  mcsi_entry *e = entry_of(m);
  mcsi_op *op = e->login_op;
  if (!op) return;
  e->login_op = NULL;
  if (st) {
    mcsi_entry_discard(e);
  } else {
    op->r.session_id = mcsi_session_id(&m->s);
    op->r.connection_id = mcsi_conn_id(mcsi_conn_of_link(mcsi_session_conns(&m->s)->next));
  }
  mcsi_op_finish(op, st, message);
}

static const mcsi_mcs_hooks entry_hooks = { .event = hook_event, .session_login_done = hook_session_login_done };

static mcsi_entry *entry_new(mcsi_initiator *ini)
{
  mcsi_entry *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->ini = ini;
  e->wanted = 1;   /* the count at login; an add or mcsi_set_wanted_connections changes it */
  mcsi_list_init(&e->link);
  mcsi_list_init(&e->luns);
  mcsi_list_push(&ini->sessions, &e->link);
  return e;
}

mcsi_status mcsi_entry_import(mcsi_initiator *ini, const mcsi_login_opts *o, const mcsi_handover_session *hs,
                              const int *fds, mcsi_entry **out)
{
  mcsi_status st = check_opts(ini, o, 0);
  if (st) return st;
  if (strcmp(o->target, hs->target))
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "the handed session is with %s, the options name %s",
                     hs->target, o->target);
  mcsi_entry *e = entry_new(ini);
  if (!e) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  st = mcsi_mcs_init(&e->m, &ini->loop, &entry_hooks, hs->id, ini->name, &ini->challenges, o, 0, ini->message);
  if (st) {
    mcsi_list_del(&e->link);
    free(e);
    return st;
  }
  st = mcsi_mcs_import(&e->m, hs, fds, ini->message);
  if (st) {
    entry_free(e);
    return st;
  }
  *out = e;
  return mcsi_ok(ini);
}

mcsi_status mcsi_entry_start(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery, mcsi_op *op)
{
  mcsi_status st = check_opts(ini, o, discovery);
  if (st) return st;
  mcsi_entry *e = entry_new(ini);
  if (!e) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  e->login_op = op;
  op->e = e;
  st = mcsi_mcs_start(&e->m, &ini->loop, &entry_hooks, mcsi_new_id(), ini->name, &ini->challenges, o, discovery,
                      ini->message);
  if (st) {
    e->login_op = NULL;
    op->e = NULL;
    entry_free(e);
  }
  return st;
}
