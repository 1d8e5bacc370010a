/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mcsi-soak: connection drops under verified I/O, against the tgt that
 * tests/harness/with-targets starts (MCSI_TGT_PORT, MCSI_TGT_IQN_PLAIN,
 * MCSI_TGT_IPC; the 2 GiB file LUN 1).
 *
 * One session of 4 connections (127.0.0.1 and 127.0.0.2) carries reads and
 * writes at a fixed queue depth over a region of the LUN. Every 4 KiB block
 * written carries a header (magic, checksum, block number, run id,
 * generation); an in-memory map keeps the last acknowledged generation of
 * each block, and every read is checked against it. A dropper in the loop
 * spawns `tgtadm --op delete --mode conn` on one live connection at each
 * interval; the event callback notes every lost connection and the loop
 * adds one back, so that the session keeps 4. At the end every block of the
 * region is read back and checked once more.
 *
 * Criteria (one line each, exit 1 if any fails): every drop done, 0 failed
 * commands, 0 corrupt blocks, 0 lost acknowledged writes, RSS at the end
 * within --rss-slack-pct of RSS after the first --rss-after drops. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "mcsi.h"

extern char **environ;

#define BLOCK 4096u                  /* the unit of verification */
#define MAX_EXTENT 8                 /* blocks per command: 4 to 32 KiB */
#define MAGIC 0x6b616f73u            /* "soak" */
#define MAX_QD 256
#define READBACK_BLOCKS 64           /* final pass: 256 KiB per READ */

/* ---- options -------------------------------------------------------------------------- */

typedef struct options {
  int drops, interval_ms, qd, connections, write_pct, rss_after, verbose;
  double rss_slack_pct;
  uint32_t blocks;                   /* region size in 4 KiB blocks */
  uint64_t first_lba;
  unsigned seed;
  int stall_s;                       /* no completion for this long: stop, the run failed */
} options;

static options opt = { .drops = 1000, .interval_ms = 500, .qd = 32, .connections = 4, .write_pct = 50,
                       .rss_after = 100, .rss_slack_pct = 10.0, .blocks = 16384, .first_lba = 0,
                       .seed = 0, .stall_s = 120 };

static void usage(FILE *f)
{
  fprintf(f,
          "usage: mcsi-soak [options]   (run under tests/harness/with-targets)\n"
          "  --drops N          target-side connection drops (default 1000)\n"
          "  --interval-ms MS   time between two drops (default 500)\n"
          "  --qd N             commands in flight (default 32, at most %d)\n"
          "  --connections N    connections kept in the session (default 4)\n"
          "  --blocks N         region size in 4 KiB blocks (default 16384: 64 MiB)\n"
          "  --first-lba LBA    region start on LUN 1 (default 0)\n"
          "  --write-pct P      share of writes among commands (default 50)\n"
          "  --rss-after N      RSS baseline taken after N drops (default 100)\n"
          "  --rss-slack-pct P  end RSS may exceed the baseline by P%% (default 10)\n"
          "  --stall-s S        give up when no command completes for S s (default 120)\n"
          "  --seed N           random seed (default: time)\n"
          "  --verbose          print every event\n",
          MAX_QD);
}

static long parse_num(const char *name, const char *v, long lo, long hi)
{
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < lo || n > hi) {
    fprintf(stderr, "mcsi-soak: --%s wants a number in %ld..%ld, not '%s'\n", name, lo, hi, v);
    exit(2);
  }
  return n;
}

