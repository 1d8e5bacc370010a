/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover.h: the state of one live session, as one process hands it to
 * another (mcsi_session_handover_export / _import): plain values and their
 * versioned binary form. The sockets themselves travel beside the blob (an
 * fd array: SCM_RIGHTS or inheritance); the blob names each connection's by
 * its index in that array. No secret is ever in it: the importer gives the
 * login options (CHAP) for any later login of the session. */
#ifndef MCSI_HANDOVER_H
#define MCSI_HANDOVER_H
#include <stddef.h>
#include <stdint.h>
#include "info.h"
#include "latency.h"
#include "params.h"

#define MCSI_HANDOVER_MAGIC "MCSI-HO\n"   /* 8 bytes, then the version */
#define MCSI_HANDOVER_VERSION 2u          /* 2: the ids and counters of the session and its connections (1: none) */
#define MCSI_HANDOVER_VERSION_OLDEST 1u   /* read too: mcsi 0.3.0 wrote it (no ids, no counters) */
#define MCSI_HANDOVER_MAX_CONNS 16u       /* connections of one handed session */
#define MCSI_HANDOVER_RX_MAX (64u * 1024) /* bytes of a connection read but not yet parsed */
#define MCSI_HANDOVER_BLOB_MAX (2u << 20)
/* The largest id a blob may carry: 2^53 - 1, exact as a JSON number in any
 * client; a counter never gets there, and the importer's allocator, moved
 * past it, stays far from wrapping to 0. */
#define MCSI_HANDOVER_ID_MAX ((1ull << 53) - 1)

/* One connection: what its login negotiated, where its numbers are. */
typedef struct mcsi_handover_conn {
  mcsi_id id;                           /* its UniqueConnectionId in the exporter: kept by the importer */
  uint16_t cid;
  uint8_t leading;
  uint8_t active, primary;              /* its MC/S roles */
  uint32_t weight;
  uint32_t exp_statsn;
  uint32_t fd_index;                    /* its socket: this index in the fd array */
  mcsi_params params;
  char portal[80];
  mcsi_conn_stats stats;                /* the transport's counters (bytes, PDUs, its errors) */
  uint64_t commands, format_errors, timeout_errors;   /* the connection's own counters */
  mcsi_latency latency;                 /* its command latency histogram */
  uint32_t rx_len;                      /* bytes already read of the next PDU(s) */
  uint8_t rx[MCSI_HANDOVER_RX_MAX];
} mcsi_handover_conn;

/* One session, quiesced: no command in flight, every connection at a PDU boundary. */
typedef struct mcsi_handover_session {
  mcsi_id id;                           /* its UniqueSessionId in the exporter: kept by the importer */
  uint8_t isid[6];
  uint16_t tsih, tpgt;
  uint8_t tpgt_known;
  char target[224];
  char target_alias[256];
  mcsi_params params;
  uint32_t cmdsn, exp_cmdsn, max_cmdsn;
  uint32_t next_itt;
  uint16_t next_cid;
  uint32_t policy;                      /* enum mcsi_lb_policy */
  uint64_t commands_retried;            /* counters: they go on growing in the importer */
  uint32_t recoveries;
  uint32_t nconns;
  mcsi_handover_conn conns[MCSI_HANDOVER_MAX_CONNS];
} mcsi_handover_session;

/* The binary form of s (the caller frees *out): 0, or -1 out of memory. */
int mcsi_handover_encode(const mcsi_handover_session *s, uint8_t **out, size_t *len);
/* Reads a blob made with nfds sockets beside it, every field checked
 * (magic, version, lengths, counts, fd indexes, sequence numbers,
 * parameters, ids: 1..MCSI_HANDOVER_ID_MAX and no two alike, the checksum).
 * A version 1 blob reads with every id 0 (none: the importer makes new ones)
 * and its counters 0. ISDSC_UNSUPPORTED_VERSION for any other version, ISDSC_INVALID_PARAMETER
 * for anything else wrong, the reason in msg (MCSI_MSG_MAX bytes). */
mcsi_status mcsi_handover_decode(const uint8_t *p, size_t len, size_t nfds, mcsi_handover_session *s, char *msg);
#endif
