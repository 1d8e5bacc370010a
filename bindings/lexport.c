/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lexport.c: mcsi.Export, an NBD export of a LUN of a session (nbd/).
 *
 *   local x, st = mcsi.export(session, lun, { socket = "/run/x.sock" })
 *   local x, st = mcsi.export(session, lun, { tcp = "127.0.0.1:10809", read_only = true,
 *                                             tls_cert = "server-cert.pem", tls_key = "server-key.pem" })
 *   local x, st = mcsi.export(session, lun, { tcp = "127.0.0.1:10809", tls = "off" })
 *   x:info() -> { clients =, requests =, errors =, bytes_read =, bytes_written =, size =,
 *                 block_size =, uri =, ... }
 *   x:stop()  (also x:close(), a <close> variable)      x.closed, x.uri
 *   mcsi.exports() -> the running exports, oldest first
 *
 * Options: socket, tcp ("host:port", port 0: any), name, description,
 * read_only, max_clients, handshake_timeout_ms, max_request,
 * max_scsi_transfer; TLS: tls ("require", the default, or "off"),
 * tls_cert + tls_key (X.509, PEM), tls_ca (clients must present a
 * certificate it signed), tls_psk_file ("username:hexkey" lines, psktool).
 * A TCP export requires TLS: it needs a certificate and key or a PSK file,
 * unless tls = "off" says plain TCP explicitly (loopback included). The
 * files are read as the script's own user. The export runs on the session's initiator's loop, so
 * it serves clients whenever the script waits in mcsi (mcsi.run, mcsi.sleep,
 * a blocking call, the REPL). mcsi.export blocks (or yields in a coroutine
 * of mcsi.spawn) while the LUN is asked its capacity and limits. Like a
 * Session, a running export is kept alive by the engine, not by the
 * script's variables: garbage collection never stops it; x:stop() does, and
 * so does the end of the state (before its sessions log out).
 */
#include <stdio.h>
#include <string.h>
#include "lmcsi.h"
#include "mcsi_nbd.h"

#define LMCSI_EXPORT "mcsi.Export"

typedef struct lmcsi_export {
  mcsi_nbd_export *exp;                  /* NULL once stopped */
  lmcsi_engine *e;
  int ref;                               /* the engine's reference while running */
  struct lmcsi_export *next;             /* the engine's running exports */
} lmcsi_export;

static void unlist(lmcsi_export *x)
{
  for (lmcsi_export **p = &x->e->exports; *p; p = &(*p)->next)
    if (*p == x) { *p = x->next; break; }
  x->next = NULL;
}

static void stop(lua_State *L, lmcsi_export *x)
{
  if (!x->exp) return;
  mcsi_nbd_export_stop(x->exp);
  x->exp = NULL;
  unlist(x);
  if (L && x->ref != LUA_NOREF) lmcsi_unref(L, x->ref);
  x->ref = LUA_NOREF;
}

/* The engine is closing: every export stops (no Lua runs; references die with the state). */
void lmcsi_exports_stop_all(lmcsi_engine *e)
{
  while (e->exports) {
    lmcsi_export *x = e->exports;
    e->exports = x->next;
    x->next = NULL;
    mcsi_nbd_export_stop(x->exp);
    x->exp = NULL;
  }
}

static lmcsi_export *check_export(lua_State *L, int arg)
{
  lmcsi_export *x = luaL_checkudata(L, arg, LMCSI_EXPORT);
  if (!x->exp) luaL_error(L, "attempt to use a stopped %s", LMCSI_EXPORT);
  return x;
}

static void push_uri(lua_State *L, const mcsi_nbd_info *in)
{
  const char *s = in->tls == MCSI_NBD_TLS_OFF ? "" : "s";
  if (in->socket_path[0]) lua_pushfstring(L, "nbd+unix:///%s?socket=%s", in->name, in->socket_path);
  else if (strchr(in->tcp_host, ':')) lua_pushfstring(L, "nbd%s://[%s]:%d/%s", s, in->tcp_host, (int)in->tcp_port, in->name);
  else lua_pushfstring(L, "nbd%s://%s:%d/%s", s, in->tcp_host, (int)in->tcp_port, in->name);
}

#define SET_INT(k, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, k))
#define SET_STR(k, v) (lua_pushstring(L, v), lua_setfield(L, -2, k))

