/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fake_target.c: a scripted fake iSCSI target (see fake_target.h).
 *
 * One thread, one poll() loop over a wake pipe, the listening socket and up
 * to FAKE_MAX_CONNS connections.  Every socket is non-blocking; output goes
 * through a per-connection queue flushed on POLLOUT, so a peer that stops
 * reading never blocks the thread.  Each connection is its own session
 * (MaxConnections is answered with 1), unless opts.mcs lets logins join. */
#include "fake_target.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pdu.h"
#include "text.h"

#define FAKE_MAX_CONNS 48           /* test_info_many: more than the 32 of the old fixed-size session info */
#define FAKE_MAX_TASKS 32
#define FAKE_BLOCK 512u
#define FAKE_QUEUE 32u                /* MaxCmdSN = ExpCmdSN + FAKE_QUEUE - 1 */
#define FAKE_MAX_RX (2u << 20)        /* largest AHS + data segment we accept */
#define FAKE_POLL_MS 50
#define FAKE_LINGER_MS 2000           /* a closing connection waits this long for EOF */
#define FAKE_JUNK_CHUNK 65536u
#define FAKE_JUNK_PACE_MS 10         /* one junk chunk per this many ms */
#define FAKE_PDUS_PER_WAKE 64
#define FAKE_IQN "iqn.2026-11.org.mcsi:fake-target"
#define FAKE_FOREIGN_ITT 0x0badf00du  /* a tag the initiator never used */
#define FAKE_R2T_FLOOD_COUNT 1000
#define FAKE_FLOOD_PENDING (256u * 1024)  /* NOP_FLOOD: refill below this many queued bytes */
#define FAKE_TEXT_CHUNK 4096u
#define FAKE_ADV_RING 64u             /* responses whose MaxCmdSN is remembered */
#define FAKE_MAX_SESS 16              /* sessions whose CmdSN state is kept */

/* SCSI opcodes and statuses the disk knows. */
enum {
  FAKE_TUR = 0x00, FAKE_INQUIRY = 0x12, FAKE_READ_CAP10 = 0x25, FAKE_READ10 = 0x28,
  FAKE_WRITE10 = 0x2a, FAKE_SYNC10 = 0x35, FAKE_READ16 = 0x88, FAKE_WRITE16 = 0x8a,
  FAKE_SYNC16 = 0x91, FAKE_SAI16 = 0x9e, FAKE_REPORT_LUNS = 0xa0, FAKE_UNMAP = 0x42
};
enum { FAKE_GOOD = 0x00, FAKE_CHECK = 0x02, FAKE_BUSY = 0x08, FAKE_TASK_SET_FULL = 0x28 };
enum { FAKE_ILLEGAL_REQUEST = 0x05, FAKE_MEDIUM_ERROR = 0x03, FAKE_UNIT_ATTENTION = 0x06, FAKE_ABORTED_COMMAND = 0x0b };

/* Bytes queued for sending: p[off..len). */
typedef struct fake_buf {
  uint8_t *p;
  size_t off, len, cap;
} fake_buf;

/* A WRITE waiting for its data. */
typedef struct fake_task {
  int used;
  uint32_t itt;
  uint64_t lun;
  uint64_t base;          /* byte offset on the disk */
  uint32_t len;           /* bytes the target takes: min(CDB transfer length, EDTL) */
  uint32_t xfer, edtl;
  uint32_t received;
  int unsol_done;         /* no (more) unsolicited Data-Out will come */
  int r2t_active;
  uint32_t ttt, r2t_len, r2t_got, r2tsn;
} fake_task;

typedef struct fake_target fake_target;

/* The session-wide command numbers of one session (RFC 7143 4.2.2.1). */
typedef struct fake_sess {
  int used;
  uint16_t tsih;
  int window;             /* as fake_conn.window */
  uint32_t expcmdsn;      /* in order: the first CmdSN not received yet */
  uint64_t ahead;         /* bit i: CmdSN expcmdsn + 1 + i was received (a hole before it) */
  uint32_t max_adv;       /* the highest MaxCmdSN sent on any of its connections */
} fake_sess;

typedef struct fake_conn {
  fake_target *ft;
  int fd;
  int ffp;                /* in Full Feature Phase */
  int stage;              /* current login stage */
  int mute;               /* read and discard everything, answer nothing */
  int closing, shut;      /* close once flushed; SHUT_WR done */
  int64_t deadline;       /* closing: drop at this time (ms) */
  uint8_t hdr[MCSI_BHS_LEN];
  size_t hdr_got;
  uint8_t *rx;            /* AHS + padded data of the PDU being read */
  size_t rx_need, rx_got;
  fake_buf out;
  size_t junk_left;       /* junk bytes still to stream after out */
  int64_t junk_next;      /* the next junk chunk goes out at this time (ms) */
  uint8_t *login_text;    /* Login Request data with C=1, accumulated */
  size_t login_text_len;
  int responses;          /* Login Responses sent */
  int mrdsl_sent, auth_ok, discovery;
  uint32_t statsn, expcmdsn;
  uint8_t isid[6];
  uint16_t tsih;
  uint32_t peer_mrdsl;    /* the initiator's MaxRecvDataSegmentLength */
  int initial_r2t, immediate_data;
  uint32_t first_burst, max_burst;
  unsigned cmds;          /* SCSI commands on this connection */
  unsigned number;        /* 1 for the first connection accepted, 2 for the next... */
  uint32_t next_ttt;
  int window;             /* cmd_window or later_window, see fake_target_opts */
  uint32_t adv_statsn[FAKE_ADV_RING], adv_max[FAKE_ADV_RING];  /* MaxCmdSN sent with StatSN */
  int adv_count;
  int joined;             /* logged in with the TSIH of an existing session (opts.mcs) */
  int joining;            /* its Login Request carried a TSIH */
  uint16_t cid;
  fake_sess *sess;        /* session-wide numbers, from full feature phase on */
  int64_t drop_at;        /* dropped at this time (ms), 0: not */
  int reset_after_flush;  /* JOIN_RESET: RST once the output is out */
  int split_done;         /* SPLIT_DATA_IN: one READ was split */
  fake_buf held;          /* SPLIT_DATA_IN: the rest of that Data-In */
  uint32_t flood_ttt;     /* NOP_FLOOD: TTT of the last NOP-In */
  fake_task tasks[FAKE_MAX_TASKS];
} fake_conn;

struct fake_target {
  fake_target_opts o;
  int lfd, wake[2];
  uint16_t port;
  char portal[32];
  pthread_t thread;
  int started;
  atomic_int stop;
  atomic_uint n_conns, n_logins, n_sessions, n_cmds, n_nops, n_logouts, n_r2ts, n_dataouts;
  atomic_uint n_window_violations, n_reserved_violations, n_resets, n_eofs;
  unsigned dropped;       /* DROP_MID_IO: connections dropped so far */
  atomic_uint n_mcs_cmds;
  atomic_uint n_io_cmds, n_storm_answers, n_rw, n_fua, n_dpo, max_rw_blocks, storm_left;
  atomic_uint n_sync, n_unmap;
  atomic_int storm;
  fake_sess sess[FAKE_MAX_SESS];
  int async_done;         /* the Asynchronous Message went out */
  fake_conn *async_conn;  /* the connection it went out on (while it lives) */
  uint32_t async_statsn;  /* the StatSN it carried */
  pthread_mutex_t log_lock;
  fake_async_log log;
  uint8_t *disk;
  uint16_t next_tsih;
  uint32_t next_statsn;
  fake_conn *conns[FAKE_MAX_CONNS];
};

static const char *const fake_names[FAKE_SCENARIO_COUNT] = {
  "NORMAL", "LOGIN_NEVER_ANSWERS", "LOGIN_GARBAGE_KEYS", "LOGIN_BAD_STATUS",
  "LOGIN_REDIRECT_LOOP", "MALFORMED_BHS", "OVERSIZED_DSL", "UNKNOWN_ITT", "DROP_MID_IO",
  "NEVER_ANSWERS_COMMAND", "REJECT_COMMAND", "CHECK_CONDITION", "SHORT_DATA_IN",
  "TRUNCATED_PDU", "LOGOUT_STRAY_DATA_IN", "SPLIT_DATA_IN", "JOIN_RESET", "BAD_SENDTARGETS",
  "NOP_FLOOD", "R2T_FLOOD", "TEXT_FOREVER", "BAD_RESIDUAL", "LOGIN_TSIH_ZERO", "LOGOUT_REJECTED", "JOINED_SWALLOWS"
};

const char *fake_scenario_name(fake_scenario scenario)
{
  if ((unsigned)scenario >= FAKE_SCENARIO_COUNT)
    return "?";
  return fake_names[scenario];
}

static int64_t fake_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t fake_min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

static uint64_t fake_be64(const uint8_t *p)
{
  return (uint64_t)mcsi_be32(p) << 32 | mcsi_be32(p + 4);
}

static void fake_put64(uint8_t *p, uint64_t v)
{
  mcsi_put32(p, (uint32_t)(v >> 32));
  mcsi_put32(p + 4, (uint32_t)v);
}

/* ---- Output queue ---------------------------------------------------------- */

/* Appends n bytes: a copy of p, or junk (0xa5) when p is NULL. */
static int fake_buf_put(fake_buf *b, const void *p, size_t n)
{
  if (b->off == b->len)
    b->off = b->len = 0;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    uint8_t *np;
    while (cap < b->len + n)
      cap *= 2;
    np = realloc(b->p, cap);
    if (!np)
      return -1;
    b->p = np;
    b->cap = cap;
  }
  if (p)
    memcpy(b->p + b->len, p, n);
  else
    memset(b->p + b->len, 0xa5, n);
  b->len += n;
  return 0;
}

/* Queues a BHS and its data segment, padded to 4 bytes (no digests). */
static void fake_send(fake_conn *c, mcsi_pdu_hdr *h, const void *data, size_t n)
{
  static const uint8_t zero[4];
  uint8_t bhs[MCSI_BHS_LEN];

  h->dlen = (uint32_t)n;
  mcsi_pdu_encode(h, bhs);
  if (fake_buf_put(&c->out, bhs, sizeof bhs) < 0 ||
      (n && fake_buf_put(&c->out, data, n) < 0) ||
      fake_buf_put(&c->out, zero, mcsi_pad4((uint32_t)n) - n) < 0)
    c->closing = 1;
}

