/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * export.c: an NBD export of one LUN of a session: its geometry and flags,
 * the listening sockets (a Unix socket and/or TCP, loopback by default) on
 * the initiator's loop, accepting clients, stop and info. The public entry
 * points of mcsi_nbd.h live here.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "nbd_internal.h"

#define DEF_MAX_CLIENTS     16
#define DEF_MAX_REQUEST     (32u << 20)
#define DEF_SCSI_MAX        (1u << 20)
#define DEF_INFLIGHT_REQS   64
#define DEF_INFLIGHT_BYTES  (64ull << 20)
#define DEF_HS_TIMEOUT_MS   10000
#define PREFERRED_MIN       4096u
#define ACCEPTS_PER_TURN    16
#define CLIENT_SOCKBUF      (2 << 20)  /* room for several large replies (the kernel caps it at wmem_max) */

void nbd_set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- options and flags ---- */

static void fill_defaults(mcsi_nbd_opts *o)
{
  if (!o->max_clients) o->max_clients = DEF_MAX_CLIENTS;
  if (!o->max_request) o->max_request = DEF_MAX_REQUEST;
  if (!o->max_scsi_transfer) o->max_scsi_transfer = DEF_SCSI_MAX;
  if (!o->max_inflight_requests) o->max_inflight_requests = DEF_INFLIGHT_REQS;
  if (!o->max_inflight_bytes) o->max_inflight_bytes = DEF_INFLIGHT_BYTES;
  if (o->handshake_timeout_ms <= 0) o->handshake_timeout_ms = DEF_HS_TIMEOUT_MS;
}

/* Bytes per SCSI command: the option, cut to the LUN's MAXIMUM TRANSFER
 * LENGTH, a whole number of blocks. */
static uint32_t scsi_max_bytes(const mcsi_nbd_opts *o, const nbd_lun_geometry *g)
{
  uint64_t m = o->max_scsi_transfer;
  if (g->max_transfer_blocks && (uint64_t)g->max_transfer_blocks * g->block_size < m)
    m = (uint64_t)g->max_transfer_blocks * g->block_size;
  m -= m % g->block_size;
  return m ? (uint32_t)m : g->block_size;
}

/* CAN_MULTI_CONN is safe: a reply goes out only once the target has answered
 * every SCSI command of the request with GOOD, so a write a client has seen
 * completed is in the LUN's cache whatever connection carried it, and FLUSH
 * is SYNCHRONIZE CACHE over the whole LUN (LBA 0, 0 blocks), which makes
 * every such write durable, whichever client or iSCSI connection sent it. */
static uint16_t transmission_flags(const mcsi_nbd_opts *o, const nbd_lun_geometry *g)
{
  uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_CAN_MULTI_CONN;
  if (o->read_only) return (uint16_t)(f | NBD_FLAG_READ_ONLY);
  f |= NBD_FLAG_SEND_WRITE_ZEROES;
  if (g->unmap) f |= NBD_FLAG_SEND_TRIM;
  return f;
}

/* ---- listening ---- */

