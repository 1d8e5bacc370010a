/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mcsi-perf: a read/write benchmark on the mcsi asynchronous API, with the
 * options, URL form and output of libiscsi's iscsi-perf so that both can be
 * run side by side on the same LUN.
 *
 *   mcsi-perf [-i initiator-iqn] [-m max_in_flight] [-b blocks_per_request]
 *             [-t seconds] [-r] [-R] [-l] [-n] [-x max_reconnects] [-w] [-c N]
 *             iscsi://[user[%password]@]host[:port]/IQN/LUN
 *
 * It logs in, clears the UNIT ATTENTION of the new session with TEST UNIT
 * READY, learns block size and size with READ CAPACITY, then keeps
 * max_in_flight READ(16) (or WRITE(16) with -w) commands outstanding, one
 * after the other through the LUN (random LBAs with -r), wrapping at its end.
 * A line per second shows the IOPS and MB/s of that second; at the end:
 *
 *   iops average N (M MB/s), errors E
 *   cpu user U s, sys S s, us_per_io X
 *
 * Exit status: 0 no failed command, 1 some failed command (or the run broke
 * down), 2 usage error or no usable session (bad URL or option, target
 * unreachable, login refused, LUN unusable).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "mcsi.h"

/* MC/S: -c N (N > 1) adds N-1 connections to the same portal after the
 * login, with mcsi_add_connection_to_session().  Set this to 0 to build
 * against a core without it: -c > 1 then fails as a usage error. */
#ifndef MCSI_PERF_HAVE_ADD_CONNECTION
#define MCSI_PERF_HAVE_ADD_CONNECTION 1
#endif

enum { EXIT_IO_ERRORS = 1, EXIT_USAGE = 2 };
enum { MAX_IN_FLIGHT = 4096, MAX_REQUEST_BYTES = 64 << 20, MAX_CONNECTIONS = 64 };
enum { SAM_GOOD = 0x00 };
enum { ERRORS_SHOWN = 5, DRAIN_SECONDS = 40 };

#define NS_PER_SEC 1000000000ull

struct perf_opts {
  const char *initiator;       /* -i; NULL: mcsi's default name */
  int max_in_flight;           /* -m */
  int blocks;                  /* -b */
  int seconds;                 /* -t; 0: until SIGINT */
  int random;                  /* -r */
  int random_blocks;           /* -R */
  int logging;                 /* -l: one line per second, not \r */
  int ignore_errors;           /* -n: keep going after a failed command */
  int writes;                  /* -w */
  int connections;             /* -c */
  const char *url;
};

struct perf_url {
  char *buf;                   /* owns every string below */
  const char *user, *password, *target;
  char portal[300];
  uint64_t lun;
};

struct perf;

struct request {
  struct perf *p;
  uint64_t lba;
  uint32_t blocks;
  struct request *next_free;
};

struct perf {
  struct perf_opts o;
  mcsi_initiator *ini;
  mcsi_id sid;
  uint64_t lun;
  uint32_t block_size;
  uint64_t lun_blocks;
  size_t buf_len;
  uint8_t *rbuf, *wbuf;        /* one buffer for every read, one pattern for every write */
  struct request *reqs, *free_reqs;
  int in_flight, filling, stopping, session_failed, logging_out;
  uint64_t pos, rng;
  uint64_t ios, bytes, errors, retried;
  uint64_t t0, last_ns, last_ios, last_bytes;
  uint64_t stop_ns, stop_ios, stop_bytes;  /* snapshot when issuing stopped */
  int cr_pending;              /* a \r progress line is on the terminal */
};

static volatile sig_atomic_t g_signals;