static void fake_close_later(fake_conn *c)
{
  if (!c->closing)
    c->deadline = fake_now_ms() + FAKE_LINGER_MS;
  c->closing = 1;
}

/* Target-side sequence numbers for a header. advance: consumes a StatSN. */
static uint32_t fake_window(int w)
{
  return w > 0 ? (uint32_t)w : w < 0 ? 0 : FAKE_QUEUE;
}

static void fake_sn(fake_conn *c, mcsi_pdu_hdr *h, int advance)
{
  uint32_t window = fake_window(c->sess ? c->sess->window : c->window);
  uint32_t exp = c->sess ? c->sess->expcmdsn : c->expcmdsn;

  h->statsn = advance ? c->statsn++ : c->statsn;
  h->expcmdsn = exp;
  h->maxcmdsn = exp + window - 1;
  if (c->sess && mcsi_sn_lt(c->sess->max_adv, h->maxcmdsn))
    c->sess->max_adv = h->maxcmdsn;
  if (advance) {
    c->adv_statsn[h->statsn % FAKE_ADV_RING] = h->statsn;
    c->adv_max[h->statsn % FAKE_ADV_RING] = h->maxcmdsn;
    c->adv_count++;
  }
}

/* A command beyond the MaxCmdSN of the last response the initiator had seen
 * when it sent it (its ExpStatSN tells which). */
static int fake_beyond_window(const fake_conn *c, const mcsi_pdu_hdr *cmd)
{
  uint32_t seen = cmd->expstatsn - 1, i = seen % FAKE_ADV_RING;

  if (cmd->immediate)
    return 0;
  if (c->sess && mcsi_sn_lt(c->sess->max_adv, cmd->cmdsn))
    return 1;                                  /* beyond anything the target ever allowed */
  if (c->ft->o.mcs)
    return 0;                                  /* the window came from any connection */
  return c->adv_count && c->adv_statsn[i] == seen && mcsi_sn_lt(c->adv_max[i], cmd->cmdsn);
}

/* A non-immediate command PDU consumes its CmdSN. On one connection the
 * next expected CmdSN follows the highest received; in a session (MC/S) it
 * is session-wide and in order, as a real target's: a CmdSN lost with a
 * dropped connection holds ExpCmdSN (and so MaxCmdSN) until it comes again. */
static void fake_cmdsn(fake_conn *c, const mcsi_pdu_hdr *h)
{
  fake_sess *s = c->sess;

  if (h->immediate)
    return;
  if (!s || !c->ft->o.mcs) {
    uint32_t *exp = s ? &s->expcmdsn : &c->expcmdsn;
    if (mcsi_sn_le(*exp, h->cmdsn))
      *exp = h->cmdsn + 1;
    return;
  }
  if (h->cmdsn == s->expcmdsn) {
    s->expcmdsn++;
    while (s->ahead & 1) {
      s->ahead >>= 1;
      s->expcmdsn++;
    }
    s->ahead >>= 1;
  } else if (mcsi_sn_lt(s->expcmdsn, h->cmdsn) && h->cmdsn - s->expcmdsn <= 64) {
    s->ahead |= 1ull << (h->cmdsn - s->expcmdsn - 1);
  }
}

static fake_sess *fake_sess_find(fake_target *ft, uint16_t tsih)
{
  for (size_t i = 0; i < FAKE_MAX_SESS; i++)
    if (ft->sess[i].used && ft->sess[i].tsih == tsih)
      return &ft->sess[i];
  return NULL;
}

/* A new session's numbers start where its leading login left them. */
static fake_sess *fake_sess_new(fake_target *ft, fake_conn *c)
{
  for (size_t i = 0; i < FAKE_MAX_SESS; i++) {
    fake_sess *s = &ft->sess[i];
    if (s->used)
      continue;
    s->used = 1;
    s->tsih = c->tsih;
    s->window = c->window;
    s->expcmdsn = c->expcmdsn;
    s->max_adv = c->expcmdsn + fake_window(c->window) - 1;   /* as the last Login Response said */
    return s;
  }
  return NULL;
}

/* ---- The Asynchronous Message and what follows it ----------------------------- */

/* Records what happened at *at (once, after the message went out). */
static void fake_note(fake_target *ft, int64_t *at, int *same, int same_value)
{
  pthread_mutex_lock(&ft->log_lock);
  if (ft->log.sent_ms && !*at) {
    *at = fake_now_ms();
    if (same)
      *same = same_value;
  }
  pthread_mutex_unlock(&ft->log_lock);
}

static void fake_note_login(fake_target *ft, fake_conn *c)
{
  (void)c;
  fake_note(ft, &ft->log.login_ms, NULL, 0);
}

/* The connection of the same session with this CID, or another one than c. */
static fake_conn *fake_peer(fake_target *ft, const fake_conn *c, int other, uint16_t cid)
{
  for (size_t i = 0; i < FAKE_MAX_CONNS; i++) {
    fake_conn *o = ft->conns[i];
    if (!o || !o->ffp || o->sess != c->sess)
      continue;
    if (other ? o != c : o->cid == cid)
      return o;
  }
  return NULL;
}

static void fake_send_async(fake_target *ft, fake_conn *c)
{
  const fake_target_opts *o = &ft->o;
  int64_t drop = fake_now_ms() + FAKE_ASYNC_DROP_MS;
  fake_conn *named = c;
  mcsi_pdu_hdr h;

  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_ASYNC;
  h.flags = MCSI_F_FINAL;
  h.itt = MCSI_RSVD_TAG;
  h.lun = 0;
  h.async_event = (uint8_t)o->async_event;
  memcpy(h.param, o->async_param, sizeof h.param);
  if (o->async_event == 2) {
    if (o->async_names_other && (named = fake_peer(ft, c, 1, 0)) == NULL)
      named = c;
    h.param[0] = o->async_cid ? o->async_cid : named->cid;
    if (o->async_cid)
      named = fake_peer(ft, c, 0, o->async_cid);
    if (named)
      named->drop_at = drop;
  } else if (o->async_event == 3) {
    for (size_t i = 0; i < FAKE_MAX_CONNS; i++)
      if (ft->conns[i] && ft->conns[i]->ffp && ft->conns[i]->sess == c->sess)
        ft->conns[i]->drop_at = drop;
  }
  fake_sn(c, &h, 1);
  fake_send(c, &h, NULL, 0);
  ft->async_done = 1;
  ft->async_conn = c;
  ft->async_statsn = h.statsn;
  pthread_mutex_lock(&ft->log_lock);
  ft->log.sent_ms = fake_now_ms();
  ft->log.cid = c->cid;
  pthread_mutex_unlock(&ft->log_lock);
}

/* After a SCSI command was answered on c: is it the message's turn? */
static void fake_maybe_async(fake_target *ft, fake_conn *c)
{
  const fake_target_opts *o = &ft->o;

  if (!o->async_event || ft->async_done || (o->async_on_joined && !c->joined) ||
      c->cmds != (o->async_after ? o->async_after : 1))
    return;
  fake_send_async(ft, c);
}

/* A non-immediate command PDU: counted, and checked against the window. */
static void fake_command_pdu(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *h)
{
  if (h->immediate)
    return;
  if (fake_beyond_window(c, h))
    atomic_fetch_add(&ft->n_window_violations, 1);
  if (ft->o.mcs)
    atomic_fetch_add(&ft->n_mcs_cmds, 1);
}

/* ---- Login ------------------------------------------------------------------ */

static void fake_login_rsp(fake_conn *c, const mcsi_pdu_hdr *req, uint8_t flags,
                           uint16_t status, const uint8_t *data, size_t n)
{
  mcsi_pdu_hdr h;

  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_LOGIN_RSP;
  h.flags = flags;
  memcpy(h.isid, req->isid, sizeof h.isid);
  h.tsih = (flags & MCSI_F_TRANSIT) && MCSI_LOGIN_NSG(flags) == MCSI_STAGE_FULL_FEATURE ? c->tsih : 0;
  h.itt = req->itt;
  h.status_class = (uint8_t)(status >> 8);
  h.status_detail = (uint8_t)status;
  fake_sn(c, &h, 1);
  c->responses++;
  fake_send(c, &h, data, n);
}

/* Answers with a login failure status and closes (RFC 7143 11.13.5). */
static void fake_login_fail(fake_conn *c, const mcsi_pdu_hdr *req, uint16_t status,
                            const mcsi_text *keys)
{
  size_t n = 0;
  uint8_t *data = keys ? mcsi_text_encode(keys, &n) : NULL;

  fake_login_rsp(c, req, 0, status, data, n);
  free(data);
  fake_close_later(c);
}

static int fake_list_has(const char *list, const char *word)
{
  size_t wl = strlen(word);

  for (const char *p = list; p && *p;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (n == wl && memcmp(p, word, n) == 0)
      return 1;
    p = comma ? comma + 1 : NULL;
  }
  return 0;
}

/* A number answered as min(offer, ours); "Reject" when the offer is not a number. */
static int fake_min_key(mcsi_text *rsp, const char *key, const char *offer, uint32_t ours,
                        uint32_t *result)
{
  uint64_t v;

  if (mcsi_text_parse_number(offer, &v) < 0)
    return mcsi_text_add(rsp, key, "Reject");
  if (v < ours)
    ours = (uint32_t)v;
  if (result)
    *result = ours;
  return mcsi_text_add_u32(rsp, key, ours);
}

/* Keys that are answered with a fixed value, whatever the offer. */
static const char *fake_fixed_answer(const char *key)
{
  static const char *const table[][2] = {
    { "DataPDUInOrder", "Yes" }, { "DataSequenceInOrder", "Yes" },
    { "ErrorRecoveryLevel", "0" }, { "IFMarker", "No" }, { "OFMarker", "No" },
    { "IFMarkInt", "Irrelevant" }, { "OFMarkInt", "Irrelevant" },
    { "TaskReporting", "RFC3720" },
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(key, table[i][0]) == 0)
      return table[i][1];
  return NULL;
}