static void parse_options(int argc, char **argv)
{
  static const struct option longs[] = {
    { "drops", 1, 0, 'd' }, { "interval-ms", 1, 0, 'i' }, { "qd", 1, 0, 'q' }, { "connections", 1, 0, 'c' },
    { "blocks", 1, 0, 'b' }, { "first-lba", 1, 0, 'l' }, { "write-pct", 1, 0, 'w' }, { "rss-after", 1, 0, 'r' },
    { "rss-slack-pct", 1, 0, 'p' }, { "stall-s", 1, 0, 't' }, { "seed", 1, 0, 's' }, { "verbose", 0, 0, 'v' },
    { "help", 0, 0, 'h' }, { 0, 0, 0, 0 }
  };
  int ch;
  opt.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    const char *name = ch == '?' ? "" : longs[0].name;
    for (const struct option *o = longs; o->name; o++) if (o->val == ch) name = o->name;
    switch (ch) {
    case 'd': opt.drops = (int)parse_num(name, optarg, 0, 1000000); break;
    case 'i': opt.interval_ms = (int)parse_num(name, optarg, 10, 3600000); break;
    case 'q': opt.qd = (int)parse_num(name, optarg, 1, MAX_QD); break;
    case 'c': opt.connections = (int)parse_num(name, optarg, 2, 32); break;
    case 'b': opt.blocks = (uint32_t)parse_num(name, optarg, MAX_EXTENT * MAX_QD, 1 << 20); break;
    case 'l': opt.first_lba = (uint64_t)parse_num(name, optarg, 0, 1L << 40); break;
    case 'w': opt.write_pct = (int)parse_num(name, optarg, 0, 100); break;
    case 'r': opt.rss_after = (int)parse_num(name, optarg, 1, 1000000); break;
    case 'p': opt.rss_slack_pct = (double)parse_num(name, optarg, 0, 1000); break;
    case 't': opt.stall_s = (int)parse_num(name, optarg, 5, 3600); break;
    case 's': opt.seed = (unsigned)parse_num(name, optarg, 0, 0x7fffffff); break;
    case 'v': opt.verbose = 1; break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "mcsi-soak: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    exit(2);
  }
}

/* ---- clock, environment, RSS ---------------------------------------------------------------- */

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *env(const char *name)
{
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "mcsi-soak: %s is not set (run under tests/harness/with-targets)\n", name);
    exit(2);
  }
  return v;
}

/* Resident set size in bytes, from /proc/self/statm (second field, pages). */
static uint64_t rss_bytes(void)
{
  unsigned long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  fclose(f);
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

/* ---- blocks: pattern, header, check ---------------------------------------------------------- */

typedef struct block_hdr {
  uint32_t magic, sum;               /* sum covers every byte after itself */
  uint64_t block;                    /* index in the region */
  uint64_t run;                      /* this run's id */
  uint64_t gen;                      /* the write that put it there */
} block_hdr;

enum verdict { BLOCK_OK, BLOCK_CORRUPT, BLOCK_LOST };

static uint64_t run_id;

static uint32_t block_sum(const uint8_t *b)
{
  uint64_t s = 0x9e3779b97f4a7c15ull, w;
  for (size_t i = 8; i < BLOCK; i += 8) {
    memcpy(&w, b + i, 8);
    s = (s ^ w) * 0x100000001b3ull;
    s ^= s >> 29;
  }
  return (uint32_t)(s ^ s >> 32);
}

static void make_block(uint8_t *b, uint64_t block, uint64_t gen)
{
  block_hdr h = { MAGIC, 0, block, run_id, gen };
  uint64_t x = (block + 1) * 0x9e3779b97f4a7c15ull ^ gen * 0xc2b2ae3d27d4eb4full ^ run_id;
  for (size_t i = sizeof h; i < BLOCK; i += 8) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    memcpy(b + i, &x, 8);
  }
  memcpy(b, &h, sizeof h);
  h.sum = block_sum(b);
  memcpy(b, &h, sizeof h);
}

static int all_zero(const uint8_t *b)
{
  for (size_t i = 0; i < BLOCK; i++) if (b[i]) return 0;
  return 1;
}

/* acked: the last acknowledged generation (0: never written); doubt: the
 * newest failed write since then (0: none). A failed write may or may not
 * have reached the disk, so any generation in (acked, doubt] is accepted. */
static enum verdict check_block(const uint8_t *b, uint64_t block, uint64_t acked, uint64_t doubt)
{
  if (all_zero(b)) return acked ? BLOCK_LOST : BLOCK_OK;
  block_hdr h;
  memcpy(&h, b, sizeof h);
  if (h.magic != MAGIC || h.sum != block_sum(b) || h.block != block || h.run != run_id) return BLOCK_CORRUPT;
  if (h.gen == acked || (h.gen > acked && h.gen <= doubt)) return BLOCK_OK;
  return h.gen < acked ? BLOCK_LOST : BLOCK_CORRUPT;
}

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct slot {
  int write;
  uint32_t first, n;                 /* blocks [first, first + n) */
  uint64_t gen;
  uint8_t *buf;
} slot;

typedef struct counters {
  uint64_t writes, reads, failed, submit_failed, corrupt, lost, blocks_checked;
  uint64_t conn_lost_events, recovering_events, session_failed_events;
  uint64_t adds, add_failures, drop_errors, unnoticed;
  int drops;
  double longest_gap_s;
} counters;