/* ---- small helpers -------------------------------------------------------- */

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t next_random(struct perf *p)
{
  uint64_t x = p->rng;         /* xorshift64* */
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  p->rng = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Ends a \r progress line before a message. */
static const char *eol(struct perf *p)
{
  int cr = p->cr_pending;
  p->cr_pending = 0;
  return cr ? "\n" : "";
}

static const char *status_name(mcsi_status st)
{
  const char *name = mcsi_status_name(st);
  return name ? name : "unknown status";
}

static void on_signal(int sig)
{
  (void)sig;
  g_signals++;
}

static void install_signals(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

/* ---- command line ----------------------------------------------------------- */

static void usage(FILE *f)
{
  fprintf(f,
          "Usage: mcsi-perf [-i <initiator-name>] [-m <max_requests>] [-b blocks_per_request]\n"
          "                 [-t timeout] [-r|--random] [-R|--random-blocks] [-l|--logging]\n"
          "                 [-n|--ignore-errors] [-x <max_reconnects>] [-w|--write]\n"
          "                 [-c|--connections <N>] <LUN>\n"
          "  <LUN>  iscsi://[user[%%password]@]host[:port]/IQN/LUN\n"
          "  -m  commands kept in flight (default 32)     -b  blocks per command (default 8)\n"
          "  -t  seconds to run (default 0: until Ctrl-C)  -r  random LBAs (default sequential)\n"
          "  -R  random transfer size of 1..b blocks       -l  one line per second (no \\r)\n"
          "  -n  keep going after a failed command (still counted, exit status 1)\n"
          "  -x  accepted for iscsi-perf compatibility, ignored (mcsi recovers by itself)\n"
          "  -w  WRITE(16) a fixed pattern instead of READ(16)\n"
          "  -c  TCP connections in the session (default 1)\n"
          "  --help, --version\n"
          "Exit status: 0 no failed command, 1 failed commands, 2 usage or login error.\n");
}

static int usage_error(const char *msg)
{
  fprintf(stderr, "mcsi-perf: %s\nTry 'mcsi-perf --help'.\n", msg);
  return -1;
}

static int parse_int(const char *s, const char *what, int lo, int hi, int *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "mcsi-perf: %s must be an integer in [%d, %d], not '%s'\n", what, lo, hi, s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int parse_option(struct perf_opts *o, int c, const char *arg)
{
  int ignored;
  switch (c) {
  case 'i': o->initiator = arg; return 0;
  case 'm': return parse_int(arg, "-m (max in flight)", 1, MAX_IN_FLIGHT, &o->max_in_flight);
  case 'b': return parse_int(arg, "-b (blocks per request)", 1, 1 << 24, &o->blocks);
  case 't': return parse_int(arg, "-t (seconds)", 0, 1 << 30, &o->seconds);
  case 'c': return parse_int(arg, "-c (connections)", 1, MAX_CONNECTIONS, &o->connections);
  case 'x': return parse_int(arg, "-x (max reconnects)", -1, 1 << 30, &ignored);
  case 'r': o->random = 1; return 0;
  case 'R': o->random_blocks = 1; return 0;
  case 'l': o->logging = 1; return 0;
  case 'n': o->ignore_errors = 1; return 0;
  case 'w': o->writes = 1; return 0;
  default: return -1;          /* getopt already said what was wrong */
  }
}

/* 0: parsed; 1: --help or --version was asked for; -1: usage error (already reported). */
static int parse_args(int argc, char **argv, struct perf_opts *o)
{
  static const struct option longs[] = {
    {"initiator-name", required_argument, NULL, 'i'}, {"max", required_argument, NULL, 'm'},
    {"blocks", required_argument, NULL, 'b'},         {"runtime", required_argument, NULL, 't'},
    {"random", no_argument, NULL, 'r'},               {"random-blocks", no_argument, NULL, 'R'},
    {"logging", no_argument, NULL, 'l'},              {"ignore-errors", no_argument, NULL, 'n'},
    {"max-reconnects", required_argument, NULL, 'x'}, {"write", no_argument, NULL, 'w'},
    {"connections", required_argument, NULL, 'c'},    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},              {NULL, 0, NULL, 0}};
  int c;

  *o = (struct perf_opts){.max_in_flight = 32, .blocks = 8, .connections = 1};
  while ((c = getopt_long(argc, argv, "i:m:b:t:c:x:rRlnwh", longs, NULL)) != -1) {
    if (c == 'h' || c == 'V') {
      if (c == 'h') usage(stdout);
      else printf("mcsi-perf %s\n", MCSI_VERSION_STRING);
      return 1;
    }
    if (c == '?' || parse_option(o, c, optarg) < 0)
      return usage_error("bad command line");
  }
  if (optind != argc - 1)
    return usage_error(optind >= argc ? "missing the iscsi:// URL" : "more than one URL");
  o->url = argv[optind];
  if (o->connections > 1 && !MCSI_PERF_HAVE_ADD_CONNECTION) {
    fprintf(stderr, "mcsi-perf: -c %d: more than one connection per session needs "
            "mcsi_add_connection_to_session(), which this mcsi does not have yet\n",
            o->connections);
    return -1;
  }
  return 0;
}

/* ---- URL: iscsi://[user[%password]@]host[:port]/IQN/LUN --------------------- */

static int url_error(const char *url, const char *why)
{
  fprintf(stderr, "mcsi-perf: bad URL '%s': %s\n"
          "  expected iscsi://[user[%%password]@]host[:port]/IQN/LUN\n", url, why);
  return -1;
}

static int parse_lun(const char *s, uint64_t *lun)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v > 0xFFFF)
    return -1;
  *lun = v;
  return 0;
}