/* Declarative keys the initiator sends that need no answer. */
static int fake_declarative(const char *key)
{
  return strcmp(key, "InitiatorName") == 0 || strcmp(key, "InitiatorAlias") == 0 ||
         strcmp(key, "SessionType") == 0 || strcmp(key, "TargetName") == 0 ||
         strcmp(key, "MaxRecvDataSegmentLength") == 0;
}

static int fake_bool_key(fake_conn *c, mcsi_text *rsp, const char *key, const char *v, int force)
{
  int offer = mcsi_text_parse_bool(v), ans;

  if (offer < 0)
    return mcsi_text_add(rsp, key, "Reject");
  if (strcmp(key, "InitialR2T") == 0) {      /* OR */
    ans = force == FAKE_FORCE_YES ? 1 : offer;
    c->initial_r2t = offer || ans;
  } else {                                    /* ImmediateData: AND */
    ans = force == FAKE_FORCE_NO ? 0 : offer;
    c->immediate_data = offer && ans;
  }
  return mcsi_text_add(rsp, key, ans ? "Yes" : "No");
}

/* Answers one offered key; returns a login status (0: fine) or -1 on OOM. */
static int fake_answer_key(fake_target *ft, fake_conn *c, const mcsi_kv *kv, mcsi_text *rsp)
{
  const char *k = kv->key, *v = kv->value, *fixed = fake_fixed_answer(k);
  uint64_t n;

  if (strcmp(k, "TargetName") == 0 && strcmp(v, FAKE_IQN) != 0)
    return 0x0203;
  if (strcmp(k, "SessionType") == 0)
    c->discovery = strcmp(v, "Discovery") == 0;
  if (strcmp(k, "MaxRecvDataSegmentLength") == 0 && mcsi_text_parse_number(v, &n) == 0)
    c->peer_mrdsl = n < 512 ? 512 : n > MCSI_MAX_DSL ? MCSI_MAX_DSL : (uint32_t)n;
  if (fake_declarative(k))
    return 0;
  if (fixed)
    return mcsi_text_add(rsp, k, fixed);
  if (strcmp(k, "AuthMethod") == 0) {
    if (!fake_list_has(v, "None"))
      return 0x0201;
    c->auth_ok = 1;
    return mcsi_text_add(rsp, k, "None");
  }
  if (strcmp(k, "HeaderDigest") == 0 || strcmp(k, "DataDigest") == 0)
    return mcsi_text_add(rsp, k, fake_list_has(v, "None") ? "None" : "Reject");
  if (strcmp(k, "InitialR2T") == 0)
    return fake_bool_key(c, rsp, k, v, ft->o.initial_r2t);
  if (strcmp(k, "ImmediateData") == 0)
    return fake_bool_key(c, rsp, k, v, ft->o.immediate_data);
  if (strcmp(k, "MaxConnections") == 0)
    return fake_min_key(rsp, k, v, ft->o.max_connections ? ft->o.max_connections : 1, NULL);
  if (strcmp(k, "MaxOutstandingR2T") == 0 || strcmp(k, "iSCSIProtocolLevel") == 0)
    return fake_min_key(rsp, k, v, 1, NULL);
  if (strcmp(k, "MaxBurstLength") == 0)
    return fake_min_key(rsp, k, v, ft->o.max_burst_length, &c->max_burst);
  if (strcmp(k, "FirstBurstLength") == 0)
    return fake_min_key(rsp, k, v, ft->o.first_burst_length, &c->first_burst);
  if (strcmp(k, "DefaultTime2Wait") == 0)   /* max(offer, 0): the offer */
    return fake_min_key(rsp, k, v, UINT32_MAX, NULL);
  if (strcmp(k, "DefaultTime2Retain") == 0)
    return fake_min_key(rsp, k, v, 20, NULL);
  return mcsi_text_add(rsp, k, "NotUnderstood");
}

/* Keys the target declares on its own in this response. */
static int fake_declare(fake_target *ft, fake_conn *c, int csg, mcsi_text *rsp)
{
  char tpgt[8];

  snprintf(tpgt, sizeof tpgt, "%u", c->joining && ft->o.join_tpgt ? (unsigned)ft->o.join_tpgt : 1u);
  if (c->responses == 0 && !c->discovery &&
      (mcsi_text_add(rsp, "TargetPortalGroupTag", tpgt) < 0 ||
       (!ft->o.target_alias && mcsi_text_add(rsp, "TargetAlias", "fake-target") < 0)))
    return -1;
  if (csg == MCSI_STAGE_OPERATIONAL && !c->mrdsl_sent) {
    c->mrdsl_sent = 1;   /* a chosen alias comes here, where the initiator reads it */
    if (ft->o.target_alias && !c->discovery && mcsi_text_add(rsp, "TargetAlias", ft->o.target_alias) < 0)
      return -1;
    return mcsi_text_add_u32(rsp, "MaxRecvDataSegmentLength", ft->o.max_recv_dsl);
  }
  return 0;
}

/* The malformed key=value data of LOGIN_GARBAGE_KEYS. */
static void fake_garbage(fake_buf *b, int variant)
{
  static const char no_eq[] = "ThisKeyHasNoEqualsSign";
  static const uint8_t junk[] = { 0x01, 0xff, 0xfe, 0x7f, '=', 0x80, 0x81, 0xc3, 0x28, 0 };
  char longkey[200 + 6];

  if (variant == FAKE_GARBAGE_ALL || variant == FAKE_GARBAGE_NO_EQUALS)
    fake_buf_put(b, no_eq, sizeof no_eq);
  if (variant == FAKE_GARBAGE_ALL || variant == FAKE_GARBAGE_LONG_KEY) {
    memset(longkey, 'K', 200);
    memcpy(longkey + 200, "=Yes", 5);
    fake_buf_put(b, longkey, 205);
  }
  if (variant == FAKE_GARBAGE_ALL || variant == FAKE_GARBAGE_BINARY)
    fake_buf_put(b, junk, sizeof junk);
}

/* Sends the negotiated answer; garbage appended when the scenario says so. */
static void fake_login_answer(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *req,
                              uint8_t flags, const mcsi_text *rsp)
{
  fake_buf data = { 0 };
  size_t n = 0;
  uint8_t *enc = mcsi_text_encode(rsp, &n);

  if (!enc) {
    fake_close_later(c);
    return;
  }
  fake_buf_put(&data, enc, n);
  free(enc);
  if (ft->o.scenario == FAKE_LOGIN_GARBAGE_KEYS && c->responses == 0)
    fake_garbage(&data, ft->o.variant);
  fake_login_rsp(c, req, flags, 0, data.p, data.len);
  free(data.p);
}

static uint16_t fake_new_tsih(fake_target *ft)
{
  if (ft->next_tsih == 0)                      /* TSIH 0 is reserved */
    ft->next_tsih = 1;
  return ft->next_tsih++;
}

/* Negotiates one (complete) Login Request's keys and answers it. */
static void fake_login_keys(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *req,
                            const mcsi_text *keys)
{
  int csg = MCSI_LOGIN_CSG(req->flags), nsg = MCSI_LOGIN_NSG(req->flags);
  int transit = (req->flags & MCSI_F_TRANSIT) != 0, st = 0;
  mcsi_text rsp;
  uint8_t flags;

  mcsi_text_init(&rsp);
  for (size_t i = 0; i < keys->count && st == 0; i++)
    st = fake_answer_key(ft, c, &keys->items[i], &rsp);
  if (st == 0 && c->responses == 0 && !c->discovery && !mcsi_text_get(keys, "TargetName"))
    st = 0x0207;                               /* missing parameter */
  if (st == 0 && csg == MCSI_STAGE_SECURITY && transit && !c->auth_ok)
    st = 0x0201;
  if (st == 0 && (csg == 2 || nsg == 2 || (transit && nsg <= csg)))
    st = 0x020b;                               /* invalid request during login */
  if (st == 0 && fake_declare(ft, c, csg, &rsp) < 0)
    st = -1;
  if (st != 0) {
    mcsi_text_free(&rsp);
    fake_login_fail(c, req, st < 0 ? 0x0302 : (uint16_t)st, NULL);
    return;
  }
  flags = (uint8_t)(csg << 2);
  if (transit)
    flags |= (uint8_t)(MCSI_F_TRANSIT | nsg);
  if (transit && nsg == MCSI_STAGE_FULL_FEATURE) {
    c->joined = ft->o.mcs && req->tsih != 0;
    c->tsih = c->joined ? req->tsih : ft->o.scenario == FAKE_LOGIN_TSIH_ZERO ? 0 : fake_new_tsih(ft);
    c->reset_after_flush = ft->o.scenario == FAKE_JOIN_RESET && req->tsih != 0;
  }
  fake_login_answer(ft, c, req, flags, &rsp);
  mcsi_text_free(&rsp);
  c->stage = transit ? nsg : csg;
  if (c->stage == MCSI_STAGE_FULL_FEATURE) {
    c->ffp = 1;
    atomic_fetch_add(&ft->n_sessions, 1);
    if (!c->sess && !c->discovery)
      c->sess = fake_sess_new(ft, c);
  }
}

static void fake_redirect(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *req)
{
  mcsi_text keys;

  mcsi_text_init(&keys);
  mcsi_text_add(&keys, "TargetAddress", ft->o.redirect_to ? ft->o.redirect_to : ft->portal);
  fake_login_fail(c, req, 0x0101, &keys);
  mcsi_text_free(&keys);
}

/* Collects the data of a Login Request; 1 when the request is complete. */
static int fake_login_collect(fake_conn *c, const mcsi_pdu_hdr *req, const uint8_t *data)
{
  uint8_t *p;

  if (req->dlen) {
    p = realloc(c->login_text, c->login_text_len + req->dlen);
    if (!p) {
      fake_close_later(c);
      return 0;
    }
    memcpy(p + c->login_text_len, data, req->dlen);
    c->login_text = p;
    c->login_text_len += req->dlen;
  }
  if (!(req->flags & MCSI_F_CONTINUE))
    return 1;
  /* C=1: an empty response asks for the rest (RFC 7143 6.2). */
  fake_login_rsp(c, req, (uint8_t)(MCSI_LOGIN_CSG(req->flags) << 2), 0, NULL, 0);
  return 0;
}

