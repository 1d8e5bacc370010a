/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lsecret.c: CHAP secrets in the binding: how they are given, and how they
 * are kept out of everything the module and the mcsi program show.
 *
 * The chap options table (login, add_connection, send_targets):
 *   username, target_username            strings
 *   secret, target_secret                the secret itself (a string), or
 *   secret_file, target_secret_file      a path: the file's bytes, one trailing
 *                                        "\n" or "\r\n" dropped (its mode is not
 *                                        checked: protecting it is the owner's
 *                                        business; at most 4096 bytes, no zero byte)
 *   secret_env, target_secret_env        the name of an environment variable
 * (one of the three forms per secret). A secret read from a file or the
 * environment never becomes a Lua string.
 *
 * Every secret given (of at least LMCSI_SECRET_MIN bytes) is remembered by the
 * engine; mcsi.redact(s) replaces each one in s by "<hidden>", and the binding
 * does so on Status messages, event reasons and error messages with their
 * tracebacks; mcsi.pretty hides values under *secret* and *password* keys and
 * redacts every string it shows; the REPL keeps lines holding a secret out of
 * its history. mcsi.add_secret(s) declares a secret given another way (a
 * script that keeps one for later).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lmcsi.h"

#define LMCSI_SECRET_MIN 4          /* shorter ones would mask ordinary text */
#define LMCSI_SECRETS_MAX 256       /* remembered; past that the oldest are forgotten */
#define SECRET_FILE_MAX 4096
#define HIDDEN "<hidden>"

static lmcsi_engine *engine_in_registry(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lmcsi_engine *e = luaL_testudata(L, -1, LMCSI_ENGINE);
  lua_pop(L, 1);
  return e;
}

void lmcsi_remember_secret(lmcsi_engine *e, const char *s)
{
  if (!e || !s || strlen(s) < LMCSI_SECRET_MIN) return;
  for (size_t i = 0; i < e->nsecrets; i++)
    if (strcmp(e->secrets[i], s) == 0) return;
  if (e->nsecrets == LMCSI_SECRETS_MAX) {
    explicit_bzero(e->secrets[0], strlen(e->secrets[0]));
    free(e->secrets[0]);
    memmove(e->secrets, e->secrets + 1, (e->nsecrets - 1) * sizeof *e->secrets);
    e->nsecrets--;
  }
  if (e->nsecrets == e->cap_secrets) {
    size_t ncap = e->cap_secrets ? e->cap_secrets * 2 : 8;
    char **p = realloc(e->secrets, ncap * sizeof *p);
    if (!p) return;
    e->secrets = p;
    e->cap_secrets = ncap;
  }
  char *copy = strdup(s);
  if (copy) e->secrets[e->nsecrets++] = copy;
}

void lmcsi_forget_secrets(lmcsi_engine *e)
{
  for (size_t i = 0; i < e->nsecrets; i++) {
    explicit_bzero(e->secrets[i], strlen(e->secrets[i]));
    free(e->secrets[i]);
  }
  free(e->secrets);
  e->secrets = NULL;
  e->nsecrets = e->cap_secrets = 0;
}

int lmcsi_has_secret(lua_State *L, const char *text)
{
  lmcsi_engine *e = engine_in_registry(L);
  for (size_t i = 0; e && text && i < e->nsecrets; i++)
    if (strstr(text, e->secrets[i])) return 1;
  return 0;
}

/* Pushes text with every remembered secret replaced by HIDDEN; returns it. */
const char *lmcsi_redact(lua_State *L, const char *text)
{
  lmcsi_engine *e = engine_in_registry(L);
  lua_pushstring(L, text);
  for (size_t i = 0; e && text && i < e->nsecrets; i++) {
    const char *cur = lua_tostring(L, -1);
    if (!strstr(cur, e->secrets[i])) continue;
    luaL_gsub(L, cur, e->secrets[i], HIDDEN);
    lua_remove(L, -2);
  }
  return lua_tostring(L, -1);
}

/* ---- the chap options --------------------------------------------------- */

static const char *chap_string(lua_State *L, int t, const char *k)
{
  lua_pushstring(L, k);
  int ty = lua_rawget(L, t);
  const char *s = NULL;
  if (ty == LUA_TSTRING) {
    size_t len;
    s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len) luaL_error(L, "chap: option '%s' contains a zero byte", k);
  } else if (ty != LUA_TNIL) {
    luaL_error(L, "chap: option '%s' must be a string, not a %s", k, luaL_typename(L, -1));
  }
  lua_pop(L, 1);                     /* anchored in the chap table */
  return s;
}

