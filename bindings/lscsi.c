/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lscsi.c: SCSI from Lua: INQUIRY, READ CAPACITY, REPORT LUNS, TEST UNIT
 * READY, block I/O (mcsi.read, mcsi.write, mcsi.flush, mcsi.unmap,
 * mcsi.write_zeroes, with an options table { fua =, dpo = }), any CDB
 * (mcsi.scsi_command) and the tagged asynchronous command (mcsi.scsi_submit).
 * Each is a request (lrequest.c): blocking, callback form or yielding inside
 * mcsi.spawn, on core's asynchronous calls. The I/O policy is core's (the
 * retry rule for UNIT ATTENTION, BUSY, TASK SET FULL and ABORTED COMMAND,
 * the LUN's geometry, splitting, the CDBs of block I/O): this file builds no
 * CDB but the caller's, retries nothing and turns LBAs into byte offsets with
 * the block size core answers (mcsi_io_geometry_async). Every result carries
 * the command's own message.
 *
 * Lifetimes (luv's rule): a block I/O request is handed to core with a
 * completion whose done records the outcome and whose free hook delivers it
 * (lmcsi_req_done: the callback runs or the coroutine is queued, and the
 * request's Lua references go). A completion that lets go without done (the
 * call was refused at once, or the initiator was freed) leaves the request
 * to its starter or to the engine's list of requests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lmcsi.h"

#define LMCSI_MAX_IO (256u << 20)      /* bytes per mcsi.read */

enum { W_CMD, W_SUBMIT, W_INQUIRY, W_CAPACITY, W_LUNS, W_TUR, W_READ, W_WRITE, W_FLUSH, W_UNMAP, W_ZEROES };

#define SET_INT(k, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, k))
#define SET_STR(k, v) (lua_pushstring(L, v), lua_setfield(L, -2, k))

/* ---- running the command ------------------------------------------------------------ */

static mcsi_status submit(lmcsi_req *r);

static void finish(lmcsi_req *r, mcsi_status st, const char *message)
{
  lmcsi_req_set(r, st, st ? message : NULL);
  lmcsi_req_done(r);
}

static void on_cmd(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  lmcsi_req *r = arg;
  if (res) r->res = *res;
  r->res.message = NULL;                /* valid during this call only */
  finish(r, st, res ? res->message : NULL);
}

/* INQUIRY answered: the parsed data is kept in r->buf. */
static void on_inquiry(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  const mcsi_inquiry *inq = result_;
  (void)ini_;
  lmcsi_req *r = arg;
  if (inq) memcpy(r->buf, inq, sizeof *inq);
  finish(r, st, message);
}

/* REPORT LUNS answered: the LUNs go to r->buf, their count to r->len. */
static void on_luns(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  const mcsi_lun_list *list_ = result_;
  const uint64_t *luns = list_ ? list_->luns : NULL;
  size_t count = list_ ? list_->count : 0;
  (void)ini_;
  lmcsi_req *r = arg;
  if (!st && count) {
    free(r->buf);
    r->buf = malloc(count * sizeof *luns);
    if (!r->buf) { finish(r, ISDSC_OUT_OF_RESOURCES, "out of memory"); return; }
    memcpy(r->buf, luns, count * sizeof *luns);
  }
  r->len = st ? 0 : count;
  finish(r, st, message);
}

static void on_status(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  (void)ini_; (void)result_;
  finish(arg, st, message);
}

/* READ CAPACITY answered. */
static void on_capacity(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result_, void *arg)
{
  const mcsi_capacity *cap = result_;
  (void)ini_;
  lmcsi_req *r = arg;
  if (st == ISDSC_SUCCESS) {
    r->block_size = cap->block_size;
    r->lba = cap->blocks;
  }
  finish(r, st, message);
}

/* ---- block I/O: the LUN's geometry from core, then core's I/O call ------------------ */

/* A block I/O call answered: kept until its completion lets go (io_released). */
static void on_io(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  lmcsi_req *r = arg;
  (void)ini;
  (void)result;
  r->answered = 1;
  lmcsi_req_set(r, st, st ? message : NULL);
}

/* Core no longer needs r: its outcome goes to the waiter (and its Lua references with it). */
static void io_released(void *arg)
{
  lmcsi_req *r = arg;
  if (r->answered) lmcsi_req_done(r);
}

/* Hands r to core's block I/O call (block size known); a refusal is r's outcome. */
static void io_go(lmcsi_req *r)
{
  mcsi_completion c = { on_io, io_released, r };
  const void *out = r->buf ? r->buf : r->data;
  mcsi_status st = ISDSC_INVALID_PARAMETER;
  r->answered = 0;
  if (r->lba > UINT64_MAX / r->block_size || r->blocks > UINT64_MAX / r->block_size) {
    finish(r, st, "LBA or block count out of range");
    return;
  }
  uint64_t off = r->lba * r->block_size, range = r->blocks * r->block_size;
  switch (r->what) {
  case W_READ: st = mcsi_io_read(r->ini, r->sid, r->lun, off, r->buf, r->len, r->io_flags, c); break;
  case W_WRITE: st = mcsi_io_write(r->ini, r->sid, r->lun, off, out, r->len, r->io_flags, c); break;
  case W_FLUSH: st = mcsi_io_flush(r->ini, r->sid, r->lun, off, range, r->io_flags, c); break;
  case W_UNMAP: st = mcsi_io_unmap(r->ini, r->sid, r->lun, off, range, r->io_flags, c); break;
  default: st = mcsi_io_write_zeroes(r->ini, r->sid, r->lun, off, range, r->io_flags, c); break;
  }
  if (st != ISDSC_SUCCESS) finish(r, st, mcsi_last_message(r->ini));
}

/* The LUN's geometry answered: kept until its completion lets go (geometry_released). */
static void on_geometry(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  lmcsi_req *r = arg;
  const mcsi_lun_geometry *g = result;
  (void)ini;
  r->answered = 1;
  if (st == ISDSC_SUCCESS && (!g || !g->block_size)) st = ISDSC_SCSI_REQUEST_FAILED;
  lmcsi_req_set(r, st, st ? message : NULL);
  if (st == ISDSC_SUCCESS) r->block_size = g->block_size;
}

/* The geometry's completion let go of r: on to the I/O call. */
static void geometry_released(void *arg)
{
  lmcsi_req *r = arg;
  if (!r->answered) return;                  /* refused at once (start() answers), or the initiator went */
  if (r->st != ISDSC_SUCCESS) { lmcsi_req_done(r); return; }
  if (r->what == W_READ) {
    if (r->blocks * r->block_size > LMCSI_MAX_IO) {
      finish(r, ISDSC_INVALID_PARAMETER, "at most 268435456 bytes per mcsi.read");
      return;
    }
    r->len = (size_t)(r->blocks * r->block_size);
    r->buf = malloc(r->len ? r->len : 1);
    if (!r->buf) { finish(r, ISDSC_OUT_OF_RESOURCES, "out of memory"); return; }
  }
  io_go(r);
}

static mcsi_status submit(lmcsi_req *r)
{
  void *out = r->buf ? r->buf : (void *)(uintptr_t)r->data;
  switch (r->what) {
  case W_INQUIRY:
    return mcsi_scsi_inquiry_async(r->ini, r->sid, r->lun, r->page, MCSI_COMPLETION(on_inquiry, r));
  case W_LUNS:
    return mcsi_scsi_report_luns_async(r->ini, r->sid, MCSI_COMPLETION(on_luns, r));
  case W_TUR:
    return mcsi_scsi_test_unit_ready_async(r->ini, r->sid, r->lun, MCSI_COMPLETION(on_status, r));
  case W_CAPACITY:
    return mcsi_scsi_read_capacity_async(r->ini, r->sid, r->lun, MCSI_COMPLETION(on_capacity, r));
  case W_READ:
  case W_WRITE:
  case W_FLUSH:
  case W_UNMAP:
  case W_ZEROES: {
    mcsi_completion c = { on_geometry, geometry_released, r };
    r->answered = 0;
    return mcsi_io_geometry_async(r->ini, r->sid, r->lun, c);
  }
  case W_SUBMIT:
    return mcsi_scsi_submit_tagged(r->ini, r->sid, r->lun, r->cdb, r->cdb_len, r->dir, out, r->len, MCSI_COMPLETION(on_cmd, r), &r->tag);
  default:
    return mcsi_scsi_submit(r->ini, r->sid, r->lun, r->cdb, r->cdb_len, r->dir, out, r->len, MCSI_COMPLETION(on_cmd, r));
  }
}

/* Starts r (engine entered) and returns, yields or waits. */
static int start(lua_State *L, lmcsi_req *r)
{
  lmcsi_engine *e = r->e;
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = submit(r);
  lmcsi_leave(e, saved);
  if (st != ISDSC_SUCCESS) lmcsi_req_set(r, st, mcsi_last_message(r->ini));
  return lmcsi_req_started(L, r, st);
}

/* ---- results -------------------------------------------------------------------------- */

static int push_status_only(lua_State *L, lmcsi_req *r)
{
  lmcsi_push_status_detail(L, r->st, r->message);
  return 1;
}

/* { status =, response =, sense_key =, asc =, ascq =, sense =, residual_kind =, residual =, data = } */
static void push_scsi_result(lua_State *L, const mcsi_scsi_result *res, const uint8_t *in, size_t len)
{
  lua_createtable(L, 0, 9);
  SET_INT("status", res->scsi_status);
  SET_INT("response", res->response);
  SET_INT("sense_key", res->sense_key);
  SET_INT("asc", res->asc);
  SET_INT("ascq", res->ascq);
  lua_pushlstring(L, (const char *)res->sense, res->sense_len);
  lua_setfield(L, -2, "sense");
  SET_INT("residual_kind", res->residual_kind);
  SET_INT("residual", res->residual);
  if (in) {
    size_t got = res->data_in < len ? res->data_in : len;
    lua_pushlstring(L, (const char *)in, got);
    lua_setfield(L, -2, "data");
  }
}

static int push_command(lua_State *L, lmcsi_req *r)
{
  int failed_scsi = r->st == ISDSC_SCSI_REQUEST_FAILED;
  if (r->st == ISDSC_SUCCESS || failed_scsi || r->what == W_SUBMIT)
    push_scsi_result(L, &r->res, r->dir == MCSI_DIR_READ ? r->buf : NULL, r->len);
  else
    lua_pushnil(L);
  lmcsi_push_status_detail(L, r->st, r->message);
  return 2;
}

static void push_bytes_upto_nul(lua_State *L, const uint8_t *p, size_t n)
{
  size_t k = 0;
  while (k < n && p[k]) k++;
  lua_pushlstring(L, (const char *)p, k);
}

static int push_inquiry(lua_State *L, lmcsi_req *r)
{
  if (r->st != ISDSC_SUCCESS) {
    lua_pushnil(L);
    return 1 + push_status_only(L, r);
  }
  const mcsi_inquiry *inq = (const mcsi_inquiry *)r->buf;
  lua_createtable(L, 0, 6);
  if (r->page < 0) {
    SET_INT("peripheral_type", inq->peripheral_type);
    push_bytes_upto_nul(L, (const uint8_t *)inq->vendor, 8);
    lua_setfield(L, -2, "vendor");
    push_bytes_upto_nul(L, (const uint8_t *)inq->product, 16);
    lua_setfield(L, -2, "product");
    push_bytes_upto_nul(L, (const uint8_t *)inq->revision, 4);
    lua_setfield(L, -2, "revision");
  } else {
    SET_INT("page", r->page);
  }
  lua_pushlstring(L, (const char *)inq->data, inq->len);
  lua_setfield(L, -2, "raw");
  return 1 + push_status_only(L, r);
}

static int push_capacity(lua_State *L, lmcsi_req *r)
{
  if (r->st == ISDSC_SUCCESS) {
    lua_createtable(L, 0, 3);
    SET_INT("blocks", r->lba);
    SET_INT("block_size", r->block_size);
    SET_INT("bytes", r->lba * r->block_size);
  } else {
    lua_pushnil(L);
  }
  return 1 + push_status_only(L, r);
}

/* REPORT LUNS: every LUN the target listed (core parsed them). */
static int push_luns(lua_State *L, lmcsi_req *r)
{
  if (r->st != ISDSC_SUCCESS) {
    lua_pushnil(L);
    return 1 + push_status_only(L, r);
  }
  const uint64_t *luns = (const uint64_t *)r->buf;
  lua_createtable(L, (int)r->len, 0);
  for (size_t i = 0; i < r->len; i++) {
    lua_pushinteger(L, (lua_Integer)luns[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1 + push_status_only(L, r);
}

static int push_data(lua_State *L, lmcsi_req *r)
{
  if (r->st == ISDSC_SUCCESS) lua_pushlstring(L, (const char *)r->buf, r->len);
  else lua_pushnil(L);
  return 1 + push_status_only(L, r);
}

/* ---- the functions ------------------------------------------------------------------------ */

/* A request for a command on sid (arg 1); lun at arg lun_arg (0: LUN 0). */
static lmcsi_req *new_cmd(lua_State *L, lmcsi_push_fn push, int what, int form, const char *fname,
                          mcsi_id sid, uint64_t lun)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lmcsi_req *r = lmcsi_req_new(L, e, push, form, fname);
  r->ini = lmcsi_ini_for(L, e, sid);
  r->what = what;
  r->sid = sid;
  r->lun = lun;
  return r;
}

/* Allocates the Data-In buffer of r. */
static void data_in(lua_State *L, lmcsi_req *r, size_t len)
{
  r->dir = MCSI_DIR_READ;
  r->len = len;
  r->buf = calloc(1, len ? len : 1);
  if (!r->buf) {
    lmcsi_req_free(L, r);
    luaL_error(L, "mcsi: out of memory");
  }
}

/* data, st = mcsi.scsi_inquiry(sid, lun [, page] [, fn(data, st)]) */
static int l_scsi_inquiry(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  lua_Integer page = luaL_optinteger(L, 3, -1);
  luaL_argcheck(L, page >= -1 && page <= 255, 3, "VPD page must be 0..255");
  lmcsi_req *r = new_cmd(L, push_inquiry, W_INQUIRY, cb, "scsi_inquiry", sid, lun);
  r->page = (int)page;
  data_in(L, r, sizeof(mcsi_inquiry));
  return start(L, r);
}

/* cap, st = mcsi.scsi_read_capacity(sid, lun [, fn(cap, st)]): cap.blocks, cap.block_size, cap.bytes */
static int l_scsi_read_capacity(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  return start(L, new_cmd(L, push_capacity, W_CAPACITY, cb, "scsi_read_capacity", sid, lun));
}

/* luns, st = mcsi.scsi_report_luns(sid [, fn(luns, st)]) */
static int l_scsi_report_luns(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  return start(L, new_cmd(L, push_luns, W_LUNS, cb, "scsi_report_luns", sid, 0));
}

/* st = mcsi.scsi_test_unit_ready(sid, lun [, fn(st)]) */
static int l_scsi_test_unit_ready(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  return start(L, new_cmd(L, push_status_only, W_TUR, cb, "scsi_test_unit_ready", sid, lun));
}

/* The options table at idx (nil or absent: none): { fua = bool, dpo = bool }
 * as MCSI_IO_FUA / MCSI_IO_DPO; any other key is a misspelt option: raises. */
static uint32_t check_io_opts(lua_State *L, int idx)
{
  uint32_t flags = 0;
  if (lua_isnoneornil(L, idx)) return 0;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    uint32_t bit = !strcmp(k, "fua") ? MCSI_IO_FUA : !strcmp(k, "dpo") ? MCSI_IO_DPO : 0;
    if (!bit) luaL_argerror(L, idx, "unknown option (fua, dpo)");
    if (lua_toboolean(L, -1)) flags |= bit;
    lua_pop(L, 1);
  }
  return flags;
}

/* A block I/O request on (sid, lun) at arg 1 and 2, its LBA at arg 3. */
static lmcsi_req *new_io(lua_State *L, lmcsi_push_fn push, int what, int form, const char *fname)
{
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  lua_Integer lba = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, lba >= 0, 3, "LBA must not be negative");
  lmcsi_req *r = new_cmd(L, push, what, form, fname, sid, lun);
  r->lba = (uint64_t)lba;
  return r;
}

/* data, st = mcsi.read(sid, lun, lba, blocks [, opts] [, fn(data, st)]) */
static int l_read(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  lmcsi_check_sid(L, 1);
  lua_Integer blocks = luaL_checkinteger(L, 4);
  luaL_argcheck(L, blocks >= 0 && blocks <= LMCSI_MAX_IO, 4, "block count out of range");
  uint32_t flags = check_io_opts(L, 5);
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint32_t bs = 0;                                    /* what core knows already, for the bound */
  if (mcsi_scsi_block_size(lmcsi_ini_for(L, e, sid), sid, lmcsi_check_lun(L, 2), &bs) != ISDSC_SUCCESS) bs = 0;
  if ((uint64_t)blocks * (bs ? bs : 512) > LMCSI_MAX_IO)
    return luaL_argerror(L, 4, lua_pushfstring(L, "at most %d bytes per mcsi.read", (int)LMCSI_MAX_IO));
  lmcsi_req *r = new_io(L, push_data, W_READ, cb, "read");
  r->dir = MCSI_DIR_READ;
  r->blocks = (uint64_t)blocks;
  r->io_flags = flags;
  return start(L, r);
}

/* st = mcsi.write(sid, lun, lba, data [, opts] [, fn(st)]): #data a whole number of blocks */
static int l_write(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  lmcsi_check_sid(L, 1);
  luaL_checkinteger(L, 3);
  size_t len;
  const char *data = luaL_checklstring(L, 4, &len);
  luaL_argcheck(L, len <= LMCSI_MAX_IO, 4, "at most 256 MiB per mcsi.write");
  uint32_t flags = check_io_opts(L, 5);
  lmcsi_req *r = new_io(L, push_status_only, W_WRITE, cb, "write");
  r->dir = MCSI_DIR_WRITE;
  r->len = len;
  r->io_flags = flags;
  if (r->mode == LMCSI_CALLBACK || r->mode == LMCSI_DETACHED) {   /* the string may go before the data does */
    r->buf = malloc(len ? len : 1);
    if (!r->buf) { lmcsi_req_free(L, r); return luaL_error(L, "mcsi: out of memory"); }
    memcpy(r->buf, data, len);
  } else {
    r->data = data;                                   /* anchored on the waiting stack */
  }
  return start(L, r);
}

/* A range of blocks (args 3 and 4) for flush, unmap, write_zeroes; opts at arg 5 when with_opts. */
static int range_io(lua_State *L, int what, const char *fname, int blocks_optional, int with_opts)
{
  int cb = lmcsi_take_callback(L);
  lmcsi_check_sid(L, 1);
  if (!blocks_optional) luaL_checkinteger(L, 3);
  lua_Integer blocks = blocks_optional ? luaL_optinteger(L, 4, 0) : luaL_checkinteger(L, 4);
  luaL_argcheck(L, blocks >= 0, 4, "block count must not be negative");
  uint32_t flags = with_opts ? check_io_opts(L, 5) : 0;
  lmcsi_req *r = new_io(L, push_status_only, what, cb, fname);
  r->blocks = (uint64_t)blocks;
  r->io_flags = flags;
  if (blocks_optional && lua_isnoneornil(L, 4)) r->lba = 0;   /* no range: the whole LUN, as ScsiSynchronizeCache */
  return start(L, r);
}

/* st = mcsi.flush(sid, lun [, lba, blocks] [, fn(st)]): SYNCHRONIZE CACHE (no range: the whole LUN) */
static int l_flush(lua_State *L) { return range_io(L, W_FLUSH, "flush", 1, 0); }

/* st = mcsi.unmap(sid, lun, lba, blocks [, fn(st)]) */
static int l_unmap(lua_State *L) { return range_io(L, W_UNMAP, "unmap", 0, 0); }

/* st = mcsi.write_zeroes(sid, lun, lba, blocks [, opts] [, fn(st)]) */
static int l_write_zeroes(lua_State *L) { return range_io(L, W_ZEROES, "write_zeroes", 0, 1); }

/* (sid, lun, cdb, dir, data_or_length): dir "none", "read" (the 5th
 * argument is how many bytes to read) or "write" (the 5th is the data). */
static lmcsi_req *check_cmd(lua_State *L, int what, lmcsi_push_fn push, int form, const char *fname)
{
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  size_t cdb_len;
  const char *cdb = luaL_checklstring(L, 3, &cdb_len);
  luaL_argcheck(L, cdb_len >= 1 && cdb_len <= 16, 3, "a CDB is 1..16 bytes");
  const char *d = luaL_optstring(L, 4, "none");    /* not luaL_checkoption: it echoes a huge string */
  int dir = !strcmp(d, "none") ? MCSI_DIR_NONE : !strcmp(d, "read") ? MCSI_DIR_READ : !strcmp(d, "write") ? MCSI_DIR_WRITE : -1;
  luaL_argcheck(L, dir >= 0, 4, "direction must be \"none\", \"read\" or \"write\"");
  const char *out = NULL;
  size_t len = 0;
  if (dir == MCSI_DIR_WRITE) {
    out = luaL_checklstring(L, 5, &len);
  } else if (dir == MCSI_DIR_READ) {
    lua_Integer n = luaL_checkinteger(L, 5);
    luaL_argcheck(L, n >= 0 && (uint64_t)n <= LMCSI_MAX_IO, 5, "read length must be 0..256 MiB");
    len = (size_t)n;
  }
  lmcsi_req *r = new_cmd(L, push, what, form, fname, sid, lun);
  memcpy(r->cdb, cdb, cdb_len);
  r->cdb_len = cdb_len;
  if (dir == MCSI_DIR_READ) {
    data_in(L, r, len);
  } else if (dir == MCSI_DIR_WRITE) {
    r->dir = dir;
    r->len = len;
    r->buf = malloc(len ? len : 1);
    if (!r->buf) { lmcsi_req_free(L, r); luaL_error(L, "mcsi: out of memory"); }
    memcpy(r->buf, out, len);
  }
  return r;
}

/* result, st = mcsi.scsi_command(sid, lun, cdb, dir, data_or_length [, fn(result, st)]) */
static int l_scsi_command(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  return start(L, check_cmd(L, W_CMD, push_command, cb, "scsi_command"));
}

/* tag, st = mcsi.scsi_submit(sid, lun, cdb, dir, data_or_length, fn(result, st)):
 * fn runs from the loop; the tag names the command for mcsi.abort_task. */
static int l_scsi_submit(lua_State *L)
{
  luaL_checktype(L, 6, LUA_TFUNCTION);
  lua_settop(L, 6);
  int cb = lmcsi_take_callback(L);
  lmcsi_req *r = check_cmd(L, W_SUBMIT, push_command, cb, "scsi_submit");
  lmcsi_engine *e = r->e;
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = submit(r);
  lmcsi_leave(e, saved);
  if (st != ISDSC_SUCCESS) {
    lmcsi_req_set(r, st, mcsi_last_message(r->ini));
    lua_pushnil(L);
  } else {
    lua_pushinteger(L, (lua_Integer)r->tag);
  }
  lmcsi_req_started(L, r, st);
  return 2;
}

/* The functions of the described operations (registered by lapi_table.c, generated
 * from api/operations.lua). */
int lmcsi_l_scsi_inquiry(lua_State *L) { return l_scsi_inquiry(L); }
int lmcsi_l_scsi_read_capacity(lua_State *L) { return l_scsi_read_capacity(L); }
int lmcsi_l_scsi_report_luns(lua_State *L) { return l_scsi_report_luns(L); }
int lmcsi_l_scsi_test_unit_ready(lua_State *L) { return l_scsi_test_unit_ready(L); }
int lmcsi_l_read(lua_State *L) { return l_read(L); }
int lmcsi_l_write(lua_State *L) { return l_write(L); }
int lmcsi_l_flush(lua_State *L) { return l_flush(L); }
int lmcsi_l_unmap(lua_State *L) { return l_unmap(L); }
int lmcsi_l_write_zeroes(lua_State *L) { return l_write_zeroes(L); }
int lmcsi_l_scsi_command(lua_State *L) { return l_scsi_command(L); }
int lmcsi_l_scsi_submit(lua_State *L) { return l_scsi_submit(L); }

/* Functions of this file that are no described operation. */
const luaL_Reg lmcsi_scsi_funcs[] = {
  {NULL, NULL}
};