static void push_info(lua_State *L, const mcsi_nbd_info *in)
{
  lua_createtable(L, 0, 40);
  SET_INT("session_id", in->session_id);
  SET_INT("lun", in->lun);
  SET_STR("name", in->name);
  if (in->socket_path[0]) SET_STR("socket", in->socket_path);
  if (in->tcp_host[0]) {
    SET_STR("tcp_host", in->tcp_host);
    SET_INT("tcp_port", in->tcp_port);
  }
  push_uri(L, in);
  lua_setfield(L, -2, "uri");
  lua_pushboolean(L, in->read_only);
  lua_setfield(L, -2, "read_only");
  lua_pushboolean(L, in->trim);
  lua_setfield(L, -2, "trim");
  SET_INT("size", in->size);
  SET_INT("block_size", in->block_size);
  SET_INT("preferred_block", in->preferred_block);
  SET_INT("max_request", in->max_request);
  SET_INT("max_scsi_transfer", in->max_scsi_transfer);
  SET_INT("flags", in->transmission_flags);
  SET_INT("clients", in->clients);
  SET_INT("clients_total", in->clients_total);
  SET_INT("clients_refused", in->clients_refused);
  SET_INT("requests", in->requests);
  SET_INT("errors", in->errors);
  lua_pushstring(L, in->last_error);
  lua_setfield(L, -2, "last_error");
  SET_INT("bytes_read", in->bytes_read);
  SET_INT("bytes_written", in->bytes_written);
  SET_INT("scsi_commands", in->scsi_commands);
  SET_INT("inflight", in->inflight);
  lua_pushboolean(L, in->thin);
  lua_setfield(L, -2, "thin");
  SET_INT("rmw", in->rmw);
  SET_INT("overlap_waits", in->overlap_waits);
  SET_INT("block_status", in->block_status);
  SET_INT("reply_writes", in->reply_writes);
  SET_INT("request_allocs", in->request_allocs);
  SET_INT("buffer_allocs", in->buffer_allocs);
  SET_STR("tls", in->tls == MCSI_NBD_TLS_OFF ? "off" : "require");
  lua_pushboolean(L, in->tls_x509);
  lua_setfield(L, -2, "tls_x509");
  lua_pushboolean(L, in->tls_psk);
  lua_setfield(L, -2, "tls_psk");
  lua_pushboolean(L, in->tls_client_certs);
  lua_setfield(L, -2, "tls_client_certs");
  SET_INT("tls_sessions", in->tls_sessions);
  SET_INT("tls_failed", in->tls_failed);
  SET_INT("tls_refused", in->tls_refused);
}

/* ---- mcsi.export ---- */

static int push_started(lua_State *L, lmcsi_req *r)
{
  mcsi_nbd_export *exp = r->obj;
  r->obj = NULL;
  if (!exp || r->st != ISDSC_SUCCESS) {
    if (exp) mcsi_nbd_export_stop(exp);
    lua_pushnil(L);
  } else {
    lmcsi_export *x = lua_newuserdatauv(L, sizeof *x, 0);
    x->exp = exp;
    x->e = r->e;
    luaL_setmetatable(L, LMCSI_EXPORT);
    x->ref = lmcsi_ref(L, -1);                   /* kept alive by the engine while it runs */
    x->next = r->e->exports;
    r->e->exports = x;
  }
  lmcsi_push_status_detail(L, r->st, r->message);
  return 2;
}

static void abandon_start(lmcsi_req *r)
{
  if (r->obj) mcsi_nbd_export_stop(r->obj);
  r->obj = NULL;
}

static void on_started(mcsi_initiator *ini, mcsi_nbd_export *exp, mcsi_status st, const char *msg, void *arg)
{
  lmcsi_req *r = arg;
  (void)ini;
  if (exp && (r->abandoned || r->e->closed)) {   /* nobody will take it */
    mcsi_nbd_export_stop(exp);
    exp = NULL;
  }
  r->obj = exp;
  lmcsi_req_set(r, st, msg);
  lmcsi_req_done(r);
}

/* tls = "require" (the default) | "off" */
static int tls_mode(lua_State *L, int t)
{
  const char *m = lmcsi_str_field(L, t, "tls", "export options");
  if (!m || !strcmp(m, "require")) return MCSI_NBD_TLS_REQUIRE;
  if (!strcmp(m, "off")) return MCSI_NBD_TLS_OFF;
  return luaL_error(L, "export options: tls must be \"require\" or \"off\"");
}

static void export_opts(lua_State *L, int t, mcsi_nbd_opts *o)
{
  const char *what = "export options";
  luaL_checktype(L, t, LUA_TTABLE);
  lmcsi_check_opts(L, t, lmcsi_opts_export, what);   /* the description's keys, types and bounds */
  memset(o, 0, sizeof *o);
  o->socket_path = lmcsi_str_field(L, t, "socket", what);
  o->tcp = lmcsi_str_field(L, t, "tcp", what);
  o->name = lmcsi_str_field(L, t, "name", what);
  o->description = lmcsi_str_field(L, t, "description", what);
  lua_getfield(L, t, "read_only");
  o->read_only = lua_toboolean(L, -1);
  lua_pop(L, 1);
  o->max_clients = (uint32_t)lmcsi_int_field(L, t, "max_clients", 0, 0, 4096, what);
  o->handshake_timeout_ms = (int)lmcsi_int_field(L, t, "handshake_timeout_ms", 0, 0, 3600000, what);
  o->max_request = (uint32_t)lmcsi_int_field(L, t, "max_request", 0, 0, 1 << 30, what);
  o->max_scsi_transfer = (uint32_t)lmcsi_int_field(L, t, "max_scsi_transfer", 0, 0, 1 << 30, what);
  o->tls = tls_mode(L, t);
  o->tls_cert = lmcsi_str_field(L, t, "tls_cert", what);
  o->tls_key = lmcsi_str_field(L, t, "tls_key", what);
  o->tls_ca = lmcsi_str_field(L, t, "tls_ca", what);
  o->tls_psk_file = lmcsi_str_field(L, t, "tls_psk_file", what);
  if (!o->socket_path && !o->tcp) luaL_argerror(L, t, "export needs socket = PATH or tcp = \"host:port\"");
}

