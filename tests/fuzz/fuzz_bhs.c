/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_bhs.c: libFuzzer harness for the BHS codec (core/pdu.h).
 *
 * Any 48 bytes are decoded. A header that decodes must survive the round
 * trip: its encoding decodes again, to a header that encodes to the same
 * bytes (reserved bits may be dropped once, never anything else; byte 1
 * of a target opcode, what mcsi receives, is kept as it came), with the
 * same wire length; the opcode has a name and the right direction.
 * Shorter inputs are zero-padded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bhs_check(int ok, const char *what)
{
  if (ok) return;
  fprintf(stderr, "fuzz_bhs: %s\n", what);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  uint8_t bhs[MCSI_BHS_LEN] = { 0 }, once[MCSI_BHS_LEN], twice[MCSI_BHS_LEN];
  mcsi_pdu_hdr h, again;
  memcpy(bhs, data, size < sizeof bhs ? size : sizeof bhs);
  memset(&h, 0, sizeof h);
  if (mcsi_pdu_decode(bhs, &h)) return 0;
  bhs_check(mcsi_opcode_name(h.opcode) != NULL, "a decoded opcode without a name");
  bhs_check(h.dlen <= MCSI_MAX_DSL, "DataSegmentLength beyond 24 bits");
  size_t wire = mcsi_pdu_wire_len(&h, size > 48 && (data[48] & 1), size > 48 && (data[48] & 2));
  bhs_check(wire >= (size_t)h.ahs_words * 4 + mcsi_pad4(h.dlen), "wire length shorter than AHS + data");
  mcsi_pdu_encode(&h, once);
  memset(&again, 0, sizeof again);
  const char *bad = mcsi_pdu_decode(once, &again);
  if (bad) {
    fprintf(stderr, "fuzz_bhs: the encoding of a decoded header does not decode: %s\n", bad);
    abort();
  }
  mcsi_pdu_encode(&again, twice);
  bhs_check(memcmp(once, twice, sizeof once) == 0, "encode(decode(encode(h))) != encode(h)");
  /* byte 1 may be normalised once (TMF and Logout requests: F forced), the rest not */
  bhs_check(again.opcode == h.opcode && again.itt == h.itt && again.dlen == h.dlen &&
            again.ahs_words == h.ahs_words, "opcode, lengths or ITT changed in the round trip");
  if (mcsi_opcode_is_target(h.opcode)) bhs_check(again.flags == h.flags, "a target opcode's flags changed");
  bhs_check(mcsi_pdu_wire_len(&again, 0, 0) == mcsi_pdu_wire_len(&h, 0, 0), "wire length changed");
  return 0;
}
