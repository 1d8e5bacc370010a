/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lsandbox.c: `mcsi --sandbox`, the restricted Lua environment of the mcsi
 * program (not part of the module).
 *
 * Rules (applied before MCSI_INIT, -e, -l and the script run):
 *   - no processes, no native code: os.execute, io.popen, os.tmpname,
 *     package.loadlib are refused; require finds preloaded modules and Lua
 *     source files only (the C searchers are gone, package.cpath is unused);
 *   - no binary chunks anywhere: load, loadfile, dofile and require read text
 *     only (string.dump still makes its bytes: nothing can load them);
 *   - debug is debug.traceback only, for `debug` and for `require "debug"`
 *     (package.loaded.debug is replaced too);
 *   - collectgarbage: "collect", "count", "step", "isrunning" only (no
 *     "stop", no tuning);
 *   - reading files is allowed anywhere; writing is confined to the
 *     --allow-dir directories: io.open in a writing mode, io.output(path),
 *     os.remove and os.rename need the canonical directory of the path
 *     (realpath of its parent) inside an allowed directory, the last component
 *     must not be a symbolic link (refused, dangling or not), and the file is
 *     opened with O_NOFOLLOW so that a link put there after the check fails;
 *   - os.exit stays: it ends the program like the end of the script does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lsandbox.h"
#include "lualib.h"

#define MAX_ALLOW 16
static char *allow_real[MAX_ALLOW];
static int nallow;

void lsandbox_free(void)
{
  for (int i = 0; i < nallow; i++) free(allow_real[i]);
  nallow = 0;
}

int lsandbox_allow(const char *dir)
{
  if (nallow == MAX_ALLOW) { errno = E2BIG; return -1; }
  char *r = realpath(dir, NULL);
  if (!r) return -1;
  allow_real[nallow++] = r;
  return 0;
}

static int inside_allowed(const char *canonical)
{
  for (int i = 0; i < nallow; i++) {
    size_t n = strlen(allow_real[i]);
    if (strncmp(canonical, allow_real[i], n) == 0 &&
        (canonical[n] == '/' || canonical[n] == 0 || strcmp(allow_real[i], "/") == 0))
      return 1;
  }
  return 0;
}

/* The path "canonical parent + / + last component", if the parent is inside an
 * allowed directory and the last component names an entry (not "", ".", "..")
 * that is not a symbolic link (for_open: open(2) would follow it; unlink and
 * rename act on the link itself). Pushes it and returns it, or raises the
 * sandbox's refusal. */
static const char *writable_path(lua_State *L, int arg, const char *fname, int for_open)
{
  const char *path = luaL_checkstring(L, arg);
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
  char *rd = dir ? realpath(dir, NULL) : NULL;
  free(dir);
  int ok = rd && *base && strcmp(base, ".") != 0 && strcmp(base, "..") != 0 && inside_allowed(rd);
  if (ok) lua_pushfstring(L, "%s/%s", strcmp(rd, "/") == 0 ? "" : rd, base);
  free(rd);
  if (!ok) luaL_error(L, "%s: sandbox: writing '%s' is not allowed (outside --allow-dir)", fname, path);
  struct stat st;
  if (for_open && lstat(lua_tostring(L, -1), &st) == 0 && S_ISLNK(st.st_mode))
    luaL_error(L, "%s: sandbox: '%s' is a symbolic link (not written through in the sandbox)", fname, path);
  return lua_tostring(L, -1);
}

/* ---- io.open for writing: our own open(2) with O_NOFOLLOW ------------------ */

static int file_close(lua_State *L)
{
  luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  return luaL_fileresult(L, fclose(p->f) == 0, NULL);
}

/* liolib's l_checkmode: [rwa]%+?b* */
static int mode_flags(const char *mode, int *flags)
{
  const char *m = mode;
  int plus;
  if (*m != 'r' && *m != 'w' && *m != 'a') return 0;
  m++;
  plus = *m == '+';
  if (plus) m++;
  if (strspn(m, "b") != strlen(m)) return 0;
  int acc = plus ? O_RDWR : (*mode == 'r' ? O_RDONLY : O_WRONLY);
  *flags = acc | (*mode == 'w' ? O_CREAT | O_TRUNC : *mode == 'a' ? O_CREAT | O_APPEND : 0);
  return 1;
}

/* Pushes a Lua file opened for writing at the checked path (or nil, message, errno). */
static int open_for_writing(lua_State *L, int arg, const char *mode, const char *fname)
{
  int flags;
  const char *shown = lua_tostring(L, arg);
  if (!mode_flags(mode, &flags)) return luaL_argerror(L, 2, "invalid mode");
  const char *path = writable_path(L, arg, fname, 1);
  luaL_Stream *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->closef = NULL;                               /* not yet open: __gc leaves it alone */
  luaL_setmetatable(L, LUA_FILEHANDLE);
  int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0666);
  p->f = fd >= 0 ? fdopen(fd, mode) : NULL;
  if (!p->f) {
    int en = errno;
    if (fd >= 0) close(fd);
    errno = en;
    return luaL_fileresult(L, 0, shown);
  }
  p->closef = file_close;
  return 1;
}