/* x, st = mcsi.export(session, lun, { socket = | tcp =, ... }) */
int lmcsi_l_export(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  mcsi_nbd_opts o;
  export_opts(L, 3, &o);
  mcsi_initiator *ini = lmcsi_ini_for(L, e, sid);
  lmcsi_req *r = lmcsi_req_new(L, e, push_started, 0, "export");
  char err[256] = "";
  r->ini = ini;
  r->sid = sid;
  r->lun = lun;
  r->abandon = abandon_start;
  mcsi_status st = mcsi_nbd_export_start_async(ini, sid, lun, &o, on_started, r, err, sizeof err);
  if (st) lmcsi_req_set(r, st, err);
  return lmcsi_req_started(L, r, st);
}

/* mcsi.exports() -> the running exports, oldest first */
static int l_exports(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int n = 0;
  for (lmcsi_export *x = e->exports; x; x = x->next) n++;
  lua_createtable(L, n, 0);
  int i = n;
  for (lmcsi_export *x = e->exports; x; x = x->next) {
    lmcsi_push_ref(L, x->ref);
    lua_rawseti(L, -2, i--);
  }
  return 1;
}

/* ---- methods ---- */

static int export_stop(lua_State *L)
{
  lmcsi_export *x = luaL_checkudata(L, 1, LMCSI_EXPORT);
  stop(L, x);
  return 0;
}

static int export_info(lua_State *L)
{
  lmcsi_export *x = check_export(L, 1);
  mcsi_nbd_info in;
  mcsi_nbd_export_info(x->exp, &in);
  push_info(L, &in);
  return 1;
}

static int export_gc(lua_State *L)
{
  lmcsi_export *x = luaL_checkudata(L, 1, LMCSI_EXPORT);
  if (x->exp && !x->e->closed) stop(NULL, x);    /* only reachable once the engine let it go */
  return 0;
}

static int export_tostring(lua_State *L)
{
  lmcsi_export *x = luaL_checkudata(L, 1, LMCSI_EXPORT);
  if (!x->exp) {
    lua_pushfstring(L, "%s (stopped)", LMCSI_EXPORT);
    return 1;
  }
  mcsi_nbd_info in;
  mcsi_nbd_export_info(x->exp, &in);
  push_uri(L, &in);
  lua_pushfstring(L, "%s %s (LUN %d, %d clients)", LMCSI_EXPORT, lua_tostring(L, -1), (int)in.lun, (int)in.clients);
  return 1;
}

static int export_index(lua_State *L)
{
  lmcsi_export *x = luaL_checkudata(L, 1, LMCSI_EXPORT);
  const char *k = lua_tostring(L, 2);
  if (k && strcmp(k, "closed") == 0) {
    lua_pushboolean(L, x->exp == NULL);
    return 1;
  }
  if (k && strcmp(k, "uri") == 0 && x->exp) {
    mcsi_nbd_info in;
    mcsi_nbd_export_info(x->exp, &in);
    push_uri(L, &in);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(2));
  return 1;
}

/* mcsi.export, a described operation, is registered by lapi_table.c (generated). */
static const luaL_Reg export_funcs[] = {
  {"exports", l_exports},
  {NULL, NULL}
};

static const luaL_Reg export_methods[] = {
  {"stop", export_stop},
  {"close", export_stop},
  {"info", export_info},
  {NULL, NULL}
};

static const luaL_Reg export_meta[] = {
  {"__gc", export_gc},
  {"__close", export_stop},
  {"__tostring", export_tostring},
  {NULL, NULL}
};

void lmcsi_open_export(lua_State *L, int m)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  int eng = lua_gettop(L);
  luaL_newmetatable(L, LMCSI_EXPORT);
  int mt = lua_gettop(L);
  lua_pushvalue(L, eng);
  luaL_setfuncs(L, export_meta, 1);
  lua_newtable(L);                               /* methods */
  lua_pushvalue(L, eng);
  luaL_setfuncs(L, export_methods, 1);
  lua_pushvalue(L, eng);
  lua_insert(L, -2);
  lua_pushcclosure(L, export_index, 2);
  lua_setfield(L, mt, "__index");
  lua_settop(L, eng - 1);
  lua_pushvalue(L, m);                           /* mcsi.exports on the module */
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  luaL_setfuncs(L, export_funcs, 1);
  lua_pop(L, 1);
}
