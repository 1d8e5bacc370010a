/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pdu.h: iSCSI PDU basic header segment (RFC 7143 11), decoded and encoded
 * for every initiator and target opcode.  The decoded form names each field
 * as the RFC does; a field an opcode does not have stays zero. */
#ifndef MCSI_PDU_H
#define MCSI_PDU_H
#include <stddef.h>
#include <stdint.h>

#define MCSI_BHS_LEN 48
#define MCSI_DIGEST_LEN 4
#define MCSI_MAX_AHS_WORDS 255
#define MCSI_MAX_DSL 0xFFFFFF        /* the 24-bit DataSegmentLength field */
#define MCSI_RSVD_TAG 0xFFFFFFFFu    /* reserved ITT/TTT value */

enum mcsi_opcode {
  /* initiator */
  MCSI_OP_NOP_OUT = 0x00, MCSI_OP_SCSI_CMD = 0x01, MCSI_OP_TMF_REQ = 0x02,
  MCSI_OP_LOGIN_REQ = 0x03, MCSI_OP_TEXT_REQ = 0x04, MCSI_OP_DATA_OUT = 0x05,
  MCSI_OP_LOGOUT_REQ = 0x06, MCSI_OP_SNACK = 0x10,
  /* target */
  MCSI_OP_NOP_IN = 0x20, MCSI_OP_SCSI_RSP = 0x21, MCSI_OP_TMF_RSP = 0x22,
  MCSI_OP_LOGIN_RSP = 0x23, MCSI_OP_TEXT_RSP = 0x24, MCSI_OP_DATA_IN = 0x25,
  MCSI_OP_LOGOUT_RSP = 0x26, MCSI_OP_R2T = 0x31, MCSI_OP_ASYNC = 0x32,
  MCSI_OP_REJECT = 0x3f
};

/* Byte-1 flags. */
#define MCSI_F_FINAL     0x80   /* F: most opcodes */
#define MCSI_F_CONTINUE  0x40   /* C: text, login */
#define MCSI_F_TRANSIT   0x80   /* T: login */
#define MCSI_F_READ      0x40   /* R: SCSI command */
#define MCSI_F_WRITE     0x20   /* W: SCSI command */
#define MCSI_F_ACK       0x40   /* A: Data-In */
#define MCSI_F_OVERFLOW  0x04   /* O: Data-In, SCSI response (bit 5 of byte 1) */
#define MCSI_F_UNDERFLOW 0x02   /* U */
#define MCSI_F_STATUS    0x01   /* S: Data-In carries status */
#define MCSI_F_BIDI_OVERFLOW  0x10
#define MCSI_F_BIDI_UNDERFLOW 0x08
#define MCSI_LOGIN_CSG(f) (((f) >> 2) & 3)
#define MCSI_LOGIN_NSG(f) ((f) & 3)
#define MCSI_ATTR_SIMPLE 1

/* Login stages. */
enum { MCSI_STAGE_SECURITY = 0, MCSI_STAGE_OPERATIONAL = 1, MCSI_STAGE_FULL_FEATURE = 3 };

/* Logout reasons, TMF functions. */
enum { MCSI_LOGOUT_SESSION = 0, MCSI_LOGOUT_CONNECTION = 1, MCSI_LOGOUT_RECOVERY = 2 };
enum { MCSI_TMF_ABORT_TASK = 1, MCSI_TMF_ABORT_TASK_SET = 2, MCSI_TMF_CLEAR_ACA = 3,
       MCSI_TMF_CLEAR_TASK_SET = 4, MCSI_TMF_LUN_RESET = 5, MCSI_TMF_TARGET_WARM_RESET = 6,
       MCSI_TMF_TARGET_COLD_RESET = 7, MCSI_TMF_TASK_REASSIGN = 8 };

typedef struct mcsi_pdu_hdr {
  uint8_t opcode;          /* enum mcsi_opcode */
  uint8_t immediate;       /* I bit (initiator opcodes) */
  uint8_t flags;           /* byte 1 as is (F, C, T, R, W, CSG/NSG, ...) */
  uint8_t ahs_words;       /* TotalAHSLength, in 4-byte words */
  uint32_t dlen;           /* DataSegmentLength (24 bits) */
  uint64_t lun;            /* bytes 8..15 as a big-endian number */
  uint8_t isid[6];         /* login: bytes 8..13 */
  uint16_t tsih;           /* login: bytes 14..15 */
  uint32_t itt;
  uint32_t ttt;            /* TTT; TMF: Referenced Task Tag; SCSI rsp: SNACK Tag */
  uint32_t edtl;           /* SCSI command: Expected Data Transfer Length */
  uint16_t cid;            /* login, logout */
  uint32_t cmdsn, expstatsn;            /* initiator to target */
  uint32_t statsn, expcmdsn, maxcmdsn;  /* target to initiator */
  uint32_t datasn;         /* DataSN, R2TSN, ExpDataSN (SCSI/TMF rsp), reject DataSN/R2TSN */
  uint32_t offset;         /* Buffer Offset; SNACK BegRun */
  uint32_t residual;       /* Residual Count; R2T Desired Data Transfer Length; SNACK RunLength */
  uint32_t bidi_residual;  /* SCSI response */
  uint32_t refcmdsn;       /* TMF request */
  uint8_t version_max, version_min; /* login (min is VersionActive in the response) */
  uint8_t status_class, status_detail; /* login response */
  uint8_t response;        /* SCSI rsp, TMF rsp, logout rsp */
  uint8_t status;          /* SCSI status (SCSI rsp, Data-In with S) */
  uint8_t reason;          /* reject reason; logout reason code */
  uint8_t function;        /* TMF function; SNACK type */
  uint16_t time2wait, time2retain; /* logout response */
  uint8_t async_event, async_vcode;
  uint16_t param[3];       /* async parameters 1..3 */
  uint8_t cdb[16];         /* SCSI command */
} mcsi_pdu_hdr;

/* Decodes a BHS. Returns NULL, or a static string naming the first rule the
 * header breaks (unknown opcode, a flag combination the RFC forbids, a data
 * segment on an opcode that has none, ...). */
const char *mcsi_pdu_decode(const uint8_t bhs[MCSI_BHS_LEN], mcsi_pdu_hdr *h);
/* Encodes a header; fields the opcode does not have are ignored. */
void mcsi_pdu_encode(const mcsi_pdu_hdr *h, uint8_t bhs[MCSI_BHS_LEN]);

/* Bytes on the wire after the BHS: AHS, header digest, padded data, data digest. */
size_t mcsi_pdu_wire_len(const mcsi_pdu_hdr *h, int header_digest, int data_digest);
static inline uint32_t mcsi_pad4(uint32_t n) { return (n + 3u) & ~3u; }

const char *mcsi_opcode_name(uint8_t opcode);
int mcsi_opcode_is_target(uint8_t opcode);

/* Serial number arithmetic (RFC 1982, 32 bits), as CmdSN and StatSN use it. */
static inline int mcsi_sn_lt(uint32_t a, uint32_t b) { return a != b && (uint32_t)(b - a) < 0x80000000u; }
static inline int mcsi_sn_le(uint32_t a, uint32_t b) { return a == b || mcsi_sn_lt(a, b); }

/* Big-endian helpers. */
static inline uint32_t mcsi_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint16_t mcsi_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void mcsi_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void mcsi_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
#endif
