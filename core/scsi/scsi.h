/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* scsi.h: SCSI commands on a session (RFC 7143 11.2-11.8): the command PDU
 * with immediate data, unsolicited and R2T-driven Data-Out, Data-In
 * placement, status and sense. A command is a session task with what SCSI
 * keeps of it; the session calls its mcsi_task_ops. */
#ifndef MCSI_SCSI_H
#define MCSI_SCSI_H
#include "session.h"

/* How the SCSI layer tells a command's end (the public face is mcsi_completion). */
typedef void (*mcsi_scsi_done_fn)(mcsi_status st, const mcsi_scsi_result *res, void *arg);

typedef struct mcsi_scsi_task {
  mcsi_task task;
  uint64_t lun;
  uint8_t cdb[16];
  uint8_t cdb_len;
  int dir;
  uint8_t *buf;                         /* caller's buffer */
  size_t len;
  uint32_t data_in;                     /* bytes of Data-In placed, in order: never above len */
  uint32_t exp_datasn;
  uint64_t r2t_requested;               /* bytes asked for by R2Ts since it was sent */
  uint64_t tag;                         /* the caller's name for it (mcsi_scsi_submit_tagged) */
  mcsi_scsi_result res;
  mcsi_scsi_done_fn cb;
  void *arg;
} mcsi_scsi_task;

uint64_t mcsi_lun_encode(uint64_t lun);
/* Checks the command and queues it on s; a failing Status has its reason in msg. */
mcsi_status mcsi_scsi_start(mcsi_session *s, uint64_t lun, const uint8_t *cdb, size_t cdb_len, int dir, void *buf,
                            size_t len, mcsi_scsi_done_fn cb, void *arg, uint64_t *tag, char *msg);
/* The outstanding command with this tag: waiting, in flight, or in limbo. */
mcsi_scsi_task *mcsi_scsi_find_tag(mcsi_session *s, uint64_t tag);
/* The one retry rule (retry.c): 1 when a command that ended with r and was
 * already sent again resends times goes again, delay_ms from now; else 0. */
int mcsi_scsi_retry_rule(const mcsi_scsi_result *r, uint32_t resends, uint32_t *delay_ms);
/* r is a condition the rule retries (whatever the count). */
int mcsi_scsi_retryable(const mcsi_scsi_result *r);
/* Ends it as aborted ("command aborted<why>"). */
void mcsi_scsi_aborted(mcsi_scsi_task *q, const char *why);
#endif
