/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods_io.c: SCSI I/O through mcsid: ScsiRead, ScsiWrite,
 * ScsiSynchronizeCache, ScsiUnmap, ScsiWriteZeroes, ScsiCommand,
 * ScsiTestUnitReady, LunReset, AbortTask, on the engine's asynchronous calls
 * (the block I/O calls mcsi_io_*, mcsi_scsi_submit, the helpers).
 *
 * The engine owns the I/O policy (core/mcsi.h, "Block I/O"): the retry rule
 * (UNIT ATTENTION, BUSY, TASK SET FULL, ABORTED COMMAND, MCSI_SCSI_RETRIES),
 * the LUN's geometry (block size and limits, learnt and kept per session and
 * LUN), splitting by the LUN's maximum transfer length, FUA and DPO. This file
 * builds no CDB for reads, writes, flushes and unmaps, retries nothing and
 * splits nothing: it turns Lba and Blocks into bytes with the block size the
 * engine answers (mcsi_io_geometry_async) and hands the request on.
 * ScsiCommand is a pass-through of the caller's CDB (mcsi_scsi_submit; the
 * engine's retry rule applies to it too).
 *
 * Data travels as base64 (OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock), CDBs
 * and sense as hex. One request (io_req) owns its buffer until the engine no
 * longer needs it (the completion's free hook), also when the client went
 * away meanwhile (the call keeps the client referenced; its answer is then
 * dropped). Reads and commands move at most IO_MAX bytes and no more than an
 * answer the client's output bound (output_max, 4 MiB by default) holds as
 * base64: read_max(); a write is bounded by the request line (request_max).
 * Every data buffer is counted in the memory budget (budget.h) from the
 * moment the request is accepted until the engine released it; a request
 * whose buffer alone is larger than memory_budget answers
 * ISDSC_OUT_OF_RESOURCES. A write's base64 text is dropped from the call once
 * decoded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "budget.h"
#include "methods.h"

#define IO_MAX (16u << 20)        /* bytes per ScsiRead / ScsiCommand read */

enum { IO_READ, IO_WRITE, IO_CMD, IO_FLUSH, IO_UNMAP, IO_ZEROES };

typedef struct io_req {
  mcsid *d;                     /* the call ends before the request is freed */
  mcsid_call *call;
  int what;
  mcsi_id sid;
  uint64_t lun, lba;
  uint64_t blocks;              /* Blocks given: the count until the block size is known */
  int by_blocks;                /* Blocks (not Length) was given */
  uint32_t flags;               /* MCSI_IO_FUA / MCSI_IO_DPO */
  uint32_t block_size;          /* the engine's, for the LUN (mcsi_io_geometry_async) */
  int geometry_answered;        /* the geometry's done ran (then its Status and message:) */
  mcsi_status geometry_status;
  char message[256];
  uint8_t cdb[16];
  size_t cdb_len;
  int dir;
  uint8_t *buf;                 /* Data-In or Data-Out; lives until the callback */
  size_t buf_size;              /* as allocated (mcsid_buf_alloc) */
  size_t len;
  size_t charged;               /* bytes of the memory budget this request holds */
} io_req;

/* ---- encodings ----------------------------------------------------------------------------- */

static json_t *base64_json(const uint8_t *p, size_t n)
{
  size_t len = 4 * ((n + 2) / 3);
  char *s = malloc(len + 1);
  if (!s) return NULL;
  EVP_EncodeBlock((unsigned char *)s, p, (int)n);
  json_t *v = json_stringn_nocheck(s, len);   /* ASCII: no UTF-8 check needed */
  free(s);
  return v;
}

/* Decodes base64 text (no whitespace, padded) into *out (mcsid_buf_alloc'd,
 * *size bytes); -1 when not base64. */
static int base64_decode(const char *s, uint8_t **out, size_t *n, size_t *size)
{
  size_t len = strlen(s);
  *out = NULL;
  *n = 0;
  if (len % 4) return -1;
  for (size_t i = 0; i < len; i++)
    if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') return -1;   /* EVP skips them */
  size_t cap = len / 4 * 3 + 1;
  uint8_t *buf = mcsid_buf_alloc(cap);
  if (!buf) return -1;
  int got = len ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) : 0;
  if (got < 0) { mcsid_buf_free(buf, cap); return -1; }
  size_t pad = len && s[len - 1] == '=' ? (len > 1 && s[len - 2] == '=' ? 2 : 1) : 0;
  *out = buf;
  *size = cap;
  *n = (size_t)got - pad;
  return 0;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
  char s[2 * 256 + 1];
  if (n > 256) n = 256;
  for (size_t i = 0; i < n; i++) snprintf(s + 2 * i, 3, "%02x", p[i]);
  s[2 * n] = 0;
  return json_string(s);
}

