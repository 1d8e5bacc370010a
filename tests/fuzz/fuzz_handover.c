/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_handover.c: libFuzzer harness for the session handover blob
 * (core/base/handover.c), which a successor reads from its predecessor.
 *
 * Input: byte 0 says how many sockets come beside the blob (0..19), the
 * rest is the blob. Checks: a blob that decodes encodes to exactly its own
 * bytes (one form per state), and what it says is inside the bounds the
 * reader promises (connections 1..MCSI_HANDOVER_MAX_CONNS and no more than
 * the sockets, each fd index below them and distinct, read-ahead bytes at
 * most MCSI_HANDOVER_RX_MAX, a nonzero TSIH, CmdSN inside the window, the
 * session's and connections' ids in 1..2^53-1 and no two alike). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "handover.h"
#include "pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
  if (ok) return;
  fprintf(stderr, "fuzz_handover: %s\n", what);
  abort();
}

static void bounds(const mcsi_handover_session *s, size_t nfds)
{
  check(s->nconns >= 1 && s->nconns <= MCSI_HANDOVER_MAX_CONNS && s->nconns <= nfds, "connection count");
  check(s->tsih != 0, "TSIH 0 accepted");
  check(s->id != 0 && s->id <= MCSI_HANDOVER_ID_MAX, "session id 0 or above 2^53 - 1 accepted");
  check(!mcsi_sn_lt(s->cmdsn, s->exp_cmdsn) && !mcsi_sn_lt(s->max_cmdsn + 1, s->cmdsn), "CmdSN outside the window");
  for (uint32_t i = 0; i < s->nconns; i++) {
    check(s->conns[i].fd_index < nfds, "fd index beyond the sockets");
    check(s->conns[i].rx_len <= MCSI_HANDOVER_RX_MAX, "read-ahead beyond its bound");
    check(s->conns[i].id != 0 && s->conns[i].id <= MCSI_HANDOVER_ID_MAX && s->conns[i].id != s->id,
          "a connection id 0, above 2^53 - 1 or the session's accepted");
    for (uint32_t j = 0; j < i; j++) {
      check(s->conns[i].fd_index != s->conns[j].fd_index, "two connections on one fd");
      check(s->conns[i].id != s->conns[j].id, "two connections with one id");
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  size_t nfds = data[0] % 20;
  char msg[MCSI_MSG_MAX];
  mcsi_handover_session *s = malloc(sizeof *s);
  if (!s) return 0;
  if (mcsi_handover_decode(data + 1, size - 1, nfds, s, msg) == ISDSC_SUCCESS) {
    bounds(s, nfds);
    uint8_t *again = NULL;
    size_t len = 0;
    check(mcsi_handover_encode(s, &again, &len) == 0, "encode failed");
    check(len == size - 1 && !memcmp(again, data + 1, len), "a decoded blob encodes to other bytes");
    free(again);
  } else {
    check(msg[0] != 0, "a refusal without a reason");
  }
  free(s);
  return 0;
}
