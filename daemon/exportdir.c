/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exportdir.c: the directory of the NBD exports' Unix sockets (see
 * exportdir.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "exportdir.h"
#include "log.h"

static int dir_fd = -1;                 /* O_DIRECTORY, kept for the daemon's life */
static char dir_path[sizeof ((mcsid_config *)0)->export_dir];

/* ---- the directory ---------------------------------------------------------------------------------- */

/* A directory on the path: root's (or ours), written by no one else; a
 * parent may be sticky (its entries can be renamed by their owners only,
 * and the next component must be root's). */
static int trusted(const struct stat *st, int last)
{
  if (!S_ISDIR(st->st_mode)) return 0;
  if (st->st_uid != 0 && st->st_uid != geteuid()) return 0;
  if (!(st->st_mode & (S_IWGRP | S_IWOTH))) return 1;
  return !last && (st->st_mode & S_ISVTX);
}

/* Opens (mkdirat when missing) component name under fd; -1 with msg. */
static int open_component(int fd, const char *name, int last, char *msg, size_t len)
{
  int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int sub = openat(fd, name, flags);
  if (sub < 0 && errno == ENOENT) {
    if (mkdirat(fd, name, last ? 0700 : 0755) < 0 && errno != EEXIST)
      return snprintf(msg, len, "mkdir %s: %s", name, strerror(errno)), -1;
    sub = openat(fd, name, flags);
  }
  if (sub < 0)
    return snprintf(msg, len, "%s: %s", name, errno == ELOOP || errno == ENOTDIR ? "a symlink or not a directory" :
                    strerror(errno)), -1;
  return sub;
}

/* Walks path from "/": the last directory's descriptor, or -1 with msg. */
static int open_path(const char *path, char *msg, size_t len)
{
  char copy[sizeof dir_path], *save = NULL;
  struct stat st;
  snprintf(copy, sizeof copy, "%s", path);
  int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return snprintf(msg, len, "/: %s", strerror(errno)), -1;
  for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    if (fstat(fd, &st) < 0 || !trusted(&st, 0)) {
      snprintf(msg, len, "a directory above %s is not root's or is writable by others", c);
      close(fd);
      return -1;
    }
    if (!strcmp(c, ".") || !strcmp(c, "..")) {
      snprintf(msg, len, "'.' or '..' in the path");
      close(fd);
      return -1;
    }
    int sub = open_component(fd, c, !save || !*save, msg, len);
    close(fd);
    if (sub < 0) return -1;
    fd = sub;
  }
  if (fstat(fd, &st) < 0 || !trusted(&st, 1)) {
    snprintf(msg, len, "not a directory of root's that only root may write");
    close(fd);
    return -1;
  }
  return fd;
}

/* 0750 root:socket_group (the group: 0750 root:root when none). */
static int own_dir(mcsid *d, int fd, char *msg, size_t len)
{
  int found;
  gid_t gid = mcsid_config_group(&d->config, &found);
  if (fchown(fd, geteuid(), found ? gid : getegid()) < 0 || fchmod(fd, 0750) < 0)
    return snprintf(msg, len, "chown/chmod: %s", strerror(errno)), -1;
  return 0;
}

int mcsid_export_dir_open(mcsid *d)
{
  char msg[256];
  if (dir_fd >= 0) return 0;
  int fd = open_path(d->config.export_dir, msg, sizeof msg);
  if (fd >= 0 && own_dir(d, fd, msg, sizeof msg) < 0) {
    close(fd);
    fd = -1;
  }
  if (fd < 0) {
    log_err("export_dir %s: %s: no Unix export can start", d->config.export_dir, msg);
    return -1;
  }
  dir_fd = fd;
  snprintf(dir_path, sizeof dir_path, "%s", d->config.export_dir);
  log_info("export_dir %s: NBD exports' Unix sockets", dir_path);
  return 0;
}

/* The directory in use, opened now if it failed before; -1 with msg. */
static int dir_ready(mcsid *d, char *msg, size_t len)
{
  if (dir_fd < 0 && mcsid_export_dir_open(d) < 0)
    return snprintf(msg, len, "export_dir %s cannot be used (the daemon's log says why)", d->config.export_dir), -1;
  if (strcmp(dir_path, d->config.export_dir))
    log_warning("export_dir %s: changes at the next start only (%s in use)", d->config.export_dir, dir_path);
  if (own_dir(d, dir_fd, msg, len) < 0)   /* socket_group may have changed (SIGHUP) */
    log_warning("export_dir %s: %s", dir_path, msg);
  return 0;
}

/* ---- names ------------------------------------------------------------------------------------------ */

static const char *dir_now(mcsid *d)
{
  return dir_fd >= 0 ? dir_path : d->config.export_dir;
}

static int good_name(const char *s, size_t dirlen)
{
  size_t n = strlen(s);
  if (!n || n > MCSID_EXPORT_NAME_MAX || s[0] == '.' || dirlen + 1 + n >= sizeof ((struct sockaddr_un *)0)->sun_path)
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
          *s == '-' || *s == '.'))
      return 0;
  return 1;
}