static int parse_url(const char *url, struct perf_url *u)
{
  static const char scheme[] = "iscsi://";
  memset(u, 0, sizeof *u);
  if (strncmp(url, scheme, sizeof scheme - 1) != 0)
    return url_error(url, "it must start with iscsi://");
  u->buf = strdup(url + sizeof scheme - 1);
  if (!u->buf)
    return url_error(url, "out of memory");
  char *host = u->buf;
  char *slash = strchr(host, '/');
  if (!slash)
    return url_error(url, "no /IQN/LUN after the host");
  *slash = '\0';
  char *at = strrchr(host, '@');
  if (at) {
    *at = '\0';
    u->user = host;
    char *pct = strchr(host, '%');
    if (pct) {
      *pct = '\0';
      u->password = pct + 1;
    }
    if (!*u->user)
      return url_error(url, "empty user name before '@'");
    host = at + 1;
  }
  if (!*host || (host[0] == '[' && !strchr(host, ']')))
    return url_error(url, "no host");
  if (strlen(host) >= sizeof u->portal)
    return url_error(url, "host too long");
  strcpy(u->portal, host);
  char *target = slash + 1;
  char *lun = strrchr(target, '/');
  if (!lun || lun == target)
    return url_error(url, "no target IQN, or no /LUN after it");
  *lun++ = '\0';
  u->target = target;
  if (parse_lun(lun, &u->lun) < 0)
    return url_error(url, "the LUN must be a number from 0 to 65535");
  return 0;
}

/* ---- session set-up ------------------------------------------------------------ */

static int setup_error(struct perf *p, const char *what, mcsi_status st)
{
  fprintf(stderr, "mcsi-perf: %s failed: %s (0x%08" PRIx32 "): %s\n", what, status_name(st),
          st, p->ini ? mcsi_last_message(p->ini) : "");
  return -1;
}

static void on_event(mcsi_initiator *ini, const mcsi_event *ev, void *arg)
{
  struct perf *p = arg;
  (void)ini;
  switch (ev->kind) {
  case MCSI_EV_SESSION_LOGGED_OUT:
    if (p->logging_out)
      break;
    /* fall through */
  case MCSI_EV_SESSION_FAILED:
    p->session_failed = 1;
    /* fall through */
  case MCSI_EV_CONN_FAILED:
  case MCSI_EV_SESSION_RECOVERING:
  case MCSI_EV_SESSION_RECOVERED:
    if (p->t0)
      fprintf(stderr, "%smcsi-perf: %s: %s (%s)\n", eol(p), mcsi_event_name(ev->kind),
              ev->reason ? ev->reason : "", status_name(ev->status));
    break;
  default:
    break;
  }
}

