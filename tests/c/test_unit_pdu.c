/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_pdu.c: the BHS codec: byte layouts against RFC 7143 section 11,
 * round trips for every opcode, the rules a header can break, wire lengths,
 * serial number arithmetic. */
#include <string.h>
#include "pdu.h"
#include "testlib.h"

static const uint8_t ops[] = {
  MCSI_OP_NOP_OUT, MCSI_OP_SCSI_CMD, MCSI_OP_TMF_REQ, MCSI_OP_LOGIN_REQ, MCSI_OP_TEXT_REQ, MCSI_OP_DATA_OUT,
  MCSI_OP_LOGOUT_REQ, MCSI_OP_SNACK, MCSI_OP_NOP_IN, MCSI_OP_SCSI_RSP, MCSI_OP_TMF_RSP, MCSI_OP_LOGIN_RSP,
  MCSI_OP_TEXT_RSP, MCSI_OP_DATA_IN, MCSI_OP_LOGOUT_RSP, MCSI_OP_R2T, MCSI_OP_ASYNC, MCSI_OP_REJECT };

/* A header with every field the opcode has set to something recognisable. */
static mcsi_pdu_hdr sample(uint8_t op)
{
  mcsi_pdu_hdr h;
  memset(&h, 0, sizeof h);
  h.opcode = op;
  h.immediate = !mcsi_opcode_is_target(op) && op != MCSI_OP_DATA_OUT && op != MCSI_OP_SNACK;
  h.flags = MCSI_F_FINAL;
  h.dlen = op == MCSI_OP_REJECT ? 48 : 0x012345;
  if (op == MCSI_OP_R2T || op == MCSI_OP_TMF_REQ || op == MCSI_OP_TMF_RSP || op == MCSI_OP_LOGOUT_REQ ||
      op == MCSI_OP_LOGOUT_RSP)
    h.dlen = 0;
  h.ahs_words = 2;
  h.lun = 0x0001000000000000ull;
  h.itt = 0x11223344;
  h.ttt = 0x55667788;
  h.edtl = 0x00010000;
  h.cid = 0x0102;
  h.cmdsn = 0xA0000001;
  h.expstatsn = 0xA0000002;
  h.statsn = 0xB0000001;
  h.expcmdsn = 0xB0000002;
  h.maxcmdsn = 0xB0000003;
  h.datasn = 7;
  h.offset = 0x2000;
  h.residual = 0x300;
  h.bidi_residual = 0x40;
  h.refcmdsn = 0xC0000001;
  h.response = 1;
  h.status = 2;
  h.reason = op == MCSI_OP_LOGOUT_REQ ? 1 : 9;
  h.function = op == MCSI_OP_SNACK ? 3 : 5;
  h.time2wait = 2;
  h.time2retain = 20;
  h.async_event = 1;
  h.async_vcode = 0;
  h.param[0] = 1; h.param[1] = 2; h.param[2] = 3;
  h.status_class = 0; h.status_detail = 0;
  for (int i = 0; i < 16; i++) h.cdb[i] = (uint8_t)(0x80 + i);
  if (op == MCSI_OP_LOGIN_REQ || op == MCSI_OP_LOGIN_RSP) {
    h.flags = MCSI_F_TRANSIT | 1 << 2 | 3;
    memcpy(h.isid, "\x80\x12\x34\x56\x78\x9a", 6);
    h.tsih = 0x0100;
    h.version_max = 0;
    h.version_min = 0;
  }
  if (op == MCSI_OP_DATA_IN) h.flags = MCSI_F_FINAL | MCSI_F_STATUS | MCSI_F_UNDERFLOW;
  if (op == MCSI_OP_SCSI_CMD) h.flags = MCSI_F_FINAL | MCSI_F_READ | MCSI_ATTR_SIMPLE;
  return h;
}

