/*
 * lscsi.c: SCSI from Lua: INQUIRY, READ CAPACITY, REPORT LUNS, TEST UNIT
 * READY, read and write (READ/WRITE(16), the block size from core's cache,
 * learnt with READ CAPACITY when unknown), any CDB (mcsi.scsi_command) and
 * the tagged asynchronous command (mcsi.scsi_submit). Each is a request
 * (lrequest.c): blocking, callback form or yielding inside mcsi.spawn. A
 * command that meets a UNIT ATTENTION is sent again (at most 4 times), as
 * core's blocking helpers do.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lmcsi.h"

#define LMCSI_MAX_IO (256u << 20)      /* bytes per mcsi.read */
#define REPORT_LUNS_ALLOC 16384u

enum { W_CMD, W_SUBMIT, W_INQUIRY, W_CAPACITY, W_LUNS, W_TUR, W_READ, W_WRITE };

#define SET_INT(k, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, k))
#define SET_STR(k, v) (lua_pushstring(L, v), lua_setfield(L, -2, k))

static uint64_t be_get(const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* ---- running the command ------------------------------------------------------------ */

static mcsi_status submit(lmcsi_req *r);

static void finish(lmcsi_req *r, mcsi_status st)
{
  lmcsi_req_set(r, st, st ? mcsi_last_message(r->ini) : NULL);
  lmcsi_req_done(r);
}

static int unit_attention(mcsi_status st, const mcsi_scsi_result *res)
{
  return st == ISDSC_SCSI_REQUEST_FAILED && res && res->scsi_status == 0x02 && res->sense_key == 0x06;
}

static void on_cmd(mcsi_status st, const mcsi_scsi_result *res, void *arg)
{
  lmcsi_req *r = arg;
  if (res) r->res = *res;
  if (r->what != W_SUBMIT && unit_attention(st, res) && ++r->tries < 4 && submit(r) == ISDSC_SUCCESS) return;
  finish(r, st);
}

/* READ CAPACITY answered: its own result, or the block size a read or write waited for. */
static void on_capacity(mcsi_status st, const mcsi_capacity *cap, void *arg)
{
  lmcsi_req *r = arg;
  if (st != ISDSC_SUCCESS) { finish(r, st); return; }
  r->block_size = cap->block_size;
  if (r->what == W_CAPACITY) {
    r->lba = cap->blocks;
    finish(r, st);
    return;
  }
  if (r->what == W_READ) {
    if ((uint64_t)r->page * cap->block_size > LMCSI_MAX_IO) {
      lmcsi_req_set(r, ISDSC_INVALID_PARAMETER, "at most 268435456 bytes per mcsi.read");
      lmcsi_req_done(r);
      return;
    }
    r->len = (size_t)r->page * cap->block_size;
    r->buf = malloc(r->len ? r->len : 1);
    if (!r->buf) { lmcsi_req_set(r, ISDSC_OUT_OF_RESOURCES, "out of memory"); lmcsi_req_done(r); return; }
  }
  st = submit(r);
  if (st != ISDSC_SUCCESS) finish(r, st);
}

static mcsi_status submit(lmcsi_req *r)
{
  void *out = r->buf ? r->buf : (void *)(uintptr_t)r->data;
  switch (r->what) {
  case W_CAPACITY:
    return mcsi_scsi_read_capacity_async(r->ini, r->sid, r->lun, on_capacity, r);
  case W_READ:
  case W_WRITE:
    if (!r->block_size) return mcsi_scsi_read_capacity_async(r->ini, r->sid, r->lun, on_capacity, r);
    if (r->what == W_READ) return mcsi_read_async(r->ini, r->sid, r->lun, r->lba, r->block_size, r->buf, r->len, on_cmd, r);
    return mcsi_write_async(r->ini, r->sid, r->lun, r->lba, r->block_size, out, r->len, on_cmd, r);
  case W_SUBMIT:
    return mcsi_scsi_submit_tagged(r->ini, r->sid, r->lun, r->cdb, r->cdb_len, r->dir, out, r->len, on_cmd, r, &r->tag);
  default:
    return mcsi_scsi_submit(r->ini, r->sid, r->lun, r->cdb, r->cdb_len, r->dir, out, r->len, on_cmd, r);
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
  size_t n = r->res.data_in < r->len ? r->res.data_in : r->len;
  const uint8_t *d = r->buf;
  lua_createtable(L, 0, 6);
  if (r->page < 0) {
    int standard = n >= 36;
    SET_INT("peripheral_type", n ? d[0] & 0x1f : -1);
    if (standard) push_bytes_upto_nul(L, d + 8, 8); else lua_pushliteral(L, "");
    lua_setfield(L, -2, "vendor");
    if (standard) push_bytes_upto_nul(L, d + 16, 16); else lua_pushliteral(L, "");
    lua_setfield(L, -2, "product");
    if (standard) push_bytes_upto_nul(L, d + 32, 4); else lua_pushliteral(L, "");
    lua_setfield(L, -2, "revision");
  } else {
    SET_INT("page", r->page);
  }
  lua_pushlstring(L, (const char *)d, n);
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

/* REPORT LUNS: every LUN the data holds (peripheral and flat addressing). */
static int push_luns(lua_State *L, lmcsi_req *r)
{
  size_t got = r->res.data_in < r->len ? r->res.data_in : r->len;
  if (r->st == ISDSC_SUCCESS && got < 8) lmcsi_req_set(r, ISDSC_SCSI_REQUEST_FAILED, "REPORT LUNS returned no usable data");
  if (r->st != ISDSC_SUCCESS) {
    lua_pushnil(L);
    return 1 + push_status_only(L, r);
  }
  uint64_t listed = be_get(r->buf, 4) + 8;
  if (listed < got) got = (size_t)listed;
  size_t n = (got - 8) / 8;
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)(be_get(r->buf + 8 + i * 8, 2) & 0x3fff));
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
  uint8_t cdb[6] = { 0x12, page >= 0 ? 1 : 0, page >= 0 ? (uint8_t)page : 0, 0, 255, 0 };
  memcpy(r->cdb, cdb, sizeof cdb);
  r->cdb_len = sizeof cdb;
  data_in(L, r, 255);
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
  lmcsi_req *r = new_cmd(L, push_luns, W_LUNS, cb, "scsi_report_luns", sid, 0);
  uint8_t cdb[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, REPORT_LUNS_ALLOC >> 8 & 0xff, REPORT_LUNS_ALLOC & 0xff, 0, 0 };
  memcpy(r->cdb, cdb, sizeof cdb);
  r->cdb_len = sizeof cdb;
  data_in(L, r, REPORT_LUNS_ALLOC);
  return start(L, r);
}

/* st = mcsi.scsi_test_unit_ready(sid, lun [, fn(st)]) */
static int l_scsi_test_unit_ready(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  lmcsi_req *r = new_cmd(L, push_status_only, W_TUR, cb, "scsi_test_unit_ready", sid, lun);
  r->cdb_len = 6;
  r->dir = MCSI_DIR_NONE;
  return start(L, r);
}

/* The block size core keeps for sid/lun (0: not known yet). */
static uint32_t known_block_size(lmcsi_req *r)
{
  uint32_t bs = 0;
  if (mcsi_scsi_block_size(r->ini, r->sid, r->lun, &bs) != ISDSC_SUCCESS) bs = 0;
  return bs;
}

/* data, st = mcsi.read(sid, lun, lba, blocks [, fn(data, st)]) */
static int l_read(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  lua_Integer lba = luaL_checkinteger(L, 3), blocks = luaL_checkinteger(L, 4);
  luaL_argcheck(L, lba >= 0, 3, "LBA must not be negative");
  luaL_argcheck(L, blocks >= 0 && blocks <= LMCSI_MAX_IO, 4, "block count out of range");
  lmcsi_engine *e = lmcsi_engine_of(L);
  uint32_t bs = 0;
  if (mcsi_scsi_block_size(lmcsi_ini_for(L, e, sid), sid, lun, &bs) != ISDSC_SUCCESS) bs = 0;
  if ((uint64_t)blocks * (bs ? bs : 512) > LMCSI_MAX_IO)
    return luaL_argerror(L, 4, lua_pushfstring(L, "at most %d bytes per mcsi.read", (int)LMCSI_MAX_IO));
  lmcsi_req *r = new_cmd(L, push_data, W_READ, cb, "read", sid, lun);
  r->lba = (uint64_t)lba;
  r->page = (int)blocks;                              /* the block count, until the size is known */
  r->block_size = known_block_size(r);
  if (r->block_size) data_in(L, r, (size_t)blocks * r->block_size);
  return start(L, r);
}

/* st = mcsi.write(sid, lun, lba, data [, fn(st)]): #data a whole number of blocks */
static int l_write(lua_State *L)
{
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  lua_Integer lba = luaL_checkinteger(L, 3);
  size_t len;
  const char *data = luaL_checklstring(L, 4, &len);
  luaL_argcheck(L, lba >= 0, 3, "LBA must not be negative");
  luaL_argcheck(L, len <= LMCSI_MAX_IO, 4, "at most 256 MiB per mcsi.write");
  lmcsi_req *r = new_cmd(L, push_status_only, W_WRITE, cb, "write", sid, lun);
  r->lba = (uint64_t)lba;
  r->dir = MCSI_DIR_WRITE;
  r->len = len;
  r->block_size = known_block_size(r);
  if (r->mode == LMCSI_CALLBACK || r->mode == LMCSI_DETACHED) {   /* the string may go before the data does */
    r->buf = malloc(len ? len : 1);
    if (!r->buf) { lmcsi_req_free(L, r); return luaL_error(L, "mcsi: out of memory"); }
    memcpy(r->buf, data, len);
  } else {
    r->data = data;                                   /* anchored on the waiting stack */
  }
  return start(L, r);
}

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

const luaL_Reg lmcsi_scsi_funcs[] = {
  {"scsi_inquiry", l_scsi_inquiry},
  {"scsi_read_capacity", l_scsi_read_capacity},
  {"scsi_report_luns", l_scsi_report_luns},
  {"scsi_test_unit_ready", l_scsi_test_unit_ready},
  {"read", l_read},
  {"write", l_write},
  {"scsi_command", l_scsi_command},
  {"scsi_submit", l_scsi_submit},
  {NULL, NULL}
};