static mcsi_initiator *ini;
static mcsi_id sid;
static char portal[2][64];
static uint32_t block_size, lbas_per_block;
static uint64_t *acked, *doubt, next_gen;
static uint8_t *busy;
static slot slots[MAX_QD];
static int inflight, stopping;
static counters K;
static double last_completion;
static mcsi_status first_failure;
static volatile sig_atomic_t interrupted;           /* SIGINT/SIGTERM: stop, still report */
static char first_failure_msg[256];

static uint32_t rnd(uint32_t n) { return (uint32_t)((uint64_t)(unsigned)rand() * n / ((uint64_t)RAND_MAX + 1)); }

static void note_failure(mcsi_status st, const char *what, const slot *s)
{
  if (!first_failure) {
    first_failure = st;
    snprintf(first_failure_msg, sizeof first_failure_msg, "%s of blocks %u+%u: %s: %s", what, s->first, s->n,
             mcsi_status_name(st), mcsi_last_message(ini));
  }
  if (opt.verbose || K.failed + K.submit_failed <= 10)
    fprintf(stderr, "mcsi-soak: %s of blocks %u+%u failed: %s: %s\n", what, s->first, s->n, mcsi_status_name(st),
            mcsi_last_message(ini));
}

static void report_block(enum verdict v, uint32_t block, const char *when, const uint8_t *b)
{
  if (v == BLOCK_CORRUPT) K.corrupt++;
  if (v == BLOCK_LOST) K.lost++;
  if (K.corrupt + K.lost > 20) return;
  block_hdr h;
  memcpy(&h, b, sizeof h);
  fprintf(stderr, "mcsi-soak: %s: block %u %s (acknowledged generation %llu, doubtful %llu): found magic %s, checksum %s, "
          "block %llu, run %s, generation %llu%s\n", when, block, v == BLOCK_CORRUPT ? "corrupt" : "lost its acknowledged write",
          (unsigned long long)acked[block], (unsigned long long)doubt[block], h.magic == MAGIC ? "ok" : "bad",
          h.sum == block_sum(b) ? "ok" : "bad", (unsigned long long)h.block, h.run == run_id ? "ours" : "foreign",
          (unsigned long long)h.gen, all_zero(b) ? " (all zero)" : "");
}

/* ---- the load: QD commands, each on 1..MAX_EXTENT free blocks --------------------------------- */

static void submit(slot *s);

static void io_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  slot *s = arg;
  double t = now_s();
  (void)res;
  inflight--;
  if (t - last_completion > K.longest_gap_s) K.longest_gap_s = t - last_completion;
  last_completion = t;
  for (uint32_t i = 0; i < s->n; i++) {
    uint32_t b = s->first + i;
    if (st) {
      if (s->write) doubt[b] = s->gen;
    } else if (s->write) {
      acked[b] = s->gen;
      doubt[b] = 0;
    } else {
      enum verdict v = check_block(s->buf + (size_t)i * BLOCK, b, acked[b], doubt[b]);
      K.blocks_checked++;
      if (v != BLOCK_OK) report_block(v, b, "read-verify", s->buf + (size_t)i * BLOCK);
    }
    busy[b] = 0;
  }
  if (st) {
    K.failed++;
    note_failure(st, s->write ? "write" : "read", s);
  }
  if (!stopping) submit(s);
}

/* A run of free blocks: a random start, as long as a random length allows. */
static int pick_extent(slot *s)
{
  for (int tries = 0; tries < 64; tries++) {
    uint32_t first = rnd(opt.blocks), want = 1 + rnd(MAX_EXTENT), n = 0;
    while (n < want && first + n < opt.blocks && !busy[first + n]) n++;
    if (!n) continue;
    s->first = first;
    s->n = n;
    return 0;
  }
  return -1;
}

static void submit(slot *s)
{
  if (pick_extent(s)) return;
  s->write = (int)rnd(100) < opt.write_pct;
  uint64_t lba = opt.first_lba + (uint64_t)s->first * lbas_per_block;
  size_t len = (size_t)s->n * BLOCK;
  mcsi_status st;
  if (s->write) {
    s->gen = ++next_gen;
    for (uint32_t i = 0; i < s->n; i++) make_block(s->buf + (size_t)i * BLOCK, s->first + i, s->gen);
    st = mcsi_write_async(ini, sid, 1, lba, block_size, s->buf, len, MCSI_COMPLETION(io_done, s));
    K.writes++;
  } else {
    st = mcsi_read_async(ini, sid, 1, lba, block_size, s->buf, len, MCSI_COMPLETION(io_done, s));
    K.reads++;
  }
  if (st) {
    K.submit_failed++;
    note_failure(st, s->write ? "submit write" : "submit read", s);
    return;
  }
  for (uint32_t i = 0; i < s->n; i++) busy[s->first + i] = 1;
  inflight++;
}