static int hex_nibble(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Bytes of hex text into out (at most max); -1 when not hex or too long. */
static int hex_decode(const char *s, uint8_t *out, size_t max, size_t *n)
{
  size_t len = strlen(s);
  if (len % 2 || len / 2 > max) return -1;
  for (size_t i = 0; i < len / 2; i++) {
    int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  *n = len / 2;
  return 0;
}

/* The most bytes one read may answer: IO_MAX, and its base64 within output_max. */
static size_t read_max(const mcsid *d)
{
  long out = d->config.output_max;
  size_t fit = out > 1024 ? ((size_t)out - 1024) / 4 * 3 : 0;
  fit &= ~(size_t)4095;
  return fit < IO_MAX ? fit : IO_MAX;
}

static void refuse_size(mcsid_call *call, const char *method)
{
  char msg[160];
  snprintf(msg, sizeof msg, "invalid params: at most %zu bytes per %s (16 MiB, and its answer within output_max)",
           read_max(call->d), method);
  mcsid_call_invalid_params(call, msg);
}

/* ---- requests ------------------------------------------------------------------------------ */

static io_req *io_new(mcsid_call *call, int what)
{
  io_req *r = calloc(1, sizeof *r);
  if (!r) {
    mcsid_call_finish(call, ISDSC_OUT_OF_RESOURCES, "out of memory", NULL);
    return NULL;
  }
  r->d = call->d;
  r->call = call;
  r->what = what;
  r->sid = mcsid_param_id(call, "UniqueSessionId");
  r->lun = (uint64_t)mcsid_param_uint(call, "Lun", 0);
  r->lba = (uint64_t)mcsid_param_uint(call, "Lba", 0);
  r->flags = (mcsid_param_bool(call, "ForceUnitAccess", 0) ? MCSI_IO_FUA : 0) |
             (mcsid_param_bool(call, "DisablePageOut", 0) ? MCSI_IO_DPO : 0);
  return r;
}

static void io_free(io_req *r)
{
  mcsid_buf_free(r->buf, r->buf_size);
  if (r->charged) mcsid_budget_give(r->d, r->charged);
  free(r);
}

static void io_finish(io_req *r, mcsi_status st, const char *message, json_t *out)
{
  mcsid_call_finish(r->call, st, message, out);
  io_free(r);
}

static void io_invalid(io_req *r, const char *message)
{
  mcsid_call_invalid_params(r->call, message);
  io_free(r);
}

/* The request holds n bytes of the memory budget (from its acceptance on: a
 * read whose block size is not known yet holds its size in 512-byte blocks,
 * and the rest once READ CAPACITY told it). 0, or -1 when n alone is more
 * than the budget (the call is then ended with its Status). */
static int io_charge(io_req *r, size_t n, const char *method)
{
  mcsid *d = r->d;
  if (n <= r->charged) return 0;
  if (!mcsid_budget_fits(d, n)) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s of %zu bytes: more than the daemon's memory_budget (%ld bytes)", method, n,
             d->config.memory_budget);
    io_finish(r, ISDSC_OUT_OF_RESOURCES, msg, NULL);
    return -1;
  }
  mcsid_budget_take(d, n - r->charged);
  r->charged = n;
  return 0;
}

/* ScsiCommand's outputs, as mcsi.scsi_command's result table. */
static json_t *command_outputs(const io_req *r, const mcsi_scsi_result *res)
{
  json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:o, s:i, s:I}", "ScsiStatus", res->scsi_status,
                        "Response", res->response, "SenseKey", res->sense_key, "Asc", res->asc, "Ascq", res->ascq,
                        "Sense", hex_json(res->sense, res->sense_len), "ResidualKind", res->residual_kind,
                        "Residual", (json_int_t)res->residual);
  if (o && r->dir == MCSI_DIR_READ) {
    size_t got = res->data_in < r->len ? res->data_in : r->len;
    json_t *data = base64_json(r->buf, got);
    if (data) json_object_set_new(o, "Data", data);
  }
  return o;
}

