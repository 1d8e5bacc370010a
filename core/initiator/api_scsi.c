/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api_scsi.c: SCSI commands in the public API: submitting one (tagged or
 * not), the blocking form, which waits for the same command with the one
 * wait helper, and the LBA-addressed READ/WRITE calls as thin forms of the
 * block I/O calls (blockio.c). Retries are the engine's one rule, below
 * (core/scsi/retry.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "initiator.h"

/* ---- submitting ------------------------------------------------------------------------- */

/* The public completion of one command: done with its mcsi_scsi_result. */
static void scsi_relayed(mcsi_status st, const mcsi_scsi_result *res, void *arg)
{
  mcsi_relay_answer(arg, st, res && res->message ? res->message : mcsi_status_message(st), res);
}

mcsi_status mcsi_scsi_submit(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb, size_t cdb_len,
                             int dir, void *buf, size_t len, mcsi_completion c)
{
  return mcsi_scsi_submit_tagged(ini, sid, lun, cdb, cdb_len, dir, buf, len, c, NULL);
}

mcsi_status mcsi_scsi_submit_tagged(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb,
                                    size_t cdb_len, int dir, void *buf, size_t len, mcsi_completion c, uint64_t *tag)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = mcsi_scsi_submit_cb(ini, sid, lun, cdb, cdb_len, dir, buf, len, scsi_relayed, r, tag);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

mcsi_status mcsi_scsi_submit_cb(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb, size_t cdb_len,
                                int dir, void *buf, size_t len, mcsi_scsi_done_fn cb, void *arg, uint64_t *tag)
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

/* ---- READ(16)/WRITE(16) by LBA: thin forms of the block I/O calls (blockio.c) --------------- */

/* The caller's completion hears the block I/O call's end as a mcsi_scsi_result. */
typedef struct rw_adapter {
  mcsi_completion c;
} rw_adapter;

static void rw_released(void *arg)
{
  rw_adapter *a = arg;
  if (a->c.free) a->c.free(a->c.arg);
  free(a);
}

static void rw_adapted(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  rw_adapter *a = arg;
  const mcsi_io_result *io = result;
  mcsi_scsi_result r;
  memset(&r, 0, sizeof r);
  r.struct_size = sizeof r;
  if (io) {
    r.scsi_status = io->scsi_status;
    r.sense_key = io->sense_key;
    r.asc = io->asc;
    r.ascq = io->ascq;
    r.data_in = st ? 0 : (size_t)io->bytes;
    r.retries = io->retries;
  }
  r.message = message;
  a->c.done(ini, st, message, &r, a->c.arg);
}

/* A refused start: the caller's free(arg) runs before the call returns. */
static mcsi_status rw_refused(mcsi_completion c, mcsi_status st)
{
  if (c.free) c.free(c.arg);
  return st;
}

static mcsi_status submit_rw(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t bs,
                             void *buf, size_t len, int write, mcsi_completion cc)
{
  if (!ini) return rw_refused(cc, ISDSC_INVALID_PARAMETER);
  if (!cc.done) return rw_refused(cc, mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback"));
  if (!bs || len % bs || len / bs > 0xFFFFFFFFu || lba > UINT64_MAX / bs)
    return rw_refused(cc, mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "length %zu is not a whole number of %u-byte blocks",
                                    len, bs));
  rw_adapter *a = malloc(sizeof *a);
  if (!a) return rw_refused(cc, mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory"));
  a->c = cc;
  mcsi_completion c = { .done = rw_adapted, .free = rw_released, .arg = a };
  return write ? mcsi_io_write(ini, sid, lun, lba * bs, buf, len, 0, c) : mcsi_io_read(ini, sid, lun, lba * bs, buf, len, 0, c);
}

mcsi_status mcsi_read_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t bs,
                            void *buf, size_t len, mcsi_completion c)
{
  return submit_rw(ini, sid, lun, lba, bs, buf, len, 0, c);
}

mcsi_status mcsi_write_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t bs,
                             const void *buf, size_t len, mcsi_completion c)
{
  return submit_rw(ini, sid, lun, lba, bs, (void *)(uintptr_t)buf, len, 1, c);
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
  mcsi_status st = mcsi_scsi_submit_cb(ini, sid, lun, cdb, cdb_len, dir, buf, len, wake, &sw, NULL);
  if (st) return st;
  st = mcsi_wait_for(ini, &sw.w);
  if (res) *res = sw.res;
  return st;
}

/* One command, waited for; the engine's retry rule (core/scsi/retry.c) is below it. */
mcsi_status mcsi_scsi_command(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb, size_t cdb_len,
                              int dir, void *buf, size_t len, mcsi_scsi_result *res)
{
  mcsi_scsi_result r = { .struct_size = sizeof r };
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_sized_check(ini, res, MCSI_SIZED_FIRST(mcsi_scsi_result, retries), "mcsi_scsi_result");
  if (st) return st;
  st = command_once(ini, sid, lun, cdb, cdb_len, dir, buf, len, &r);
  if (res) mcsi_sized_copy(res, &r, sizeof r);
  return st;
}

/* LBA-addressed blocking forms: the block size the engine learned (or learns now). */
static mcsi_status rw(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, void *buf, size_t len, int write)
{
  mcsi_lun_geometry g = { .struct_size = sizeof g };
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!buf && len) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no buffer");
  mcsi_status st = mcsi_io_geometry(ini, sid, lun, &g);
  if (st) return st;
  if (lba > UINT64_MAX / g.block_size) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "LBA out of range");
  if (len % g.block_size || len / g.block_size > 0xFFFFFFFFu)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "length %zu is not a whole number of %u-byte blocks", len,
                     g.block_size);
  return write ? mcsi_pwrite(ini, sid, lun, lba * g.block_size, buf, len, 0, NULL)
               : mcsi_pread(ini, sid, lun, lba * g.block_size, buf, len, 0, NULL);
}

mcsi_status mcsi_read(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, void *buf, size_t len)
{
  return rw(ini, sid, lun, lba, buf, len, 0);
}

mcsi_status mcsi_write(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, const void *buf, size_t len)
{
  return rw(ini, sid, lun, lba, (void *)(uintptr_t)buf, len, 1);
}
