/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* completion.c: the public completion (mcsi_completion: done, free, arg) of
 * an operation that runs on the internal request objects (ops.c). A relay
 * holds the caller's completion while the operation runs: done runs once
 * with the operation's Status, message and result, then free(arg); a start
 * that fails and an initiator freed first call free(arg) only. */
#include <stdlib.h>
#include "initiator.h"

struct mcsi_relay {
  mcsi_link link;                       /* ini->relays */
  mcsi_initiator *ini;
  mcsi_completion c;
};

static void release(mcsi_relay *r)
{
  mcsi_completion c = r->c;
  mcsi_list_del(&r->link);
  free(r);
  if (c.free) c.free(c.arg);
}

static mcsi_status refuse(mcsi_completion c, mcsi_status st)
{
  if (c.free) c.free(c.arg);
  return st;
}

mcsi_status mcsi_relay_start(mcsi_initiator *ini, mcsi_completion c, mcsi_relay **out)
{
  *out = NULL;
  if (!ini) return refuse(c, ISDSC_INVALID_PARAMETER);
  if (!c.done) return refuse(c, mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback"));
  mcsi_relay *r = calloc(1, sizeof *r);
  if (!r) return refuse(c, mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory"));
  r->ini = ini;
  r->c = c;
  mcsi_list_init(&r->link);
  mcsi_list_push(&ini->relays, &r->link);
  *out = r;
  return ISDSC_SUCCESS;
}

mcsi_status mcsi_relay_refused(mcsi_relay *r, mcsi_status st)
{
  release(r);
  return st;
}

void mcsi_relay_ids(mcsi_initiator *ini, const mcsi_result *res, void *arg)
{
  mcsi_relay *r = arg;
  mcsi_session_result ids = { res->session_id, res->connection_id };
  r->c.done(ini, res->status, res->message, &ids, r->c.arg);
  release(r);
}

void mcsi_relay_targets(mcsi_initiator *ini, const mcsi_result *res, mcsi_target_list *list, void *arg)
{
  mcsi_relay *r = arg;
  r->c.done(ini, res->status, res->message, res->status ? NULL : list, r->c.arg);
  mcsi_target_list_free(list);
  release(r);
}

void mcsi_relay_answer(mcsi_relay *r, mcsi_status st, const char *message, const void *result)
{
  r->c.done(r->ini, st, message, result, r->c.arg);
  release(r);
}

void mcsi_relays_free(mcsi_initiator *ini)
{
  while (!mcsi_list_empty(&ini->relays)) release(MCSI_CONTAINER(ini->relays.next, mcsi_relay, link));
}