/* Reads a secret file into a userdata left on the stack (anchoring it). */
static const char *read_secret_file(lua_State *L, const char *path, const char *key)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  if (fd < 0) luaL_error(L, "chap: %s '%s': %s", key, path, strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SECRET_FILE_MAX) {
    close(fd);
    luaL_error(L, "chap: %s '%s': not a regular file of at most %d bytes", key, path, SECRET_FILE_MAX);
  }
  char *buf = lua_newuserdatauv(L, SECRET_FILE_MAX + 1, 0);
  ssize_t n = read(fd, buf, SECRET_FILE_MAX);
  int en = errno;
  close(fd);
  if (n < 0) luaL_error(L, "chap: %s '%s': %s", key, path, strerror(en));
  if (n > 0 && buf[n - 1] == '\n') n--;
  if (n > 0 && buf[n - 1] == '\r') n--;
  buf[n] = 0;
  if (memchr(buf, 0, (size_t)n)) luaL_error(L, "chap: %s '%s': the secret contains a zero byte", key, path);
  return buf;
}

/* The secret under key (or key_file, or key_env); NULL when none is given. */
static const char *chap_secret(lua_State *L, lmcsi_engine *e, int c, const char *key)
{
  char kfile[32], kenv[32];
  snprintf(kfile, sizeof kfile, "%s_file", key);
  snprintf(kenv, sizeof kenv, "%s_env", key);
  const char *lit = chap_string(L, c, key), *file = chap_string(L, c, kfile), *env = chap_string(L, c, kenv);
  if (!!lit + !!file + !!env > 1) luaL_error(L, "chap: give one of '%s', '%s' and '%s'", key, kfile, kenv);
  const char *s = lit;
  if (file) s = read_secret_file(L, file, kfile);
  if (env) {
    s = getenv(env);
    if (!s) luaL_error(L, "chap: %s: the environment variable '%s' is not set", kenv, env);
  }
  lmcsi_remember_secret(e, s);
  return s;
}

void lmcsi_chap_opts(lua_State *L, int t, lmcsi_opt_values *v, const char *what)
{
  static const char *const keys[] = { "username", "secret", "secret_file", "secret_env", "target_username",
                                      "target_secret", "target_secret_file", "target_secret_env", NULL };
  lmcsi_engine *e = engine_in_registry(L);
  lua_pushliteral(L, "chap");
  int ty = lua_rawget(L, t);
  if (ty == LUA_TNIL) { lua_pop(L, 1); return; }
  if (ty != LUA_TTABLE) luaL_error(L, "%s: option 'chap' must be a table", what);
  int c = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, c)) {
    lua_pop(L, 1);
    int ok = 0;
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    for (int i = 0; k && keys[i] && !ok; i++) ok = strcmp(k, keys[i]) == 0;
    if (!ok && k) {
      lua_pushlstring(L, k, strlen(k) > 48 ? 48 : strlen(k));    /* a key quoted, cut short */
      luaL_error(L, "chap: unknown option '%s'", lua_tostring(L, -1));
    }
    if (!ok) luaL_error(L, "chap: option keys must be strings (got a %s key)", luaL_typename(L, -1));
  }
  v->s[MCSI_OPT_USERNAME] = chap_string(L, c, "username");
  v->s[MCSI_OPT_SECRET] = chap_secret(L, e, c, "secret");
  v->s[MCSI_OPT_TARGET_USERNAME] = chap_string(L, c, "target_username");
  v->s[MCSI_OPT_TARGET_SECRET] = chap_secret(L, e, c, "target_secret");
  lua_remove(L, c);     /* the table stays anchored in the options; file secrets stay on the stack */
}

/* ---- Lua functions -------------------------------------------------------- */

/* mcsi.redact(s) -> s with every CHAP secret given so far replaced by "<hidden>" */
int lmcsi_l_redact(lua_State *L)
{
  lmcsi_redact(L, luaL_checkstring(L, 1));
  return 1;
}

/* chap_secrets(chap) -> username, secret, target_username, target_secret
 * (nil where not given): a chap options table read as the in-process calls
 * read it (the same forms, checks and errors; every secret remembered for
 * redaction). mcsi.connect hands it to mcsi.remote, which sends them inline
 * to mcsid; it is in no module table (in mcsid a policy would read files as
 * root with it). */
int lmcsi_l_chap_secrets(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "chap");
  lmcsi_opt_values ch;
  memset(&ch, 0, sizeof ch);
  lmcsi_chap_opts(L, lua_gettop(L), &ch, "chap");   /* file secrets stay anchored on the stack */
  const char *v[4] = { ch.s[MCSI_OPT_USERNAME], ch.s[MCSI_OPT_SECRET], ch.s[MCSI_OPT_TARGET_USERNAME],
                       ch.s[MCSI_OPT_TARGET_SECRET] };
  for (int i = 0; i < 4; i++) {
    if (v[i]) lua_pushstring(L, v[i]);
    else lua_pushnil(L);
  }
  return 4;
}

/* mcsi.add_secret(s): s is a secret too (masked in output, kept out of history) */
int lmcsi_l_add_secret(lua_State *L)
{
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, strlen(s) == len, 1, "contains a zero byte");
  lmcsi_remember_secret(engine_in_registry(L), s);
  return 0;
}
