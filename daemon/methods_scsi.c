/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods_scsi.c: ScsiInquiry, ScsiReadCapacity, ScsiReportLuns, each on the
 * engine's asynchronous SCSI helpers; StatusMessage is the command's own
 * message (the decoded sense, why it failed). */
#include <stdio.h>
#include <string.h>
#include "json_text.h"
#include "methods.h"

static void inquiry_done(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  const mcsi_inquiry *inq = result_;
  (void)ini_;
  mcsid_call *call = arg;
  json_t *out = NULL;
  if (!st && inq) {
    char hex[2 * sizeof inq->data + 1];
    for (size_t i = 0; i < inq->len && i < sizeof inq->data; i++) snprintf(hex + 2 * i, 3, "%02x", inq->data[i]);
    hex[2 * (inq->len < sizeof inq->data ? inq->len : sizeof inq->data)] = 0;
    out = json_pack("{s:i, s:o, s:o, s:o, s:s}", "PeripheralDeviceType", inq->peripheral_type, "VendorId",
                    mcsid_json_text(inq->vendor), "ProductId", mcsid_json_text(inq->product), "ProductRevision",
                    mcsid_json_text(inq->revision), "Data", hex);
  }
  mcsid_call_finish(call, st, message, out);
}

static void scsi_inquiry(mcsid_call *call)
{
  json_t *page = mcsid_param(call, "PageCode");
  if (page && json_integer_value(page) > 255) {
    mcsid_call_invalid_params(call, "invalid params: PageCode must be 0..255");
    return;
  }
  mcsi_status st = mcsi_scsi_inquiry_async(call->d->ini, mcsid_param_id(call, "UniqueSessionId"),
                                           (uint64_t)mcsid_param_uint(call, "Lun", 0),
                                           page ? (int)json_integer_value(page) : -1, MCSI_COMPLETION(inquiry_done, call));
  if (st) mcsid_call_fail_now(call, st);
}

static void capacity_done(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  const mcsi_capacity *cap = result_;
  (void)ini_;
  json_t *out = NULL;
  if (!st && cap)
    out = json_pack("{s:I, s:i, s:I}", "Blocks", (json_int_t)cap->blocks, "BlockSize", (int)cap->block_size,
                    "Bytes", (json_int_t)(cap->blocks * cap->block_size));
  mcsid_call_finish(arg, st, message, out);
}

static void scsi_read_capacity(mcsid_call *call)
{
  mcsi_status st = mcsi_scsi_read_capacity_async(call->d->ini, mcsid_param_id(call, "UniqueSessionId"),
                                                 (uint64_t)mcsid_param_uint(call, "Lun", 0), MCSI_COMPLETION(capacity_done, call));
  if (st) mcsid_call_fail_now(call, st);
}

static void luns_done(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  const mcsi_lun_list *list_ = result_;
  const uint64_t *luns = list_ ? list_->luns : NULL;
  size_t count = list_ ? list_->count : 0;
  (void)ini_;
  json_t *out = NULL;
  if (!st) {
    json_t *list = json_array();
    for (size_t i = 0; luns && i < count; i++) json_array_append_new(list, json_integer((json_int_t)luns[i]));
    out = json_pack("{s:o}", "Luns", list);
  }
  mcsid_call_finish(arg, st, message, out);
}

static void scsi_report_luns(mcsid_call *call)
{
  mcsi_status st = mcsi_scsi_report_luns_async(call->d->ini, mcsid_param_id(call, "UniqueSessionId"), MCSI_COMPLETION(luns_done, call));
  if (st) mcsid_call_fail_now(call, st);
}

/* The run functions of the generated method table (daemon/methods_table.c,
 * methods_run.h; the description: api/operations.lua). */
void mcsid_run_scsi_inquiry(mcsid_call *call) { scsi_inquiry(call); }
void mcsid_run_scsi_read_capacity(mcsid_call *call) { scsi_read_capacity(call); }
void mcsid_run_scsi_report_luns(mcsid_call *call) { scsi_report_luns(call); }
