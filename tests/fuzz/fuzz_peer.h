/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_peer.h: a tiny iSCSI target on loopback whose every answer comes
 * from a byte string (the fuzz input), for tests/fuzz/fuzz_conn.c.
 *
 * The peer runs in its own thread, listens on 127.0.0.1 (port 0) and
 * accepts any number of connections (leading, added, discovery, redirected,
 * reinstated).  For EACH PDU the initiator sends, on any connection, it
 * takes the next record of the script and answers with what the record
 * says.  A record:
 *
 *   byte 0  action: low 4 bits a kind (FP_K_*), high bits FP_F_* flags
 *   byte 1  XORed into byte 1 of the BHS (the flags byte)
 *   byte 2  edit count n (low 3 bits: 0..7)
 *   n x 2   edits: (BHS offset mod 48, byte XORed into it), applied last
 *   if FP_F_DATA: one length byte L, then L bytes: the data segment
 *                 (or, for FP_K_RAW, the bytes sent as they are)
 *
 * Every answer is first built as a well-formed reply to the request (the
 * request's ITT, the connection's StatSN, the session's ExpCmdSN/MaxCmdSN,
 * echoed login keys, INQUIRY/READ CAPACITY/REPORT LUNS data, R2Ts for
 * writes, ...), then the flags byte and the edits corrupt it.  A script of
 * FP_K_DEFAULT records with no edits therefore logs in and serves I/O.
 *
 * When the script is used up, or FP_DEADLINE_MS after the start, the peer
 * shuts every connection (FIN after what it queued) and shuts every later
 * one at once, so that a correct initiator ends everything it does quickly.
 * Redirects never leave loopback: a TargetAddress in a Login Response is
 * rewritten to the peer's own portal. */
#ifndef MCSI_FUZZ_PEER_H
#define MCSI_FUZZ_PEER_H
#include <stddef.h>
#include <stdint.h>

#define FP_DEADLINE_MS 1000
#define FP_TARGET "iqn.2026-11.org.mcsi:fuzz"

enum fp_kind {
  FP_K_DEFAULT = 0,   /* the well-formed answer (nothing for a Data-Out that is not final) */
  FP_K_NONE,          /* swallow the request */
  FP_K_NOP_IN,        /* forced opcodes: header fields as for the default answer */
  FP_K_SCSI_RSP,
  FP_K_DATA_IN,
  FP_K_R2T,
  FP_K_ASYNC,
  FP_K_REJECT,
  FP_K_TEXT_RSP,
  FP_K_LOGOUT_RSP,
  FP_K_LOGIN_RSP,
  FP_K_TMF_RSP,
  FP_K_RAW,           /* the record's data bytes, sent as they are */
  FP_K_CLOSE,         /* FIN, after anything queued */
  FP_K_RESET,         /* RST (SO_LINGER 0) */
  FP_K_TWICE          /* the default answer, sent twice */
};

#define FP_F_DATA   0x10  /* the record carries the data segment */
#define FP_F_NOSN   0x20  /* StatSN/ExpCmdSN/MaxCmdSN left 0 (edits still apply) */
#define FP_F_MORE   0x40  /* the next record answers the same request too */
#define FP_F_STALE  0x80  /* the ITT of the request before this one, not this one's */

typedef struct fuzz_peer fuzz_peer;

/* Starts the thread; the script is copied. NULL on failure. */
fuzz_peer *fuzz_peer_start(const uint8_t *script, size_t len);
/* "127.0.0.1:<port>" */
const char *fuzz_peer_portal(const fuzz_peer *p);
/* Stops and joins the thread, closes every socket, frees everything. */
void fuzz_peer_stop(fuzz_peer *p);
/* Requests answered so far (records used, for the seed generator's checks). */
unsigned fuzz_peer_requests(const fuzz_peer *p);
#endif
