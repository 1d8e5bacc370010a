/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* login.h: the login phase of one connection (RFC 7143 6.3, 12), a state
 * machine over a transport. The layer above gives it what the session
 * knows, forwards the transport's events while it runs, and hears the
 * outcome once, through its done callback. */
#ifndef MCSI_LOGIN_H
#define MCSI_LOGIN_H
#include "chap.h"
#include "params.h"
#include "transport.h"

typedef struct mcsi_login mcsi_login;

typedef struct mcsi_login_args {
  const char *initiator_name;
  const char *target;                   /* NULL or "" for discovery */
  int discovery, leading;
  const uint8_t *isid;                  /* 6 bytes */
  uint16_t tsih;                        /* the session's (a joining connection), or 0 */
  uint16_t cid;
  uint32_t itt;
  const uint32_t *cmdsn;                /* the session's CmdSN, read as each PDU goes out */
  uint16_t tpgt;                        /* a joining connection: the session's portal group tag, */
  int tpgt_known;                       /* when its leading login was told one */
  const mcsi_login_opts *opts;          /* portal, CHAP, timeouts, our offers */
  mcsi_chap_memory *challenges;         /* the initiator's (anti-reflection) */
} mcsi_login_args;

typedef struct mcsi_login_result {
  uint16_t tsih, tpgt;
  int tpgt_known;                       /* the target declared TargetPortalGroupTag */
  char target_alias[256];
  mcsi_params neg;                      /* as negotiated */
  uint32_t exp_statsn, exp_cmdsn, max_cmdsn;
} mcsi_login_result;

/* st and message (valid during the call) say how it ended; on success
 * mcsi_login_result(l) holds what the target agreed to. The login may be
 * freed from inside. */
typedef void (*mcsi_login_done_cb)(mcsi_login *l, mcsi_status st, const char *message, void *arg);

/* Connects tp to opts->portal and logs in; NULL with the reason in msg
 * (MCSI_MSG_MAX bytes) and *st when it cannot start. */
mcsi_login *mcsi_login_start(mcsi_transport *tp, const mcsi_login_args *a, mcsi_login_done_cb done, void *arg,
                             mcsi_status *st, char *msg);
void mcsi_login_free(mcsi_login *l);
/* Stops it without a word (its connection failed under it). */
void mcsi_login_cancel(mcsi_login *l);
/* The transport's events while the login runs. */
void mcsi_login_connected(mcsi_login *l);
void mcsi_login_rx(mcsi_login *l, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen);
const mcsi_login_result *mcsi_login_result_of(const mcsi_login *l);
#endif