/* ---- events: lost connections are noted, the loop adds them back ------------------------------ */

static void on_event(mcsi_initiator *i, const mcsi_event *ev, void *arg)
{
  (void)i; (void)arg;
  if (ev->session_id != sid) return;
  if (ev->kind == MCSI_EV_CONN_FAILED) K.conn_lost_events++;
  if (ev->kind == MCSI_EV_SESSION_RECOVERING) K.recovering_events++;
  if (ev->kind == MCSI_EV_SESSION_FAILED) K.session_failed_events++;
  if (opt.verbose)
    fprintf(stderr, "mcsi-soak: event %s connection %llu %s: %s\n", mcsi_event_name(ev->kind),
            (unsigned long long)ev->connection_id, mcsi_status_name(ev->status), ev->reason ? ev->reason : "");
}

static mcsi_session_info *info;   /* the last snapshot (NULL: none; its keys read 0 / NULL) */

static void refresh_info(void)
{
  mcsi_session_info_free(info);
  info = NULL;
  mcsi_session_get_info(ini, sid, &info);
}

/* A state, "" when there is no snapshot. */
static const char *info_state(void)
{
  const char *s = mcsi_session_info_get_string(info, MCSI_SI_STATE);
  return s ? s : "";
}

static int active_count(void)
{
  int n = 0;
  for (size_t i = 0; i < mcsi_session_info_connection_count(info); i++) n += !strcmp(mcsi_conn_info_get_string(mcsi_session_info_connection(info, i), MCSI_CI_STATE), "active");
  return n;
}

/* The portal with fewer connections on it, so that both stay in use. */
static const char *emptier_portal(void)
{
  int on2 = 0;
  for (size_t i = 0; i < mcsi_session_info_connection_count(info); i++)
    on2 += !strncmp(mcsi_conn_info_get_string(mcsi_session_info_connection(info, i), MCSI_CI_REMOTE_ADDR), "127.0.0.2", 9);
  return on2 * 2 < (int)mcsi_session_info_get(info, MCSI_SI_CONNECTION_COUNT) ? portal[1] : portal[0];
}

static double add_retry_at;

/* Adds connections back up to opt.connections (blocking, the I/O goes on
 * meanwhile); a failed add is tried again 200 ms later. */
static void keep_connections(void)
{
  refresh_info();
  if (strcmp(info_state(), "active") || (int)mcsi_session_info_get(info, MCSI_SI_CONNECTION_COUNT) >= opt.connections || now_s() < add_retry_at) return;
  const char *via = emptier_portal();
  mcsi_conn_opts *o = mcsi_conn_opts_new();
  mcsi_id cid;
  mcsi_status st = o ? mcsi_conn_opts_set_string(o, MCSI_OPT_PORTAL, via) : ISDSC_OUT_OF_RESOURCES;
  if (!st) st = mcsi_add_connection_to_session(ini, sid, o, &cid);
  mcsi_conn_opts_free(o);
  if (st == ISDSC_SUCCESS) {
    K.adds++;
    return;
  }
  K.add_failures++;
  add_retry_at = now_s() + 0.2;
  if (opt.verbose || K.add_failures <= 10)
    fprintf(stderr, "mcsi-soak: add connection via %s: %s: %s\n", via, mcsi_status_name(st), mcsi_last_message(ini));
}

/* ---- progress and the end -------------------------------------------------------------------- */

static double t_start;
static uint64_t rss_base, rss_start;
static int rss_base_drops;

static void progress(void)
{
  refresh_info();
  fprintf(stderr, "mcsi-soak: %d/%d drops, %llu commands, %llu re-issued, %u recoveries, %zu connections, RSS %.1f MiB, %.0f s\n",
          K.drops, opt.drops, (unsigned long long)(K.writes + K.reads), (unsigned long long)mcsi_session_info_get(info, MCSI_SI_COMMANDS_RETRIED),
          (unsigned)mcsi_session_info_get(info, MCSI_SI_RECOVERIES), (size_t)mcsi_session_info_get(info, MCSI_SI_CONNECTION_COUNT), mib(rss_bytes()), now_s() - t_start);
}