static void fake_login(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *req, const uint8_t *data)
{
  mcsi_text keys;
  const char *bad = NULL;

  atomic_fetch_add(&ft->n_logins, 1);
  if (c->responses == 0 && !c->login_text_len)
    fake_note_login(ft, c);
  c->expcmdsn = req->cmdsn;
  c->joining = req->tsih != 0;
  c->cid = req->cid;
  if (ft->o.mcs && req->tsih && !c->sess)
    c->sess = fake_sess_find(ft, req->tsih);   /* a join speaks the session's numbers */
  memcpy(c->isid, req->isid, sizeof c->isid);
  switch (ft->o.scenario) {
  case FAKE_LOGIN_NEVER_ANSWERS: c->mute = 1; return;
  case FAKE_LOGIN_BAD_STATUS:
    if (ft->o.variant != FAKE_BAD_STATUS_JOINS_ONLY || req->tsih != 0) {
      fake_login_fail(c, req, ft->o.login_status, NULL);
      return;
    }
    break;
  case FAKE_LOGIN_REDIRECT_LOOP: fake_redirect(ft, c, req); return;
  default: break;
  }
  if (!fake_login_collect(c, req, data))
    return;
  mcsi_text_init(&keys);
  if (c->login_text_len && mcsi_text_parse(&keys, c->login_text, c->login_text_len, &bad) < 0)
    fake_login_fail(c, req, 0x0200, NULL);     /* initiator error */
  else
    fake_login_keys(ft, c, req, &keys);
  mcsi_text_free(&keys);
  free(c->login_text);
  c->login_text = NULL;
  c->login_text_len = 0;
}

/* ---- SCSI responses --------------------------------------------------------- */

/* Residual of a command that moved `done` bytes against an EDTL of edtl. */
static uint8_t fake_residual(uint32_t done, uint32_t edtl, uint32_t *residual)
{
  if (done < edtl) {
    *residual = edtl - done;
    return MCSI_F_UNDERFLOW;
  }
  *residual = done - edtl;
  return done > edtl ? MCSI_F_OVERFLOW : 0;
}

static void fake_scsi_rsp(fake_conn *c, const mcsi_pdu_hdr *cmd, uint8_t status,
                          const uint8_t *sense, size_t sense_len, uint8_t rflags,
                          uint32_t residual, uint32_t expdatasn)
{
  mcsi_pdu_hdr h;
  uint8_t data[2 + 252];

  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_SCSI_RSP;
  h.flags = (uint8_t)(MCSI_F_FINAL | rflags);
  h.status = status;
  h.itt = cmd->itt;
  h.residual = residual;
  h.datasn = expdatasn;
  fake_sn(c, &h, 1);
  if (sense_len > sizeof data - 2)
    sense_len = sizeof data - 2;
  if (!sense_len) {
    fake_send(c, &h, NULL, 0);
    return;
  }
  mcsi_put16(data, (uint16_t)sense_len);
  memcpy(data + 2, sense, sense_len);
  fake_send(c, &h, data, sense_len + 2);
}

static void fake_check(fake_conn *c, const mcsi_pdu_hdr *cmd, uint8_t key, uint8_t asc, uint8_t ascq)
{
  uint8_t sense[18] = { 0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0 };

  fake_scsi_rsp(c, cmd, FAKE_CHECK, sense, sizeof sense, 0, 0, 0);
}

static void fake_good(fake_conn *c, const mcsi_pdu_hdr *cmd)
{
  fake_scsi_rsp(c, cmd, FAKE_GOOD, NULL, 0, 0, 0, 0);
}

/* Sends n bytes of data (n <= 16 MiB) in Data-In PDUs of at most the
 * initiator's MaxRecvDataSegmentLength, status in the last one. */
static void fake_data_in(fake_conn *c, const mcsi_pdu_hdr *cmd, const uint8_t *data, uint32_t n)
{
  uint32_t sent = fake_min32(n, cmd->edtl), off = 0, residual, sn = 0;
  uint8_t rflags = fake_residual(n, cmd->edtl, &residual);
  mcsi_pdu_hdr h;

  if (sent == 0) {
    fake_scsi_rsp(c, cmd, FAKE_GOOD, NULL, 0, rflags, residual, 0);
    return;
  }
  while (off < sent) {
    uint32_t len = fake_min32(sent - off, c->peer_mrdsl);
    int last = off + len == sent;
    memset(&h, 0, sizeof h);
    h.opcode = MCSI_OP_DATA_IN;
    h.flags = last ? (uint8_t)(MCSI_F_FINAL | MCSI_F_STATUS | rflags) : 0;
    h.lun = cmd->lun;
    h.itt = cmd->itt;
    h.ttt = MCSI_RSVD_TAG;
    h.datasn = sn++;
    h.offset = off;
    h.residual = last ? residual : 0;
    fake_sn(c, &h, last);
    if (!last)
      h.statsn = 0;
    fake_send(c, &h, data + off, len);
    off += len;
  }
}

/* ---- SCSI commands ---------------------------------------------------------- */

/* The LUN number of a command's LUN field (peripheral or flat addressing). */
static uint64_t fake_lun_of(const mcsi_pdu_hdr *cmd)
{
  return (cmd->lun >> 48) & 0x3fff;
}

/* LUN 1 (opts.lun1_4k) views the same disk in 4096-byte blocks. */
static uint32_t fake_bs(const fake_target *ft, uint64_t lun)
{
  return lun == 1 && ft->o.lun1_4k ? 4096u : FAKE_BLOCK;
}

static int fake_lun_exists(const fake_target *ft, uint64_t lun)
{
  return lun == 0 || (lun == 1 && ft->o.lun1_4k);
}

static uint32_t fake_blocks_of(const fake_target *ft, uint64_t lun)
{
  return ft->o.disk_bytes / fake_bs(ft, lun);
}


/* One Data-In with status and the residual fields as given, true or not. */
static void fake_data_in_raw(fake_conn *c, const mcsi_pdu_hdr *cmd, const uint8_t *data, uint32_t n,
                             uint8_t rflags, uint32_t residual)
{
  mcsi_pdu_hdr h;

  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_DATA_IN;
  h.flags = (uint8_t)(MCSI_F_FINAL | MCSI_F_STATUS | rflags);
  h.lun = cmd->lun;
  h.itt = cmd->itt;
  h.ttt = MCSI_RSVD_TAG;
  h.residual = residual;
  fake_sn(c, &h, 1);
  fake_send(c, &h, data, n);
}

/* BAD_RESIDUAL: 1 when the command was answered impossibly. */
static int fake_bad_residual(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd, const uint8_t *d)
{
  if (ft->o.scenario != FAKE_BAD_RESIDUAL)
    return 0;
  switch (ft->o.variant) {
  case FAKE_RESID_HUGE: fake_data_in_raw(c, cmd, d, 36, MCSI_F_UNDERFLOW, 0xffffffffu); return 1;
  case FAKE_RESID_BEYOND: fake_data_in_raw(c, cmd, d, 36, MCSI_F_UNDERFLOW, cmd->edtl + 1); return 1;
  case FAKE_RESID_UNFLAGGED: fake_data_in_raw(c, cmd, d, 36, 0, 0); return 1;
  default: return 0;
  }
}

static void fake_inquiry(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd)
{
  uint8_t d[64];
  uint32_t alloc = mcsi_be16(cmd->cdb + 3), n;

  memset(d, 0, sizeof d);
  if (!fake_lun_exists(ft, fake_lun_of(cmd)))
    d[0] = 0x7f;                               /* no LU here */
  if (cmd->cdb[1] & 1) {                       /* EVPD */
    static const uint8_t pages[] = { 0x00, 0x80, 0xb0, 0xb2 };
    d[1] = cmd->cdb[2];
    if (cmd->cdb[2] == 0x00) {
      d[3] = ft->o.unmap ? 4 : ft->o.max_transfer_blocks ? 3 : 2;
      memcpy(d + 4, pages, d[3]);
    } else if (cmd->cdb[2] == 0xb2 && ft->o.unmap) {
      d[3] = 4;                                /* Logical Block Provisioning: LBPU */
      d[5] = 0x80;
    } else if (cmd->cdb[2] == 0xb0 && (ft->o.max_transfer_blocks || ft->o.unmap)) {
      d[3] = 0x3c;                             /* Block Limits: MAXIMUM TRANSFER LENGTH, UNMAP limits when unmap */
      mcsi_put32(d + 8, ft->o.max_transfer_blocks);
      if (ft->o.unmap) {
        mcsi_put32(d + 20, 1u << 16);          /* MAXIMUM UNMAP LBA COUNT */
        mcsi_put32(d + 24, 16);                /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
      }
      d[3] = 60;
      n = 4u + 60u;
      fake_data_in(c, cmd, d, fake_min32(n, alloc));
      return;
    } else if (cmd->cdb[2] == 0x80) {
      d[3] = 8;
      memcpy(d + 4, "FAKE0001", 8);
    } else {
      fake_check(c, cmd, FAKE_ILLEGAL_REQUEST, 0x24, 0x00);
      return;
    }
    n = 4u + d[3];
  } else {
    d[2] = 0x05;                               /* SPC-3 */
    d[3] = 0x02;
    d[4] = 31;
    d[7] = 0x02;                               /* CmdQue */
    memcpy(d + 8, "MCSI    ", 8);
    memcpy(d + 16, "FAKE TARGET     ", 16);
    memcpy(d + 32, "0001", 4);
    n = 36;
    if (fake_bad_residual(ft, c, cmd, d))
      return;
  }
  fake_data_in(c, cmd, d, fake_min32(n, alloc));
}

static void fake_read_capacity(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd, int is16)
{
  uint8_t d[32];
  uint32_t alloc = is16 ? mcsi_be32(cmd->cdb + 10) : 8;

  if (ft->o.scenario == FAKE_BAD_RESIDUAL && ft->o.variant == FAKE_RESID_NO_CAPACITY) {
    fake_good(c, cmd);                         /* GOOD, and not a byte of capacity */
    return;
  }
  memset(d, 0, sizeof d);
  uint64_t lun = fake_lun_of(cmd);
  if (is16) {
    fake_put64(d, fake_blocks_of(ft, lun) - 1);
    mcsi_put32(d + 8, fake_bs(ft, lun));
  } else {
    mcsi_put32(d, fake_blocks_of(ft, lun) - 1);
    mcsi_put32(d + 4, fake_bs(ft, lun));
  }
  fake_data_in(c, cmd, d, fake_min32(is16 ? 32 : 8, alloc));
}

