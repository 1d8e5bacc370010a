/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lunix.c: the transport of the daemon client (mcsi.connect, mcsi.remote):
 * a Unix stream socket as a plain fd, for bindings/mcsi/remote.lua.
 *
 *   fd | nil, err   = mcsi._unix.connect(path)     non-blocking, close-on-exec
 *   true | nil, err = mcsi._unix.send(fd, bytes)   all of them (waits for room)
 *   s | nil, err    = mcsi._unix.recv(fd)          what is there ("" if nothing); nil at EOF
 *   ready           = mcsi._unix.wait(fd, ms)      readable within ms (-1: no limit)
 *                     mcsi._unix.close(fd)
 *
 * wait() asks the host's interrupt check (Ctrl-C in the mcsi program) every
 * 100 ms and raises its message, as the engine's own blocking waits do.
 * The framing (one JSON text per line) and JSON itself are remote.lua's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "lmcsi.h"

#define RECV_CHUNK 65536
#define WAIT_SLICE_MS 100

static int push_fail(lua_State *L, const char *what)
{
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(errno));
  return 2;
}

static int unix_connect(lua_State *L)
{
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  luaL_argcheck(L, len > 0 && len < sizeof sa.sun_path, 1, "socket path too long or empty");
  memcpy(sa.sun_path, path, len + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return push_fail(L, "socket");
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return push_fail(L, path);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  lua_pushinteger(L, fd);
  return 1;
}

static int unix_send(lua_State *L)
{
  int fd = (int)luaL_checkinteger(L, 1);
  size_t len, off = 0;
  const char *s = luaL_checklstring(L, 2, &len);
  while (off < len) {
    ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
    if (n > 0) { off += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = { .fd = fd, .events = POLLOUT };
      poll(&p, 1, WAIT_SLICE_MS);
      continue;
    }
    return push_fail(L, "send");
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int unix_recv(lua_State *L)
{
  int fd = (int)luaL_checkinteger(L, 1);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, RECV_CHUNK);
  ssize_t n;
  do n = recv(fd, p, RECV_CHUNK, 0); while (n < 0 && errno == EINTR);
  if (n == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "the daemon closed the connection");
    return 2;
  }
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return push_fail(L, "recv");
  luaL_pushresultsize(&b, n < 0 ? 0 : (size_t)n);
  return 1;
}

static int unix_wait(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int fd = (int)luaL_checkinteger(L, 1);
  lua_Integer ms = luaL_optinteger(L, 2, -1);
  for (;;) {
    const char *why = lmcsi_stop_reason(e);
    if (why) return lmcsi_raise_stop(L, why);
    int slice = ms < 0 || ms > WAIT_SLICE_MS ? WAIT_SLICE_MS : (int)ms;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n = poll(&p, 1, slice);
    if (n > 0) { lua_pushboolean(L, 1); return 1; }
    if (n < 0 && errno != EINTR) return push_fail(L, "poll");
    if (ms >= 0) {
      ms -= slice;
      if (ms <= 0) { lua_pushboolean(L, 0); return 1; }
    }
  }
}

static int unix_close(lua_State *L)
{
  close((int)luaL_checkinteger(L, 1));
  return 0;
}

const luaL_Reg lmcsi_unix_funcs[] = {
  {"connect", unix_connect},
  {"send", unix_send},
  {"recv", unix_recv},
  {"wait", unix_wait},
  {"close", unix_close},
  {NULL, NULL}
};