/* ---- the dropper: one tgtadm at a time, never blocking the loop -------------------------------- */

static pid_t dropper_pid;
static double next_drop_at;

static pid_t spawn_tgtadm_drop(uint16_t tsih, uint16_t cid)
{
  static const char *const fixed[] = { "tgtadm", "-C", "0", "--lld", "iscsi", "--op", "delete", "--mode", "conn",
                                       "--tid", "1", "--sid", NULL, "--cid", NULL };
  enum { NWORDS = sizeof fixed / sizeof fixed[0] };
  static char words[NWORDS + 2][320];
  char *argv[NWORDS + 1], *envp[3];
  unsigned tgt_sid = (uint16_t)(tsih >> 8 | tsih << 8);   /* tgtadm shows the TSIH byte-swapped */
  for (size_t i = 0; i < NWORDS; i++) {
    if (fixed[i]) snprintf(words[i], sizeof words[i], "%s", fixed[i]);
    else snprintf(words[i], sizeof words[i], "%u", i == 12 ? tgt_sid : (unsigned)cid);
    argv[i] = words[i];
  }
  argv[NWORDS] = NULL;
  snprintf(words[NWORDS], sizeof words[0], "TGT_IPC_SOCKET=%s", env("MCSI_TGT_IPC"));
  snprintf(words[NWORDS + 1], sizeof words[0], "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  envp[0] = words[NWORDS];
  envp[1] = words[NWORDS + 1];
  envp[2] = NULL;
  pid_t pid = -1;
  if (posix_spawnp(&pid, "tgtadm", NULL, NULL, argv, envp)) return -1;
  return pid;
}

/* Drops one live connection once the interval is over, the previous drop
 * has finished and was seen by the initiator (a CONN_FAILED event), and the
 * session is back to opt.connections. A drop not seen within 10 s counts as
 * unnoticed. */
static uint64_t lost_events_wanted;
static double seen_deadline;

static void dropper_step(void)
{
  if (dropper_pid > 0) {
    int ws = 0;
    pid_t r = waitpid(dropper_pid, &ws, WNOHANG);
    if (r == 0) return;
    dropper_pid = 0;
    if (r > 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
      K.drops++;
      seen_deadline = now_s() + 10;
      if (K.drops == opt.drops || K.drops % 50 == 0) progress();
    } else {
      K.drop_errors++;
      lost_events_wanted = 0;
    }
    next_drop_at = now_s() + opt.interval_ms / 1000.0;
    return;
  }
  if (lost_events_wanted && K.conn_lost_events < lost_events_wanted) {
    if (now_s() < seen_deadline) return;
    K.unnoticed++;
    fprintf(stderr, "mcsi-soak: drop %d not seen by the initiator within 10 s\n", K.drops);
  }
  lost_events_wanted = 0;
  if (K.drops >= opt.drops || now_s() < next_drop_at) return;
  refresh_info();
  if (strcmp(info_state(), "active") || active_count() < opt.connections) return;
  const mcsi_conn_info *victim = mcsi_session_info_connection(info, rnd((uint32_t)mcsi_session_info_get(info, MCSI_SI_CONNECTION_COUNT)));
  if (strcmp(mcsi_conn_info_get_string(victim, MCSI_CI_STATE), "active")) return;
  lost_events_wanted = K.conn_lost_events + 1;
  dropper_pid = spawn_tgtadm_drop(mcsi_session_info_get(info, MCSI_SI_TSIH), mcsi_conn_info_get(victim, MCSI_CI_CID));
  if (dropper_pid < 0) {
    dropper_pid = 0;
    lost_events_wanted = 0;
    K.drop_errors++;
    next_drop_at = now_s() + opt.interval_ms / 1000.0;
  }
}

/* ---- set-up, run, read back ------------------------------------------------------------------------ */

static void die(const char *what, mcsi_status st)
{
  fprintf(stderr, "mcsi-soak: %s: %s: %s\n", what, mcsi_status_name(st), mcsi_last_message(ini));
  exit(1);
}

/* Every buffer and map is allocated and touched here, so that RSS later
 * measures the initiator, not pages of ours faulted in on first use. */
static uint8_t *readback;

static void *alloc_touched(size_t n)
{
  uint8_t *p = malloc(n);
  if (!p) { fprintf(stderr, "mcsi-soak: out of memory (%zu bytes)\n", n); exit(1); }
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)i;
  memset(p, 0, n);
  return p;
}