static void fake_report_luns(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd)
{
  uint8_t d[24];

  memset(d, 0, sizeof d);
  mcsi_put32(d, 8);                            /* one LUN: 0 */
  if (ft->o.lun1_4k) {
    mcsi_put32(d, 16);                         /* and 1 */
    d[17] = 1;
  }
  fake_data_in(c, cmd, d, fake_min32(8u + mcsi_be32(d), mcsi_be32(cmd->cdb + 6)));
}

/* LBA and block count of READ/WRITE 10/16. */
static void fake_rw_args(const uint8_t *cdb, uint64_t *lba, uint32_t *blocks)
{
  if (cdb[0] == FAKE_READ10 || cdb[0] == FAKE_WRITE10) {
    *lba = mcsi_be32(cdb + 2);
    *blocks = mcsi_be16(cdb + 7);
  } else {
    *lba = fake_be64(cdb + 2);
    *blocks = mcsi_be32(cdb + 10);
  }
}

/* 1 if [lba, lba + blocks) lies on the disk; else answers CHECK CONDITION. */
static int fake_in_range(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd,
                         uint64_t lba, uint32_t blocks)
{
  uint32_t all = fake_blocks_of(ft, fake_lun_of(cmd));
  if (lba <= all && blocks <= all - lba)
    return 1;
  fake_check(c, cmd, FAKE_ILLEGAL_REQUEST, 0x21, 0x00);
  return 0;
}

/* SPLIT_DATA_IN: the Data-In PDU(s) go out up to the middle of the first
 * data segment; the rest waits in c->held for a Logout Request. */
static void fake_split_data_in(fake_conn *c, const mcsi_pdu_hdr *cmd, const uint8_t *data, uint32_t n)
{
  fake_buf out = c->out, pdus = { 0 };
  size_t cut;

  c->out = pdus;
  fake_data_in(c, cmd, data, n);
  pdus = c->out;
  c->out = out;
  cut = MCSI_BHS_LEN + (pdus.len - MCSI_BHS_LEN) / 2;
  fake_buf_put(&c->out, pdus.p, cut);
  fake_buf_put(&c->held, pdus.p + cut, pdus.len - cut);
  free(pdus.p);
  c->split_done = 1;
}

static void fake_read(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd)
{
  uint64_t lba;
  uint32_t blocks, n;

  fake_rw_args(cmd->cdb, &lba, &blocks);
  if (!fake_in_range(ft, c, cmd, lba, blocks))
    return;
  if (ft->o.scenario == FAKE_CHECK_CONDITION) {
    fake_check(c, cmd, FAKE_MEDIUM_ERROR, 0x11, 0x00);
    return;
  }
  uint32_t bs = fake_bs(ft, fake_lun_of(cmd));
  n = blocks * bs;
  if (ft->o.scenario == FAKE_SHORT_DATA_IN) {   /* the data stops short of EDTL */
    uint32_t want = fake_min32(n, cmd->edtl);
    n = want > ft->o.short_by ? want - ft->o.short_by : 0;
  }
  if (ft->o.scenario == FAKE_SPLIT_DATA_IN && c->joined && !c->split_done) {
    fake_split_data_in(c, cmd, ft->disk + lba * bs, n);
    return;
  }
  fake_data_in(c, cmd, ft->disk + lba * bs, n);
}

static fake_task *fake_task_find(fake_conn *c, uint32_t itt)
{
  for (size_t i = 0; i < FAKE_MAX_TASKS; i++)
    if (c->tasks[i].used && c->tasks[i].itt == itt)
      return &c->tasks[i];
  return NULL;
}

static void fake_send_r2t(fake_target *ft, fake_conn *c, fake_task *t)
{
  mcsi_pdu_hdr h;

  t->r2t_active = 1;
  t->r2t_got = 0;
  t->r2t_len = fake_min32(t->len - t->received, c->max_burst);
  t->ttt = c->next_ttt++;
  if (c->next_ttt == MCSI_RSVD_TAG)
    c->next_ttt = 1;
  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_R2T;
  h.flags = MCSI_F_FINAL;
  h.lun = t->lun;
  h.itt = t->itt;
  h.ttt = t->ttt;
  h.datasn = t->r2tsn++;
  h.offset = t->received;                      /* data arrives in order */
  h.residual = t->r2t_len;
  fake_sn(c, &h, 0);
  fake_send(c, &h, NULL, 0);
  atomic_fetch_add(&ft->n_r2ts, 1);
}

/* R2T_FLOOD: R2Ts for the same first burst, all at once, whatever
 * MaxOutstandingR2T says. */
static void fake_r2t_flood(fake_target *ft, fake_conn *c, fake_task *t)
{
  for (int i = 0; i < FAKE_R2T_FLOOD_COUNT; i++) {
    t->received = 0;
    fake_send_r2t(ft, c, t);
  }
}

/* Moves a WRITE on: done, waiting for unsolicited data, or the next R2T. */
static void fake_write_advance(fake_target *ft, fake_conn *c, fake_task *t)
{
  if (t->received >= t->len) {
    mcsi_pdu_hdr cmd;
    uint32_t residual;
    uint8_t rflags = fake_residual(t->xfer, t->edtl, &residual);
    memset(&cmd, 0, sizeof cmd);
    cmd.itt = t->itt;
    fake_scsi_rsp(c, &cmd, FAKE_GOOD, NULL, 0, rflags, residual, 0);
    t->used = 0;
    return;
  }
  if (t->unsol_done && !t->r2t_active)
    fake_send_r2t(ft, c, t);
}

/* Copies data at offset into the task's range of the disk. */
static void fake_write_data(fake_target *ft, fake_task *t, uint32_t offset,
                            const uint8_t *data, uint32_t n)
{
  if (!data || n == 0 || offset >= t->len)
    return;
  n = fake_min32(n, t->len - offset);
  memcpy(ft->disk + t->base + offset, data, n);
  t->received += n;
}

static void fake_write(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd, const uint8_t *data)
{
  fake_task *t = NULL;
  uint64_t lba;
  uint32_t blocks;

  fake_rw_args(cmd->cdb, &lba, &blocks);
  if (!fake_in_range(ft, c, cmd, lba, blocks))
    return;
  for (size_t i = 0; i < FAKE_MAX_TASKS && !t; i++)
    if (!c->tasks[i].used)
      t = &c->tasks[i];
  if (!t || fake_task_find(c, cmd->itt)) {
    fake_scsi_rsp(c, cmd, FAKE_TASK_SET_FULL, NULL, 0, 0, 0, 0);
    return;
  }
  memset(t, 0, sizeof *t);
  t->used = 1;
  t->itt = cmd->itt;
  t->lun = cmd->lun;
  t->base = lba * fake_bs(ft, fake_lun_of(cmd));
  t->xfer = blocks * fake_bs(ft, fake_lun_of(cmd));
  t->edtl = cmd->edtl;
  t->len = fake_min32(t->xfer, cmd->edtl);
  t->unsol_done = (cmd->flags & MCSI_F_FINAL) != 0;
  fake_write_data(ft, t, 0, data, cmd->dlen);
  if (ft->o.scenario == FAKE_R2T_FLOOD)
    fake_r2t_flood(ft, c, t);
  else
    fake_write_advance(ft, c, t);
}

static void fake_data_out(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data)
{
  fake_task *t = fake_task_find(c, h->itt);

  atomic_fetch_add(&ft->n_dataouts, 1);
  if (h->ttt == MCSI_RSVD_TAG && h->lun != 0)   /* reserved (RFC 7143 11.7.4) */
    atomic_fetch_add(&ft->n_reserved_violations, 1);
  if (!t)
    return;                                    /* a task we refused or finished */
  if (h->ttt == MCSI_RSVD_TAG) {
    fake_write_data(ft, t, h->offset, data, h->dlen);
    if (h->flags & MCSI_F_FINAL)
      t->unsol_done = 1;
  } else if (t->r2t_active && h->ttt == t->ttt) {
    fake_write_data(ft, t, h->offset, data, h->dlen);
    t->r2t_got += h->dlen;
    if ((h->flags & MCSI_F_FINAL) || t->r2t_got >= t->r2t_len)
      t->r2t_active = 0;
  } else {
    return;
  }
  fake_write_advance(ft, c, t);
}

/* The normal answer to a SCSI command. */
static void fake_scsi_normal(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd, const uint8_t *data)
{
  uint8_t op = cmd->cdb[0];

  if (op == FAKE_INQUIRY)
    fake_inquiry(ft, c, cmd);
  else if (op == FAKE_REPORT_LUNS)
    fake_report_luns(ft, c, cmd);
  else if (!fake_lun_exists(ft, fake_lun_of(cmd)))
    fake_check(c, cmd, FAKE_ILLEGAL_REQUEST, 0x25, 0x00);
  else if (op == FAKE_TUR || op == FAKE_SYNC10 || op == FAKE_SYNC16)
    fake_good(c, cmd);
  else if (op == FAKE_UNMAP && ft->o.unmap)
    fake_good(c, cmd);                         /* the data stays: UNMAP is advisory */
  else if (op == FAKE_READ_CAP10 || (op == FAKE_SAI16 && (cmd->cdb[1] & 0x1f) == 0x10))
    fake_read_capacity(ft, c, cmd, op == FAKE_SAI16);
  else if (op == FAKE_READ10 || op == FAKE_READ16)
    fake_read(ft, c, cmd);
  else if (op == FAKE_WRITE10 || op == FAKE_WRITE16)
    fake_write(ft, c, cmd, data);
  else
    fake_check(c, cmd, FAKE_ILLEGAL_REQUEST, 0x20, 0x00);
}

/* A tag the initiator never used: the command's own, with the top bit flipped. */
static uint32_t fake_foreign_itt(uint32_t itt)
{
  itt ^= 0x80000000u;
  return itt == MCSI_RSVD_TAG ? 0x12345678u : itt;
}

