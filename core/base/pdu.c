/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pdu.c: BHS encode and decode for every opcode (RFC 7143 section 11). */
#include <string.h>
#include "pdu.h"

static uint64_t get64(const uint8_t *p) { return (uint64_t)mcsi_be32(p) << 32 | mcsi_be32(p + 4); }
static void put64(uint8_t *p, uint64_t v) { mcsi_put32(p, (uint32_t)(v >> 32)); mcsi_put32(p + 4, (uint32_t)v); }

const char *mcsi_opcode_name(uint8_t op)
{
  switch (op) {
  case MCSI_OP_NOP_OUT: return "NOP-Out";
  case MCSI_OP_SCSI_CMD: return "SCSI Command";
  case MCSI_OP_TMF_REQ: return "Task Management Request";
  case MCSI_OP_LOGIN_REQ: return "Login Request";
  case MCSI_OP_TEXT_REQ: return "Text Request";
  case MCSI_OP_DATA_OUT: return "SCSI Data-Out";
  case MCSI_OP_LOGOUT_REQ: return "Logout Request";
  case MCSI_OP_SNACK: return "SNACK Request";
  case MCSI_OP_NOP_IN: return "NOP-In";
  case MCSI_OP_SCSI_RSP: return "SCSI Response";
  case MCSI_OP_TMF_RSP: return "Task Management Response";
  case MCSI_OP_LOGIN_RSP: return "Login Response";
  case MCSI_OP_TEXT_RSP: return "Text Response";
  case MCSI_OP_DATA_IN: return "SCSI Data-In";
  case MCSI_OP_LOGOUT_RSP: return "Logout Response";
  case MCSI_OP_R2T: return "Ready To Transfer";
  case MCSI_OP_ASYNC: return "Asynchronous Message";
  case MCSI_OP_REJECT: return "Reject";
  default: return NULL;
  }
}

int mcsi_opcode_is_target(uint8_t op) { return (op & 0x20) != 0; }

size_t mcsi_pdu_wire_len(const mcsi_pdu_hdr *h, int header_digest, int data_digest)
{
  size_t n = (size_t)h->ahs_words * 4 + mcsi_pad4(h->dlen);
  if (header_digest) n += MCSI_DIGEST_LEN;
  if (data_digest && h->dlen) n += MCSI_DIGEST_LEN;
  return n;
}

/* Words 24..35 of target PDUs: StatSN, ExpCmdSN, MaxCmdSN. */
static void get_target_sn(const uint8_t *b, mcsi_pdu_hdr *h)
{
  h->statsn = mcsi_be32(b + 24);
  h->expcmdsn = mcsi_be32(b + 28);
  h->maxcmdsn = mcsi_be32(b + 32);
}

static void put_target_sn(const mcsi_pdu_hdr *h, uint8_t *b)
{
  mcsi_put32(b + 24, h->statsn);
  mcsi_put32(b + 28, h->expcmdsn);
  mcsi_put32(b + 32, h->maxcmdsn);
}

static const char *decode_initiator(const uint8_t *b, mcsi_pdu_hdr *h)
{
  h->cmdsn = mcsi_be32(b + 24);
  h->expstatsn = mcsi_be32(b + 28);
  switch (h->opcode) {
  case MCSI_OP_NOP_OUT:
    h->ttt = mcsi_be32(b + 20);
    if (h->itt == MCSI_RSVD_TAG && !h->immediate) return "NOP-Out without ITT must be immediate";
    return NULL;
  case MCSI_OP_SCSI_CMD:
    h->edtl = mcsi_be32(b + 20);
    memcpy(h->cdb, b + 32, 16);
    if (!(h->flags & MCSI_F_FINAL) && !(h->flags & MCSI_F_WRITE)) return "SCSI Command without F must write";
    return NULL;
  case MCSI_OP_TMF_REQ:
    h->function = h->flags & 0x7f;
    h->ttt = mcsi_be32(b + 20);
    h->refcmdsn = mcsi_be32(b + 32);
    h->datasn = mcsi_be32(b + 36);
    return h->dlen ? "Task Management Request with data" : NULL;
  case MCSI_OP_LOGIN_REQ:
    h->version_max = b[2];
    h->version_min = b[3];
    h->cid = mcsi_be16(b + 20);
    if ((h->flags & MCSI_F_TRANSIT) && (h->flags & MCSI_F_CONTINUE)) return "Login with both T and C";
    return NULL;
  case MCSI_OP_TEXT_REQ:
    h->ttt = mcsi_be32(b + 20);
    if ((h->flags & MCSI_F_FINAL) && (h->flags & MCSI_F_CONTINUE)) return "Text with both F and C";
    return NULL;
  case MCSI_OP_DATA_OUT:
    h->ttt = mcsi_be32(b + 20);
    h->datasn = mcsi_be32(b + 36);
    h->offset = mcsi_be32(b + 40);
    return NULL;
  case MCSI_OP_LOGOUT_REQ:
    h->reason = h->flags & 0x7f;
    h->cid = mcsi_be16(b + 20);
    if (h->reason > MCSI_LOGOUT_RECOVERY) return "Logout with an unknown reason";
    return h->dlen ? "Logout Request with data" : NULL;
  case MCSI_OP_SNACK:
    h->function = h->flags & 0x0f;
    h->ttt = mcsi_be32(b + 20);
    h->offset = mcsi_be32(b + 40);
    h->residual = mcsi_be32(b + 44);
    return NULL;
  default:
    return "unknown initiator opcode";
  }
}