/* ScsiCommand answered (after the engine's retries, if any). */
static void on_command(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  io_req *r = arg;
  json_t *out = res && (!st || st == ISDSC_SCSI_REQUEST_FAILED) ? command_outputs(r, res) : NULL;
  io_finish(r, st, res ? res->message : NULL, out);
}

/* ---- block I/O: the engine's geometry, then its I/O call ----------------------------------- */

/* The engine is done with r: its buffer and budget go (the completion's free hook). */
static void io_released(void *arg) { io_free(arg); }

/* A block I/O call answered: the call's answer (the request itself goes in io_released). */
static void on_io(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  io_req *r = arg;
  json_t *out = NULL;
  (void)ini;
  (void)result;
  if (r->what == IO_READ && !st) {
    out = json_object();
    json_object_set_new(out, "Data", base64_json(r->buf, r->len));
    json_object_set_new(out, "Length", json_integer((json_int_t)r->len));
    json_object_set_new(out, "BlockSize", json_integer(r->block_size));
  }
  mcsid_call_finish(r->call, st, message, out);
}

/* The read buffer once the block size is known; 0, or -1 when the call was ended. */
static int read_buffer(io_req *r)
{
  if (r->by_blocks) {
    if (r->blocks * r->block_size > read_max(r->call->d)) {
      refuse_size(r->call, "ScsiRead");
      io_free(r);
      return -1;
    }
    r->len = (size_t)(r->blocks * r->block_size);
  }
  if (io_charge(r, r->len, "ScsiRead") < 0) return -1;
  r->buf_size = r->len;
  r->buf = mcsid_buf_alloc(r->buf_size);
  if (!r->buf) {
    io_finish(r, ISDSC_OUT_OF_RESOURCES, "out of memory", NULL);
    return -1;
  }
  return 0;
}

/* Hands r to the engine's block I/O call; r belongs to the engine from then
 * on (freed by io_released, also when the call is refused at once). */
static void io_go(io_req *r)
{
  mcsid_call *call = r->call;
  mcsi_initiator *ini = call->d->ini;
  mcsi_completion c = { on_io, io_released, r };
  uint64_t off = r->lba * r->block_size, range = r->blocks * r->block_size;
  mcsi_status st = ISDSC_INVALID_PARAMETER;
  if (r->block_size && r->lba > UINT64_MAX / r->block_size) {
    io_finish(r, ISDSC_INVALID_PARAMETER, "Lba out of range", NULL);
    return;
  }
  switch (r->what) {
  case IO_READ: st = mcsi_io_read(ini, r->sid, r->lun, off, r->buf, r->len, r->flags, c); break;
  case IO_WRITE: st = mcsi_io_write(ini, r->sid, r->lun, off, r->buf, r->len, r->flags, c); break;
  case IO_FLUSH: st = mcsi_io_flush(ini, r->sid, r->lun, off, range, r->flags, c); break;
  case IO_UNMAP: st = mcsi_io_unmap(ini, r->sid, r->lun, off, range, r->flags, c); break;
  case IO_ZEROES: st = mcsi_io_write_zeroes(ini, r->sid, r->lun, off, range, r->flags, c); break;
  }
  if (st) mcsid_call_finish(call, st, mcsi_last_message(ini), NULL);   /* r is gone (io_released) */
}

/* The LUN's geometry, as the engine knows (or just learnt) it: kept in r
 * until the completion lets go of r (geometry_released goes on from there). */
static void on_geometry(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  io_req *r = arg;
  const mcsi_lun_geometry *g = result;
  (void)ini;
  r->geometry_answered = 1;
  r->geometry_status = st ? st : !g || !g->block_size ? ISDSC_SCSI_REQUEST_FAILED : ISDSC_SUCCESS;
  snprintf(r->message, sizeof r->message, "%s", message ? message : "");
  if (!r->geometry_status) r->block_size = g->block_size;
}