static void fake_malformed(fake_conn *c, const mcsi_pdu_hdr *cmd, int variant)
{
  mcsi_pdu_hdr h;
  uint8_t bhs[MCSI_BHS_LEN];

  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_SCSI_RSP;
  h.flags = MCSI_F_FINAL;
  h.itt = cmd->itt;
  fake_sn(c, &h, 1);
  mcsi_pdu_encode(&h, bhs);
  if (variant == FAKE_BHS_RESERVED_BIT)
    bhs[0] |= 0x80;                            /* byte 0 bit 0 is reserved */
  else
    bhs[0] = 0x3c;                             /* no such target opcode */
  fake_buf_put(&c->out, bhs, sizeof bhs);
}

static void fake_oversized(fake_conn *c, const mcsi_pdu_hdr *cmd)
{
  mcsi_pdu_hdr h;
  uint8_t bhs[MCSI_BHS_LEN];

  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_DATA_IN;
  h.lun = cmd->lun;
  h.itt = cmd->itt;
  h.ttt = MCSI_RSVD_TAG;
  h.dlen = MCSI_MAX_DSL;
  fake_sn(c, &h, 0);
  h.statsn = 0;
  mcsi_pdu_encode(&h, bhs);
  fake_buf_put(&c->out, bhs, sizeof bhs);
  c->junk_left = mcsi_pad4(MCSI_MAX_DSL);
}

static void fake_unknown_itt(fake_conn *c, const mcsi_pdu_hdr *cmd, int variant)
{
  static const uint8_t block[FAKE_BLOCK];
  mcsi_pdu_hdr other = *cmd;

  other.itt = fake_foreign_itt(cmd->itt);
  other.edtl = FAKE_BLOCK;
  if (variant == FAKE_ITT_DATA_IN)
    fake_data_in(c, &other, block, FAKE_BLOCK);
  else
    fake_good(c, &other);
}

static void fake_truncated(fake_conn *c, const mcsi_pdu_hdr *cmd)
{
  mcsi_pdu_hdr h;
  uint8_t bhs[MCSI_BHS_LEN];

  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_SCSI_RSP;
  h.flags = MCSI_F_FINAL;
  h.itt = cmd->itt;
  fake_sn(c, &h, 1);
  mcsi_pdu_encode(&h, bhs);
  fake_buf_put(&c->out, bhs, MCSI_BHS_LEN / 2);
  fake_close_later(c);
}

static void fake_reject(fake_conn *c, const uint8_t *bhs, uint8_t reason)
{
  mcsi_pdu_hdr h;

  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_REJECT;
  h.flags = MCSI_F_FINAL;
  h.reason = reason;
  h.itt = MCSI_RSVD_TAG;
  fake_sn(c, &h, 1);
  fake_send(c, &h, bhs, MCSI_BHS_LEN);
}

/* DROP_MID_IO: every connection it was to drop is dropped (drop_once: one,
 * drop_count: that many, else no limit). */
static int fake_drops_done(const fake_target *ft)
{
  unsigned most = ft->o.drop_once ? 1 : ft->o.drop_count;
  return most && ft->dropped >= most;
}

/* Scenario hooks on a SCSI command; 1 when the command was handled. */
static int fake_scsi_scenario(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd)
{
  int first = c->cmds == 1;

  switch (ft->o.scenario) {
  case FAKE_DROP_MID_IO:
    if (c->cmds != ft->o.drop_after || fake_drops_done(ft) || (ft->o.drop_conn && c->number != ft->o.drop_conn))
      return 0;
    ft->dropped++;
    c->mute = 1;
    fake_close_later(c);
    return 1;
  case FAKE_NEVER_ANSWERS_COMMAND: return 1;
  case FAKE_JOINED_SWALLOWS: return c->joined;
  case FAKE_MALFORMED_BHS: if (first) fake_malformed(c, cmd, ft->o.variant); return first;
  case FAKE_OVERSIZED_DSL: if (first) fake_oversized(c, cmd); return first;
  case FAKE_UNKNOWN_ITT: if (first) fake_unknown_itt(c, cmd, ft->o.variant); return first;
  case FAKE_TRUNCATED_PDU: if (first) fake_truncated(c, cmd); return first;
  case FAKE_REJECT_COMMAND: if (first) fake_reject(c, c->hdr, 0x04); return first;
  default: return 0;
  }
}

/* ---- storms and what the I/O commands asked ---------------------------------- */

static int fake_is_probe(uint8_t op)
{
  return op == FAKE_INQUIRY || op == FAKE_REPORT_LUNS || op == FAKE_READ_CAP10 || op == FAKE_SAI16;
}

static void fake_count_rw(fake_target *ft, const mcsi_pdu_hdr *cmd)
{
  uint8_t op = cmd->cdb[0];
  uint64_t lba;
  uint32_t blocks;

  if (fake_is_probe(op))
    return;
  atomic_fetch_add(&ft->n_io_cmds, 1);
  if (op == FAKE_SYNC10 || op == FAKE_SYNC16)
    atomic_fetch_add(&ft->n_sync, 1);
  if (op == FAKE_UNMAP)
    atomic_fetch_add(&ft->n_unmap, 1);
  if (op != FAKE_READ10 && op != FAKE_READ16 && op != FAKE_WRITE10 && op != FAKE_WRITE16)
    return;
  atomic_fetch_add(&ft->n_rw, 1);
  if (cmd->cdb[1] & 0x08)
    atomic_fetch_add(&ft->n_fua, 1);
  if (cmd->cdb[1] & 0x10)
    atomic_fetch_add(&ft->n_dpo, 1);
  fake_rw_args(cmd->cdb, &lba, &blocks);
  unsigned old = atomic_load(&ft->max_rw_blocks);
  while (blocks > old && !atomic_compare_exchange_weak(&ft->max_rw_blocks, &old, blocks))
    continue;
}

/* 1 when a storm answered the command. */
static int fake_storm_answer(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd)
{
  unsigned left = atomic_load(&ft->storm_left);
  int storm = atomic_load(&ft->storm);

  if (storm == FAKE_STORM_NONE || fake_is_probe(cmd->cdb[0]))
    return 0;
  do {
    if (!left)
      return 0;
  } while (!atomic_compare_exchange_weak(&ft->storm_left, &left, left - 1));
  atomic_fetch_add(&ft->n_storm_answers, 1);
  switch (storm) {
  case FAKE_STORM_UA: fake_check(c, cmd, FAKE_UNIT_ATTENTION, 0x29, 0x00); break;   /* power on, reset */
  case FAKE_STORM_BUSY: fake_scsi_rsp(c, cmd, FAKE_BUSY, NULL, 0, 0, 0, 0); break;
  case FAKE_STORM_TSF: fake_scsi_rsp(c, cmd, FAKE_TASK_SET_FULL, NULL, 0, 0, 0, 0); break;
  default: fake_check(c, cmd, FAKE_ABORTED_COMMAND, 0x47, 0x00); break;            /* parity error */
  }
  return 1;
}

int fake_storm_parse(const char *name)
{
  static const char *const names[] = { "none", "ua", "busy", "tsf", "aborted" };
  for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
    if (!strcmp(name, names[i]))
      return i;
  return -1;
}

void fake_target_storm(fake_target *ft, int storm, unsigned count)
{
  atomic_store(&ft->storm_left, 0);
  atomic_store(&ft->storm, storm);
  atomic_store(&ft->storm_left, count);
}

static void fake_scsi(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *cmd, const uint8_t *data)
{
  atomic_fetch_add(&ft->n_cmds, 1);
  c->cmds++;
  if (ft->async_conn == c && mcsi_sn_lt(ft->async_statsn, cmd->expstatsn)) {
    pthread_mutex_lock(&ft->log_lock);
    ft->log.cmds_after++;                      /* the initiator had read the message when it sent this */
    pthread_mutex_unlock(&ft->log_lock);
  }
  if (!(ft->o.scenario == FAKE_DROP_MID_IO && ft->o.variant == FAKE_DROP_UNSEEN && c->cmds == ft->o.drop_after &&
        !fake_drops_done(ft) && !(ft->o.drop_conn && c->number != ft->o.drop_conn)))
    fake_cmdsn(c, cmd);                        /* FAKE_DROP_UNSEEN: lost on the way, a CmdSN hole */
  fake_count_rw(ft, cmd);
  if (!fake_storm_answer(ft, c, cmd) && !fake_scsi_scenario(ft, c, cmd))
    fake_scsi_normal(ft, c, cmd, data);
  fake_maybe_async(ft, c);
}

/* ---- Other Full Feature PDUs ------------------------------------------------- */

static void fake_nop(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *req, const uint8_t *data)
{
  mcsi_pdu_hdr h;

  atomic_fetch_add(&ft->n_nops, 1);
  fake_cmdsn(c, req);
  if (req->itt == MCSI_RSVD_TAG)
    return;                                    /* an answer to a NOP-In of ours */
  if (ft->o.mute_nops_conn && c->number == ft->o.mute_nops_conn)
    return;                                    /* a slow path: the probe stays unanswered */
  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_NOP_IN;
  h.flags = MCSI_F_FINAL;
  h.lun = req->lun;
  h.itt = req->itt;
  h.ttt = MCSI_RSVD_TAG;
  fake_sn(c, &h, 1);
  fake_send(c, &h, data, fake_min32(req->dlen, c->peer_mrdsl));
}

static void fake_logout(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *req)
{
  mcsi_pdu_hdr h;

  atomic_fetch_add(&ft->n_logouts, 1);
  pthread_mutex_lock(&ft->log_lock);
  if (ft->log.sent_ms && !ft->log.logout_ms) {
    ft->log.logout_ms = fake_now_ms();
    ft->log.logout_reason = req->reason;
    ft->log.logout_on_same = c == ft->async_conn;
  }
  pthread_mutex_unlock(&ft->log_lock);
  fake_cmdsn(c, req);
  if (ft->o.scenario == FAKE_LOGOUT_REJECTED && c->joined) {
    fake_reject(c, c->hdr, 0x04);              /* and the connection stays up, silent */
    return;
  }
  if (c->held.len > c->held.off) {             /* SPLIT_DATA_IN: the rest of the old Data-In */
    fake_buf_put(&c->out, c->held.p + c->held.off, c->held.len - c->held.off);
    c->held.off = c->held.len;
  }
  if (ft->o.scenario == FAKE_LOGOUT_STRAY_DATA_IN && c->joined) {
    static const uint8_t block[FAKE_BLOCK];
    mcsi_pdu_hdr other = *req;
    other.itt = FAKE_FOREIGN_ITT;
    other.edtl = FAKE_BLOCK;
    other.lun = 0;
    fake_data_in(c, &other, block, FAKE_BLOCK);
  }
  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_LOGOUT_RSP;
  h.flags = MCSI_F_FINAL;
  h.itt = req->itt;
  fake_sn(c, &h, 1);
  fake_send(c, &h, NULL, 0);
  c->mute = 1;
  fake_close_later(c);
}

