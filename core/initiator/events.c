/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* events.c: state changes of sessions and connections, told to any number
 * of subscribers, each event with the object's state before and after
 * (filled in by the layer the object belongs to). */
#include <stdlib.h>
#include "initiator.h"

typedef struct mcsi_sub {
  uint64_t id;
  mcsi_event_cb cb;                     /* NULL: unsubscribed, compacted later */
  void *arg;
} mcsi_sub;

static const char *const event_names[MCSI_EV_COUNT] = {
#define MCSI_X_EV_NAME(e, v, name, state) [v] = name,
  MCSI_EVENT_LIST(MCSI_X_EV_NAME)
#undef MCSI_X_EV_NAME
};

const char *mcsi_event_name(mcsi_event_kind kind)
{
  return kind > 0 && kind < MCSI_EV_COUNT ? event_names[kind] : NULL;
}

uint64_t mcsi_subscribe(mcsi_initiator *ini, mcsi_event_cb cb, void *arg)
{
  if (!ini || !cb) return 0;
  if (ini->nsubs == ini->capsubs) {
    size_t cap = ini->capsubs ? ini->capsubs * 2 : 4;
    mcsi_sub *n = realloc(ini->subs, cap * sizeof *n);
    if (!n) return 0;
    ini->subs = n;
    ini->capsubs = cap;
  }
  uint64_t id = mcsi_new_id();
  ini->subs[ini->nsubs++] = (mcsi_sub){ .id = id, .cb = cb, .arg = arg };
  return id;
}

static void compact(mcsi_initiator *ini)
{
  size_t j = 0;
  for (size_t i = 0; i < ini->nsubs; i++)
    if (ini->subs[i].cb) ini->subs[j++] = ini->subs[i];
  ini->nsubs = j;
}

void mcsi_unsubscribe(mcsi_initiator *ini, uint64_t id)
{
  if (!ini || !id) return;
  for (size_t i = 0; i < ini->nsubs; i++)
    if (ini->subs[i].id == id) ini->subs[i].cb = NULL;
  if (!ini->emitting) compact(ini);
}

void mcsi_set_event_callback(mcsi_initiator *ini, mcsi_event_cb cb, void *arg)
{
  if (!ini) return;
  mcsi_unsubscribe(ini, ini->callback_sub);
  ini->callback_sub = cb ? mcsi_subscribe(ini, cb, arg) : 0;
}

void mcsi_events_free(mcsi_initiator *ini)
{
  free(ini->subs);
  ini->subs = NULL;
  ini->nsubs = ini->capsubs = 0;
}

/* Tells every subscriber there was when it began; the layer the object
 * belongs to filled in its states. */
void mcsi_events_dispatch(mcsi_initiator *ini, const mcsi_event *ev)
{
  size_t n = ini->nsubs;
  ini->emitting++;
  mcsi_loop_enter_callback(&ini->loop);
  for (size_t i = 0; i < n; i++)
    if (ini->subs[i].cb) ini->subs[i].cb(ini, ev, ini->subs[i].arg);
  mcsi_loop_leave_callback(&ini->loop);
  if (!--ini->emitting) compact(ini);
}