static int add_connections(struct perf *p, const mcsi_login_opts *lo)
{
#if MCSI_PERF_HAVE_ADD_CONNECTION
  mcsi_conn_opts *co = mcsi_conn_opts_new();    /* CHAP: the session's */
  mcsi_status st = co ? mcsi_conn_opts_set_string(co, MCSI_OPT_PORTAL, mcsi_login_opts_get_string(lo, MCSI_OPT_PORTAL))
                      : ISDSC_OUT_OF_RESOURCES;
  for (int i = 1; i < p->o.connections && st == ISDSC_SUCCESS; i++) {
    mcsi_id cid;
    st = mcsi_add_connection_to_session(p->ini, p->sid, co, &cid);
  }
  mcsi_conn_opts_free(co);
  if (st != ISDSC_SUCCESS)
    return setup_error(p, "adding a connection to the session", st);
#else
  (void)p;
  (void)lo;
#endif
  return 0;
}

static int login(struct perf *p, const struct perf_url *u)
{
  mcsi_id cid;
  mcsi_login_opts *lo = mcsi_login_opts_new();
  mcsi_status st = lo ? ISDSC_SUCCESS : ISDSC_OUT_OF_RESOURCES;
  if (!st) st = mcsi_login_opts_set_string(lo, MCSI_OPT_PORTAL, u->portal);
  if (!st) st = mcsi_login_opts_set_string(lo, MCSI_OPT_TARGET, u->target);
  if (!st) st = mcsi_login_opts_set_string(lo, MCSI_OPT_USERNAME, u->user);
  if (!st) st = mcsi_login_opts_set_string(lo, MCSI_OPT_SECRET, u->password);
  if (!st && p->o.connections > 1) st = mcsi_login_opts_set_int(lo, MCSI_OPT_MAX_CONNECTIONS, p->o.connections);
  if (!st) st = mcsi_login_to_target(p->ini, lo, &p->sid, &cid);
  if (st != ISDSC_SUCCESS) {
    fprintf(stderr, "mcsi-perf: login to %s at %s failed: %s (0x%08" PRIx32 "): %s\n",
            u->target, u->portal, status_name(st), st, mcsi_last_message(p->ini));
    mcsi_login_opts_free(lo);
    return -1;
  }
  p->lun = u->lun;
  int rc = add_connections(p, lo);
  mcsi_login_opts_free(lo);
  return rc;
}

/* The first command of a new session gets UNIT ATTENTION (power on / reset):
 * like libiscsi's full connect, TEST UNIT READY first (the engine's one
 * retry rule sends it again). */
static int test_unit_ready(struct perf *p)
{
  mcsi_status st = mcsi_scsi_test_unit_ready(p->ini, p->sid, p->lun);
  return st == ISDSC_SUCCESS ? 0 : setup_error(p, "TEST UNIT READY", st);
}

static int read_capacity(struct perf *p)
{
  mcsi_capacity cap = { .struct_size = sizeof cap };
  mcsi_status st = mcsi_scsi_read_capacity(p->ini, p->sid, p->lun, &cap);
  if (st != ISDSC_SUCCESS)
    return setup_error(p, "READ CAPACITY", st);
  if (cap.block_size == 0 || cap.blocks == 0) {
    fprintf(stderr, "mcsi-perf: READ CAPACITY: LUN %" PRIu64 " has %" PRIu64
            " blocks of %" PRIu32 " bytes\n", p->lun, cap.blocks, cap.block_size);
    return -1;
  }
  p->block_size = cap.block_size;
  p->lun_blocks = cap.blocks;
  printf("capacity is %" PRIu64 " blocks or %" PRIu64 " byte (%" PRIu64 " MB)\n",
         cap.blocks, cap.blocks * cap.block_size, (cap.blocks * cap.block_size) >> 20);
  return 0;
}

