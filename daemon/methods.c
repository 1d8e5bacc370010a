/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods.c: the dispatch table, parameter schemas and calls (see methods.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clients.h"
#include "json_text.h"
#include "log.h"
#include "methods.h"

const mcsid_method *mcsid_find_method(const char *name)
{
  for (const mcsid_method *m = mcsid_methods; m->name; m++)
    if (!strcmp(m->name, name)) return m;
  return NULL;
}

json_t *mcsid_method_names(void)
{
  json_t *names = json_array();
  for (const mcsid_method *m = mcsid_methods; m->name; m++) json_array_append_new(names, json_string(m->name));
  return names;
}

/* ---- values ------------------------------------------------------------------------------------ */

static int parse_id_text(const char *s, uint64_t *out)
{
  char *end;
  if (!*s || *s == '-' || *s == '+' || *s == ' ') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10);
  if (errno || *end || end == s) return -1;
  *out = v;
  return 0;
}

static int id_value(const json_t *v, uint64_t *out)
{
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (uint64_t)json_integer_value(v);
    return 0;
  }
  return json_is_string(v) ? parse_id_text(json_string_value(v), out) : -1;
}

int mcsid_portal_text(const json_t *v, char *out, size_t len)
{
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (!*s || strlen(s) >= 80 || strpbrk(s, " \t/")) return -1;
    int has_port = s[0] == '[' ? strstr(s, "]:") != NULL : strchr(s, ':') != NULL;
    snprintf(out, len, has_port ? "%s" : "%s:3260", s);
    return 0;
  }
  if (!json_is_object(v)) return -1;
  const json_t *addr = json_object_get(v, "Address"), *port = json_object_get(v, "Port");
  if (!json_is_string(addr) || !*json_string_value(addr) || strlen(json_string_value(addr)) >= 64) return -1;
  if (port && (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535))
    return -1;
  const char *key;
  const json_t *x;
  json_object_foreach((json_t *)v, key, x)
    if (strcmp(key, "Address") && strcmp(key, "Port")) return -1;
  const char *a = json_string_value(addr);
  int p = port ? (int)json_integer_value(port) : 3260;
  snprintf(out, len, strchr(a, ':') ? "[%s]:%d" : "%s:%d", a, p);
  return 0;
}

json_t *mcsid_portal_object(const char *text)
{
  char host[128];
  int port = 3260;
  snprintf(host, sizeof host, "%s", text);
  char *comma = strchr(host, ',');   /* "host:port,tpgt" as SendTargets gives it */
  if (comma) *comma = 0;
  char *addr = host, *colon;
  if (host[0] == '[') {               /* "[v6]:port" or "[v6]" */
    addr = host + 1;
    char *rb = strchr(addr, ']');
    if (rb) {
      if (rb[1] == ':') port = atoi(rb + 2);
      *rb = 0;
    }
  } else if ((colon = strrchr(host, ':'))) {
    port = atoi(colon + 1);
    *colon = 0;
  }
  return json_pack("{s:o, s:i}", "Address", mcsid_json_text(addr), "Port", port);   /* a target's text too */
}

int mcsid_policy_number(const json_t *v)
{
  if (json_is_integer(v)) {
    json_int_t n = json_integer_value(v);
    return n >= 1 && n < MCSI_LB_COUNT ? (int)n : 0;
  }
  if (!json_is_string(v)) return 0;
  for (int p = 1; p < MCSI_LB_COUNT; p++)
    if (!strcmp(mcsi_lb_policy_name(p), json_string_value(v))) return p;
  return 0;
}

json_t *mcsid_id_json(mcsi_id id) { return json_integer((json_int_t)id); }

/* ---- the schema check -------------------------------------------------------------------------- */