static int sb_call_orig(lua_State *L)
{
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int sb_io_open(lua_State *L)
{
  const char *mode = luaL_optstring(L, 2, "r");
  if (strpbrk(mode, "wa+")) return open_for_writing(L, 1, mode, "io.open");
  return sb_call_orig(L);
}

static int sb_io_output(lua_State *L)
{
  if (lua_type(L, 1) == LUA_TSTRING) {
    lua_settop(L, 1);
    if (open_for_writing(L, 1, "w", "io.output") != 1)
      return luaL_error(L, "io.output: %s", lua_tostring(L, -2));
    lua_replace(L, 1);
    lua_settop(L, 1);
  }
  return sb_call_orig(L);
}

static int sb_os_remove(lua_State *L)
{
  writable_path(L, 1, "os.remove", 0);
  return sb_call_orig(L);
}

static int sb_os_rename(lua_State *L)
{
  writable_path(L, 1, "os.rename", 0);
  writable_path(L, 2, "os.rename", 0);
  lua_settop(L, 2);
  return sb_call_orig(L);
}

/* load/loadfile in text mode only: binary chunks can crash the VM. */
static int sb_load(lua_State *L)
{
  lua_settop(L, 4);
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  return sb_call_orig(L);
}

static int sb_loadfile(lua_State *L)
{
  lua_settop(L, 3);
  lua_pushliteral(L, "t");
  lua_replace(L, 2);
  return sb_call_orig(L);
}

static int sb_collectgarbage(lua_State *L)
{
  static const char *const ok[] = { "collect", "count", "step", "isrunning", NULL };
  const char *opt = luaL_optstring(L, 1, "collect");
  for (int i = 0; ok[i]; i++)
    if (strcmp(opt, ok[i]) == 0) return sb_call_orig(L);
  return luaL_error(L, "collectgarbage: option '%s' is not allowed in the sandbox", opt);
}

static int sb_denied(lua_State *L)
{
  return luaL_error(L, "%s: not allowed in the sandbox", lua_tostring(L, lua_upvalueindex(1)));
}

static void wrap(lua_State *L, const char *lib, const char *name, lua_CFunction f)
{
  if (lib) lua_getglobal(L, lib);
  else lua_pushglobaltable(L);
  lua_getfield(L, -1, name);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

static void deny(lua_State *L, const char *lib, const char *name)
{
  lua_getglobal(L, lib);
  lua_pushfstring(L, "%s.%s", lib, name);
  lua_pushcclosure(L, sb_denied, 1);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

/* dofile through the text-only loadfile; require: preload, then Lua source
 * files found on package.path, loaded with that loadfile. */
static const char sandbox_lua[] =
  "local loadfile, searchpath, package, error, type = loadfile, package.searchpath, package, error, type\n"
  "function dofile(f) local fn = assert(loadfile(f)) return fn() end\n"
  "local preload = package.searchers[1]\n"
  "local function lua_source(name)\n"
  "  local path = package.path\n"
  "  if type(path) ~= 'string' then error(\"'package.path' must be a string\") end\n"
  "  local file, err = searchpath(name, path)\n"
  "  if not file then return err end\n"
  "  local f, lerr = loadfile(file)\n"
  "  if not f then error(\"error loading module '\" .. name .. \"' from file '\" .. file .. \"':\\n\\t\" .. lerr, 0) end\n"
  "  return f, file\n"
  "end\n"
  "package.searchers = { preload, lua_source }\n"
  "package.cpath = ''\n";

/* debug: only traceback (sethook could lift the budget, the rest reaches any
 * value, the original io.open and load among them). */
static void restrict_debug(lua_State *L)
{
  lua_getglobal(L, "debug");
  lua_createtable(L, 0, 2);
  lua_getfield(L, -2, "traceback");
  lua_setfield(L, -2, "traceback");
  lua_pushliteral(L, "debug.sethook");
  lua_pushcclosure(L, sb_denied, 1);
  lua_setfield(L, -2, "sethook");
  lua_pushvalue(L, -1);
  lua_setglobal(L, "debug");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_insert(L, -2);
  lua_setfield(L, -2, "debug");
  lua_pop(L, 2);
}

/* With a budget, sandbox or not, debug.sethook must not lift it. */
void lsandbox_protect_hook(lua_State *L)
{
  lua_getglobal(L, "debug");
  if (lua_istable(L, -1)) {
    lua_pushliteral(L, "debug.sethook (a budget is in force)");
    lua_pushcclosure(L, sb_denied, 1);
    lua_setfield(L, -2, "sethook");
  }
  lua_pop(L, 1);
}

void lsandbox_apply(lua_State *L)
{
  deny(L, "os", "execute");
  deny(L, "os", "tmpname");
  deny(L, "io", "popen");
  deny(L, "package", "loadlib");
  wrap(L, "io", "open", sb_io_open);
  wrap(L, "io", "output", sb_io_output);
  wrap(L, "os", "remove", sb_os_remove);
  wrap(L, "os", "rename", sb_os_rename);
  wrap(L, NULL, "load", sb_load);
  wrap(L, NULL, "loadfile", sb_loadfile);
  wrap(L, NULL, "collectgarbage", sb_collectgarbage);
  if (luaL_loadbufferx(L, sandbox_lua, sizeof sandbox_lua - 1, "=sandbox", "t") != LUA_OK ||
      lua_pcall(L, 0, 0, 0) != LUA_OK)
    lua_error(L);
  restrict_debug(L);
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "mcsi.sandboxed");
}