static const char *decode_data_in(const uint8_t *b, mcsi_pdu_hdr *h)
{
  h->ttt = mcsi_be32(b + 20);
  h->status = b[3];
  h->datasn = mcsi_be32(b + 36);
  h->offset = mcsi_be32(b + 40);
  h->residual = mcsi_be32(b + 44);
  if ((h->flags & MCSI_F_STATUS) && !(h->flags & MCSI_F_FINAL)) return "Data-In with S but not F";
  if ((h->flags & MCSI_F_OVERFLOW) && (h->flags & MCSI_F_UNDERFLOW)) return "Data-In with both O and U";
  if ((h->flags & (MCSI_F_OVERFLOW | MCSI_F_UNDERFLOW)) && !(h->flags & MCSI_F_STATUS))
    return "Data-In residual without status";
  return NULL;
}

static const char *decode_target(const uint8_t *b, mcsi_pdu_hdr *h)
{
  get_target_sn(b, h);
  switch (h->opcode) {
  case MCSI_OP_NOP_IN:
    h->ttt = mcsi_be32(b + 20);
    return NULL;
  case MCSI_OP_SCSI_RSP:
    h->response = b[2];
    h->status = b[3];
    h->ttt = mcsi_be32(b + 20);
    h->datasn = mcsi_be32(b + 36);
    h->bidi_residual = mcsi_be32(b + 40);
    h->residual = mcsi_be32(b + 44);
    if ((h->flags & MCSI_F_OVERFLOW) && (h->flags & MCSI_F_UNDERFLOW)) return "SCSI Response with both O and U";
    if (h->dlen == 1) return "SCSI Response data too short for a sense length";
    return NULL;
  case MCSI_OP_TMF_RSP:
    h->response = b[2];
    return h->dlen ? "Task Management Response with data" : NULL;
  case MCSI_OP_LOGIN_RSP:
    h->version_max = b[2];
    h->version_min = b[3];
    h->status_class = b[36];
    h->status_detail = b[37];
    if ((h->flags & MCSI_F_TRANSIT) && (h->flags & MCSI_F_CONTINUE)) return "Login Response with both T and C";
    return NULL;
  case MCSI_OP_TEXT_RSP:
    h->ttt = mcsi_be32(b + 20);
    if ((h->flags & MCSI_F_FINAL) && (h->flags & MCSI_F_CONTINUE)) return "Text Response with both F and C";
    return NULL;
  case MCSI_OP_DATA_IN:
    return decode_data_in(b, h);
  case MCSI_OP_LOGOUT_RSP:
    h->response = b[2];
    h->time2wait = mcsi_be16(b + 40);
    h->time2retain = mcsi_be16(b + 42);
    return h->dlen ? "Logout Response with data" : NULL;
  case MCSI_OP_R2T:
    h->ttt = mcsi_be32(b + 20);
    h->datasn = mcsi_be32(b + 36);
    h->offset = mcsi_be32(b + 40);
    h->residual = mcsi_be32(b + 44);
    if (h->dlen) return "R2T with data";
    return h->residual ? NULL : "R2T with a zero Desired Data Transfer Length";
  case MCSI_OP_ASYNC:
    h->async_event = b[36];
    h->async_vcode = b[37];
    h->param[0] = mcsi_be16(b + 38);
    h->param[1] = mcsi_be16(b + 40);
    h->param[2] = mcsi_be16(b + 42);
    return NULL;
  case MCSI_OP_REJECT:
    h->reason = b[2];
    h->datasn = mcsi_be32(b + 36);
    return h->dlen < MCSI_BHS_LEN ? "Reject without the rejected header" : NULL;
  default:
    return "unknown target opcode";
  }
}

