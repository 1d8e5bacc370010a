/* api_scsi.c: SCSI commands in the public API: submitting one (tagged or
 * not), READ(16)/WRITE(16), and the blocking forms, which wait for the
 * same command with the one wait helper and retry a UNIT ATTENTION. CDBs
 * come from libiscsi's public SCSI layer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <iscsi/scsi-lowlevel.h>
#include "initiator.h"

/* ---- submitting ------------------------------------------------------------------------- */

mcsi_status mcsi_scsi_submit(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb, size_t cdb_len,
                             int dir, void *buf, size_t len, mcsi_scsi_cb cb, void *arg)
{
  return mcsi_scsi_submit_tagged(ini, sid, lun, cdb, cdb_len, dir, buf, len, cb, arg, NULL);
}

mcsi_status mcsi_scsi_submit_tagged(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb,
                                    size_t cdb_len, int dir, void *buf, size_t len, mcsi_scsi_cb cb, void *arg,
                                    uint64_t *tag)
{
  mcsi_entry *e = NULL;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cdb || cdb_len == 0 || cdb_len > 16) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "CDB length must be 1..16");
  if (dir < MCSI_DIR_NONE || dir > MCSI_DIR_WRITE || (dir == MCSI_DIR_NONE && len) || (len && !buf))
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "data direction, buffer and length do not agree");
  if (len > 0xFFFFFFFFu) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "transfer longer than 4 GiB");
  if (lun > 16383) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "LUN %llu out of range (0..16383)", (unsigned long long)lun);
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_status st = mcsi_entry_ready(ini, sid, 1, &e);
  if (st) return st;
  st = mcsi_scsi_start(mcsi_entry_session(e), lun, cdb, cdb_len, dir, buf, len, cb, arg, tag, ini->message);
  return st ? st : mcsi_ok(ini);
}

static mcsi_status submit_rw(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t bs,
                             void *buf, size_t len, int write, mcsi_scsi_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!bs || len % bs || len / bs > 0xFFFFFFFFu)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "length %zu is not a whole number of %u-byte blocks", len, bs);
  struct scsi_task *task = write ? scsi_cdb_write16(lba, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0)
                                 : scsi_cdb_read16(lba, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0);
  if (!task) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  uint8_t cdb[16];
  memcpy(cdb, task->cdb, 16);
  scsi_free_scsi_task(task);
  return mcsi_scsi_submit(ini, sid, lun, cdb, 16, write ? MCSI_DIR_WRITE : MCSI_DIR_READ, buf, len, cb, arg);
}

mcsi_status mcsi_read_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t bs,
                            void *buf, size_t len, mcsi_scsi_cb cb, void *arg)
{
  return submit_rw(ini, sid, lun, lba, bs, buf, len, 0, cb, arg);
}

mcsi_status mcsi_write_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t bs,
                             const void *buf, size_t len, mcsi_scsi_cb cb, void *arg)
{
  return submit_rw(ini, sid, lun, lba, bs, (void *)(uintptr_t)buf, len, 1, cb, arg);
}

/* ---- blocking forms ------------------------------------------------------------------------- */

/* The blocking forms wait with the one wait helper; the result rides along. */
typedef struct scsi_wait {
  mcsi_wait w;
  mcsi_scsi_result res;
} scsi_wait;

static void wake(mcsi_status st, const mcsi_scsi_result *res, void *arg)
{
  scsi_wait *sw = arg;
  mcsi_result r = { .status = st, .message = res && res->message ? res->message : mcsi_status_message(st) };
  if (res) sw->res = *res;
  sw->res.message = NULL;               /* valid during the callback only */
  mcsi_wait_wake(NULL, &r, &sw->w);
}

static mcsi_status command_once(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb,
                                size_t cdb_len, int dir, void *buf, size_t len, mcsi_scsi_result *res)
{
  scsi_wait sw = { 0 };
  mcsi_status st = mcsi_scsi_submit(ini, sid, lun, cdb, cdb_len, dir, buf, len, wake, &sw);
  if (st) return st;
  st = mcsi_wait_for(ini, &sw.w);
  if (res) *res = sw.res;
  return st;
}

/* Retries a command that met a UNIT ATTENTION (a new session, a reset, a
 * changed LUN): the condition is reported once and cleared. */
mcsi_status mcsi_scsi_command(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb, size_t cdb_len,
                              int dir, void *buf, size_t len, mcsi_scsi_result *res)
{
  mcsi_scsi_result r;
  mcsi_status st = ISDSC_SUCCESS;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  for (int tries = 0; tries < 4; tries++) {
    memset(&r, 0, sizeof r);
    st = command_once(ini, sid, lun, cdb, cdb_len, dir, buf, len, &r);
    if (!mcsi_scsi_unit_attention(st, &r)) break;
  }
  if (res) *res = r;
  return st;
}

static mcsi_status block_size(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint32_t *bs)
{
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (e && e->cap_valid && e->cap_lun == lun) { *bs = e->cap_block_size; return ISDSC_SUCCESS; }
  mcsi_capacity cap;
  mcsi_status st = mcsi_scsi_read_capacity(ini, sid, lun, &cap);
  *bs = cap.block_size;
  return st;
}

static mcsi_status rw(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, void *buf, size_t len, int write)
{
  uint32_t bs = 0;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!buf && len) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no buffer");
  mcsi_status st = block_size(ini, sid, lun, &bs);
  if (st) return st;
  if (!bs || len % bs || len / bs > 0xFFFFFFFFu)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "length %zu is not a whole number of %u-byte blocks", len, bs);
  struct scsi_task *task = write ? scsi_cdb_write16(lba, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0)
                                 : scsi_cdb_read16(lba, (uint32_t)len, (int)bs, 0, 0, 0, 0, 0);
  if (!task) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  st = mcsi_scsi_command(ini, sid, lun, task->cdb, 16, write ? MCSI_DIR_WRITE : MCSI_DIR_READ, buf, len, NULL);
  scsi_free_scsi_task(task);
  return st;
}

mcsi_status mcsi_read(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, void *buf, size_t len)
{
  return rw(ini, sid, lun, lba, buf, len, 0);
}

mcsi_status mcsi_write(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, const void *buf, size_t len)
{
  return rw(ini, sid, lun, lba, (void *)(uintptr_t)buf, len, 1);
}