static void setup(void)
{
  acked = alloc_touched(opt.blocks * sizeof *acked);
  doubt = alloc_touched(opt.blocks * sizeof *doubt);
  busy = alloc_touched(opt.blocks);
  readback = alloc_touched((size_t)READBACK_BLOCKS * BLOCK);
  for (int i = 0; i < opt.qd; i++) slots[i].buf = alloc_touched((size_t)MAX_EXTENT * BLOCK);
  snprintf(portal[0], sizeof portal[0], "127.0.0.1:%s", env("MCSI_TGT_PORT"));
  snprintf(portal[1], sizeof portal[1], "127.0.0.2:%s", env("MCSI_TGT_PORT"));
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:soak");
  if (!ini) { fprintf(stderr, "mcsi-soak: mcsi_initiator_new failed\n"); exit(1); }
  mcsi_set_event_callback(ini, on_event, NULL);
  mcsi_login_opts *o = mcsi_login_opts_new();
  mcsi_status st = o ? mcsi_login_opts_set_string(o, MCSI_OPT_PORTAL, portal[0]) : ISDSC_OUT_OF_RESOURCES;
  if (!st) st = mcsi_login_opts_set_string(o, MCSI_OPT_TARGET, env("MCSI_TGT_IQN_PLAIN"));
  if (!st) st = mcsi_login_opts_set_int(o, MCSI_OPT_MAX_CONNECTIONS, opt.connections);
  if (!st) st = mcsi_login_to_target(ini, o, &sid, NULL);
  mcsi_login_opts_free(o);
  if (st) die("login", st);
  mcsi_scsi_test_unit_ready(ini, sid, 1);          /* takes the new session's UNIT ATTENTION */
  mcsi_capacity cap = { .struct_size = sizeof cap };
  if ((st = mcsi_scsi_read_capacity(ini, sid, 1, &cap))) die("READ CAPACITY", st);
  if (!cap.block_size || BLOCK % cap.block_size) {
    fprintf(stderr, "mcsi-soak: LUN 1 has %u-byte blocks, 4096 is not a multiple\n", cap.block_size);
    exit(1);
  }
  block_size = cap.block_size;
  lbas_per_block = BLOCK / block_size;
  if (opt.first_lba + (uint64_t)opt.blocks * lbas_per_block > cap.blocks) {
    fprintf(stderr, "mcsi-soak: region of %u blocks at LBA %llu exceeds LUN 1 (%llu LBAs)\n", opt.blocks,
            (unsigned long long)opt.first_lba, (unsigned long long)cap.blocks);
    exit(2);
  }
  for (int tries = 0; tries < 50; tries++) {
    refresh_info();
    if ((int)mcsi_session_info_get(info, MCSI_SI_CONNECTION_COUNT) >= opt.connections) break;
    keep_connections();
    if (add_retry_at > now_s()) mcsi_process(ini, 200);
  }
  if ((int)mcsi_session_info_get(info, MCSI_SI_CONNECTION_COUNT) < opt.connections) die("could not reach the wanted number of connections", ISDSC_CONNECTION_FAILED);
}

/* No completion for 5 s: what the session looks like (once per stall). */
static int stall_reported;

static void stall_report(void)
{
  stall_reported = 1;
  refresh_info();
  fprintf(stderr, "mcsi-soak: stall: nothing completed for %.1f s, %d in flight; session %s, CmdSN %u ExpCmdSN %u MaxCmdSN %u\n",
          now_s() - last_completion, inflight, mcsi_session_info_get_string(info, MCSI_SI_STATE), (unsigned)mcsi_session_info_get(info, MCSI_SI_CMDSN), (unsigned)mcsi_session_info_get(info, MCSI_SI_EXP_CMDSN), (unsigned)mcsi_session_info_get(info, MCSI_SI_MAX_CMDSN));
  for (size_t i = 0; i < mcsi_session_info_connection_count(info); i++)
    fprintf(stderr, "mcsi-soak: stall:   connection %llu CID %u %s%s via %s: %u queued, %llu commands\n",
            (unsigned long long)mcsi_conn_info_get(mcsi_session_info_connection(info, i), MCSI_CI_ID), (unsigned)mcsi_conn_info_get(mcsi_session_info_connection(info, i), MCSI_CI_CID), mcsi_conn_info_get_string(mcsi_session_info_connection(info, i), MCSI_CI_STATE),
            (unsigned)mcsi_conn_info_get(mcsi_session_info_connection(info, i), MCSI_CI_LEADING) ? " (leading)" : "", mcsi_conn_info_get_string(mcsi_session_info_connection(info, i), MCSI_CI_PORTAL), (unsigned)mcsi_conn_info_get(mcsi_session_info_connection(info, i), MCSI_CI_QUEUE_DEPTH),
            (unsigned long long)mcsi_conn_info_get(mcsi_session_info_connection(info, i), MCSI_CI_COMMANDS));
}

