/* events.c: state changes of sessions and connections, told to any number
 * of subscribers, each event with the object's state before and after. */
#include <stdlib.h>
#include "internal.h"

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

static const char *const event_states[MCSI_EV_COUNT] = {
#define MCSI_X_EV_STATE(e, v, name, state) [v] = state,
  MCSI_EVENT_LIST(MCSI_X_EV_STATE)
#undef MCSI_X_EV_STATE
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
  ini->subs[ini->nsubs++] = (mcsi_sub){ .id = ++ini->next_sub, .cb = cb, .arg = arg };
  return ini->next_sub;
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

/* Tells every subscriber there was when it began; *state is the object's
 * state as events tell it, updated here. */
static void emit(mcsi_initiator *ini, mcsi_event *ev, const char **state)
{
  const char *next = event_states[ev->kind];
  ev->old_state = *state;
  ev->new_state = next ? next : *state;
  *state = ev->new_state;
  if (!ev->reason) ev->reason = "";
  size_t n = ini->nsubs;
  ini->emitting++;
  ini->in_callback++;
  for (size_t i = 0; i < n; i++)
    if (ini->subs[i].cb) ini->subs[i].cb(ini, ev, ini->subs[i].arg);
  ini->in_callback--;
  if (!--ini->emitting) compact(ini);
}

void mcsi_emit_conn(mcsi_conn *c, mcsi_event_kind kind, mcsi_status st, const char *reason)
{
  mcsi_event ev = { .kind = kind, .session_id = c->sess->id, .connection_id = c->id, .status = st,
                    .reason = reason };
  emit(c->sess->ini, &ev, &c->ev_state);
}

void mcsi_emit_session(mcsi_session *s, mcsi_event_kind kind, mcsi_status st, const char *reason)
{
  mcsi_event ev = { .kind = kind, .session_id = s->id, .status = st, .reason = reason };
  emit(s->ini, &ev, &s->ev_state);
}
