/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_nbd_given_socket: an NBD export (nbd/) on a Unix socket its host
 * bound (mcsi_nbd_opts.unix_listen_fd, as mcsid does under export_dir) and
 * with the host's check of each Unix client (unix_peer_allowed), in
 * process, against tgt's file LUN (harness tid 1 LUN 1). The export serves
 * the socket after the host closed its own descriptor; a client the check
 * refuses is closed before the greeting and counted in clients_refused (the
 * check sees the client's credentials); stop removes no file (the host
 * removes what it made). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "mcsi.h"
#include "mcsi_nbd.h"
#include "testlib.h"
#include "testnbd.h"
#include "testopts.h"
#include "testsock.h"

static mcsi_initiator *ini;
static int allow = 1, checked;
static pid_t checked_pid;

static int peer_check(int fd, void *arg)
{
  struct ucred cr;
  socklen_t len = sizeof cr;
  checked++;
  checked_pid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 ? cr.pid : 0;
  return *(int *)arg;
}

/* The first bytes a new client gets (pumping the loop): count, 0 at EOF, -1 on a timeout. */
static ssize_t greeting(const char *path, uint8_t *buf, size_t len)
{
  int fd = t_nbd_connect_unix(path);
  if (fd < 0) return -1;
  ssize_t n = t_sock_recv(ini, fd, buf, len, 10000);
  close(fd);
  return n;
}

static int bound_socket(const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  ini = mcsi_initiator_new(NULL);
  char portal[64], dir[64], path[96], err[256] = "";
  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  mcsi_login_opts *lo = t_login_opts(portal, t_env("MCSI_TGT_IQN_PLAIN"), MCSI_OPT_LOGIN_TIMEOUT_MS, 5000, 0);
  mcsi_id sid = 0;
  mcsi_status st = mcsi_login_to_target(ini, lo, &sid, NULL);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "login (%s)", mcsi_last_message(ini));
  snprintf(dir, sizeof dir, "%s/nbdg.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (st || !mkdtemp(dir)) return t_done();
  snprintf(path, sizeof path, "%s/given", dir);

  int fd = bound_socket(path);
  T_OK(fd > 0, "the host binds its socket (not listening)");
  mcsi_nbd_opts o = { .unix_listen_fd = fd, .socket_path = path, .unix_peer_allowed = peer_check,
                      .unix_peer_arg = &allow };
  mcsi_nbd_export *e = mcsi_nbd_export_start(ini, sid, 1, &o, err, sizeof err);
  T_OK(e != NULL, "an export on the host's socket (%s)", err);
  close(fd);
  if (!e) return t_done();
  mcsi_nbd_info in;
  mcsi_nbd_export_info(e, &in);
  T_EQ_STR(in.socket_path, path, "info names the socket by the path the host gave");

  uint8_t g[18];
  T_EQ_INT(greeting(path, g, sizeof g), 18, "after the host closed its descriptor, a client gets the greeting");
  T_OK(!memcmp(g, "NBDMAGIC", 8), "... NBDMAGIC");
  T_OK(checked == 1 && checked_pid == getpid(), "the check ran once, with the client's credentials (pid %ld)",
       (long)checked_pid);

  allow = 0;
  T_EQ_INT(greeting(path, g, sizeof g), 0, "a client the check refuses is closed before a byte is sent");
  mcsi_nbd_export_info(e, &in);
  T_EQ_U64(in.clients_refused, 1, "clients_refused counts it");
  T_EQ_U64(in.clients, 0, "and it is no client of the export");
  allow = 1;
  T_EQ_INT(greeting(path, g, sizeof g), 18, "the next client the check lets in is served");

  mcsi_nbd_export_stop(e);
  T_OK(access(path, F_OK) == 0, "stop removes no file: the host's socket file stays for the host to remove");
  T_EQ_INT(greeting(path, g, sizeof g), -1, "and nothing answers on it any more (connect refused)");
  unlink(path);

  mcsi_nbd_opts none = { .unix_listen_fd = 0 };
  T_OK(mcsi_nbd_export_start(ini, sid, 1, &none, err, sizeof err) == NULL, "fd 0 means none: refused (%s)", err);
  mcsi_logout_from_target(ini, sid);
  mcsi_initiator_free(ini);
  rmdir(dir);
  return t_done();
}
