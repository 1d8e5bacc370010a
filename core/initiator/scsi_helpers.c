/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* scsi_helpers.c: INQUIRY, READ CAPACITY(16), REPORT LUNS and TEST UNIT
 * READY, each an asynchronous request on mcsi_scsi_submit whose CDB and
 * data-in parsing come from libiscsi's public SCSI layer; the blocking forms
 * wait for the same request. Retries (a UNIT ATTENTION, BUSY, ...) are the
 * engine's one rule (core/scsi/retry.c), below mcsi_scsi_submit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <iscsi/scsi-lowlevel.h>
#include "initiator.h"

typedef struct helper_req helper_req;
/* Parses the answer (data-in of the task, st the command's) and tells the caller. */
typedef void (*helper_done)(helper_req *q, mcsi_status st);

struct helper_req {
  mcsi_initiator *ini;
  mcsi_id sid;
  uint64_t lun;
  int page;
  struct scsi_task *task;               /* the CDB; its datain is our buffer (freed with it) */
  uint8_t *buf;
  size_t len;
  helper_done done;
  mcsi_relay *relay;                    /* the caller's completion */
  char message[MCSI_MSG_MAX];
};

static void helper_free(helper_req *q)
{
  q->task->datain.data = q->buf;        /* scsi_free_scsi_task frees it */
  scsi_free_scsi_task(q->task);
  free(q);
}

static void helper_answered(mcsi_status st, const mcsi_scsi_result *res, void *arg)
{
  helper_req *q = arg;
  q->task->datain.data = q->buf;
  q->task->datain.size = st || !res ? 0 : (int)res->data_in;   /* what the target sent, never more than len */
  snprintf(q->message, sizeof q->message, "%s", res && res->message ? res->message : mcsi_status_message(st));
  q->done(q, st);
  helper_free(q);
}

static mcsi_status helper_submit(helper_req *q)
{
  int dir = q->len ? MCSI_DIR_READ : MCSI_DIR_NONE;
  return mcsi_scsi_submit_cb(q->ini, q->sid, q->lun, q->task->cdb, (size_t)q->task->cdb_size, dir, q->buf, q->len,
                             helper_answered, q, NULL);
}

/* Starts one helper command for task (taken over, also on failure) with
 * the relay r of the caller's completion (let go when the start fails). */
static mcsi_status helper_start(mcsi_relay *r, mcsi_initiator *ini, mcsi_id sid, uint64_t lun, struct scsi_task *task,
                                helper_done done, int page)
{
  if (!task) return mcsi_relay_refused(r, mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory"));
  helper_req *q = calloc(1, sizeof *q);
  size_t len = task->expxferlen > 0 ? (size_t)task->expxferlen : 0;
  uint8_t *buf = len ? calloc(1, len) : NULL;
  if (!q || (len && !buf)) {
    free(q);
    free(buf);
    scsi_free_scsi_task(task);
    return mcsi_relay_refused(r, mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory"));
  }
  *q = (helper_req){ .ini = ini, .sid = sid, .lun = lun, .page = page, .task = task, .buf = buf, .len = len,
                     .done = done, .relay = r };
  mcsi_status st = helper_submit(q);
  if (st) {
    helper_free(q);
    mcsi_relay_refused(r, st);
  }
  return st;
}

/* ---- INQUIRY ---------------------------------------------------------------------------- */

static void inquiry_done(helper_req *q, mcsi_status st)
{
  mcsi_inquiry inq;
  memset(&inq, 0, sizeof inq);
  inq.struct_size = sizeof inq;
  if (!st) {
    inq.len = (size_t)q->task->datain.size;
    memcpy(inq.data, q->buf, inq.len);
    inq.peripheral_type = inq.len ? inq.data[0] & 0x1f : -1;
    struct scsi_inquiry_standard *std = q->page < 0 && inq.len >= 36 ? scsi_datain_unmarshall(q->task) : NULL;
    if (std) {
      snprintf(inq.vendor, sizeof inq.vendor, "%s", std->vendor_identification);
      snprintf(inq.product, sizeof inq.product, "%s", std->product_identification);
      snprintf(inq.revision, sizeof inq.revision, "%s", std->product_revision_level);
    }
  }
  mcsi_relay_answer(q->relay, st, q->message, st ? NULL : &inq);
}

mcsi_status mcsi_scsi_inquiry_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, int page, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (st) return st;
  if (page > 255) return mcsi_relay_refused(r, mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "bad INQUIRY arguments"));
  return helper_start(r, ini, sid, lun, scsi_cdb_inquiry(page >= 0, page >= 0 ? page : 0, 255), inquiry_done, page);
}

/* ---- READ CAPACITY(16), whose answer is kept with the LUN's geometry (blockio.c) ------------ */

static void remember_capacity(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const mcsi_capacity *cap)
{
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (e) mcsi_lun_geo_capacity(e, sid, lun, cap->blocks, cap->block_size);
}

mcsi_status mcsi_scsi_block_size(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint32_t *bs)
{
  if (!ini || !bs) return ISDSC_INVALID_PARAMETER;
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return ISDSC_INVALID_SESSION_ID;
  return mcsi_lun_geo_block_size(e, lun, bs) ? ISDSC_NOT_FOUND : ISDSC_SUCCESS;
}

static void capacity_done(helper_req *q, mcsi_status st)
{
  mcsi_capacity cap = { .struct_size = sizeof cap };
  struct scsi_readcapacity16 *rc = !st && q->task->datain.size >= 12 ? scsi_datain_unmarshall(q->task) : NULL;
  if (!st && !rc)
    st = mcsi_msg(q->message, ISDSC_SCSI_REQUEST_FAILED, "READ CAPACITY(16) returned %d bytes, not a capacity",
                   q->task->datain.size);
  else if (rc && !rc->block_length)
    st = mcsi_msg(q->message, ISDSC_SCSI_REQUEST_FAILED, "READ CAPACITY(16) returned a block size of 0");
  if (!st) {
    cap.blocks = rc->returned_lba + 1;
    cap.block_size = rc->block_length;
    remember_capacity(q->ini, q->sid, q->lun, &cap);
  }
  mcsi_relay_answer(q->relay, st, q->message, st ? NULL : &cap);
}