static void round_trips(void)
{
  for (size_t i = 0; i < sizeof ops; i++) {
    mcsi_pdu_hdr a = sample(ops[i]), b;
    uint8_t bhs[MCSI_BHS_LEN], again[MCSI_BHS_LEN];
    mcsi_pdu_encode(&a, bhs);
    const char *bad = mcsi_pdu_decode(bhs, &b);
    T_OK(bad == NULL, "%s decodes cleanly (%s)", mcsi_opcode_name(ops[i]), bad ? bad : "ok");
    mcsi_pdu_encode(&b, again);
    T_EQ_MEM(bhs, again, MCSI_BHS_LEN, "%s: encode(decode(x)) == x", mcsi_opcode_name(ops[i]));
    T_OK(b.opcode == a.opcode && b.itt == a.itt && b.dlen == a.dlen && b.ahs_words == a.ahs_words,
         "%s: opcode, ITT, lengths kept", mcsi_opcode_name(ops[i]));
    T_EQ_INT(mcsi_opcode_is_target(ops[i]), (ops[i] & 0x20) != 0, "%s: direction", mcsi_opcode_name(ops[i]));
  }
  T_OK(mcsi_opcode_name(0x3e) == NULL, "0x3e has no name");
}

static void layouts(void)
{
  uint8_t b[MCSI_BHS_LEN];
  mcsi_pdu_hdr h = sample(MCSI_OP_SCSI_CMD);
  h.edtl = 0x01020304;
  mcsi_pdu_encode(&h, b);
  T_EQ_INT(b[0], 0x41, "SCSI Command: I bit and opcode in byte 0");
  T_EQ_INT(b[1], 0xC1, "SCSI Command: F, R, ATTR simple in byte 1");
  T_EQ_INT(b[4], 2, "TotalAHSLength in byte 4");
  T_OK(b[5] == 0x01 && b[6] == 0x23 && b[7] == 0x45, "DataSegmentLength in bytes 5..7");
  T_OK(b[8] == 0x00 && b[9] == 0x01, "LUN in bytes 8..15");
  T_EQ_INT(mcsi_be32(b + 16), 0x11223344, "ITT at 16");
  T_EQ_INT(mcsi_be32(b + 20), 0x01020304, "Expected Data Transfer Length at 20");
  T_EQ_INT(mcsi_be32(b + 24), 0xA0000001, "CmdSN at 24");
  T_EQ_INT(mcsi_be32(b + 28), 0xA0000002, "ExpStatSN at 28");
  T_OK(b[32] == 0x80 && b[47] == 0x8f, "CDB at 32..47");

  h = sample(MCSI_OP_LOGIN_REQ);
  mcsi_pdu_encode(&h, b);
  T_EQ_INT(b[0], 0x43, "Login Request: immediate, opcode 0x03");
  T_EQ_INT(b[1], 0x87, "Login Request: T, CSG 1, NSG 3");
  T_EQ_MEM(b + 8, "\x80\x12\x34\x56\x78\x9a\x01\x00", 8, "ISID and TSIH at 8..15");
  T_EQ_INT(mcsi_be16(b + 20), 0x0102, "CID at 20");

  h = sample(MCSI_OP_LOGOUT_REQ);
  mcsi_pdu_encode(&h, b);
  T_EQ_INT(b[1], 0x81, "Logout: F and reason code 1 in byte 1");
  T_EQ_INT(mcsi_be16(b + 20), 0x0102, "Logout: CID at 20");

  h = sample(MCSI_OP_LOGIN_RSP);
  h.status_class = 2;
  h.status_detail = 1;
  mcsi_pdu_encode(&h, b);
  T_OK(b[36] == 2 && b[37] == 1, "Login Response: status class and detail at 36, 37");

  /* a Data-In as tgt sends it, byte by byte */
  static const uint8_t data_in[MCSI_BHS_LEN] = {
    0x25, 0x83, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0,
    0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x05,
    0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00 };
  mcsi_pdu_hdr d;
  T_OK(mcsi_pdu_decode(data_in, &d) == NULL, "a real Data-In decodes");
  T_OK(d.opcode == MCSI_OP_DATA_IN && d.dlen == 4096 && d.itt == 0xdeadbeef && d.ttt == MCSI_RSVD_TAG && d.statsn == 5 &&
       d.expcmdsn == 9 && d.maxcmdsn == 40 && d.residual == 512 && (d.flags & MCSI_F_STATUS) && (d.flags & MCSI_F_UNDERFLOW),
       "its fields: 4096 bytes, ITT, StatSN 5, window 9..40, underflow 512");
}