static int alloc_buffers(struct perf *p)
{
  uint64_t len = (uint64_t)p->o.blocks * p->block_size;
  if (len > MAX_REQUEST_BYTES) {
    fprintf(stderr, "mcsi-perf: -b %d blocks of %" PRIu32 " bytes is over %d MiB per request\n",
            p->o.blocks, p->block_size, MAX_REQUEST_BYTES >> 20);
    return -1;
  }
  p->buf_len = (size_t)len;
  p->rbuf = malloc(p->buf_len);
  p->wbuf = malloc(p->buf_len);
  p->reqs = calloc((size_t)p->o.max_in_flight, sizeof *p->reqs);
  if (!p->rbuf || !p->wbuf || !p->reqs) {
    fprintf(stderr, "mcsi-perf: out of memory\n");
    return -1;
  }
  for (size_t i = 0; i < p->buf_len; i++)
    p->wbuf[i] = (uint8_t)(i * 131u + 7u + (i >> 9));
  for (int i = 0; i < p->o.max_in_flight; i++) {
    p->reqs[i].p = p;
    p->reqs[i].next_free = p->free_reqs;
    p->free_reqs = &p->reqs[i];
  }
  return 0;
}

static void print_plan(const struct perf *p)
{
  printf("performing %s %s with %d parallel requests\n", p->o.random ? "RANDOM" : "SEQUENTIAL",
         p->o.writes ? "WRITE" : "READ", p->o.max_in_flight);
  if (p->o.random_blocks)
    printf("RANDOM transfer size of 1 - %d blocks (%" PRIu32 " - %zu byte)\n", p->o.blocks,
           p->block_size, p->buf_len);
  else
    printf("FIXED transfer size of %d blocks (%zu byte)\n", p->o.blocks, p->buf_len);
  if (p->o.connections > 1)
    printf("using %d connections in the session\n", p->o.connections);
  if (p->o.seconds)
    printf("will run for %d seconds.\n", p->o.seconds);
  else
    printf("infinite runtime - press CTRL-C to abort.\n");
  printf("\n");
  fflush(stdout);
}

/* ---- the I/O engine ------------------------------------------------------------ */

static void stop_issuing(struct perf *p, uint64_t now)
{
  if (p->stopping)
    return;
  p->stopping = 1;
  p->stop_ns = now;
  p->stop_ios = p->ios;
  p->stop_bytes = p->bytes;
}

static void on_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg);

static mcsi_status submit(struct perf *p, struct request *rq)
{
  size_t len = (size_t)rq->blocks * p->block_size;
  if (p->o.writes)
    return mcsi_write_async(p->ini, p->sid, p->lun, rq->lba, p->block_size, p->wbuf, len, MCSI_COMPLETION(on_done, rq));
  return mcsi_read_async(p->ini, p->sid, p->lun, rq->lba, p->block_size, p->rbuf, len, MCSI_COMPLETION(on_done, rq));
}

/* The next LBA and length, as iscsi-perf picks them. */
static void next_extent(struct perf *p, struct request *rq)
{
  if (p->pos >= p->lun_blocks)
    p->pos = 0;
  if (p->o.random)
    p->pos = next_random(p) % p->lun_blocks;
  uint64_t n = p->lun_blocks - p->pos;
  if (n > (uint64_t)p->o.blocks)
    n = (uint64_t)p->o.blocks;
  if (p->o.random_blocks)
    n = next_random(p) % n + 1;
  rq->lba = p->pos;
  rq->blocks = (uint32_t)n;
  p->pos += n;
}

static void submit_failed(struct perf *p, mcsi_status st)
{
  fprintf(stderr, "%smcsi-perf: submitting a command failed: %s: %s\n", eol(p), status_name(st),
          mcsi_last_message(p->ini));
  p->errors++;
  stop_issuing(p, now_ns());
}

static void fill_queue(struct perf *p)
{
  if (p->filling)
    return;
  p->filling = 1;
  while (!p->stopping && p->in_flight < p->o.max_in_flight && p->free_reqs) {
    struct request *rq = p->free_reqs;
    next_extent(p, rq);
    mcsi_status st = submit(p, rq);
    if (st != ISDSC_SUCCESS) {
      submit_failed(p, st);
      break;
    }
    p->free_reqs = rq->next_free;
    p->in_flight++;
  }
  p->filling = 0;
}

