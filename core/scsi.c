/* scsi.c: SCSI commands over a connection (RFC 7143 11.2-11.8): the command
 * PDU with immediate data, unsolicited and R2T-driven Data-Out, Data-In
 * placement, status and sense; and the blocking SCSI helpers built on it,
 * which use libiscsi's public SCSI layer for CDBs and data-in parsing. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <iscsi/scsi-lowlevel.h>
#include "internal.h"

/* ---- wire side ------------------------------------------------------------------ */

/* Peripheral (LUN < 256) or flat space addressing, as an 8-byte LUN field. */
uint64_t mcsi_lun_encode(uint64_t lun)
{
  uint64_t b0 = lun < 256 ? 0 : (0x40 | (lun >> 8));
  return (b0 << 56) | ((lun & 0xff) << 48);
}

/* Unsolicited (ttt 0xffffffff: the LUN field is reserved, RFC 7143 11.7.4)
 * or answering an R2T, whose last PDU is marked so that the R2T stops
 * counting as outstanding once it has left the socket. */
static void send_data_out(mcsi_conn *c, mcsi_task *t, uint32_t ttt, uint32_t off, uint32_t len)
{
  uint32_t max = c->params.max_send_dsl, sn = 0;
  uint64_t lun = ttt == MCSI_RSVD_TAG ? 0 : mcsi_lun_encode(t->lun);
  while (len) {
    uint32_t n = len < max ? len : max;
    mcsi_pdu_hdr h = { .opcode = MCSI_OP_DATA_OUT, .lun = lun, .itt = t->itt,
                       .ttt = ttt, .expstatsn = c->exp_statsn, .datasn = sn++, .offset = off };
    if (n == len) h.flags = MCSI_F_FINAL;
    mcsi_conn_queue(c, &h, t->buf + off, n, t, NULL);
    off += n;
    len -= n;
  }
  if (ttt != MCSI_RSVD_TAG && c->txtail && c->txtail->task == t && !c->tx_overflow && !c->tx_oom) {
    c->txtail->r2t_end = 1;
    t->r2t_outstanding++;
  }
}

void mcsi_scsi_send(mcsi_conn *c, mcsi_task *t)
{
  const mcsi_params *p = &c->params;
  mcsi_session *s = c->sess;
  uint32_t len = (uint32_t)t->len, imm = 0, unsol = 0;
  if (t->dir == MCSI_DIR_WRITE) {
    uint32_t fb = s->params.first_burst < len ? s->params.first_burst : len;
    if (s->params.immediate_data) imm = fb < p->max_send_dsl ? fb : p->max_send_dsl;
    if (!s->params.initial_r2t) unsol = fb - imm;
  }
  mcsi_pdu_hdr h = { .opcode = MCSI_OP_SCSI_CMD, .lun = mcsi_lun_encode(t->lun), .itt = t->itt,
                     .edtl = len, .cmdsn = t->cmdsn, .expstatsn = c->exp_statsn };
  h.flags = (uint8_t)(MCSI_ATTR_SIMPLE | (unsol ? 0 : MCSI_F_FINAL) |
                      (t->dir == MCSI_DIR_READ ? MCSI_F_READ : 0) |
                      (t->dir == MCSI_DIR_WRITE ? MCSI_F_WRITE : 0));
  memcpy(h.cdb, t->cdb, t->cdb_len);
  mcsi_conn_queue(c, &h, imm ? t->buf : NULL, imm, imm ? t : NULL, NULL);
  if (unsol) send_data_out(c, t, MCSI_RSVD_TAG, imm, unsol);
}

mcsi_status mcsi_scsi_check_data_in(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h, const char **err)
{
  if (!t || t->kind != MCSI_TASK_SCSI || t->conn != c || !t->sent) { *err = "unknown ITT"; return ISDSC_TRANSPORT_ERROR; }
  if (t->dir != MCSI_DIR_READ && h->dlen) { *err = "data for a command that reads nothing"; return ISDSC_TRANSPORT_ERROR; }
  if ((uint64_t)h->offset + h->dlen > t->len) { *err = "data beyond the buffer"; return ISDSC_TRANSPORT_ERROR; }
  if (h->datasn != t->exp_datasn) { *err = "DataSN out of order"; return ISDSC_TRANSPORT_ERROR; }
  /* DataPDUInOrder and DataSequenceInOrder (Yes unless both sides said No):
   * each PDU continues where the last ended, so data_in counts bytes placed */
  const mcsi_params *p = &c->sess->params;
  if (p->data_pdu_in_order && p->data_seq_in_order && h->offset != t->data_in) {
    *err = "Data-In out of order (offset is not where the data so far ends)";
    return ISDSC_TRANSPORT_ERROR;
  }
  return ISDSC_SUCCESS;
}