static void expect_bad(const char *what, uint8_t op, void (*spoil)(uint8_t *b))
{
  mcsi_pdu_hdr h = sample(op), d;
  uint8_t b[MCSI_BHS_LEN];
  mcsi_pdu_encode(&h, b);
  spoil(b);
  const char *bad = mcsi_pdu_decode(b, &d);
  T_OK(bad != NULL, "%s is refused (%s)", what, bad ? bad : "accepted!");
}

static void set_bit7(uint8_t *b) { b[0] |= 0x80; }
static void opcode_3e(uint8_t *b) { b[0] = 0x3e; }
static void s_without_f(uint8_t *b) { b[1] = MCSI_F_STATUS; }
static void both_o_u(uint8_t *b) { b[1] = MCSI_F_FINAL | MCSI_F_STATUS | MCSI_F_OVERFLOW | MCSI_F_UNDERFLOW; }
static void with_data(uint8_t *b) { b[7] = 4; }
static void t_and_c(uint8_t *b) { b[1] = MCSI_F_TRANSIT | MCSI_F_CONTINUE; }
static void short_reject(uint8_t *b) { b[5] = 0; b[6] = 0; b[7] = 20; }
static void one_byte(uint8_t *b) { b[5] = 0; b[6] = 0; b[7] = 1; }
static void zero_length(uint8_t *b) { memset(b + 44, 0, 4); }
static void reason_9(uint8_t *b) { b[1] = 0x89; }

static void rules(void)
{
  expect_bad("reserved bit 0 of byte 0", MCSI_OP_NOP_IN, set_bit7);
  expect_bad("an unknown opcode", MCSI_OP_NOP_IN, opcode_3e);
  expect_bad("a Data-In with S but not F", MCSI_OP_DATA_IN, s_without_f);
  expect_bad("a Data-In with both O and U", MCSI_OP_DATA_IN, both_o_u);
  expect_bad("an R2T with data", MCSI_OP_R2T, with_data);
  expect_bad("an R2T asking for 0 bytes", MCSI_OP_R2T, zero_length);
  expect_bad("a Login Response with T and C", MCSI_OP_LOGIN_RSP, t_and_c);
  expect_bad("a Reject without the whole rejected header", MCSI_OP_REJECT, short_reject);
  expect_bad("a SCSI Response with 1 data byte", MCSI_OP_SCSI_RSP, one_byte);
  expect_bad("a Logout Response with data", MCSI_OP_LOGOUT_RSP, with_data);
  expect_bad("a Task Management Response with data", MCSI_OP_TMF_RSP, with_data);
  expect_bad("a Logout Request with reason 9", MCSI_OP_LOGOUT_REQ, reason_9);
}

static void lengths(void)
{
  mcsi_pdu_hdr h = { .opcode = MCSI_OP_DATA_IN, .dlen = 5, .ahs_words = 1 };
  T_EQ_INT(mcsi_pdu_wire_len(&h, 0, 0), 4 + 8, "AHS 4 + data 5 padded to 8");
  T_EQ_INT(mcsi_pdu_wire_len(&h, 1, 1), 4 + 4 + 8 + 4, "with both digests");
  h.dlen = 0;
  T_EQ_INT(mcsi_pdu_wire_len(&h, 1, 1), 4 + 4, "no data digest without data");
  T_OK(mcsi_pad4(0) == 0 && mcsi_pad4(1) == 4 && mcsi_pad4(4) == 4 && mcsi_pad4(0xFFFFFD) == 0x1000000, "padding");
}

static void serial_numbers(void)
{
  T_OK(mcsi_sn_lt(1, 2) && !mcsi_sn_lt(2, 1) && !mcsi_sn_lt(5, 5), "1 < 2, not 2 < 1, not 5 < 5");
  T_OK(mcsi_sn_lt(0xFFFFFFFFu, 0) && mcsi_sn_lt(0xFFFFFFF0u, 5), "wrap: 2^32-1 < 0, 2^32-16 < 5");
  T_OK(!mcsi_sn_lt(0, 0x80000000u) || !mcsi_sn_lt(0x80000000u, 0), "half-way apart is not both ways");
  T_OK(mcsi_sn_le(7, 7) && mcsi_sn_le(0xFFFFFFFFu, 1), "<= with wrap");
}

int main(void)
{
  round_trips();
  layouts();
  rules();
  lengths();
  serial_numbers();
  return t_done();
}