static void report_error(struct perf *p, const struct request *rq, mcsi_status st,
                         const mcsi_scsi_result *res)
{
  p->errors++;
  if (p->errors <= ERRORS_SHOWN) {
    fprintf(stderr, "%smcsi-perf: %s lba %" PRIu64 " blocks %" PRIu32 " failed: %s", eol(p),
            p->o.writes ? "WRITE(16)" : "READ(16)", rq->lba, rq->blocks, status_name(st));
    if (res)
      fprintf(stderr, ", SCSI status 0x%02x, sense %x/%02x/%02x", res->scsi_status,
              res->sense_key, res->asc, res->ascq);
    fprintf(stderr, ": %s\n", mcsi_last_message(p->ini));
  }
  if (!p->o.ignore_errors)
    stop_issuing(p, now_ns());
}

static void on_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  struct request *rq = arg;
  struct perf *p = rq->p;
  p->retried += res ? res->retries : 0;   /* BUSY, TASK SET FULL, UNIT ATTENTION: the engine re-sent it */
  if (st == ISDSC_SUCCESS && res && res->scsi_status == SAM_GOOD) {
    p->ios++;
    p->bytes += (uint64_t)rq->blocks * p->block_size;
  } else {
    report_error(p, rq, st, res);
  }
  rq->next_free = p->free_reqs;
  p->free_reqs = rq;
  p->in_flight--;
  fill_queue(p);
}

/* ---- progress and summary ------------------------------------------------------- */

static uint64_t per_sec(uint64_t count, uint64_t ns)
{
  return ns ? (uint64_t)((double)count * NS_PER_SEC / (double)ns) : 0;
}

static void progress(struct perf *p, uint64_t now)
{
  uint64_t dt = now - p->last_ns, total = now - p->t0;
  uint64_t secs = total / NS_PER_SEC;
  uint64_t shown = p->o.seconds && secs < (uint64_t)p->o.seconds ? p->o.seconds - secs : secs;
  int tty = !p->o.logging && isatty(STDOUT_FILENO);

  printf("%s%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 " - lba %" PRIu64
         ", iops current %" PRIu64 " (%" PRIu64 " MB/s), iops average %" PRIu64
         " (%" PRIu64 " MB/s), in_flight %d, retried %" PRIu64 "%s",
         tty ? "\r" : "", shown / 3600, (shown % 3600) / 60, shown % 60, p->pos,
         per_sec(p->ios - p->last_ios, dt), per_sec(p->bytes - p->last_bytes, dt) >> 20,
         per_sec(p->ios, total), per_sec(p->bytes, total) >> 20, p->in_flight, p->retried,
         tty ? "        " : "\n");
  fflush(stdout);
  p->cr_pending = tty;
  p->last_ns = now;
  p->last_ios = p->ios;
  p->last_bytes = p->bytes;
}

static void tick(struct perf *p)
{
  uint64_t now = now_ns();
  if (g_signals && !p->stopping)
    stop_issuing(p, now);
  if (p->o.seconds && now - p->t0 >= (uint64_t)p->o.seconds * NS_PER_SEC)
    stop_issuing(p, now);
  if (!p->stopping && now - p->last_ns >= NS_PER_SEC)
    progress(p, now);
}

static int wait_ms(const struct perf *p)
{
  uint64_t now = now_ns(), due = p->last_ns + NS_PER_SEC;
  if (p->stopping)
    return 100;
  if (p->o.seconds) {
    uint64_t end = p->t0 + (uint64_t)p->o.seconds * NS_PER_SEC;
    if (end < due)
      due = end;
  }
  return due <= now ? 0 : (int)((due - now + 999999) / 1000000);
}

/* Runs until the time is up or a signal came, then drains. 0, or -1 when the
 * loop itself broke or the drain was cut short. */