/* The geometry's completion let go of r: on to the I/O call, or the
 * failure's answer; not answered (refused at once, or the initiator went):
 * r goes. */
static void geometry_released(void *arg)
{
  io_req *r = arg;
  if (!r->geometry_answered) { io_free(r); return; }
  if (r->geometry_status) { io_finish(r, r->geometry_status, r->message, NULL); return; }
  if (r->by_blocks && r->blocks > UINT64_MAX / r->block_size) {
    io_finish(r, ISDSC_INVALID_PARAMETER, "Blocks out of range", NULL);
    return;
  }
  if (r->what == IO_READ && read_buffer(r) < 0) return;
  io_go(r);
}

/* Asks the engine for the LUN's geometry, then goes on in on_geometry. */
static void io_start(io_req *r)
{
  mcsid_call *call = r->call;
  mcsi_initiator *ini = call->d->ini;
  mcsi_completion c = { on_geometry, geometry_released, r };
  mcsi_status st = mcsi_io_geometry_async(ini, r->sid, r->lun, c);
  if (st) mcsid_call_finish(call, st, mcsi_last_message(ini), NULL);   /* r is gone (geometry_released) */
}

/* ---- the methods ----------------------------------------------------------------------------- */

static void scsi_read(mcsid_call *call)
{
  json_t *blocks = mcsid_param(call, "Blocks"), *length = mcsid_param(call, "Length");
  if (!blocks == !length) {
    mcsid_call_invalid_params(call, "invalid params: ScsiRead takes Blocks or Length (one of them)");
    return;
  }
  uint64_t n = (uint64_t)json_integer_value(blocks ? blocks : length);
  size_t max = read_max(call->d);
  if ((blocks && n > max / 512) || (length && n > max)) {   /* 512: the smallest block size */
    refuse_size(call, "ScsiRead");
    return;
  }
  io_req *r = io_new(call, IO_READ);
  if (!r) return;
  r->dir = MCSI_DIR_READ;
  r->by_blocks = blocks != NULL;
  if (blocks) r->blocks = n;
  else r->len = (size_t)n;
  if (io_charge(r, blocks ? n * 512 : n, "ScsiRead") < 0) return;   /* the rest once the block size is known */
  io_start(r);
}

static void scsi_write(mcsid_call *call)
{
  io_req *r = io_new(call, IO_WRITE);
  if (!r) return;
  if (base64_decode(mcsid_param_string(call, "Data"), &r->buf, &r->len, &r->buf_size) < 0) {
    io_invalid(r, "invalid params: Data must be base64");
    return;
  }
  json_object_del(call->params, "Data");
  if (io_charge(r, r->len, "ScsiWrite") < 0) return;
  r->dir = MCSI_DIR_WRITE;
  io_start(r);
}

/* ScsiSynchronizeCache, ScsiUnmap, ScsiWriteZeroes: a range of Blocks at Lba
 * (ScsiSynchronizeCache without Blocks: the whole LUN). */
static void scsi_range(mcsid_call *call, int what)
{
  io_req *r = io_new(call, what);
  if (!r) return;
  r->by_blocks = 1;
  r->blocks = (uint64_t)mcsid_param_uint(call, "Blocks", 0);
  if (what == IO_FLUSH && !mcsid_param(call, "Blocks")) r->lba = r->blocks = 0;
  io_start(r);
}

static void scsi_synchronize_cache(mcsid_call *call) { scsi_range(call, IO_FLUSH); }
static void scsi_unmap(mcsid_call *call) { scsi_range(call, IO_UNMAP); }
static void scsi_write_zeroes(mcsid_call *call) { scsi_range(call, IO_ZEROES); }

