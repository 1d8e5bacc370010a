/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* retry.c: the engine's one retry rule for SCSI commands. A command
 * answered UNIT ATTENTION (a new or reinstated session, a reset, a changed
 * LUN: reported once, then cleared), ABORTED COMMAND (the target gave up on
 * the command, not on the data), BUSY or TASK SET FULL (the target's queue,
 * for now) did not run: it goes again, at most MCSI_SCSI_RETRIES more times,
 * after a back-off on BUSY / TASK SET FULL that doubles from
 * MCSI_SCSI_BACKOFF_MS. Every command sent through the engine passes here
 * (scsi.c's finish); no caller keeps a loop of its own. */
#include "scsi.h"

#define SAM_CHECK_CONDITION 0x02
#define SAM_BUSY 0x08
#define SAM_TASK_SET_FULL 0x28
#define SENSE_UNIT_ATTENTION 0x06
#define SENSE_ABORTED_COMMAND 0x0b

/* The condition the rule retries: 1 at once, 2 after a back-off, 0 none. */
static int retryable(const mcsi_scsi_result *r)
{
  if (r->response) return 0;
  if (r->scsi_status == SAM_BUSY || r->scsi_status == SAM_TASK_SET_FULL) return 2;
  if (r->scsi_status != SAM_CHECK_CONDITION || !r->sense_len) return 0;
  uint8_t key = r->sense_key & 0x0f;
  return key == SENSE_UNIT_ATTENTION || key == SENSE_ABORTED_COMMAND;
}

int mcsi_scsi_retry_rule(const mcsi_scsi_result *r, uint32_t resends, uint32_t *delay_ms)
{
  int kind = retryable(r);
  *delay_ms = 0;
  if (!kind || resends >= MCSI_SCSI_RETRIES) return 0;
  if (kind == 2) *delay_ms = (uint32_t)MCSI_SCSI_BACKOFF_MS << resends;
  return 1;
}

int mcsi_scsi_retryable(const mcsi_scsi_result *r) { return retryable(r) != 0; }