static int value_has_type(const json_t *v, mcsid_ptype t)
{
  char portal[128];
  uint64_t id;
  size_t i;
  json_t *e;
  switch (t) {
  case P_STRING: return json_is_string(v);
  case P_ID: return id_value(v, &id) == 0;
  case P_UINT: return json_is_integer(v) && json_integer_value(v) >= 0;
  case P_BOOL: return json_is_boolean(v);
  case P_PORTAL: return mcsid_portal_text(v, portal, sizeof portal) == 0;
  case P_PORTALS:
    if (!json_is_array(v) || !json_array_size(v)) return 0;
    json_array_foreach(v, i, e)
      if (mcsid_portal_text(e, portal, sizeof portal) < 0) return 0;
    return 1;
  case P_POLICY: return json_is_integer(v) || (json_is_string(v) && mcsid_policy_number(v));
  case P_ARRAY: return json_is_array(v);
  case P_OBJECT: return json_is_object(v);
  }
  return 0;
}

static const char *const type_names[] = {
  [P_STRING] = "a string", [P_ID] = "an id (a number or a decimal or 0x string)",
  [P_UINT] = "a non-negative integer", [P_BOOL] = "true or false",
  [P_PORTAL] = "a portal (\"host:port\" or {\"Address\",\"Port\"})", [P_PORTALS] = "a non-empty array of portals",
  [P_POLICY] = "a load balance policy (a number or a name)", [P_ARRAY] = "an array", [P_OBJECT] = "an object",
};

static const mcsid_param_spec *find_param(const mcsid_param_spec *spec, const char *name)
{
  for (const mcsid_param_spec *p = spec; p->name; p++)
    if (!strcmp(p->name, name)) return p;
  return NULL;
}

/* Each element of an array of objects against its members' spec. */
static int check_elements(const mcsid_param_spec *arr, json_t *v, char *msg, size_t len)
{
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    const char *key;
    json_t *x;
    if (!json_is_object(e)) {
      snprintf(msg, len, "invalid params: %s[%zu] must be an object", arr->name, i);
      return -1;
    }
    json_object_foreach(e, key, x) {
      const mcsid_param_spec *p = find_param(arr->elements, key);
      if (!p) {
        snprintf(msg, len, "invalid params: %s[%zu] has no member %.*s", arr->name, i, mcsid_text_prefix(key, 64), key);
        return -1;
      }
      if (!value_has_type(x, p->type)) {
        snprintf(msg, len, "invalid params: %s[%zu].%s must be %s", arr->name, i, p->name, type_names[p->type]);
        return -1;
      }
    }
    for (const mcsid_param_spec *p = arr->elements; p->name; p++)
      if (p->required && !json_object_get(e, p->name)) {
        snprintf(msg, len, "invalid params: %s[%zu].%s is required", arr->name, i, p->name);
        return -1;
      }
  }
  return 0;
}

/* 0, or -1 with msg set. Messages name parameters, never their values. */
static int check_params(const mcsid_method *m, json_t *params, char *msg, size_t len)
{
  const char *key;
  json_t *v;
  json_object_foreach(params, key, v) {
    const mcsid_param_spec *p = find_param(m->params, key);
    if (!p) {
      snprintf(msg, len, "invalid params: %s has no parameter %.*s", m->name, mcsid_text_prefix(key, 64), key);
      return -1;
    }
    if (!value_has_type(v, p->type)) {
      snprintf(msg, len, "invalid params: %s must be %s", p->name, type_names[p->type]);
      return -1;
    }
    if (p->elements && check_elements(p, v, msg, len) < 0) return -1;
  }
  for (const mcsid_param_spec *p = m->params; p->name; p++)
    if (p->required && !json_object_get(params, p->name)) {
      snprintf(msg, len, "invalid params: %s is required", p->name);
      return -1;
    }
  return 0;
}

/* ---- calls ---------------------------------------------------------------------------------------- */

static void answer_error(mcsid_client *c, json_t *id, int code, const char *message)
{
  if (!id) return;   /* a notification hears nothing */
  json_t *err = mcsid_rpc_error(id, code, message);
  if (err) mcsid_client_send(c, err);   /* NULL: out of memory */
  json_decref(err);
}

void mcsid_handle_line(mcsid *d, mcsid_client *c, const char *line, size_t len,
                       int (*screen)(void *arg, mcsid_client *c, const mcsid_request *req), void *screen_arg)
{
  if (len && line[len - 1] == '\r') len--;
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  if (i == len) return;   /* blank line */
  mcsid_request req;
  json_t *error = NULL;
  if (mcsid_rpc_parse(line, len, &req, &error) < 0) {
    if (error) mcsid_client_send(c, error);
    json_decref(error);
    return;
  }
  if (!screen || screen(screen_arg, c, &req)) mcsid_dispatch(d, c, &req);
  mcsid_request_free(&req);
}