static void fake_tmf(fake_conn *c, const mcsi_pdu_hdr *req)
{
  mcsi_pdu_hdr h;

  fake_cmdsn(c, req);
  if (req->function == MCSI_TMF_LUN_RESET && req->refcmdsn != 0)   /* reserved (11.5.5) */
    atomic_fetch_add(&c->ft->n_reserved_violations, 1);
  for (size_t i = 0; i < FAKE_MAX_TASKS; i++)
    if (req->function != MCSI_TMF_ABORT_TASK || c->tasks[i].itt == req->ttt)
      c->tasks[i].used = 0;
  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_TMF_RSP;
  h.flags = MCSI_F_FINAL;
  h.itt = req->itt;
  h.response = 0;                              /* function complete */
  fake_sn(c, &h, 1);
  fake_send(c, &h, NULL, 0);
}

/* TEXT_FOREVER: 4 KiB of valid keys with C=1 (more follows), to every
 * Text Request, the continuations too. */
static void fake_text_forever(fake_conn *c, const mcsi_pdu_hdr *req)
{
  static const char key[] = "TargetName=iqn.2026-11.org.mcsi:text-forever";
  uint8_t data[FAKE_TEXT_CHUNK];
  mcsi_pdu_hdr h;

  for (size_t i = 0; i + sizeof key <= sizeof data; i += sizeof key)
    memcpy(data + i, key, sizeof key);
  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_TEXT_RSP;
  h.flags = MCSI_F_CONTINUE;
  h.itt = req->itt;
  h.ttt = 1;
  if (c->ft->o.variant == FAKE_TEXT_WINDOW_CLOSES)
    c->window = -1;                            /* "more follows", and no CmdSN to ask for it with */
  fake_sn(c, &h, 1);
  fake_send(c, &h, data, (sizeof data / sizeof key) * sizeof key);
}

/* The last (or only) Text Response to req, with n bytes of keys. */
static void fake_text_final(fake_conn *c, const mcsi_pdu_hdr *req, const uint8_t *data, size_t n)
{
  mcsi_pdu_hdr h;
  memset(&h, 0, sizeof h);
  h.opcode = MCSI_OP_TEXT_RSP;
  h.flags = MCSI_F_FINAL;
  h.itt = req->itt;
  h.ttt = MCSI_RSVD_TAG;
  fake_sn(c, &h, 1);
  fake_send(c, &h, data, n);
}

static void fake_text(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *req)
{
  mcsi_text t;
  uint8_t *data;
  size_t n = 0;

  fake_cmdsn(c, req);
  fake_note(ft, &ft->log.text_ms, &ft->log.text_on_same, c == ft->async_conn);
  if (ft->o.scenario == FAKE_TEXT_FOREVER) {
    fake_text_forever(c, req);
    return;
  }
  if (req->dlen == 0) {                        /* nothing asked, nothing to negotiate */
    fake_text_final(c, req, NULL, 0);
    return;
  }
  mcsi_text_init(&t);
  mcsi_text_add(&t, "TargetName", FAKE_IQN);
  if (ft->o.scenario == FAKE_BAD_SENDTARGETS)
    mcsi_text_add(&t, "Garbage", "");          /* becomes "Garbage" without '=' below */
  else
    mcsi_text_add(&t, "TargetAddress", ft->portal);
  if (ft->o.extra_target) {
    mcsi_text_add(&t, "TargetName", ft->o.extra_target);
    mcsi_text_add(&t, "TargetAddress", ft->o.extra_address ? ft->o.extra_address : ft->portal);
  }
  data = mcsi_text_encode(&t, &n);
  if (data && ft->o.scenario == FAKE_BAD_SENDTARGETS)
    n--, data[n - 1] = 0;                      /* "TargetName=...\0Garbage\0" */
  fake_text_final(c, req, data, data ? n : 0);
  free(data);
  mcsi_text_free(&t);
}

static void fake_ffp(fake_target *ft, fake_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data)
{
  if (h->opcode != MCSI_OP_DATA_OUT)
    fake_command_pdu(ft, c, h);
  switch (h->opcode) {
  case MCSI_OP_NOP_OUT: fake_nop(ft, c, h, data); break;
  case MCSI_OP_SCSI_CMD: fake_scsi(ft, c, h, data); break;
  case MCSI_OP_DATA_OUT: fake_data_out(ft, c, h, data); break;
  case MCSI_OP_LOGOUT_REQ: fake_logout(ft, c, h); break;
  case MCSI_OP_TMF_REQ: fake_tmf(c, h); break;
  case MCSI_OP_TEXT_REQ: fake_text(ft, c, h); break;
  default: fake_reject(c, c->hdr, h->opcode == MCSI_OP_SNACK ? 0x02 : 0x04); break;
  }
}

/* One complete PDU: hdr plus rx (AHS, then data). */
static void fake_pdu(fake_target *ft, fake_conn *c)
{
  mcsi_pdu_hdr h;
  const char *bad = mcsi_pdu_decode(c->hdr, &h);
  const uint8_t *data = c->rx ? c->rx + (size_t)h.ahs_words * 4 : NULL;

  if (c->mute)
    return;
  if (bad || mcsi_opcode_is_target(h.opcode)) {
    if (c->ffp)
      fake_reject(c, c->hdr, 0x04);
    else
      fake_close_later(c);
    return;
  }
  if (c->ffp)
    fake_ffp(ft, c, &h, data);
  else if (h.opcode == MCSI_OP_LOGIN_REQ)
    fake_login(ft, c, &h, data);
  else
    fake_close_later(c);                       /* only Login before Full Feature */
}

/* ---- Connections ------------------------------------------------------------ */

static void fake_conn_free(fake_conn *c)
{
  if (c->fd >= 0)
    close(c->fd);
  free(c->rx);
  free(c->out.p);
  free(c->held.p);
  free(c->login_text);
  free(c);
}

static fake_conn *fake_conn_new(fake_target *ft, int fd)
{
  fake_conn *c = calloc(1, sizeof *c);

  if (!c)
    return NULL;
  c->ft = ft;
  c->fd = fd;
  c->number = atomic_load(&ft->n_conns);
  c->window = atomic_load(&ft->n_conns) > 1 && ft->o.later_window ? ft->o.later_window : ft->o.cmd_window;
  c->statsn = ft->next_statsn;
  ft->next_statsn += 0x1000;
  c->peer_mrdsl = 8192;
  c->initial_r2t = 1;
  c->immediate_data = 1;
  c->first_burst = 65536;
  c->max_burst = 262144;
  c->next_ttt = 1;
  return c;
}