static void run(void)
{
  t_start = last_completion = now_s();
  next_drop_at = t_start + opt.interval_ms / 1000.0;
  for (int i = 0; i < opt.qd; i++) submit(&slots[i]);
  rss_start = rss_bytes();
  rss_base_drops = opt.rss_after < opt.drops ? opt.rss_after : opt.drops;
  while ((K.drops < opt.drops || dropper_pid > 0) && !interrupted) {
    mcsi_process(ini, 5);
    dropper_step();
    keep_connections();
    if (!rss_base && K.drops >= rss_base_drops) rss_base = rss_bytes();
    if (inflight && now_s() - last_completion > 5 && !stall_reported) stall_report();
    if (now_s() - last_completion < 1) stall_reported = 0;
    if (inflight && now_s() - last_completion > opt.stall_s) {
      fprintf(stderr, "mcsi-soak: no command completed for %d s, %d in flight: giving up\n", opt.stall_s, inflight);
      break;
    }
    if (!inflight && !stopping) {                /* every submit failed: nothing drives the load */
      fprintf(stderr, "mcsi-soak: no command in flight any more: giving up\n");
      break;
    }
    if (K.session_failed_events) {
      fprintf(stderr, "mcsi-soak: the session failed: giving up\n");
      break;
    }
  }
  stopping = 1;
  double end = now_s() + opt.stall_s;
  while (inflight && now_s() < end && !interrupted) {
    mcsi_process(ini, 50);
    if (now_s() - last_completion > 5 && !stall_reported) stall_report();
  }
  if (dropper_pid > 0) waitpid(dropper_pid, NULL, 0);
  for (double until = now_s() + 10; now_s() < until && !interrupted; mcsi_process(ini, 20)) {   /* the read-back on every path */
    keep_connections();
    if (active_count() >= opt.connections) break;
  }
}

/* Reads the whole region back and checks every block against the map,
 * one READ at a time, each given opt.stall_s to complete: a session that
 * stopped answering ends the read-back (the rest counts as not checked). */
static uint64_t final_checked, final_read_errors;
static int readback_done;
static mcsi_status readback_st;

static void readback_cb(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  (void)res; (void)arg;
  readback_st = st;
  readback_done = 1;
}

static void read_back(void)
{
  for (uint32_t b = 0; b < opt.blocks && !interrupted; b += READBACK_BLOCKS) {
    uint32_t n = opt.blocks - b < READBACK_BLOCKS ? opt.blocks - b : READBACK_BLOCKS;
    slot s = { .first = b, .n = n };
    readback_done = 0;
    mcsi_status st = mcsi_read_async(ini, sid, 1, opt.first_lba + (uint64_t)b * lbas_per_block, block_size, readback,
                                     (size_t)n * BLOCK, MCSI_COMPLETION(readback_cb, NULL));
    double end = now_s() + opt.stall_s;
    while (!st && !readback_done && now_s() < end && !interrupted) mcsi_process(ini, 50);
    if (!st && !readback_done) {
      fprintf(stderr, "mcsi-soak: final read-back: a READ got no answer within %d s: stopping the read-back\n", opt.stall_s);
      K.failed++;
      return;
    }
    if (!st) st = readback_st;
    if (st) {
      final_read_errors++;
      K.failed++;
      note_failure(st, "final read", &s);
      continue;
    }
    for (uint32_t i = 0; i < n; i++) {
      enum verdict v = check_block(readback + (size_t)i * BLOCK, b + i, acked[b + i], doubt[b + i]);
      final_checked++;
      if (v != BLOCK_OK) report_block(v, b + i, "final read-back", readback + (size_t)i * BLOCK);
    }
  }
}