/* Residuals are checked against what was asked: an underflow beyond the
 * expected transfer length is impossible. 0, or -1 with the command failed. */
static int set_residual(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h)
{
  t->res.residual_kind = h->flags & MCSI_F_UNDERFLOW ? 1 : h->flags & MCSI_F_OVERFLOW ? 2 : 0;
  t->res.residual = t->res.residual_kind ? h->residual : 0;
  t->res.data_in = t->data_in;
  if (t->res.residual_kind != 1 || h->residual <= t->len) return 0;
  c->stats.format_errors++;
  mcsi_fail(c->sess->ini, ISDSC_TRANSPORT_ERROR, "%s reported an underflow residual of %u bytes for a %zu-byte"
            " transfer", c->portal, h->residual, t->len);
  mcsi_task_complete(t, ISDSC_TRANSPORT_ERROR);
  return -1;
}

static const char *status_name(uint8_t st)
{
  switch (st) {
  case 0x02: return "CHECK CONDITION";
  case 0x08: return "BUSY";
  case 0x18: return "RESERVATION CONFLICT";
  case 0x28: return "TASK SET FULL";
  case 0x30: return "ACA ACTIVE";
  case 0x40: return "TASK ABORTED";
  default: return "unexpected status";
  }
}

/* SPC sense key names: libiscsi 1.19 has no text for some of them. */
static const char *sense_key_name(uint8_t key)
{
  static const char *const names[16] = { "NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR",
    "HARDWARE ERROR", "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT", "BLANK CHECK",
    "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND", "RESERVED", "VOLUME OVERFLOW",
    "MISCOMPARE", "COMPLETED" };
  return names[key & 15];
}

/* The command's SCSI status decides its mcsi status. */
static mcsi_status finish_status(mcsi_conn *c, mcsi_task *t)
{
  mcsi_initiator *ini = c->sess->ini;
  mcsi_scsi_result *r = &t->res;
  if (r->response) return mcsi_fail(ini, ISDSC_TARGET_ERROR, "target failure (iSCSI response 0x%02x)", r->response);
  if (r->scsi_status == 0) return ISDSC_SUCCESS;
  if (r->scsi_status == 0x02 && r->sense_len) {
    const char *ascq = scsi_sense_ascq_str(r->asc << 8 | r->ascq);
    return mcsi_fail(ini, ISDSC_SCSI_REQUEST_FAILED, "CHECK CONDITION: %s (0x%02x), ASC/ASCQ 0x%02x/0x%02x: %s",
                     sense_key_name(r->sense_key), r->sense_key, r->asc, r->ascq, ascq ? ascq : "no description");
  }
  return mcsi_fail(ini, ISDSC_SCSI_REQUEST_FAILED, "SCSI status 0x%02x (%s)", r->scsi_status,
                   status_name(r->scsi_status));
}

/* UNIT ATTENTION 29/xx (power on, reset, I_T nexus loss) is what a new or
 * reinstated session, or a LUN reset, reports once: the command did not run,
 * so it goes again instead of failing. */
static void finish(mcsi_conn *c, mcsi_task *t)
{
  mcsi_scsi_result *r = &t->res;
  if (!r->response && r->scsi_status == 0x02 && r->sense_key == 0x06 && r->asc == 0x29 && mcsi_task_retry(t) == 0)
    return;
  mcsi_task_complete(t, finish_status(c, t));
}

void mcsi_scsi_rx_data_in_done(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h)
{
  if (h->offset + h->dlen > t->data_in) t->data_in = h->offset + h->dlen;   /* <= len: checked */
  t->exp_datasn++;
  if (!(h->flags & MCSI_F_STATUS)) return;
  t->res.scsi_status = h->status;
  if (set_residual(c, t, h) == 0) finish(c, t);
}

static void parse_sense(mcsi_task *t, const uint8_t *data, uint32_t dlen)
{
  if (dlen < 2) return;
  uint32_t n = mcsi_be16(data);
  if (n > dlen - 2) n = dlen - 2;
  if (n > sizeof t->res.sense) n = sizeof t->res.sense;
  memcpy(t->res.sense, data + 2, n);
  t->res.sense_len = (uint16_t)n;
  if (n < 14) return;               /* too short for key and ASC/ASCQ in either format */
  struct scsi_sense sense;
  memset(&sense, 0, sizeof sense);
  uint8_t buf[252];
  memset(buf, 0, sizeof buf);
  memcpy(buf, data + 2, n);
  scsi_parse_sense_data(&sense, buf);
  t->res.sense_key = (uint8_t)sense.key;
  t->res.asc = (uint8_t)(sense.ascq >> 8);
  t->res.ascq = (uint8_t)sense.ascq;
}