static void scsi_command(mcsid_call *call)
{
  const char *dir = mcsid_param_string(call, "Direction");
  json_t *length = mcsid_param(call, "Length"), *data = mcsid_param(call, "Data");
  io_req *r = io_new(call, IO_CMD);
  if (!r) return;
  if (hex_decode(mcsid_param_string(call, "Cdb"), r->cdb, sizeof r->cdb, &r->cdb_len) < 0 || !r->cdb_len) {
    io_invalid(r, "invalid params: Cdb must be 1..16 bytes in hex");
    return;
  }
  r->dir = !dir || !strcmp(dir, "none") ? MCSI_DIR_NONE : !strcmp(dir, "read") ? MCSI_DIR_READ
         : !strcmp(dir, "write") ? MCSI_DIR_WRITE : -1;
  if (r->dir < 0) { io_invalid(r, "invalid params: Direction must be \"none\", \"read\" or \"write\""); return; }
  if ((r->dir == MCSI_DIR_READ) != (length != NULL) || (r->dir == MCSI_DIR_WRITE) != (data != NULL)) {
    io_invalid(r, "invalid params: Direction \"read\" takes Length, \"write\" takes Data, \"none\" neither");
    return;
  }
  if (r->dir == MCSI_DIR_READ) {
    if ((uint64_t)json_integer_value(length) > read_max(call->d)) {
      refuse_size(call, "ScsiCommand");
      io_free(r);
      return;
    }
    r->len = (size_t)json_integer_value(length);
    if (io_charge(r, r->len, "ScsiCommand") < 0) return;
    r->buf_size = r->len;
    r->buf = mcsid_buf_alloc(r->buf_size);
    if (!r->buf) { io_finish(r, ISDSC_OUT_OF_RESOURCES, "out of memory", NULL); return; }
  } else if (r->dir == MCSI_DIR_WRITE) {
    if (base64_decode(json_string_value(data), &r->buf, &r->len, &r->buf_size) < 0) {
      io_invalid(r, "invalid params: Data must be base64");
      return;
    }
    json_object_del(call->params, "Data");
    if (io_charge(r, r->len, "ScsiCommand") < 0) return;
  }
  mcsi_initiator *ini = call->d->ini;
  mcsi_status st = mcsi_scsi_submit(ini, r->sid, r->lun, r->cdb, r->cdb_len, r->dir, r->buf, r->len, MCSI_COMPLETION(on_command, r));
  if (st) io_finish(r, st, mcsi_last_message(ini), NULL);
}

static void status_done(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  (void)ini_; (void)result_;
  mcsid_call_finish(arg, st, message, NULL);
}

static void result_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)ini; (void)result;
  mcsid_call_finish(arg, st, message, NULL);
}

static void scsi_test_unit_ready(mcsid_call *call)
{
  mcsi_status st = mcsi_scsi_test_unit_ready_async(call->d->ini, mcsid_param_id(call, "UniqueSessionId"),
                                                   (uint64_t)mcsid_param_uint(call, "Lun", 0), MCSI_COMPLETION(status_done, call));
  if (st) mcsid_call_fail_now(call, st);
}

static void lun_reset(mcsid_call *call)
{
  mcsi_status st = mcsi_lun_reset_async(call->d->ini, mcsid_param_id(call, "UniqueSessionId"),
                                        (uint64_t)mcsid_param_uint(call, "Lun", 0), MCSI_COMPLETION(result_done, call));
  if (st) mcsid_call_fail_now(call, st);
}

static void abort_task(mcsid_call *call)
{
  mcsi_status st = mcsi_abort_task_async(call->d->ini, mcsid_param_id(call, "UniqueSessionId"),
                                         mcsid_param_id(call, "Tag"), MCSI_COMPLETION(result_done, call));
  if (st) mcsid_call_fail_now(call, st);
}

/* The run functions of the generated method table (daemon/methods_table.c,
 * methods_run.h; the description: api/operations.lua). */
void mcsid_run_read(mcsid_call *call) { scsi_read(call); }
void mcsid_run_write(mcsid_call *call) { scsi_write(call); }
void mcsid_run_scsi_command(mcsid_call *call) { scsi_command(call); }
void mcsid_run_scsi_test_unit_ready(mcsid_call *call) { scsi_test_unit_ready(call); }
void mcsid_run_lun_reset(mcsid_call *call) { lun_reset(call); }
void mcsid_run_abort_task(mcsid_call *call) { abort_task(call); }
void mcsid_run_flush(mcsid_call *call) { scsi_synchronize_cache(call); }
void mcsid_run_unmap(mcsid_call *call) { scsi_unmap(call); }
void mcsid_run_write_zeroes(mcsid_call *call) { scsi_write_zeroes(call); }
