/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* opts.h: the login and connection options behind the opaque handles of
 * mcsi.h (mcsi_login_opts_new, mcsi_conn_opts_new, set by key). Their
 * layout is the library's own: a field added here changes no caller. */
#ifndef MCSI_OPTS_H
#define MCSI_OPTS_H
#include <stdint.h>
#include "mcsi.h"

typedef struct mcsi_chap {
  const char *username;        /* our name, the target checks our response */
  const char *secret;
  const char *target_username; /* mutual CHAP: the target's name and secret, */
  const char *target_secret;   /* we check the target's response */
} mcsi_chap;

/* All zero means "the default" for every field (mcsi_opts_copy fills them). */
struct mcsi_login_opts {
  const char *portal;                /* "host", "host:port", "[v6]:port" */
  const char *target;                /* target IQN (NULL for discovery) */
  mcsi_chap chap;
  int header_digest, data_digest;    /* MCSI_DIGEST_* */
  uint32_t max_connections;          /* offered; default 4 */
  uint32_t max_recv_data_segment_length; /* ours; default 262144 */
  uint32_t max_burst_length;         /* default 16776192 */
  uint32_t first_burst_length;       /* default 262144 */
  uint32_t max_outstanding_r2t;      /* default 1 */
  uint32_t default_time2wait;        /* default 2 */
  uint32_t default_time2retain;      /* default 20 */
  int initial_r2t;                   /* MCSI_YES/NO; default NO */
  int immediate_data;                /* MCSI_YES/NO; default YES */
  int login_timeout_ms;              /* default 15000 */
  int command_timeout_ms;            /* default 30000 */
  int nop_interval_ms;               /* default 1000 (>= 100); <0 disables */
  int nop_timeout_ms;                /* default 1000 (>= 100) */
  int max_redirects;                 /* default 4 */
  int recovery_timeout_ms;           /* default 30000, <0: no recovery */
};

struct mcsi_conn_opts {
  const char *portal;                /* required */
  mcsi_chap chap;                    /* NULL fields: the session's CHAP settings */
  int login_timeout_ms;              /* 0: the session's */
  uint32_t weight;                   /* for MCSI_LB_WEIGHTED_PATHS; 0: 1 */
};

#endif