void mcsi_scsi_rx_response(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  t->res.response = h->response;
  t->res.scsi_status = h->status;
  if (set_residual(c, t, h)) return;
  if (h->status == 0x02) parse_sense(t, data, dlen);
  finish(c, t);
}

/* What an R2T may ask (ErrorRecoveryLevel 0: no recovery R2Ts): data of a
 * WRITE, 1..MaxBurstLength bytes inside it, never more in all than the
 * command carries, and no more R2Ts at once than MaxOutstandingR2T. */
static const char *bad_r2t(const mcsi_conn *c, const mcsi_task *t, const mcsi_pdu_hdr *h)
{
  const mcsi_params *p = &c->sess->params;
  uint32_t max_out = p->max_outstanding_r2t ? p->max_outstanding_r2t : 1;
  if (t->dir != MCSI_DIR_WRITE) return "R2T for a command that writes nothing";
  if (h->ttt == MCSI_RSVD_TAG) return "R2T with the reserved Target Transfer Tag 0xffffffff";
  if (h->residual == 0 || h->residual > p->max_burst) return "R2T length outside 1..MaxBurstLength";
  if ((uint64_t)h->offset + h->residual > t->len) return "R2T outside the command's data";
  if (t->r2t_requested + h->residual > t->len) return "R2Ts asked for more data than the command has";
  if (t->r2t_outstanding >= max_out) return "more R2Ts outstanding than MaxOutstandingR2T";
  return NULL;
}

void mcsi_scsi_rx_r2t(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h)
{
  const char *bad = bad_r2t(c, t, h);
  if (bad) {
    c->stats.format_errors++;
    mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "%s: %s (offset %u, length %u)", c->portal, bad, h->offset,
                   h->residual);
    return;
  }
  t->r2t_requested += h->residual;
  send_data_out(c, t, h->ttt, h->offset, h->residual);
}

/* ---- submitting ------------------------------------------------------------------------- */

mcsi_status mcsi_scsi_submit(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb, size_t cdb_len,
                             int dir, void *buf, size_t len, mcsi_scsi_cb cb, void *arg)
{
  return mcsi_scsi_submit_tagged(ini, sid, lun, cdb, cdb_len, dir, buf, len, cb, arg, NULL);
}

static mcsi_task *find_tag_in(mcsi_link *list, uint64_t tag)
{
  for (mcsi_link *l = list->next; l != list; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->tag == tag && t->kind == MCSI_TASK_SCSI) return t;
  }
  return NULL;
}

/* The outstanding command with this tag: waiting, in flight, or in limbo. */
mcsi_task *mcsi_scsi_find_tag(mcsi_session *s, uint64_t tag)
{
  mcsi_task *t;
  if (!tag) return NULL;
  if ((t = find_tag_in(&s->pending, tag)) || (t = find_tag_in(&s->limbo, tag))) return t;
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next)
    if ((t = find_tag_in(&MCSI_CONTAINER(l, mcsi_conn, link)->tasks, tag))) return t;
  return NULL;
}

mcsi_status mcsi_scsi_submit_tagged(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb,
                                    size_t cdb_len, int dir, void *buf, size_t len, mcsi_scsi_cb cb, void *arg,
                                    uint64_t *tag)
{
  mcsi_session *s = NULL;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cdb || cdb_len == 0 || cdb_len > 16) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "CDB length must be 1..16");
  if (dir < MCSI_DIR_NONE || dir > MCSI_DIR_WRITE || (dir == MCSI_DIR_NONE && len) || (len && !buf))
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "data direction, buffer and length do not agree");
  if (len > 0xFFFFFFFFu) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "transfer longer than 4 GiB");
  if (lun > 16383) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "LUN %llu out of range (0..16383)", (unsigned long long)lun);
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_status st = mcsi_session_ready(ini, sid, 1, &s);
  if (st) return st;
  mcsi_task *t = mcsi_task_new(s, MCSI_TASK_SCSI);
  if (!t) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  t->lun = lun;
  memcpy(t->cdb, cdb, cdb_len);
  t->cdb_len = (uint8_t)cdb_len;
  t->dir = dir;
  t->buf = buf;
  t->len = len;
  t->cb = cb;
  t->arg = arg;
  t->tag = mcsi_new_id();
  if (tag) *tag = t->tag;
  mcsi_session_submit(s, t);
  return mcsi_ok(ini);
}