static void fake_accept(fake_target *ft)
{
  int one = 1, fd = accept4(ft->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  size_t i;

  if (fd < 0)
    return;
  atomic_fetch_add(&ft->n_conns, 1);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (i = 0; i < FAKE_MAX_CONNS && ft->conns[i]; i++)
    ;
  if (i == FAKE_MAX_CONNS || !(ft->conns[i] = fake_conn_new(ft, fd)))
    close(fd);
}

/* Reads into the current PDU; 1: got bytes, 0: would block, -1: EOF or error. */
static int fake_read_some(fake_conn *c)
{
  uint8_t scratch[4096], *dst;
  size_t want;
  ssize_t r;

  if (c->closing || c->mute) {
    dst = scratch;
    want = sizeof scratch;
  } else if (c->hdr_got < MCSI_BHS_LEN) {
    dst = c->hdr + c->hdr_got;
    want = MCSI_BHS_LEN - c->hdr_got;
  } else {
    dst = c->rx + c->rx_got;
    want = c->rx_need - c->rx_got;
  }
  r = recv(c->fd, dst, want, 0);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return 0;
  if (r == 0)
    atomic_fetch_add(&c->ft->n_eofs, 1);
  else if (r < 0 && errno == ECONNRESET)
    atomic_fetch_add(&c->ft->n_resets, 1);
  if (r <= 0)
    return -1;
  if (c->closing || c->mute)
    return 1;
  if (dst == c->hdr + c->hdr_got)
    c->hdr_got += (size_t)r;
  else
    c->rx_got += (size_t)r;
  return 1;
}

/* After a BHS arrived: sizes the rest. -1 when it is too large to accept. */
static int fake_rx_begin(fake_conn *c)
{
  size_t dlen = (size_t)c->hdr[5] << 16 | (size_t)c->hdr[6] << 8 | c->hdr[7];

  c->rx_need = (size_t)c->hdr[4] * 4 + mcsi_pad4((uint32_t)dlen);
  c->rx_got = 0;
  if (c->rx_need > FAKE_MAX_RX)
    return -1;
  c->rx = c->rx_need ? malloc(c->rx_need) : NULL;
  return c->rx_need && !c->rx ? -1 : 0;
}

/* Handles input; 0 to keep the connection, -1 to drop it. */
static int fake_conn_input(fake_target *ft, fake_conn *c)
{
  for (int i = 0; i < FAKE_PDUS_PER_WAKE; i++) {
    int r = fake_read_some(c);
    if (r <= 0)
      return r;
    if (c->closing || c->mute || c->hdr_got < MCSI_BHS_LEN)
      continue;
    if (!c->rx && c->rx_need == 0 && c->rx_got == 0 && fake_rx_begin(c) < 0)
      return -1;
    if (c->rx_got < c->rx_need)
      continue;
    fake_pdu(ft, c);
    free(c->rx);
    c->rx = NULL;
    c->rx_need = c->rx_got = 0;
    c->hdr_got = 0;
  }
  return 0;
}

static int fake_has_output(const fake_conn *c)
{
  return c->out.off < c->out.len || c->junk_left > 0;
}

/* Something can be sent now (junk is paced: a slow stream shows whether the
 * initiator sits on a huge buffer waiting for it). */
static int fake_can_send(const fake_conn *c, int64_t now)
{
  return c->out.off < c->out.len || (c->junk_left > 0 && now >= c->junk_next);
}

static int fake_junk_refill(fake_conn *c, int64_t now)
{
  size_t n = c->junk_left < FAKE_JUNK_CHUNK ? c->junk_left : FAKE_JUNK_CHUNK;

  if (fake_buf_put(&c->out, NULL, n) < 0)
    return -1;
  c->junk_left -= n;
  c->junk_next = now + FAKE_JUNK_PACE_MS;
  return 0;
}

/* Flushes queued bytes; 0 to keep the connection, -1 to drop it. */
static int fake_conn_output(fake_conn *c)
{
  int64_t now = fake_now_ms();

  while (fake_can_send(c, now)) {
    ssize_t w;
    if (c->out.off == c->out.len && fake_junk_refill(c, now) < 0)
      return -1;
    w = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return 0;
    if (w <= 0)
      return -1;
    c->out.off += (size_t)w;
  }
  if (c->reset_after_flush && !fake_has_output(c)) {   /* JOIN_RESET: RST, not FIN */
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    return -1;
  }
  if (c->closing && !c->shut && !fake_has_output(c)) {
    shutdown(c->fd, SHUT_WR);
    c->shut = 1;
  }
  return 0;
}

/* NOP_FLOOD: once in Full Feature Phase the connection is never read again
 * and NOP-Ins that each need a NOP-Out keep coming. */
static int fake_flooding(const fake_target *ft, const fake_conn *c)
{
  return ft->o.scenario == FAKE_NOP_FLOOD && c->ffp;
}

static void fake_flood_refill(fake_conn *c)
{
  mcsi_pdu_hdr h;

  while (c->out.len - c->out.off < FAKE_FLOOD_PENDING) {
    memset(&h, 0, sizeof h);
    h.opcode = MCSI_OP_NOP_IN;
    h.flags = MCSI_F_FINAL;
    h.itt = MCSI_RSVD_TAG;
    h.ttt = ++c->flood_ttt == MCSI_RSVD_TAG ? ++c->flood_ttt : c->flood_ttt;
    fake_sn(c, &h, 0);
    fake_send(c, &h, NULL, 0);
  }
}

static void fake_drop(fake_target *ft, size_t i)
{
  if (ft->async_conn == ft->conns[i])
    ft->async_conn = NULL;
  fake_conn_free(ft->conns[i]);
  ft->conns[i] = NULL;
}

/* Handles poll results of connection slot i. */
static void fake_conn_events(fake_target *ft, size_t i, short revents)
{
  fake_conn *c = ft->conns[i];

  if ((revents & (POLLIN | POLLHUP | POLLERR)) && fake_conn_input(ft, c) < 0) {
    fake_drop(ft, i);
    return;
  }
  if (fake_conn_output(c) < 0 || (c->closing && fake_now_ms() >= c->deadline) ||
      (c->drop_at && fake_now_ms() >= c->drop_at))
    fake_drop(ft, i);
}

/* ---- Thread ----------------------------------------------------------------- */

static void *fake_thread(void *arg)
{
  fake_target *ft = arg;
  struct pollfd pfd[2 + FAKE_MAX_CONNS];
  size_t slot[FAKE_MAX_CONNS];

  while (!atomic_load(&ft->stop)) {
    nfds_t n = 2, k = 0;
    int timeout = FAKE_POLL_MS;
    int64_t now = fake_now_ms();
    pfd[0] = (struct pollfd){ .fd = ft->wake[0], .events = POLLIN };
    pfd[1] = (struct pollfd){ .fd = ft->lfd, .events = POLLIN };
    for (size_t i = 0; i < FAKE_MAX_CONNS; i++) {
      fake_conn *c = ft->conns[i];
      if (!c)
        continue;
      if (fake_flooding(ft, c))
        fake_flood_refill(c);
      pfd[n] = (struct pollfd){ .fd = c->fd, .events = fake_flooding(ft, c) ? 0 : POLLIN };
      if (fake_can_send(c, now))
        pfd[n].events |= POLLOUT;
      else if (c->junk_left > 0)
        timeout = FAKE_JUNK_PACE_MS;
      slot[k++] = i;
      n++;
    }
    if (poll(pfd, n, timeout) < 0 && errno != EINTR)
      break;
    if (pfd[1].revents & POLLIN)
      fake_accept(ft);
    for (nfds_t j = 0; j < k; j++)
      fake_conn_events(ft, slot[j], pfd[2 + j].revents);
  }
  return NULL;
}

static int fake_listen(fake_target *ft)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof sa;

  ft->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ft->lfd < 0 || bind(ft->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
      listen(ft->lfd, 16) < 0 || getsockname(ft->lfd, (struct sockaddr *)&sa, &len) < 0)
    return -1;
  ft->port = ntohs(sa.sin_port);
  snprintf(ft->portal, sizeof ft->portal, "127.0.0.1:%u", (unsigned)ft->port);
  return 0;
}

static void fake_defaults(fake_target_opts *o)
{
  if (!o->login_status) o->login_status = 0x0201;
  if (!o->drop_after) o->drop_after = 1;
  if (!o->short_by) o->short_by = 1024;
  if (!o->disk_bytes) o->disk_bytes = 1u << 20;
  o->disk_bytes -= o->disk_bytes % FAKE_BLOCK;
  if (!o->max_recv_dsl) o->max_recv_dsl = 65536;
  if (!o->first_burst_length) o->first_burst_length = 65536;
  if (!o->max_burst_length) o->max_burst_length = 262144;
  if (o->mcs && !o->max_connections) o->max_connections = 4;
  if (o->first_burst_length > o->max_burst_length)
    o->first_burst_length = o->max_burst_length;
}

fake_target *fake_target_start_opts(const fake_target_opts *opts)
{
  fake_target *ft = calloc(1, sizeof *ft);

  if (!ft)
    return NULL;
  ft->o = *opts;
  fake_defaults(&ft->o);
  ft->lfd = ft->wake[0] = ft->wake[1] = -1;
  ft->next_tsih = 0x100;
  ft->next_statsn = 0x5000;
  pthread_mutex_init(&ft->log_lock, NULL);
  ft->disk = calloc(1, ft->o.disk_bytes);
  if (!ft->disk || pipe2(ft->wake, O_NONBLOCK | O_CLOEXEC) < 0 || fake_listen(ft) < 0 ||
      pthread_create(&ft->thread, NULL, fake_thread, ft) != 0) {
    perror("fake_target_start");
    fake_target_stop(ft);
    return NULL;
  }
  fake_target_storm(ft, ft->o.storm, ft->o.storm_count);
  ft->started = 1;
  return ft;
}

fake_target *fake_target_start(fake_scenario scenario)
{
  fake_target_opts o;

  memset(&o, 0, sizeof o);
  o.scenario = scenario;
  return fake_target_start_opts(&o);
}

void fake_target_stop(fake_target *ft)
{
  if (!ft)
    return;
  atomic_store(&ft->stop, 1);
  if (ft->wake[1] >= 0 && write(ft->wake[1], "x", 1) < 0) {
    /* the thread notices the flag within FAKE_POLL_MS anyway */
  }
  if (ft->started)
    pthread_join(ft->thread, NULL);
  for (size_t i = 0; i < FAKE_MAX_CONNS; i++)
    if (ft->conns[i])
      fake_drop(ft, i);
  if (ft->lfd >= 0)
    close(ft->lfd);
  for (int i = 0; i < 2; i++)
    if (ft->wake[i] >= 0)
      close(ft->wake[i]);
  free(ft->disk);
  pthread_mutex_destroy(&ft->log_lock);
  free(ft);
}

uint16_t fake_target_port(const fake_target *ft) { return ft->port; }
const char *fake_target_portal(const fake_target *ft) { return ft->portal; }
const char *fake_target_iqn(const fake_target *ft) { (void)ft; return FAKE_IQN; }
unsigned fake_target_connections(const fake_target *ft) { return atomic_load(&ft->n_conns); }
unsigned fake_target_logins(const fake_target *ft) { return atomic_load(&ft->n_logins); }
unsigned fake_target_sessions(const fake_target *ft) { return atomic_load(&ft->n_sessions); }
unsigned fake_target_commands(const fake_target *ft) { return atomic_load(&ft->n_cmds); }
unsigned fake_target_nops(const fake_target *ft) { return atomic_load(&ft->n_nops); }
unsigned fake_target_logouts(const fake_target *ft) { return atomic_load(&ft->n_logouts); }
unsigned fake_target_r2ts(const fake_target *ft) { return atomic_load(&ft->n_r2ts); }
unsigned fake_target_data_outs(const fake_target *ft) { return atomic_load(&ft->n_dataouts); }
unsigned fake_target_window_violations(const fake_target *ft) { return atomic_load(&ft->n_window_violations); }
unsigned fake_target_reserved_violations(const fake_target *ft) { return atomic_load(&ft->n_reserved_violations); }
unsigned fake_target_resets(const fake_target *ft) { return atomic_load(&ft->n_resets); }
unsigned fake_target_eofs(const fake_target *ft) { return atomic_load(&ft->n_eofs); }
unsigned fake_target_mcs_commands(const fake_target *ft) { return atomic_load(&ft->n_mcs_cmds); }
unsigned fake_target_io_commands(const fake_target *ft) { return atomic_load(&ft->n_io_cmds); }
unsigned fake_target_storm_answers(const fake_target *ft) { return atomic_load(&ft->n_storm_answers); }
unsigned fake_target_rw_commands(const fake_target *ft) { return atomic_load(&ft->n_rw); }
unsigned fake_target_fua(const fake_target *ft) { return atomic_load(&ft->n_fua); }
unsigned fake_target_syncs(const fake_target *ft) { return atomic_load(&ft->n_sync); }
unsigned fake_target_unmaps(const fake_target *ft) { return atomic_load(&ft->n_unmap); }
unsigned fake_target_dpo(const fake_target *ft) { return atomic_load(&ft->n_dpo); }
uint32_t fake_target_max_rw_blocks(const fake_target *ft) { return atomic_load(&ft->max_rw_blocks); }

void fake_target_async_log(fake_target *ft, fake_async_log *out)
{
  pthread_mutex_lock(&ft->log_lock);
  *out = ft->log;
  pthread_mutex_unlock(&ft->log_lock);
}
