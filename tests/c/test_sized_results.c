/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_sized_results.c: the structs the blocking forms fill in the caller's
 * memory grow without freezing the SONAME (issue 15, mcsi.h "Sized
 * results"), against the fake target in-process. For each of
 * mcsi_scsi_command, mcsi_scsi_inquiry, mcsi_scsi_read_capacity,
 * mcsi_io_geometry, mcsi_pread and mcsi_pwrite:
 *  - struct_size not set (0) is refused, ISDSC_INVALID_PARAMETER, with
 *    struct_size in the message, and not one byte is written;
 *  - a newer caller's larger struct: the library writes its own fields
 *    only (the caller's tail untouched) and says how many bytes it wrote;
 *  - an older caller's struct of the first version's size (shorter than
 *    today's sizeof where the struct ends in padding): nothing past it is
 *    written.
 * The same structs lent to a completion carry the library's sizeof. */
#include <stdio.h>
#include <string.h>

#include "fake_fixture.h"
#include "testlib.h"

/* The first version's size of each struct: up to the end of its last field then (fixed forever). */
#define FIRST(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))
#define TAIL 64                       /* the newer caller's fields the library does not know */

typedef union sized_buf {
  max_align_t align;
  unsigned char b[1024];
} sized_buf;

typedef mcsi_status (*fill_fn)(fx *f, void *out);

static mcsi_status fill_command(fx *f, void *out)
{
  static const uint8_t tur[6] = { 0 };
  return mcsi_scsi_command(f->ini, f->sid, 0, tur, sizeof tur, MCSI_DIR_NONE, NULL, 0, out);
}
static mcsi_status fill_inquiry(fx *f, void *out) { return mcsi_scsi_inquiry(f->ini, f->sid, 0, -1, out); }
static mcsi_status fill_capacity(fx *f, void *out) { return mcsi_scsi_read_capacity(f->ini, f->sid, 0, out); }
static mcsi_status fill_geometry(fx *f, void *out) { return mcsi_io_geometry(f->ini, f->sid, 0, out); }
static mcsi_status fill_pread(fx *f, void *out)
{
  uint8_t buf[BLOCK];
  return mcsi_pread(f->ini, f->sid, 0, 0, buf, sizeof buf, 0, out);
}
static mcsi_status fill_pwrite(fx *f, void *out)
{
  uint8_t buf[BLOCK] = { 0 };
  return mcsi_pwrite(f->ini, f->sid, 0, 0, buf, sizeof buf, 0, out);
}

static size_t struct_size_of(const sized_buf *u)
{
  size_t n;
  memcpy(&n, u->b, sizeof n);
  return n;
}

static void prepare(sized_buf *u, unsigned char fill, size_t struct_size)
{
  memset(u->b, fill, sizeof u->b);
  memcpy(u->b, &struct_size, sizeof struct_size);
}

/* All bytes of u from..to are still fill. */
static int untouched(const sized_buf *u, unsigned char fill, size_t from, size_t to)
{
  for (size_t i = from; i < to; i++)
    if (u->b[i] != fill) return 0;
  return 1;
}

static void check_sized(fx *f, const char *what, fill_fn fill, size_t size, size_t first)
{
  sized_buf u;

  prepare(&u, 0x5A, 0);
  t_status(fill(f, u.b), ISDSC_INVALID_PARAMETER, what, f);
  T_OK(strstr(last_msg(f), "struct_size") != NULL, "%s: struct_size 0 refused: \"%s\"", what, last_msg(f));
  T_OK(untouched(&u, 0x5A, sizeof(size_t), size + TAIL) && struct_size_of(&u) == 0,
       "%s: struct_size 0: nothing written", what);

  prepare(&u, 0xA5, size + TAIL);
  t_status(fill(f, u.b), ISDSC_SUCCESS, what, f);
  T_EQ_U64(struct_size_of(&u), size, "%s: a newer caller's struct: struct_size says the library wrote its sizeof", what);
  T_OK(untouched(&u, 0xA5, size, size + TAIL), "%s: a newer caller's fields untouched", what);

  T_OK(first <= size, "%s: the first version (%zu bytes) fits today's sizeof (%zu)", what, first, size);
  prepare(&u, 0x5A, first);
  t_status(fill(f, u.b), ISDSC_SUCCESS, what, f);
  T_EQ_U64(struct_size_of(&u), first, "%s: a first-version struct: struct_size says %zu bytes written", what, first);
  T_OK(untouched(&u, 0x5A, first, size + TAIL), "%s: a first-version struct: nothing written past it", what);

  prepare(&u, 0x5A, first - 1);
  t_status(fill(f, u.b), ISDSC_INVALID_PARAMETER, what, f);
  T_OK(untouched(&u, 0x5A, sizeof(size_t), size + TAIL), "%s: one byte short of the first version: nothing written",
       what);
}

static void blocking_forms(void)
{
  fx f;
  if (!fx_start(&f, &(fake_target_opts){ 0 })) return;
  check_sized(&f, "mcsi_scsi_command", fill_command, sizeof(mcsi_scsi_result), FIRST(mcsi_scsi_result, retries));
  check_sized(&f, "mcsi_scsi_inquiry", fill_inquiry, sizeof(mcsi_inquiry), FIRST(mcsi_inquiry, len));
  check_sized(&f, "mcsi_scsi_read_capacity", fill_capacity, sizeof(mcsi_capacity), FIRST(mcsi_capacity, block_size));
  check_sized(&f, "mcsi_io_geometry", fill_geometry, sizeof(mcsi_lun_geometry), FIRST(mcsi_lun_geometry, unmap));
  check_sized(&f, "mcsi_pread", fill_pread, sizeof(mcsi_io_result), FIRST(mcsi_io_result, ascq));
  check_sized(&f, "mcsi_pwrite", fill_pwrite, sizeof(mcsi_io_result), FIRST(mcsi_io_result, ascq));

  /* NULL stays fine where it was; a full struct reads as before */
  t_status(fill_command(&f, NULL), ISDSC_SUCCESS, "mcsi_scsi_command, res NULL", &f);
  t_status(fill_pread(&f, NULL), ISDSC_SUCCESS, "mcsi_pread, res NULL", &f);
  t_status(fill_geometry(&f, NULL), ISDSC_SUCCESS, "mcsi_io_geometry, out NULL", &f);
  mcsi_capacity cap = { .struct_size = sizeof cap };
  t_status(mcsi_scsi_read_capacity(f.ini, f.sid, 0, &cap), ISDSC_SUCCESS, "READ CAPACITY, a full struct", &f);
  T_EQ_U64(cap.blocks, DISK_BLOCKS, "READ CAPACITY: the blocks");
  T_OK(MCSI_SIZED_HAS(&cap, block_size), "MCSI_SIZED_HAS: the library wrote block_size");
  mcsi_io_result io = { .struct_size = FIRST(mcsi_io_result, ascq) };
  T_OK(MCSI_SIZED_HAS(&io, bytes) && MCSI_SIZED_HAS(&io, ascq), "MCSI_SIZED_HAS: the first version's fields");
  fx_logout_ok(&f, "blocking forms");
  fx_end(&f);
}

/* ---- the library's results lent to completions carry its sizeof ---- */

typedef struct lent { int done; mcsi_status st; size_t struct_size; } lent;

static void on_lent(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  lent *l = arg;
  (void)ini; (void)message;
  l->done++;
  l->st = st;
  if (result) memcpy(&l->struct_size, result, sizeof l->struct_size);
}

static void wait_lent(fx *f, lent *l, mcsi_status started, const char *what, size_t want)
{
  int64_t end = now_ms() + 10000;
  t_status(started, ISDSC_SUCCESS, what, f);
  while (!started && !l->done && now_ms() < end) mcsi_process(f->ini, 50);
  T_EQ_INT(l->done, 1, "%s: done once", what);
  T_EQ_U64(l->struct_size, want, "%s: the result's struct_size is the library's sizeof", what);
  memset(l, 0, sizeof *l);
}

static void lent_results(void)
{
  fx f;
  lent l = { 0 };
  uint8_t buf[BLOCK];
  static const uint8_t tur[6] = { 0 };
  if (!fx_start(&f, &(fake_target_opts){ 0 })) return;
  mcsi_completion c = { .done = on_lent, .arg = &l };
  wait_lent(&f, &l, mcsi_scsi_submit(f.ini, f.sid, 0, tur, sizeof tur, MCSI_DIR_NONE, NULL, 0, c), "mcsi_scsi_submit",
            sizeof(mcsi_scsi_result));
  wait_lent(&f, &l, mcsi_scsi_inquiry_async(f.ini, f.sid, 0, -1, c), "mcsi_scsi_inquiry_async", sizeof(mcsi_inquiry));
  wait_lent(&f, &l, mcsi_scsi_read_capacity_async(f.ini, f.sid, 0, c), "mcsi_scsi_read_capacity_async",
            sizeof(mcsi_capacity));
  wait_lent(&f, &l, mcsi_io_geometry_async(f.ini, f.sid, 0, c), "mcsi_io_geometry_async", sizeof(mcsi_lun_geometry));
  wait_lent(&f, &l, mcsi_io_read(f.ini, f.sid, 0, 0, buf, sizeof buf, 0, c), "mcsi_io_read", sizeof(mcsi_io_result));
  wait_lent(&f, &l, mcsi_read_async(f.ini, f.sid, 0, 0, BLOCK, buf, sizeof buf, c), "mcsi_read_async",
            sizeof(mcsi_scsi_result));
  fx_logout_ok(&f, "lent results");
  fx_end(&f);
}

int main(void)
{
#if !MCSI_HAS_SIZED_RESULTS
#error "mcsi.h announces its sized results"
#endif
  blocking_forms();
  lent_results();
  return t_done();
}
