/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* scsi.c: SCSI commands over a connection (RFC 7143 11.2-11.8): the command
 * PDU with immediate data, unsolicited and R2T-driven Data-Out, Data-In
 * placement, status and sense (decoded with libiscsi's public SCSI layer).
 * The session calls these through scsi_ops. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <iscsi/scsi-lowlevel.h>
#include "scsi.h"

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
static mcsi_scsi_task *of(mcsi_task *t) { return MCSI_CONTAINER(t, mcsi_scsi_task, task); }

static void send_data_out(mcsi_conn *c, mcsi_scsi_task *q, uint32_t ttt, uint32_t off, uint32_t len)
{
  mcsi_task *t = &q->task;
  uint32_t max = c->params.max_send_dsl, sn = 0;
  uint64_t lun = ttt == MCSI_RSVD_TAG ? 0 : mcsi_lun_encode(q->lun);
  while (len) {
    uint32_t n = len < max ? len : max;
    mcsi_pdu_hdr h = { .opcode = MCSI_OP_DATA_OUT, .lun = lun, .itt = t->itt,
                       .ttt = ttt, .expstatsn = c->exp_statsn, .datasn = sn++, .offset = off };
    if (n == len) h.flags = MCSI_F_FINAL;
    mcsi_conn_queue(c, &h, q->buf + off, n, t, NULL);
    off += n;
    len -= n;
  }
  if (ttt != MCSI_RSVD_TAG) mcsi_transport_mark_last(&c->tp, &t->tx);   /* the R2T is outstanding until sent */
}

static void scsi_send(mcsi_conn *c, mcsi_task *t)
{
  mcsi_scsi_task *q = of(t);
  const mcsi_params *p = &c->params;
  mcsi_session *s = c->sess;
  uint32_t len = (uint32_t)q->len, imm = 0, unsol = 0;
  q->data_in = 0;
  q->exp_datasn = 0;
  q->r2t_requested = 0;
  memset(&q->res, 0, sizeof q->res);
  q->res.struct_size = sizeof q->res;
  t->message[0] = 0;
  if (q->dir == MCSI_DIR_WRITE) {
    uint32_t fb = s->params.first_burst < len ? s->params.first_burst : len;
    if (s->params.immediate_data) imm = fb < p->max_send_dsl ? fb : p->max_send_dsl;
    if (!s->params.initial_r2t) unsol = fb - imm;
  }
  mcsi_pdu_hdr h = { .opcode = MCSI_OP_SCSI_CMD, .lun = mcsi_lun_encode(q->lun), .itt = t->itt,
                     .edtl = len, .cmdsn = t->cmdsn, .expstatsn = c->exp_statsn };
  h.flags = (uint8_t)(MCSI_ATTR_SIMPLE | (unsol ? 0 : MCSI_F_FINAL) |
                      (q->dir == MCSI_DIR_READ ? MCSI_F_READ : 0) |
                      (q->dir == MCSI_DIR_WRITE ? MCSI_F_WRITE : 0));
  memcpy(h.cdb, q->cdb, q->cdb_len);
  mcsi_conn_queue(c, &h, imm ? q->buf : NULL, imm, imm ? t : NULL, NULL);
  if (unsol) send_data_out(c, q, MCSI_RSVD_TAG, imm, unsol);
}

/* Where a Data-In's data goes: its command's buffer, in order. */
static int scsi_place_data(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h, uint8_t **dst, const char **err)
{
  mcsi_scsi_task *q = of(t);
  if (q->dir != MCSI_DIR_READ && h->dlen) { *err = "data for a command that reads nothing"; return -1; }
  if ((uint64_t)h->offset + h->dlen > q->len) { *err = "data beyond the buffer"; return -1; }
  if (h->datasn != q->exp_datasn) { *err = "DataSN out of order"; return -1; }
  /* DataPDUInOrder and DataSequenceInOrder (Yes unless both sides said No):
   * each PDU continues where the last ended, so data_in counts bytes placed */
  const mcsi_params *p = &c->sess->params;
  if (p->data_pdu_in_order && p->data_seq_in_order && h->offset != q->data_in) {
    *err = "Data-In out of order (offset is not where the data so far ends)";
    return -1;
  }
  *dst = h->dlen ? q->buf + h->offset : NULL;
  return 0;
}

/* Residuals are checked against what was asked: an underflow beyond the
 * expected transfer length is impossible. 0, or -1 with the command failed. */
static int set_residual(mcsi_conn *c, mcsi_scsi_task *q, const mcsi_pdu_hdr *h)
{
  q->res.residual_kind = h->flags & MCSI_F_UNDERFLOW ? 1 : h->flags & MCSI_F_OVERFLOW ? 2 : 0;
  q->res.residual = q->res.residual_kind ? h->residual : 0;
  q->res.data_in = q->data_in;
  if (q->res.residual_kind != 1 || h->residual <= q->len) return 0;
  mcsi_conn_format_error(c);
  mcsi_task_fail(&q->task, ISDSC_TRANSPORT_ERROR, "%s reported an underflow residual of %u bytes for a %zu-byte"
                 " transfer", mcsi_conn_portal(c), h->residual, q->len);
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
static mcsi_status finish_status(mcsi_scsi_task *q)
{
  char *msg = q->task.message;
  mcsi_scsi_result *r = &q->res;
  if (r->response) return mcsi_msg(msg, ISDSC_TARGET_ERROR, "target failure (iSCSI response 0x%02x)", r->response);
  if (r->scsi_status == 0) return ISDSC_SUCCESS;
  if (r->scsi_status == 0x02 && r->sense_len) {
    const char *ascq = scsi_sense_ascq_str(r->asc << 8 | r->ascq);
    return mcsi_msg(msg, ISDSC_SCSI_REQUEST_FAILED, "CHECK CONDITION: %s (0x%02x), ASC/ASCQ 0x%02x/0x%02x: %s",
                     sense_key_name(r->sense_key), r->sense_key, r->asc, r->ascq, ascq ? ascq : "no description");
  }
  return mcsi_msg(msg, ISDSC_SCSI_REQUEST_FAILED, "SCSI status 0x%02x (%s)", r->scsi_status,
                   status_name(r->scsi_status));
}

/* A command the retry rule (retry.c) says did not run goes again; one that
 * ran out of tries says so after its sense. */
static void finish(mcsi_scsi_task *q)
{
  uint32_t delay;
  int resends = q->task.resends;
  if (mcsi_scsi_retry_rule(&q->res, (uint32_t)resends, &delay) && mcsi_task_retry(&q->task, delay) == 0) return;
  mcsi_status st = finish_status(q);
  if (st && resends && mcsi_scsi_retryable(&q->res)) {
    size_t n = strlen(q->task.message);
    snprintf(q->task.message + n, sizeof q->task.message - n, " (sent %d times: the retry limit)", resends + 1);
  }
  mcsi_task_complete(&q->task, st);
}

static void scsi_data_in(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h)
{
  mcsi_scsi_task *q = of(t);
  if (h->offset + h->dlen > q->data_in) q->data_in = h->offset + h->dlen;   /* <= len: checked */
  q->exp_datasn++;
  if (!(h->flags & MCSI_F_STATUS)) return;
  q->res.scsi_status = h->status;
  if (set_residual(c, q, h) == 0) finish(q);
}

static void parse_sense(mcsi_scsi_task *t, const uint8_t *data, uint32_t dlen)
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

static void scsi_response(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  mcsi_scsi_task *q = of(t);
  q->res.response = h->response;
  q->res.scsi_status = h->status;
  if (set_residual(c, q, h)) return;
  if (h->status == 0x02) parse_sense(q, data, dlen);
  finish(q);
}

/* What an R2T may ask (ErrorRecoveryLevel 0: no recovery R2Ts): data of a
 * WRITE, 1..MaxBurstLength bytes inside it, never more in all than the
 * command carries, and no more R2Ts at once than MaxOutstandingR2T. */
static const char *bad_r2t(const mcsi_conn *c, const mcsi_scsi_task *t, const mcsi_pdu_hdr *h)
{
  const mcsi_params *p = &c->sess->params;
  uint32_t max_out = p->max_outstanding_r2t ? p->max_outstanding_r2t : 1;
  if (t->dir != MCSI_DIR_WRITE) return "R2T for a command that writes nothing";
  if (h->ttt == MCSI_RSVD_TAG) return "R2T with the reserved Target Transfer Tag 0xffffffff";
  if (h->residual == 0 || h->residual > p->max_burst) return "R2T length outside 1..MaxBurstLength";
  if ((uint64_t)h->offset + h->residual > t->len) return "R2T outside the command's data";
  if (t->r2t_requested + h->residual > t->len) return "R2Ts asked for more data than the command has";
  if (mcsi_tx_owner_marked(&t->task.tx) >= max_out) return "more R2Ts outstanding than MaxOutstandingR2T";
  return NULL;
}

static void scsi_r2t(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h)
{
  mcsi_scsi_task *q = of(t);
  const char *bad = bad_r2t(c, q, h);
  if (bad) {
    mcsi_conn_format_error(c);
    mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "%s: %s (offset %u, length %u)", mcsi_conn_portal(c), bad, h->offset,
                   h->residual);
    return;
  }
  q->r2t_requested += h->residual;
  send_data_out(c, q, h->ttt, h->offset, h->residual);
}

/* ---- a command's end, and its start ------------------------------------------------------ */

/* The caller hears with the command's own message (res.message). */
static void scsi_done(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_scsi_task *q = of(t);
  (void)h; (void)d; (void)n;
  q->res.message = st ? (t->message[0] ? t->message : mcsi_status_message(st)) : "Success";
  q->res.retries = (uint32_t)t->resends;
  if (q->cb) q->cb(st, &q->res, q->arg);
}

static void scsi_release(mcsi_task *t) { free(of(t)); }

static const mcsi_task_ops scsi_ops = {
  .send = scsi_send, .place_data = scsi_place_data, .data_in = scsi_data_in, .response = scsi_response,
  .r2t = scsi_r2t, .release = scsi_release,
};

mcsi_status mcsi_scsi_start(mcsi_session *s, uint64_t lun, const uint8_t *cdb, size_t cdb_len, int dir, void *buf,
                            size_t len, mcsi_scsi_done_fn cb, void *arg, uint64_t *tag, char *msg)
{
  if (!cdb || cdb_len == 0 || cdb_len > 16) return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "CDB length must be 1..16");
  if (dir < MCSI_DIR_NONE || dir > MCSI_DIR_WRITE || (dir == MCSI_DIR_NONE && len) || (len && !buf))
    return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "data direction, buffer and length do not agree");
  if (len > 0xFFFFFFFFu) return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "transfer longer than 4 GiB");
  if (lun > 16383) return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "LUN %llu out of range (0..16383)", (unsigned long long)lun);
  if (!cb) return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_scsi_task *q = calloc(1, sizeof *q);
  if (!q || mcsi_task_init(s, &q->task, MCSI_TASK_SCSI)) {
    free(q);
    return mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
  }
  q->task.ops = &scsi_ops;
  q->task.done = scsi_done;
  q->lun = lun;
  memcpy(q->cdb, cdb, cdb_len);
  q->cdb_len = (uint8_t)cdb_len;
  q->dir = dir;
  q->buf = buf;
  q->len = len;
  q->cb = cb;
  q->arg = arg;
  q->tag = mcsi_new_id();
  if (tag) *tag = q->tag;
  mcsi_session_submit(s, &q->task);
  return ISDSC_SUCCESS;
}

static int has_tag(const mcsi_task *t, const void *arg)
{
  return t->ops == &scsi_ops && MCSI_CONTAINER(t, const mcsi_scsi_task, task)->tag == *(const uint64_t *)arg;
}

mcsi_scsi_task *mcsi_scsi_find_tag(mcsi_session *s, uint64_t tag)
{
  mcsi_task *t = tag ? mcsi_session_find_task(s, has_tag, &tag) : NULL;
  return t ? of(t) : NULL;
}

void mcsi_scsi_aborted(mcsi_scsi_task *q, const char *why)
{
  mcsi_task_fail(&q->task, ISDSC_SCSI_REQUEST_FAILED, "command aborted%s", why);
}

int mcsi_scsi_unit_attention(mcsi_status st, const mcsi_scsi_result *res)
{
  return st == ISDSC_SCSI_REQUEST_FAILED && res && res->scsi_status == 0x02 &&
         res->sense_key == SCSI_SENSE_UNIT_ATTENTION;
}