static mcsi_status submit_rw(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t bs,
                             void *buf, size_t len, int write, mcsi_scsi_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!bs || len % bs || len / bs > 0xFFFFFFFFu)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "length %zu is not a whole number of %u-byte blocks", len, bs);
  struct scsi_task *task = write ? scsi_cdb_write16(lba, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0)
                                 : scsi_cdb_read16(lba, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0);
  if (!task) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  uint8_t cdb[16];
  memcpy(cdb, task->cdb, 16);
  scsi_free_scsi_task(task);
  return mcsi_scsi_submit(ini, sid, lun, cdb, 16, write ? MCSI_DIR_WRITE : MCSI_DIR_READ, buf, len, cb, arg);
}

mcsi_status mcsi_read_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t bs,
                            void *buf, size_t len, mcsi_scsi_cb cb, void *arg)
{
  return submit_rw(ini, sid, lun, lba, bs, buf, len, 0, cb, arg);
}

mcsi_status mcsi_write_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t bs,
                             const void *buf, size_t len, mcsi_scsi_cb cb, void *arg)
{
  return submit_rw(ini, sid, lun, lba, bs, (void *)(uintptr_t)buf, len, 1, cb, arg);
}

/* ---- blocking forms ------------------------------------------------------------------------- */

typedef struct waiter {
  int done;
  mcsi_status st;
  mcsi_scsi_result res;
} waiter;

static void wake(mcsi_status st, const mcsi_scsi_result *res, void *arg)
{
  waiter *w = arg;
  w->st = st;
  if (res) w->res = *res;
  w->done = 1;
}

static mcsi_status command_once(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb,
                                size_t cdb_len, int dir, void *buf, size_t len, mcsi_scsi_result *res)
{
  waiter w = { 0 };
  mcsi_status st = mcsi_scsi_submit(ini, sid, lun, cdb, cdb_len, dir, buf, len, wake, &w);
  if (st) return st;
  mcsi_run_until(ini, &w.done, 0);
  if (res) *res = w.res;
  return w.st;
}

/* A command answered CHECK CONDITION with a UNIT ATTENTION: it did not run. */
int mcsi_scsi_unit_attention(mcsi_status st, const mcsi_scsi_result *res)
{
  return st == ISDSC_SCSI_REQUEST_FAILED && res && res->scsi_status == 0x02 &&
         res->sense_key == SCSI_SENSE_UNIT_ATTENTION;
}

/* Retries a command that met a UNIT ATTENTION (a new session, a reset, a
 * changed LUN): the condition is reported once and cleared. */
mcsi_status mcsi_scsi_command(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb, size_t cdb_len,
                              int dir, void *buf, size_t len, mcsi_scsi_result *res)
{
  mcsi_scsi_result r;
  mcsi_status st = ISDSC_SUCCESS;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (ini->in_callback) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "blocking call from inside a callback");
  for (int tries = 0; tries < 4; tries++) {
    memset(&r, 0, sizeof r);
    st = command_once(ini, sid, lun, cdb, cdb_len, dir, buf, len, &r);
    if (!mcsi_scsi_unit_attention(st, &r)) break;
  }
  if (res) *res = r;
  return st;
}

static mcsi_status block_size(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint32_t *bs)
{
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (s && s->cap_valid && s->cap_lun == lun) { *bs = s->cap_block_size; return ISDSC_SUCCESS; }
  mcsi_capacity cap;
  mcsi_status st = mcsi_scsi_read_capacity(ini, sid, lun, &cap);
  *bs = cap.block_size;
  return st;
}

static mcsi_status rw(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, void *buf, size_t len, int write)
{
  uint32_t bs = 0;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!buf && len) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no buffer");
  mcsi_status st = block_size(ini, sid, lun, &bs);
  if (st) return st;
  if (!bs || len % bs || len / bs > 0xFFFFFFFFu)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "length %zu is not a whole number of %u-byte blocks", len, bs);
  struct scsi_task *task = write ? scsi_cdb_write16(lba, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0)
                                 : scsi_cdb_read16(lba, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0);
  if (!task) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  st = mcsi_scsi_command(ini, sid, lun, task->cdb, 16, write ? MCSI_DIR_WRITE : MCSI_DIR_READ, buf, len, NULL);
  scsi_free_scsi_task(task);
  return st;
}

mcsi_status mcsi_read(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, void *buf, size_t len)
{
  return rw(ini, sid, lun, lba, buf, len, 0);
}

mcsi_status mcsi_write(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, const void *buf, size_t len)
{
  return rw(ini, sid, lun, lba, (void *)(uintptr_t)buf, len, 1);
}
