/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* params.h: login options and negotiated parameters (RFC 7143 13). */
#ifndef MCSI_PARAMS_H
#define MCSI_PARAMS_H
#include <stdint.h>
#include "mcsi.h"
#include "opts.h"
#include "text.h"

typedef struct mcsi_params {          /* every field a uint32_t: params.c indexes them */
  uint32_t header_digest, data_digest;
  uint32_t max_connections;
  uint32_t initial_r2t, immediate_data;
  uint32_t max_recv_dsl;                /* ours: what the target may send us */
  uint32_t max_send_dsl;                /* the target's: what we may send */
  uint32_t max_burst, first_burst;
  uint32_t time2wait, time2retain, max_outstanding_r2t;
  uint32_t data_pdu_in_order, data_seq_in_order, erl;
} mcsi_params;

void mcsi_params_rfc_defaults(mcsi_params *p);
void mcsi_params_from_opts(mcsi_params *p, const mcsi_login_opts *o);
/* Adds our offers: every key (leading), or only connection keys. */
int mcsi_params_offer(const mcsi_params *ours, int leading, int discovery, mcsi_text *out);
/* Applies one key of a Login/Text Response. offered: we sent this key.
 * Answers for keys the target offered go to answers. Returns 0, or -1 with *err. */
int mcsi_params_apply(mcsi_params *neg, const mcsi_params *ours, const char *key,
                      const char *value, int offered, mcsi_text *answers, const char **err);
int mcsi_params_is_session_key(const char *key);

/* An owned copy of login options (strings duplicated, defaults filled in);
 * mcsi_opts_free wipes the secrets. 0, or -1 out of memory. */
int mcsi_opts_copy(mcsi_login_opts *dst, const mcsi_login_opts *o);
void mcsi_opts_free(mcsi_login_opts *o);
#endif