/* The caller's bound socket: a duplicate of it listens. */
static int listen_given(mcsi_nbd_export *e, int given, const char *path, char *err, size_t errlen)
{
  int fd = fcntl(given, F_DUPFD_CLOEXEC, 3);
  if (fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 || listen(fd, 64) < 0) {
    nbd_set_err(err, errlen, "unix socket %s: %s", path ? path : "(given)", strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  snprintf(e->socket_path, sizeof e->socket_path, "%s", path ? path : "");
  e->unix_fd = fd;
  e->unix_given = 1;
  return 0;
}

static int listen_unix(mcsi_nbd_export *e, const char *path, char *err, size_t errlen)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  struct stat st;
  if (strlen(path) >= sizeof sa.sun_path) {
    nbd_set_err(err, errlen, "socket path too long: %s", path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      nbd_set_err(err, errlen, "%s exists and is not a socket", path);
      return -1;
    }
    unlink(path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
    nbd_set_err(err, errlen, "unix socket %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  snprintf(e->socket_path, sizeof e->socket_path, "%s", path);
  e->unix_fd = fd;
  return 0;
}

/* "host:port", "[v6]:port", ":port", "port" -> host (127.0.0.1 when empty) and port */
static int split_hostport(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
  const char *colon = strrchr(s, ':');
  const char *h = s, *p = colon ? colon + 1 : s;
  size_t n = colon ? (size_t)(colon - s) : 0;
  if (n >= 2 && h[0] == '[' && h[n - 1] == ']') { h++; n -= 2; }
  if (n >= hlen || strlen(p) >= plen || !*p) return -1;
  if (n) memcpy(host, h, n);
  host[n] = 0;
  if (!n) snprintf(host, hlen, "127.0.0.1");
  snprintf(port, plen, "%s", p);
  return 0;
}

static int bound_port(int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return 0;
}

/* The address to listen on is a local one, given as a number: asking a
 * resolver here would stop the loop (every session's I/O and keep-alive)
 * for as long as it takes. "localhost" is 127.0.0.1 without asking. */
static int listen_tcp(mcsi_nbd_export *e, const char *spec, char *err, size_t errlen)
{
  char host[64], port[16];
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                            .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE }, *ai;
  if (split_hostport(spec, host, sizeof host, port, sizeof port) < 0) {
    nbd_set_err(err, errlen, "bad TCP address '%s' (host:port)", spec);
    return -1;
  }
  if (strspn(port, "0123456789") != strlen(port)) {
    nbd_set_err(err, errlen, "bad TCP address '%s' (the port is a number)", spec);
    return -1;
  }
  if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
  int rc = getaddrinfo(host, port, &hints, &ai);
  if (rc == EAI_NONAME) {
    nbd_set_err(err, errlen, "TCP address %s: '%s' is not a numeric IP address (an export listens on a local "
                "address, given as a number, or localhost)", spec, host);
    return -1;
  }
  if (rc) {
    nbd_set_err(err, errlen, "TCP address %s: %s", spec, gai_strerror(rc));
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
    nbd_set_err(err, errlen, "TCP %s: %s", spec, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  snprintf(e->tcp_host, sizeof e->tcp_host, "%s", host);
  e->tcp_port = (uint16_t)bound_port(fd);
  e->tcp_fd = fd;
  return 0;
}

static void accept_some(mcsi_nbd_export *e, int lfd, int is_tcp)
{
  for (int i = 0; i < ACCEPTS_PER_TURN; i++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;                          /* EAGAIN, or a client gone before accept */
    if (!is_tcp && e->opts.unix_peer_allowed && !e->opts.unix_peer_allowed(fd, e->opts.unix_peer_arg)) {
      e->stats.clients_refused++;
      close(fd);
      continue;
    }
    if (e->nclients >= e->opts.max_clients) {
      e->stats.clients_refused++;
      close(fd);
      continue;
    }
    int one = 1, buf = CLIENT_SOCKBUF;
    if (is_tcp) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (nbd_client_new(e, fd, is_tcp) < 0) close(fd);
  }
}

static void on_unix_listen(mcsi_initiator *ini, int fd, int what, void *arg)
{
  (void)ini; (void)what;
  accept_some(arg, fd, 0);
}

static void on_tcp_listen(mcsi_initiator *ini, int fd, int what, void *arg)
{
  (void)ini; (void)what;
  accept_some(arg, fd, 1);
}

/* ---- life ---- */

static void export_free(mcsi_nbd_export *e)
{
  if (e->unix_watch) mcsi_fd_unwatch(e->ini, e->unix_watch);
  if (e->tcp_watch) mcsi_fd_unwatch(e->ini, e->tcp_watch);
  if (e->unix_fd >= 0) {
    close(e->unix_fd);
    if (!e->unix_given) unlink(e->socket_path);
  }
  if (e->tcp_fd >= 0) close(e->tcp_fd);
  nbd_tls_creds_free(e->tls);
  free(e->name);
  free(e->description);
  free(e);
}

int nbd_export_create(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const mcsi_nbd_opts *opts,
                      const nbd_lun_geometry *geo, mcsi_nbd_export **out, char *err, size_t errlen)
{
  mcsi_nbd_export *e = calloc(1, sizeof *e);
  if (!e) return nbd_set_err(err, errlen, "out of memory"), -1;
  e->ini = ini; e->sid = sid; e->lun = lun; e->geo = *geo;
  e->opts = *opts;
  e->unix_fd = e->tcp_fd = -1;
  fill_defaults(&e->opts);
  e->name = strdup(opts->name ? opts->name : "");
  e->description = opts->description ? strdup(opts->description) : NULL;
  e->opts.name = e->name;
  e->opts.description = e->description;
  e->opts.socket_path = e->opts.tcp = NULL;
  e->size = geo->blocks * geo->block_size;
  e->scsi_max = scsi_max_bytes(&e->opts, geo);
  mcsi_io_limit_transfer(ini, sid, lun, e->scsi_max);   /* the engine splits by it */
  if (e->opts.max_request < geo->block_size) e->opts.max_request = geo->block_size;
  e->opts.max_request -= e->opts.max_request % geo->block_size;
  e->preferred = geo->block_size > PREFERRED_MIN ? geo->block_size : PREFERRED_MIN;
  if (geo->opt_transfer_blocks && (uint64_t)geo->opt_transfer_blocks * geo->block_size <= e->opts.max_request &&
      geo->opt_transfer_blocks * geo->block_size > e->preferred)
    e->preferred = geo->opt_transfer_blocks * geo->block_size;
  e->tflags = transmission_flags(&e->opts, geo);
  int bad = !e->name || (opts->description && !e->description) || strlen(e->name) > 4096;
  if (bad) nbd_set_err(err, errlen, "bad export name or out of memory");
  if (!bad && nbd_tls_creds_load(opts, &e->tls, err, errlen) < 0) bad = 1;
  e->opts.tls_cert = e->opts.tls_key = e->opts.tls_ca = e->opts.tls_psk_file = NULL;
  if (!bad && opts->unix_listen_fd > 0 && listen_given(e, opts->unix_listen_fd, opts->socket_path, err, errlen) < 0)
    bad = 1;
  else if (!bad && opts->unix_listen_fd <= 0 && opts->socket_path && listen_unix(e, opts->socket_path, err, errlen) < 0)
    bad = 1;
  if (!bad && opts->tcp && listen_tcp(e, opts->tcp, err, errlen) < 0) bad = 1;
  if (!bad && e->unix_fd >= 0 && !(e->unix_watch = mcsi_fd_watch(ini, e->unix_fd, MCSI_FD_READABLE, on_unix_listen, e)))
    bad = 1, nbd_set_err(err, errlen, "mcsi_fd_watch failed");
  if (!bad && e->tcp_fd >= 0 && !(e->tcp_watch = mcsi_fd_watch(ini, e->tcp_fd, MCSI_FD_READABLE, on_tcp_listen, e)))
    bad = 1, nbd_set_err(err, errlen, "mcsi_fd_watch failed");
  if (bad) {
    export_free(e);
    return -1;
  }
  *out = e;
  return 0;
}

void nbd_export_client_gone(mcsi_nbd_export *e, nbd_client *c)
{
  if (c->prev) c->prev->next = c->next;
  else e->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  e->nclients--;
}

static int check_args(mcsi_initiator *ini, const mcsi_nbd_opts *opts, char *err, size_t errlen)
{
  if (!ini || !opts) return nbd_set_err(err, errlen, "no initiator or no options"), -1;
  if (!opts->socket_path && !opts->tcp && opts->unix_listen_fd <= 0)
    return nbd_set_err(err, errlen, "neither a socket path nor a TCP address"), -1;
  if (nbd_tls_opts_check(opts, err, errlen) < 0) return -1;
  if (opts->tcp && opts->tls != MCSI_NBD_TLS_OFF && !opts->tls_cert && !opts->tls_psk_file)
    return nbd_set_err(err, errlen, "a TCP export needs TLS (a certificate and key, or a PSK file) "
                       "unless TLS is turned off explicitly"), -1;
  return 0;
}

mcsi_nbd_export *mcsi_nbd_export_start(mcsi_initiator *ini, mcsi_id session, uint64_t lun,
                                       const mcsi_nbd_opts *opts, char *err, size_t errlen)
{
  nbd_lun_geometry geo;
  mcsi_nbd_export *e = NULL;
  if (check_args(ini, opts, err, errlen) < 0) return NULL;
  if (nbd_lun_probe(ini, session, lun, &geo, err, errlen)) return NULL;
  if (nbd_export_create(ini, session, lun, opts, &geo, &e, err, errlen) < 0) return NULL;
  return e;
}

/* The asynchronous start: the options are copied until the probe answers. */
typedef struct start_req {
  mcsi_nbd_opts opts;
  char *socket_path, *tcp, *name, *description;
  char *tls_cert, *tls_key, *tls_ca, *tls_psk_file;
  mcsi_id sid;
  uint64_t lun;
  mcsi_nbd_start_cb cb;
  void *arg;
} start_req;

static void start_req_free(start_req *s)
{
  free(s->socket_path); free(s->tcp); free(s->name); free(s->description);
  free(s->tls_cert); free(s->tls_key); free(s->tls_ca); free(s->tls_psk_file);
  free(s);
}

static void on_probed(mcsi_initiator *ini, mcsi_status st, const nbd_lun_geometry *geo, const char *msg, void *arg)
{
  start_req *s = arg;
  char err[256] = "";
  mcsi_nbd_export *e = NULL;
  if (st) nbd_set_err(err, sizeof err, "%s", msg ? msg : "probe failed");
  else if (nbd_export_create(ini, s->sid, s->lun, &s->opts, geo, &e, err, sizeof err) < 0) st = ISDSC_INVALID_PARAMETER;
  s->cb(ini, e, st, err, s->arg);
  start_req_free(s);
}

static char *dup_or_null(const char *s, int *bad)
{
  char *d = s ? strdup(s) : NULL;
  if (s && !d) *bad = 1;
  return d;
}

mcsi_status mcsi_nbd_export_start_async(mcsi_initiator *ini, mcsi_id session, uint64_t lun,
                                        const mcsi_nbd_opts *opts, mcsi_nbd_start_cb cb, void *arg,
                                        char *err, size_t errlen)
{
  if (!cb) return nbd_set_err(err, errlen, "no callback"), ISDSC_INVALID_PARAMETER;
  if (check_args(ini, opts, err, errlen) < 0) return ISDSC_INVALID_PARAMETER;
  start_req *s = calloc(1, sizeof *s);
  int bad = !s;
  if (s) {
    s->opts = *opts;
    s->opts.socket_path = s->socket_path = dup_or_null(opts->socket_path, &bad);
    s->opts.tcp = s->tcp = dup_or_null(opts->tcp, &bad);
    s->opts.name = s->name = dup_or_null(opts->name, &bad);
    s->opts.description = s->description = dup_or_null(opts->description, &bad);
    s->opts.tls_cert = s->tls_cert = dup_or_null(opts->tls_cert, &bad);
    s->opts.tls_key = s->tls_key = dup_or_null(opts->tls_key, &bad);
    s->opts.tls_ca = s->tls_ca = dup_or_null(opts->tls_ca, &bad);
    s->opts.tls_psk_file = s->tls_psk_file = dup_or_null(opts->tls_psk_file, &bad);
    s->sid = session; s->lun = lun; s->cb = cb; s->arg = arg;
  }
  if (bad) {
    if (s) start_req_free(s);
    nbd_set_err(err, errlen, "out of memory");
    return ISDSC_OUT_OF_RESOURCES;
  }
  mcsi_status st = nbd_lun_probe_async(ini, session, lun, on_probed, s);
  if (st) {
    nbd_set_err(err, errlen, "READ CAPACITY: %s", mcsi_last_message(ini));
    start_req_free(s);
  }
  return st;
}

void mcsi_nbd_export_stop(mcsi_nbd_export *e)
{
  if (!e) return;
  while (e->clients) nbd_client_close(e->clients);
  export_free(e);
}

void mcsi_nbd_export_info(const mcsi_nbd_export *e, mcsi_nbd_info *out)
{
  *out = e->stats;
  out->session_id = e->sid;
  out->lun = e->lun;
  snprintf(out->name, sizeof out->name, "%s", e->name);
  snprintf(out->socket_path, sizeof out->socket_path, "%s", e->unix_fd >= 0 ? e->socket_path : "");
  snprintf(out->tcp_host, sizeof out->tcp_host, "%s", e->tcp_fd >= 0 ? e->tcp_host : "");
  out->tcp_port = e->tcp_fd >= 0 ? e->tcp_port : 0;
  out->read_only = e->opts.read_only;
  out->size = e->size;
  out->block_size = e->geo.block_size;
  out->preferred_block = e->preferred;
  out->max_request = e->opts.max_request;
  out->max_scsi_transfer = e->scsi_max;
  out->transmission_flags = e->tflags;
  out->trim = e->geo.unmap;
  out->clients = e->nclients;
  out->tls = e->opts.tls;
  out->tls_x509 = nbd_tls_creds_x509(e->tls);
  out->tls_psk = nbd_tls_creds_psk(e->tls);
  out->tls_client_certs = e->tls && nbd_tls_creds_client_certs(e->tls);
}

void mcsi_nbd_export_rebind(mcsi_nbd_export *e, mcsi_id session, uint64_t lun)
{
  if (!e) return;
  e->sid = session;
  e->lun = lun;
}

mcsi_initiator *mcsi_nbd_export_initiator(const mcsi_nbd_export *e)
{
  return e ? e->ini : NULL;
}
