/* policy.c: policies inside mcsid (see policy.h): the Lua state, the
 * scripts' sources, JSON options as Lua values, the end of a policy as a log
 * line and an Event. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lauxlib.h"
#include "lmcsi.h"
#include "lua.h"
#include "lualib.h"
#include "clients.h"
#include "json_text.h"
#include "log.h"
#include "methods.h"
#include "policy.h"

#define HOST_KEY "mcsid.policy"        /* registry: the mcsi.policy module */
#define SCRIPT_MAX (1 << 20)

static mcsid *the_daemon;              /* for the host's C functions */

/* ---- JSON -> Lua ------------------------------------------------------------------------------ */

static void push_json(lua_State *L, json_t *v, int depth)
{
  luaL_checkstack(L, 4, "policy options");
  if (depth > 32) { lua_pushnil(L); return; }
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *k;
    json_t *x;
    lua_createtable(L, 0, (int)json_object_size(v));
    json_object_foreach(v, k, x) {
      push_json(L, x, depth + 1);
      lua_setfield(L, -2, k);
    }
    break;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *x;
    lua_createtable(L, (int)json_array_size(v), 0);
    json_array_foreach(v, i, x) {
      push_json(L, x, depth + 1);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    break;
  }
  case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
  case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
  case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
  case JSON_TRUE: lua_pushboolean(L, 1); break;
  case JSON_FALSE: lua_pushboolean(L, 0); break;
  default: lua_pushnil(L); break;
  }
}

/* ---- the scripts ---------------------------------------------------------------------------- */

static int good_name(const char *s)
{
  if (!*s || strlen(s) > 64) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
      return 0;
  return 1;
}

/* Pushes the source of script name (a built-in or policy_dir/name.lua) and
 * returns its chunk name, or NULL with err set. */
static const char *push_source(lua_State *L, mcsid *d, const char *name, char *err, size_t errlen)
{
  if (d->config.policy_dir[0]) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.lua", d->config.policy_dir, name);
    FILE *f = fopen(path, "rb");
    if (f) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      char buf[4096];
      size_t n, total = 0;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0 && (total += n) <= SCRIPT_MAX) luaL_addlstring(&b, buf, n);
      fclose(f);
      luaL_pushresult(&b);
      if (total > SCRIPT_MAX) {
        lua_pop(L, 1);
        snprintf(err, errlen, "policy script %s is larger than %d bytes", path, SCRIPT_MAX);
        return NULL;
      }
      return lua_pushfstring(L, "@%s", path);
    }
    if (errno != ENOENT) {
      snprintf(err, errlen, "policy script %s: %s", path, strerror(errno));
      return NULL;
    }
  }
  char module[80];
  snprintf(module, sizeof module, "mcsi.%s", name);
  for (int i = 0; lmcsi_chunks[i].name; i++)
    if (!strcmp(lmcsi_chunks[i].name, module) && (!strcmp(name, "failover") || !strcmp(name, "drain") ||
                                                   !strcmp(name, "rebalance"))) {
      lua_pushlstring(L, lmcsi_chunks[i].code, lmcsi_chunks[i].len);
      return lua_pushstring(L, lmcsi_chunks[i].chunkname);
    }
  snprintf(err, errlen, "no policy script '%s' (built-in: failover, drain, rebalance%s%s)", name,
           d->config.policy_dir[0] ? "; or a .lua file of " : "", d->config.policy_dir);
  return NULL;
}

/* ---- the host's C functions ------------------------------------------------------------------------ */

static const char *state_kind(const char *state)
{
  if (!strcmp(state, "failed")) return "policy-failed";
  if (!strcmp(state, "ended")) return "policy-ended";
  return "policy-stopped";
}

/* on_end(p): a log line and an Event to the subscribers. */
static int host_on_end(lua_State *L)
{
  mcsid *d = the_daemon;
  lua_getfield(L, 1, "id");
  lua_getfield(L, 1, "session");
  lua_getfield(L, 1, "script");
  lua_getfield(L, 1, "state");
  lua_getfield(L, 1, "reason");
  long id = (long)lua_tointeger(L, -5);
  mcsi_id sid = (mcsi_id)lua_tointeger(L, -4);
  const char *script = lua_tostring(L, -3), *state = lua_tostring(L, -2), *reason = lua_tostring(L, -1);
  if (!script) script = "?";
  if (!state) state = "stopped";
  if (!reason) reason = "";
  if (!strcmp(state, "failed"))
    log_warning("policy %ld (%s) on session %llu failed and is stopped: %s", id, script, (unsigned long long)sid,
                reason);
  else
    log_notice("policy %ld (%s) on session %llu %s: %s", id, script, (unsigned long long)sid, state, reason);
  mcsi_status st = strcmp(state, "failed") ? ISDSC_SUCCESS : ISDSC_NON_SPECIFIC_ERROR;
  json_t *params = json_pack("{s:s, s:o, s:i, s:I, s:s, s:s, s:I, s:s, s:o}", "Kind", state_kind(state),
                             "UniqueSessionId", mcsid_id_json(sid), "UniqueConnectionId", 0, "PolicyId",
                             (json_int_t)id, "PolicyScript", script, "NewState", state, "Status", (json_int_t)st,
                             "StatusName", mcsi_status_name(st), "Reason", mcsid_json_text(reason));   /* any bytes */
  if (params) {
    json_t *msg = mcsid_rpc_notification("Event", params);
    mcsid_clients_broadcast(d, MCSID_POLICY_EVENT_BIT, msg);
    json_decref(msg);
  }
  return 0;
}