const char *mcsi_pdu_decode(const uint8_t b[MCSI_BHS_LEN], mcsi_pdu_hdr *h)
{
  memset(h, 0, sizeof *h);
  h->opcode = b[0] & 0x3f;
  h->immediate = (b[0] & 0x40) != 0;
  h->flags = b[1];
  h->ahs_words = b[4];
  h->dlen = (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
  h->lun = get64(b + 8);
  memcpy(h->isid, b + 8, 6);
  h->tsih = mcsi_be16(b + 14);
  h->itt = mcsi_be32(b + 16);
  if (b[0] & 0x80) return "reserved bit 0 set";
  if (!mcsi_opcode_name(h->opcode)) return "unknown opcode";
  return mcsi_opcode_is_target(h->opcode) ? decode_target(b, h) : decode_initiator(b, h);
}

static void encode_initiator(const mcsi_pdu_hdr *h, uint8_t *b)
{
  mcsi_put32(b + 24, h->cmdsn);
  mcsi_put32(b + 28, h->expstatsn);
  switch (h->opcode) {
  case MCSI_OP_SCSI_CMD:
    mcsi_put32(b + 20, h->edtl);
    memcpy(b + 32, h->cdb, 16);
    break;
  case MCSI_OP_TMF_REQ:
    b[1] = (uint8_t)(0x80 | (h->function & 0x7f));
    mcsi_put32(b + 20, h->ttt);
    mcsi_put32(b + 32, h->refcmdsn);
    mcsi_put32(b + 36, h->datasn);
    break;
  case MCSI_OP_LOGIN_REQ:
    memcpy(b + 8, h->isid, 6);
    mcsi_put16(b + 14, h->tsih);
    b[2] = h->version_max;
    b[3] = h->version_min;
    mcsi_put16(b + 20, h->cid);
    break;
  case MCSI_OP_LOGOUT_REQ:
    b[1] = (uint8_t)(0x80 | (h->reason & 0x7f));
    mcsi_put16(b + 20, h->cid);
    break;
  case MCSI_OP_DATA_OUT:
    mcsi_put32(b + 24, 0);   /* reserved */
    mcsi_put32(b + 20, h->ttt);
    mcsi_put32(b + 36, h->datasn);
    mcsi_put32(b + 40, h->offset);
    break;
  case MCSI_OP_SNACK:
    b[1] = (uint8_t)(0x80 | (h->function & 0x0f));
    mcsi_put32(b + 24, 0);
    mcsi_put32(b + 20, h->ttt);
    mcsi_put32(b + 40, h->offset);
    mcsi_put32(b + 44, h->residual);
    break;
  default: /* NOP-Out, Text */
    mcsi_put32(b + 20, h->ttt);
    break;
  }
}

static void encode_target(const mcsi_pdu_hdr *h, uint8_t *b)
{
  put_target_sn(h, b);
  switch (h->opcode) {
  case MCSI_OP_SCSI_RSP:
    b[2] = h->response;
    b[3] = h->status;
    mcsi_put32(b + 20, h->ttt);
    mcsi_put32(b + 36, h->datasn);
    mcsi_put32(b + 40, h->bidi_residual);
    mcsi_put32(b + 44, h->residual);
    break;
  case MCSI_OP_TMF_RSP:
  case MCSI_OP_LOGOUT_RSP:
    b[2] = h->response;
    if (h->opcode == MCSI_OP_LOGOUT_RSP) {
      mcsi_put16(b + 40, h->time2wait);
      mcsi_put16(b + 42, h->time2retain);
    }
    break;
  case MCSI_OP_LOGIN_RSP:
    memcpy(b + 8, h->isid, 6);
    mcsi_put16(b + 14, h->tsih);
    b[2] = h->version_max;
    b[3] = h->version_min;
    b[36] = h->status_class;
    b[37] = h->status_detail;
    break;
  case MCSI_OP_DATA_IN:
    b[3] = h->status;
    /* fall through */
  case MCSI_OP_R2T:
    mcsi_put32(b + 20, h->ttt);
    mcsi_put32(b + 36, h->datasn);
    mcsi_put32(b + 40, h->offset);
    mcsi_put32(b + 44, h->residual);
    break;
  case MCSI_OP_ASYNC:
    b[36] = h->async_event;
    b[37] = h->async_vcode;
    mcsi_put16(b + 38, h->param[0]);
    mcsi_put16(b + 40, h->param[1]);
    mcsi_put16(b + 42, h->param[2]);
    break;
  case MCSI_OP_REJECT:
    b[2] = h->reason;
    mcsi_put32(b + 36, h->datasn);
    break;
  default: /* NOP-In, Text Response */
    mcsi_put32(b + 20, h->ttt);
    break;
  }
}

void mcsi_pdu_encode(const mcsi_pdu_hdr *h, uint8_t b[MCSI_BHS_LEN])
{
  memset(b, 0, MCSI_BHS_LEN);
  b[0] = (uint8_t)((h->opcode & 0x3f) | (h->immediate ? 0x40 : 0));
  b[1] = h->flags;
  b[4] = h->ahs_words;
  b[5] = (uint8_t)(h->dlen >> 16);
  b[6] = (uint8_t)(h->dlen >> 8);
  b[7] = (uint8_t)h->dlen;
  put64(b + 8, h->lun);
  mcsi_put32(b + 16, h->itt);
  if (mcsi_opcode_is_target(h->opcode)) encode_target(h, b);
  else encode_initiator(h, b);
}