static int run(struct perf *p)
{
  uint64_t drain_deadline = 0;
  p->t0 = p->last_ns = now_ns();
  fill_queue(p);
  while (p->in_flight > 0 || !p->stopping) {
    if (mcsi_process(p->ini, wait_ms(p)) < 0 && errno != EINTR) {
      fprintf(stderr, "%smcsi-perf: mcsi_process: %s\n", eol(p), strerror(errno));
      stop_issuing(p, now_ns());
      return -1;
    }
    tick(p);
    if (p->session_failed)
      stop_issuing(p, now_ns());
    fill_queue(p);
    if (p->stopping && !drain_deadline)
      drain_deadline = now_ns() + DRAIN_SECONDS * NS_PER_SEC;
    if (p->stopping && (g_signals > 1 || now_ns() > drain_deadline)) {
      fprintf(stderr, "%smcsi-perf: %d commands still in flight, not waiting for them\n", eol(p),
              p->in_flight);
      return -1;
    }
  }
  return 0;
}

static double tv_seconds(struct timeval tv)
{
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void summary(struct perf *p)
{
  struct rusage ru;
  uint64_t dt = p->stop_ns - p->t0;
  uint64_t iops = per_sec(p->stop_ios, dt);
  getrusage(RUSAGE_SELF, &ru);
  double user = tv_seconds(ru.ru_utime), sys = tv_seconds(ru.ru_stime);
  if (p->cr_pending)
    printf("\n");
  printf("iops average %" PRIu64 " (%" PRIu64 " MB/s), errors %" PRIu64 "\n", iops,
         per_sec(p->stop_bytes, dt) >> 20, p->errors);
  printf("cpu user %.3f s, sys %.3f s, us_per_io %.2f\n", user, sys,
         p->ios ? (user + sys) * 1e6 / (double)p->ios : 0.0);
  fflush(stdout);
}

/* ---- main ------------------------------------------------------------------------ */

static int start(struct perf *p, const struct perf_url *u)
{
  p->ini = mcsi_initiator_new(p->o.initiator);
  if (!p->ini) {
    fprintf(stderr, "mcsi-perf: cannot create the initiator: %s\n",
            p->o.initiator ? "invalid iSCSI name given with -i" : "out of memory");
    return -1;
  }
  mcsi_set_event_callback(p->ini, on_event, p);
  if (login(p, u) < 0)
    return -1;
  printf("connected to %s\n", p->o.url);
  if (test_unit_ready(p) < 0 || read_capacity(p) < 0 || alloc_buffers(p) < 0)
    return -1;
  print_plan(p);
  return 0;
}

static void finish(struct perf *p, int drained)
{
  if (p->ini && p->sid && drained && !p->session_failed) {
    p->logging_out = 1;
    mcsi_status st = mcsi_logout_from_target(p->ini, p->sid);
    if (st != ISDSC_SUCCESS)
      fprintf(stderr, "mcsi-perf: logout: %s: %s\n", status_name(st), mcsi_last_message(p->ini));
  }
  mcsi_initiator_free(p->ini); /* before the buffers: it may still own commands */
  free(p->reqs);
  free(p->rbuf);
  free(p->wbuf);
}

int main(int argc, char **argv)
{
  struct perf p;
  struct perf_url u;
  memset(&p, 0, sizeof p);
  p.rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;

  int r = parse_args(argc, argv, &p.o);
  if (r != 0)
    return r > 0 ? 0 : EXIT_USAGE;
  printf("mcsi-perf (iscsi-perf compatible) on the mcsi async API\n\n");
  if (parse_url(p.o.url, &u) < 0) {
    free(u.buf);
    return EXIT_USAGE;
  }
  r = start(&p, &u);
  free(u.buf);
  if (r < 0) {
    finish(&p, 1);
    return EXIT_USAGE;
  }
  install_signals();
  int ok = run(&p) == 0;
  summary(&p);
  finish(&p, ok);
  return p.errors || !ok ? EXIT_IO_ERRORS : 0;
}