static int criterion(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int criterion(int ok, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  printf("%s ", ok ? "PASS" : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  return ok;
}

static int summary(double elapsed, uint64_t rss_end)
{
  refresh_info();
  uint64_t written = 0;
  for (uint32_t b = 0; b < opt.blocks; b++) written += acked[b] != 0;
  printf("soak: %d drops in %.0f s (interval %d ms, seed %u), %llu commands (%llu writes, %llu reads, %.0f per second) at QD %d over %d connections\n",
         K.drops, elapsed, opt.interval_ms, opt.seed, (unsigned long long)(K.writes + K.reads), (unsigned long long)K.writes,
         (unsigned long long)K.reads, (double)(K.writes + K.reads) / (elapsed > 0 ? elapsed : 1), opt.qd, opt.connections);
  printf("soak: %llu commands re-issued, %u recoveries (reinstatements), %llu connection failures seen, %llu connections added back (%llu adds failed), %llu tgtadm errors\n",
         (unsigned long long)mcsi_session_info_get(info, MCSI_SI_COMMANDS_RETRIED), (unsigned)mcsi_session_info_get(info, MCSI_SI_RECOVERIES), (unsigned long long)K.conn_lost_events,
         (unsigned long long)K.adds, (unsigned long long)K.add_failures, (unsigned long long)K.drop_errors);
  printf("soak: %llu blocks verified during the run, %u blocks read back at the end (%llu of them written), longest gap between completions %.0f ms, session %s with %zu connections\n",
         (unsigned long long)K.blocks_checked, opt.blocks, (unsigned long long)written, K.longest_gap_s * 1000,
         mcsi_session_info_get_string(info, MCSI_SI_STATE), (size_t)mcsi_session_info_get(info, MCSI_SI_CONNECTION_COUNT));
  printf("soak: RSS %.2f MiB at start, %.2f MiB after %d drops, %.2f MiB at the end\n", mib(rss_start), mib(rss_base),
         rss_base_drops, mib(rss_end));
  if (first_failure) printf("soak: first failure: %s\n", first_failure_msg);
  if (interrupted) printf("soak: interrupted by a signal: the figures are partial\n");
  int ok = 1;
  ok &= !interrupted;
  ok &= criterion(K.drops == opt.drops && !K.unnoticed, "drops: %d of %d done from the target side, %llu not seen by the initiator",
                  K.drops, opt.drops, (unsigned long long)K.unnoticed);
  ok &= criterion(!K.failed && !K.submit_failed && !inflight && !K.session_failed_events,
                  "failed commands: %llu (and %llu refused at submission, %d never completed, %llu session failures)",
                  (unsigned long long)K.failed, (unsigned long long)K.submit_failed, inflight,
                  (unsigned long long)K.session_failed_events);
  ok &= criterion(!K.corrupt && final_checked == opt.blocks, "corrupt blocks: %llu (%llu blocks checked, %llu at the end)",
                  (unsigned long long)K.corrupt, (unsigned long long)(K.blocks_checked + final_checked),
                  (unsigned long long)final_checked);
  ok &= criterion(!K.lost, "lost acknowledged writes: %llu", (unsigned long long)K.lost);
  double growth = rss_base ? 100.0 * ((double)rss_end - (double)rss_base) / (double)rss_base : 1e9;
  ok &= criterion(rss_base && growth <= opt.rss_slack_pct, "RSS: %.2f MiB at the end vs %.2f MiB after %d drops (%+.1f%%, limit %+.0f%%)",
                  mib(rss_end), mib(rss_base), rss_base_drops, growth, opt.rss_slack_pct);
  printf("soak: %s\n", ok ? "PASS" : "FAIL");
  return ok;
}

static void on_signal(int sig) { (void)sig; interrupted = 1; }

int main(int argc, char **argv)
{
  parse_options(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  srand(opt.seed);
  run_id = ((uint64_t)opt.seed << 32) ^ (uint64_t)getpid() ^ (uint64_t)time(NULL) << 12;
  setup();
  fprintf(stderr, "mcsi-soak: %d drops every %d ms, QD %d, %d connections, %u blocks of 4 KiB at LBA %llu, seed %u\n",
          opt.drops, opt.interval_ms, opt.qd, opt.connections, opt.blocks, (unsigned long long)opt.first_lba, opt.seed);
  run();
  double elapsed = now_s() - t_start;
  read_back();
  uint64_t rss_end = rss_bytes();
  int ok = summary(elapsed, rss_end);
  mcsi_status st = mcsi_logout_from_target(ini, sid);
  if (st) printf("soak: logout: %s: %s\n", mcsi_status_name(st), mcsi_last_message(ini));
  mcsi_session_info_free(info);
  mcsi_initiator_free(ini);
  return ok ? 0 : 1;
}
