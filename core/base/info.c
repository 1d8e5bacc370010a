/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* info.c: reading the session and connection snapshots of mcsi.h by key
 * (MCSI_SESSION_INFO_LIST, MCSI_CONN_INFO_LIST); where each key lives in
 * the structs of info.h. */
#include <stdlib.h>
#include <string.h>
#include "info.h"

enum { U8x6, U16, U32, U64, INT, SIZE, STR };

typedef struct field { int ctype; size_t off; } field;
typedef struct key { const char *name; int kind; } key;

#define S(f, t) { t, offsetof(struct mcsi_session_info, f) }
static const field session_fields[MCSI_SI_COUNT] = {
  [MCSI_SI_ID] = S(id, U64), [MCSI_SI_TARGET] = S(target, STR), [MCSI_SI_TARGET_ALIAS] = S(target_alias, STR),
  [MCSI_SI_ISID] = S(isid, U8x6), [MCSI_SI_TSIH] = S(tsih, U16), [MCSI_SI_TPGT] = S(tpgt, U16),
  [MCSI_SI_STATE] = S(state, STR), [MCSI_SI_DISCOVERY] = S(discovery, INT),
  [MCSI_SI_LOAD_BALANCE_POLICY] = S(load_balance_policy, INT), [MCSI_SI_RECOVERIES] = S(recoveries, U32),
  [MCSI_SI_COMMANDS_RETRIED] = S(commands_retried, U64), [MCSI_SI_MAX_CONNECTIONS] = S(max_connections, U32),
  [MCSI_SI_MAX_BURST_LENGTH] = S(max_burst_length, U32), [MCSI_SI_FIRST_BURST_LENGTH] = S(first_burst_length, U32),
  [MCSI_SI_MAX_OUTSTANDING_R2T] = S(max_outstanding_r2t, U32),
  [MCSI_SI_DEFAULT_TIME2WAIT] = S(default_time2wait, U32), [MCSI_SI_DEFAULT_TIME2RETAIN] = S(default_time2retain, U32),
  [MCSI_SI_INITIAL_R2T] = S(initial_r2t, INT), [MCSI_SI_IMMEDIATE_DATA] = S(immediate_data, INT),
  [MCSI_SI_DATA_PDU_IN_ORDER] = S(data_pdu_in_order, INT),
  [MCSI_SI_DATA_SEQUENCE_IN_ORDER] = S(data_sequence_in_order, INT),
  [MCSI_SI_ERROR_RECOVERY_LEVEL] = S(error_recovery_level, INT), [MCSI_SI_CMDSN] = S(cmdsn, U32),
  [MCSI_SI_EXP_CMDSN] = S(exp_cmdsn, U32), [MCSI_SI_MAX_CMDSN] = S(max_cmdsn, U32),
  [MCSI_SI_CONNECTION_COUNT] = S(connection_count, SIZE),
};
#undef S

#define C(f, t) { t, offsetof(struct mcsi_conn_info, f) }
static const field conn_fields[MCSI_CI_COUNT] = {
  [MCSI_CI_ID] = C(id, U64), [MCSI_CI_CID] = C(cid, U16), [MCSI_CI_STATE] = C(state, STR),
  [MCSI_CI_LEADING] = C(leading, INT), [MCSI_CI_PRIMARY] = C(primary, INT), [MCSI_CI_ACTIVE] = C(active, INT),
  [MCSI_CI_WEIGHT] = C(weight, U32), [MCSI_CI_PORTAL] = C(portal, STR), [MCSI_CI_LOCAL_ADDR] = C(local_addr, STR),
  [MCSI_CI_REMOTE_ADDR] = C(remote_addr, STR), [MCSI_CI_LOCAL_PORT] = C(local_port, U16),
  [MCSI_CI_REMOTE_PORT] = C(remote_port, U16), [MCSI_CI_HEADER_DIGEST] = C(header_digest, INT),
  [MCSI_CI_DATA_DIGEST] = C(data_digest, INT), [MCSI_CI_MAX_RECV_DSL] = C(max_recv_dsl, U32),
  [MCSI_CI_MAX_SEND_DSL] = C(max_send_dsl, U32), [MCSI_CI_QUEUE_DEPTH] = C(queue_depth, U32),
  [MCSI_CI_BYTES_SENT] = C(stats.bytes_sent, U64), [MCSI_CI_BYTES_RECEIVED] = C(stats.bytes_received, U64),
  [MCSI_CI_PDUS_SENT] = C(stats.pdus_sent, U64), [MCSI_CI_PDUS_RECEIVED] = C(stats.pdus_received, U64),
  [MCSI_CI_COMMANDS] = C(stats.commands, U64), [MCSI_CI_DIGEST_ERRORS] = C(stats.digest_errors, U64),
  [MCSI_CI_TIMEOUT_ERRORS] = C(stats.timeout_errors, U64), [MCSI_CI_FORMAT_ERRORS] = C(stats.format_errors, U64),
};
#undef C

