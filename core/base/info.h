/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* info.h: the snapshots behind mcsi.h's opaque mcsi_session_info and
 * mcsi_conn_info (read by key: MCSI_SESSION_INFO_LIST, MCSI_CONN_INFO_LIST).
 * Their layout is the library's own: a field added here changes no caller. */
#ifndef MCSI_INFO_H
#define MCSI_INFO_H
#include <stddef.h>
#include <stdint.h>
#include "mcsi.h"

typedef struct mcsi_conn_stats {
  uint64_t bytes_sent, bytes_received;
  uint64_t pdus_sent, pdus_received;
  uint64_t commands;                 /* SCSI commands carried */
  uint64_t digest_errors, timeout_errors, format_errors;
} mcsi_conn_stats;

struct mcsi_conn_info {
  mcsi_id id;
  uint16_t cid;
  char state[16];                    /* "logging-in", "active", "logging-out", "failed", "closed" */
  int leading;
  int primary;                       /* FAILOVER_ONLY: carries the I/O */
  int active;                        /* 0: standby under FAILOVER_ONLY / RR_SUBSET */
  uint32_t weight;
  char portal[80];                   /* as asked for */
  char local_addr[64], remote_addr[64];
  uint16_t local_port, remote_port;
  int header_digest, data_digest;
  uint32_t max_recv_dsl, max_send_dsl; /* ours, and the target's */
  uint32_t queue_depth;              /* commands outstanding on it */
  mcsi_conn_stats stats;
};

struct mcsi_session_info {
  mcsi_id id;
  char target[224];
  char target_alias[256];
  uint8_t isid[6];
  uint16_t tsih;
  uint16_t tpgt;
  char state[16];                    /* "logging-in", "active", "recovering", "failed", "logged-out" */
  int discovery;
  int load_balance_policy;           /* enum mcsi_lb_policy */
  uint32_t recoveries;               /* reinstatements after losing every connection */
  uint64_t commands_retried;         /* re-issued after a connection failed */
  /* negotiated session parameters */
  uint32_t max_connections, max_burst_length, first_burst_length;
  uint32_t max_outstanding_r2t, default_time2wait, default_time2retain;
  int initial_r2t, immediate_data, data_pdu_in_order, data_sequence_in_order;
  int error_recovery_level;
  uint32_t cmdsn, exp_cmdsn, max_cmdsn;
  size_t connection_count;
  mcsi_conn_info *connections;       /* connection_count of them (no cap) */
};

#endif
