/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_handover.c: libFuzzer harness for the session handover blob
 * (core/base/handover.c), which a successor reads from its predecessor.
 *
 * Input: byte 0 says how many sockets come beside the blob (0..19), the
 * rest is the blob. Checks: a blob that decodes encodes to exactly its own
 * bytes (one form per state; a version 1 blob of mcsi 0.3.0, which names no
 * ids, is read with every id and counter 0 and written as version 2), and what it says is inside the bounds the
 * reader promises (connections 1..MCSI_HANDOVER_MAX_CONNS and no more than
 * the sockets, each fd index below them and distinct, read-ahead bytes at
 * most MCSI_HANDOVER_RX_MAX, a nonzero TSIH, CmdSN inside the window, the
 * session's and connections' ids in 1..2^53-1 and no two alike, or all 0 in
 * a version 1 blob). */
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

/* v1: a blob of mcsi 0.3.0's format (version 1), which names no ids and no
 * counters: every one of them reads as 0. */
static void bounds(const mcsi_handover_session *s, size_t nfds, int v1)
{
  check(s->nconns >= 1 && s->nconns <= MCSI_HANDOVER_MAX_CONNS && s->nconns <= nfds, "connection count");
  check(s->tsih != 0, "TSIH 0 accepted");
  if (v1) check(s->id == 0 && s->commands_retried == 0 && s->recoveries == 0, "a version 1 blob gave an id or a counter");
  else check(s->id != 0 && s->id <= MCSI_HANDOVER_ID_MAX, "session id 0 or above 2^53 - 1 accepted");
  check(!mcsi_sn_lt(s->cmdsn, s->exp_cmdsn) && !mcsi_sn_lt(s->max_cmdsn + 1, s->cmdsn), "CmdSN outside the window");
  for (uint32_t i = 0; i < s->nconns; i++) {
    const mcsi_handover_conn *c = &s->conns[i];
    check(c->fd_index < nfds, "fd index beyond the sockets");
    check(c->rx_len <= MCSI_HANDOVER_RX_MAX, "read-ahead beyond its bound");
    if (v1) check(c->id == 0 && c->commands == 0 && c->stats.pdus_received == 0, "a version 1 blob gave an id or a counter");
    else check(c->id != 0 && c->id <= MCSI_HANDOVER_ID_MAX && c->id != s->id,
               "a connection id 0, above 2^53 - 1 or the session's accepted");
    for (uint32_t j = 0; j < i; j++) {
      check(c->fd_index != s->conns[j].fd_index, "two connections on one fd");
      check(v1 || c->id != s->conns[j].id, "two connections with one id");
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
    int v1 = size > 12 && data[12] == 1;  /* the version's low byte, after the socket count and the magic */
    bounds(s, nfds, v1);
    uint8_t *again = NULL;
    size_t len = 0;
    check(mcsi_handover_encode(s, &again, &len) == 0, "encode failed");
    check(v1 || (len == size - 1 && !memcmp(again, data + 1, len)), "a decoded blob encodes to other bytes");
    free(again);
  } else {
    check(msg[0] != 0, "a refusal without a reason");
  }
  free(s);
  return 0;
}