static const key session_keys[MCSI_SI_COUNT] = {
#define MCSI_X_ROW(e, v, nm, kd) [e] = { nm, MCSI_INFO_##kd },
  MCSI_SESSION_INFO_LIST(MCSI_X_ROW)
};
static const key conn_keys[MCSI_CI_COUNT] = {
  MCSI_CONN_INFO_LIST(MCSI_X_ROW)
#undef MCSI_X_ROW
};

static uint64_t read_uint(const void *base, const field *f)
{
  const char *p = (const char *)base + f->off;
  uint64_t v = 0;
  switch (f->ctype) {
  case U8x6: for (int i = 0; i < 6; i++) v = v << 8 | (uint8_t)p[i]; return v;
  case U16: { uint16_t x; memcpy(&x, p, sizeof x); return x; }
  case U32: { uint32_t x; memcpy(&x, p, sizeof x); return x; }
  case U64: memcpy(&v, p, sizeof v); return v;
  case INT: { int x; memcpy(&x, p, sizeof x); return (uint64_t)(int64_t)x; }
  case SIZE: { size_t x; memcpy(&x, p, sizeof x); return x; }
  default: return 0;
  }
}

static int valid(int k, int count, const key *keys) { return k > 0 && k < count && keys[k].name; }

static int find(const char *name, int count, const key *keys)
{
  for (int k = 1; name && k < count; k++)
    if (keys[k].name && strcmp(keys[k].name, name) == 0) return k;
  return 0;
}

/* ---- sessions ------------------------------------------------------------------- */

const char *mcsi_session_info_key_name(int k) { return valid(k, MCSI_SI_COUNT, session_keys) ? session_keys[k].name : NULL; }
int mcsi_session_info_key(const char *name) { return find(name, MCSI_SI_COUNT, session_keys); }
int mcsi_session_info_key_kind(int k) { return valid(k, MCSI_SI_COUNT, session_keys) ? session_keys[k].kind : 0; }

uint64_t mcsi_session_info_get(const mcsi_session_info *si, int k)
{
  if (!si || !valid(k, MCSI_SI_COUNT, session_keys) || session_fields[k].ctype == STR) return 0;
  return read_uint(si, &session_fields[k]);
}

const char *mcsi_session_info_get_string(const mcsi_session_info *si, int k)
{
  if (!valid(k, MCSI_SI_COUNT, session_keys) || session_fields[k].ctype != STR) return NULL;
  return si ? (const char *)si + session_fields[k].off : "";
}

size_t mcsi_session_info_connection_count(const mcsi_session_info *si) { return si ? si->connection_count : 0; }

const mcsi_conn_info *mcsi_session_info_connection(const mcsi_session_info *si, size_t i)
{
  return si && i < si->connection_count ? &si->connections[i] : NULL;
}

const mcsi_conn_info *mcsi_session_info_find_connection(const mcsi_session_info *si, mcsi_id cid)
{
  for (size_t i = 0; si && i < si->connection_count; i++)
    if (si->connections[i].id == cid) return &si->connections[i];
  return NULL;
}

void mcsi_session_info_free(mcsi_session_info *si)
{
  if (!si) return;
  free(si->connections);
  free(si);
}

/* ---- connections ----------------------------------------------------------------- */

const char *mcsi_conn_info_key_name(int k) { return valid(k, MCSI_CI_COUNT, conn_keys) ? conn_keys[k].name : NULL; }
int mcsi_conn_info_key(const char *name) { return find(name, MCSI_CI_COUNT, conn_keys); }
int mcsi_conn_info_key_kind(int k) { return valid(k, MCSI_CI_COUNT, conn_keys) ? conn_keys[k].kind : 0; }

uint64_t mcsi_conn_info_get(const mcsi_conn_info *ci, int k)
{
  if (!ci || !valid(k, MCSI_CI_COUNT, conn_keys) || conn_fields[k].ctype == STR) return 0;
  return read_uint(ci, &conn_fields[k]);
}

const char *mcsi_conn_info_get_string(const mcsi_conn_info *ci, int k)
{
  if (!valid(k, MCSI_CI_COUNT, conn_keys) || conn_fields[k].ctype != STR) return NULL;
  return ci ? (const char *)ci + conn_fields[k].off : "";
}