int mcsid_export_socket_name(mcsid *d, const char *given, char *name, size_t len, char *msg, size_t msglen)
{
  const char *dir = dir_now(d), *n = given;
  size_t dl = strlen(dir);
  if (given[0] == '/') {
    if (strncmp(given, dir, dl) || given[dl] != '/')
      return snprintf(msg, msglen, "Socket must be a name in export_dir (%s), not a path elsewhere", dir), -1;
    n = given + dl + 1;
  }
  if (!good_name(n, dl) || strlen(n) >= len)
    return snprintf(msg, msglen, "Socket must be a name of 1..%d letters, digits, '.', '_' or '-', not starting "
                    "with '.' (the socket is %s/NAME)", MCSID_EXPORT_NAME_MAX, dir), -1;
  snprintf(name, len, "%s", n);
  return 0;
}

void mcsid_export_socket_path(mcsid *d, const char *name, char *path, size_t len)
{
  snprintf(path, len, "%s/%s", dir_now(d), name);
}

/* ---- sockets ---------------------------------------------------------------------------------------- */

static void proc_path(struct sockaddr_un *sa, int fd, const char *name)
{
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (name) snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", fd, name);
  else snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d", fd);
}

/* 1 if connecting with that type is refused: no socket is bound to the inode. */
static int refused(const struct sockaddr_un *sa, int type)
{
  int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno == ECONNREFUSED;
  close(fd);
  return r;
}

/* What is under name already: 0 (nothing, or a dead socket of ours now
 * removed), -1 with msg (kept). The probes connect to the inode through an
 * O_PATH descriptor of it, so no name (or symlink) is looked up for them. */
static int clear_name(const char *name, char *msg, size_t len)
{
  struct stat st, again;
  struct sockaddr_un sa;
  int o = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (o < 0) return errno == ENOENT ? 0 : (snprintf(msg, len, "socket %s: %s", name, strerror(errno)), -1);
  int rc = -1;
  if (fstat(o, &st) < 0) snprintf(msg, len, "socket %s: %s", name, strerror(errno));
  else if (!S_ISSOCK(st.st_mode)) snprintf(msg, len, "%s exists and is not a socket: left alone", name);
  else if (st.st_uid != geteuid()) snprintf(msg, len, "socket %s is not the daemon's: left alone", name);
  else if (proc_path(&sa, o, NULL), !refused(&sa, SOCK_DGRAM) || !refused(&sa, SOCK_STREAM))
    snprintf(msg, len, "socket %s is in use (a server answers on it)", name);
  else if (fstatat(dir_fd, name, &again, AT_SYMLINK_NOFOLLOW) < 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino)
    snprintf(msg, len, "socket %s changed while checked: left alone", name);
  else if (unlinkat(dir_fd, name, 0) < 0) snprintf(msg, len, "stale socket %s: %s", name, strerror(errno));
  else rc = 0;
  close(o);
  if (!rc) log_info("export socket %s: stale (nothing bound to it): replaced", name);
  return rc;
}

/* The inode just bound as name, owned and moded through an O_PATH
 * descriptor of it (no name looked up again). */
static int claim(mcsid *d, mcsid_export_socket *s, char *msg, size_t len)
{
  struct stat st;
  struct sockaddr_un sa;
  int found;
  gid_t gid = mcsid_config_group(&d->config, &found);
  int o = openat(dir_fd, s->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (o < 0 || fstat(o, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
    snprintf(msg, len, "socket %s: not the socket just bound", s->name);
    if (o >= 0) close(o);
    return -1;
  }
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  s->created = 1;
  proc_path(&sa, o, NULL);
  int rc = (found && fchownat(o, "", (uid_t)-1, gid, AT_EMPTY_PATH) < 0) || chmod(sa.sun_path, 0660) < 0 ? -1 : 0;
  if (rc < 0) snprintf(msg, len, "socket %s: chown/chmod: %s", s->name, strerror(errno));
  close(o);
  return rc;
}

int mcsid_export_socket_bind(mcsid *d, const char *name, mcsid_export_socket *s, char *msg, size_t len)
{
  struct sockaddr_un sa;
  memset(s, 0, sizeof *s);
  s->fd = -1;
  if (dir_ready(d, msg, len) < 0) return -1;
  if (!good_name(name, strlen(dir_path))) return snprintf(msg, len, "not a socket name: %.80s", name), -1;
  snprintf(s->name, sizeof s->name, "%s", name);
  if (clear_name(name, msg, len) < 0) return -1;
  s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) return snprintf(msg, len, "socket: %s", strerror(errno)), -1;
  proc_path(&sa, dir_fd, name);
  mode_t old = umask(0177);   /* born 0600: nobody else connects before its group and mode are set */
  int rc = bind(s->fd, (struct sockaddr *)&sa, sizeof sa);
  int err = errno;
  umask(old);
  if (rc < 0) {
    snprintf(msg, len, err == EADDRINUSE ? "socket %s is in use" : "socket %s: %s", name, strerror(err));
    mcsid_export_socket_close(s);
    return -1;
  }
  if (claim(d, s, msg, len) < 0) {
    mcsid_export_socket_remove(s);
    return -1;
  }
  return 0;
}

void mcsid_export_socket_close(mcsid_export_socket *s)
{
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
}

void mcsid_export_socket_remove(mcsid_export_socket *s)
{
  struct stat st;
  mcsid_export_socket_close(s);
  if (!s->created || dir_fd < 0) return;
  s->created = 0;
  if (fstatat(dir_fd, s->name, &st, AT_SYMLINK_NOFOLLOW) < 0) return;
  if (st.st_dev != s->dev || st.st_ino != s->ino) {
    log_warning("export socket %s: another file holds the name now: left alone", s->name);
    return;
  }
  if (unlinkat(dir_fd, s->name, 0) < 0) log_warning("export socket %s: unlink: %s", s->name, strerror(errno));
}