mcsi_status mcsi_scsi_read_capacity_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  return st ? st : helper_start(r, ini, sid, lun, scsi_cdb_readcapacity16(), capacity_done, -1);
}

/* ---- REPORT LUNS -------------------------------------------------------------------------- */

static void luns_done(helper_req *q, mcsi_status st)
{
  struct scsi_reportluns_list *l = !st && q->task->datain.size >= 8 ? scsi_datain_unmarshall(q->task) : NULL;
  uint64_t *luns = NULL;
  size_t n = 0;
  if (!st && !l) st = mcsi_msg(q->message, ISDSC_SCSI_REQUEST_FAILED, "REPORT LUNS returned no usable data");
  if (l && l->num && !(luns = calloc(l->num, sizeof *luns)))
    st = mcsi_msg(q->message, ISDSC_OUT_OF_RESOURCES, "out of memory");
  if (!st && l) {
    n = l->num;
    for (size_t i = 0; i < n; i++) luns[i] = l->luns[i] & 0x3fff;
  }
  mcsi_lun_list list = { n, luns };
  mcsi_relay_answer(q->relay, st, q->message, st ? NULL : &list);
  free(luns);
}

mcsi_status mcsi_scsi_report_luns_async(mcsi_initiator *ini, mcsi_id sid, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  return st ? st : helper_start(r, ini, sid, 0, scsi_reportluns_cdb(0, 16384), luns_done, -1);
}

/* ---- TEST UNIT READY ------------------------------------------------------------------------- */

static void tur_done(helper_req *q, mcsi_status st)
{
  mcsi_relay_answer(q->relay, st, q->message, NULL);
}

mcsi_status mcsi_scsi_test_unit_ready_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  return st ? st : helper_start(r, ini, sid, lun, scsi_cdb_testunitready(), tur_done, -1);
}

/* ---- the blocking forms: the one wait helper, and where the answer goes --------------------- */

typedef struct helper_wait {
  mcsi_wait w;
  mcsi_inquiry *inq;
  mcsi_capacity *cap;
  uint64_t *luns;
  size_t max, *count;
} helper_wait;

static void wake(helper_wait *w, mcsi_status st, const char *message)
{
  mcsi_result r = { .status = st, .message = message };
  mcsi_wait_wake(NULL, &r, &w->w);
}

static void wake_inquiry(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  helper_wait *w = arg;
  const mcsi_inquiry *inq = result;
  (void)ini;
  if (inq) *w->inq = *inq;
  wake(w, st, message);
}

static void wake_capacity(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  helper_wait *w = arg;
  const mcsi_capacity *cap = result;
  (void)ini;
  if (cap) *w->cap = *cap;
  wake(w, st, message);
}

static void wake_luns(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  helper_wait *w = arg;
  const mcsi_lun_list *l = result;
  (void)ini;
  if (!st && l) {
    *w->count = l->count;
    for (size_t i = 0; i < l->count && i < w->max; i++) w->luns[i] = l->luns[i];
  }
  wake(w, st, message);
}

static void wake_status(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)ini; (void)result;
  wake(arg, st, message);
}

/* st: how the start went; then the loop runs until the answer. */
static mcsi_status helper_wait_for(mcsi_initiator *ini, helper_wait *w, mcsi_status st)
{
  return st ? st : mcsi_wait_for(ini, &w->w);
}

mcsi_status mcsi_scsi_inquiry(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, int page, mcsi_inquiry *out)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "bad INQUIRY arguments");
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_sized_check(ini, out, MCSI_SIZED_FIRST(mcsi_inquiry, len), "mcsi_inquiry");
  if (st) return st;
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  helper_wait w = { .inq = &inq };
  st = helper_wait_for(ini, &w, mcsi_scsi_inquiry_async(ini, sid, lun, page, MCSI_COMPLETION(wake_inquiry, &w)));
  mcsi_sized_copy(out, &inq, sizeof inq);
  return st;
}

mcsi_status mcsi_scsi_read_capacity(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_capacity *out)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no capacity to fill");
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_sized_check(ini, out, MCSI_SIZED_FIRST(mcsi_capacity, block_size), "mcsi_capacity");
  if (st) return st;
  mcsi_capacity cap = { .struct_size = sizeof cap };
  helper_wait w = { .cap = &cap };
  st = helper_wait_for(ini, &w, mcsi_scsi_read_capacity_async(ini, sid, lun, MCSI_COMPLETION(wake_capacity, &w)));
  if (!st) mcsi_sized_copy(out, &cap, sizeof cap);
  return st;
}

mcsi_status mcsi_scsi_report_luns(mcsi_initiator *ini, mcsi_id sid, uint64_t *luns, size_t max, size_t *count)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!count || (max && !luns)) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no LUN list to fill");
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  helper_wait w = { .luns = luns, .max = max, .count = count };
  return helper_wait_for(ini, &w, mcsi_scsi_report_luns_async(ini, sid, MCSI_COMPLETION(wake_luns, &w)));
}

mcsi_status mcsi_scsi_test_unit_ready(mcsi_initiator *ini, mcsi_id sid, uint64_t lun)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  helper_wait w = { 0 };
  return helper_wait_for(ini, &w, mcsi_scsi_test_unit_ready_async(ini, sid, lun, MCSI_COMPLETION(wake_status, &w)));
}