/* log(p, line): what a policy prints. */
static int host_log(lua_State *L)
{
  lua_getfield(L, 1, "id");
  lua_getfield(L, 1, "script");
  log_info("policy %ld (%s): %s", (long)lua_tointeger(L, -2), lua_tostring(L, -1), luaL_optstring(L, 2, ""));
  return 0;
}

/* ---- the state --------------------------------------------------------------------------------------- */

static int open_host(lua_State *L)
{
  mcsid *d = lua_touserdata(L, 1);
  luaL_openlibs(L);
  lmcsi_open_with_initiator(L, d->ini);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mcsi.policy");
  lua_call(L, 1, 1);
  lua_pushcfunction(L, host_on_end);
  lua_setfield(L, -2, "on_end");
  lua_setfield(L, LUA_REGISTRYINDEX, HOST_KEY);
  return 0;
}

int mcsid_policies_open(mcsid *d)
{
  lua_State *L = luaL_newstate();
  if (!L) {
    log_err("policies: cannot create the Lua state (out of memory): no policies");
    return -1;
  }
  the_daemon = d;
  lua_pushcfunction(L, open_host);
  lua_pushlightuserdata(L, d);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    log_err("policies: %s: no policies", lua_tostring(L, -1));
    lua_close(L);
    return -1;
  }
  d->lua = L;
  return 0;
}

void mcsid_policies_close(mcsid *d)
{
  if (!d->lua) return;
  lua_close(d->lua);
  d->lua = NULL;
}

int mcsid_policies_timeout(mcsid *d)
{
  if (!d->lua) return -1;
  const int *fds;
  int timeout;
  lmcsi_wait_set(d->lua, &fds, &timeout);
  return timeout;
}

void mcsid_policies_service(mcsid *d)
{
  if (d->lua) lmcsi_service(d->lua);
}

/* Pushes the host module's function name; returns the stack top before it. */
static int push_host_fn(lua_State *L, const char *name)
{
  int top = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  return top;
}

long mcsid_policy_attach(mcsid *d, mcsi_id sid, const char *script, json_t *options, char *err, size_t errlen)
{
  lua_State *L = d->lua;
  char name[80];
  if (!L) {
    snprintf(err, errlen, "policies are not available in this daemon (see its log)");
    return 0;
  }
  snprintf(name, sizeof name, "%s", script);
  size_t n = strlen(name);
  if (n > 4 && !strcmp(name + n - 4, ".lua")) name[n - 4] = 0;
  if (!good_name(name)) {
    snprintf(err, errlen, "a policy script is a name of letters, digits, '-' and '_' (with or without .lua)");
    return 0;
  }
  int top = push_host_fn(L, "attach");
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, (lua_Integer)sid);
  lua_setfield(L, -2, "session");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "script");
  if (options) push_json(L, options, 0);
  else lua_newtable(L);
  lua_setfield(L, -2, "options");
  lua_pushinteger(L, d->config.policy_instructions);
  lua_setfield(L, -2, "instructions");
  lua_pushinteger(L, d->config.policy_ms);
  lua_setfield(L, -2, "ms");
  lua_pushcfunction(L, host_log);
  lua_setfield(L, -2, "log");
  if (!push_source(L, d, name, err, errlen)) {
    lua_settop(L, top);
    return 0;
  }
  lua_setfield(L, -3, "chunkname");
  lua_setfield(L, -2, "source");
  long id = 0;
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
  } else if (lua_istable(L, -2)) {
    lua_getfield(L, -2, "id");
    id = (long)lua_tointeger(L, -1);
    log_notice("policy %ld (%s) attached to session %llu", id, name, (unsigned long long)sid);
  } else {
    snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "the policy did not load");
  }
  lua_settop(L, top);
  return id;
}

/* The host function fn(arg), protected: its answer as a truth value. */
static int host_call_bool(mcsid *d, const char *fn, lua_Integer arg)
{
  lua_State *L = d->lua;
  if (!L) return 0;
  int top = push_host_fn(L, fn);
  lua_pushinteger(L, arg);
  int yes = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_toboolean(L, -1);
  lua_settop(L, top);
  return yes;
}

int mcsid_policy_detach(mcsid *d, long id) { return host_call_bool(d, "detach", id); }

json_t *mcsid_policy_list(mcsid *d)
{
  json_t *list = json_array();
  lua_State *L = d->lua;
  if (!L || !list) return list;
  int top = push_host_fn(L, "list");
  if (lua_pcall(L, 0, 1, 0) == LUA_OK) {
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      lua_getfield(L, -1, "id");
      lua_getfield(L, -2, "session");
      lua_getfield(L, -3, "script");
      lua_getfield(L, -4, "state");
      lua_getfield(L, -5, "reason");
      json_t *p = json_pack("{s:I, s:o, s:s, s:s}", "PolicyId", (json_int_t)lua_tointeger(L, -5),
                            "UniqueSessionId", mcsid_id_json((mcsi_id)lua_tointeger(L, -4)), "PolicyScript",
                            lua_tostring(L, -3) ? lua_tostring(L, -3) : "", "State",
                            lua_tostring(L, -2) ? lua_tostring(L, -2) : "");
      if (p && lua_isstring(L, -1)) json_object_set_new(p, "Reason", mcsid_json_text(lua_tostring(L, -1)));
      if (p) json_array_append_new(list, p);
      lua_pop(L, 6);
    }
  }
  lua_settop(L, top);
  return list;
}

int mcsid_policy_running(mcsid *d, mcsi_id sid) { return host_call_bool(d, "find_session", (lua_Integer)sid); }