void mcsid_dispatch(mcsid *d, mcsid_client *c, const mcsid_request *req)
{
  char msg[256];
  const mcsid_method *m = mcsid_find_method(req->method);
  if (!m) {
    snprintf(msg, sizeof msg, "method not found: %.*s", mcsid_text_prefix(req->method, 64), req->method);
    answer_error(c, req->id, RPC_METHOD_NOT_FOUND, msg);
    return;
  }
  if (check_params(m, req->params, msg, sizeof msg) < 0) {
    answer_error(c, req->id, RPC_INVALID_PARAMS, msg);
    return;
  }
  if (mcsid_client_pending(c) >= d->config.max_pending) {
    snprintf(msg, sizeof msg, "too many requests in flight (at most %ld per client)", d->config.max_pending);
    answer_error(c, req->id, RPC_TOO_MANY_REQUESTS, msg);
    return;
  }
  mcsid_call *call = calloc(1, sizeof *call);
  if (!call) {
    answer_error(c, req->id, RPC_TOO_MANY_REQUESTS, "out of memory");
    return;
  }
  call->d = d;
  call->client = c;
  call->id = req->id ? json_incref(req->id) : NULL;
  call->params = json_incref(req->params);
  call->method = m;
  mcsid_client_ref(c);
  mcsid_client_pending_add(c, 1);
  log_debug("client %lu: %s", mcsid_client_serial(c), m->name);
  m->run(call);
}

static void call_free(mcsid_call *call);

void mcsid_call_finish(mcsid_call *call, mcsi_status st, const char *message, json_t *outputs)
{
  json_t *result = mcsid_status_object(st, message);
  if (outputs) {
    json_object_update(result, outputs);
    json_decref(outputs);
  }
  if (call->id && mcsid_client_is_open(call->client)) {
    json_t *msg = result ? mcsid_rpc_result(call->id, result) : NULL;
    if (!msg) {   /* out of memory (result was stolen): an answer all the same */
      answer_error(call->client, call->id, RPC_INTERNAL_ERROR, "internal error: out of memory");
    } else {
      mcsid_client_send(call->client, msg);
    }
    json_decref(msg);
  } else {
    json_decref(result);
  }
  call_free(call);
}

static void call_free(mcsid_call *call)
{
  mcsid_client_pending_add(call->client, -1);
  mcsid_client_unref(call->client);
  json_decref(call->id);
  json_decref(call->params);
  free(call);
}

void mcsid_call_invalid_params(mcsid_call *call, const char *message)
{
  if (mcsid_client_is_open(call->client)) answer_error(call->client, call->id, RPC_INVALID_PARAMS, message);
  call_free(call);
}

void mcsid_call_fail_now(mcsid_call *call, mcsi_status st)
{
  mcsid_call_finish(call, st, mcsi_last_message(call->d->ini), NULL);
}

/* ---- accessors ------------------------------------------------------------------------------------- */

json_t *mcsid_param(const mcsid_call *call, const char *name) { return json_object_get(call->params, name); }

const char *mcsid_param_string(const mcsid_call *call, const char *name)
{
  return json_string_value(mcsid_param(call, name));
}

uint64_t mcsid_param_id(const mcsid_call *call, const char *name)
{
  uint64_t id = 0;
  json_t *v = mcsid_param(call, name);
  if (v && id_value(v, &id) < 0) id = 0;
  return id;
}

long long mcsid_param_uint(const mcsid_call *call, const char *name, long long dflt)
{
  json_t *v = mcsid_param(call, name);
  return v ? json_integer_value(v) : dflt;
}

int mcsid_param_bool(const mcsid_call *call, const char *name, int dflt)
{
  json_t *v = mcsid_param(call, name);
  return v ? json_is_true(v) : dflt;
}

int mcsid_param_policy(const mcsid_call *call, const char *name)
{
  json_t *v = mcsid_param(call, name);
  return v ? mcsid_policy_number(v) : 0;
}
