/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testlib.h: a tiny TAP-style helper shared by every C test.
 *
 *   T_OK(cond, fmt, ...)        "ok N - msg" or "not ok N - msg  (file:line)"
 *   T_EQ_INT(a, b, fmt, ...)    integers (compared as long long), both printed on failure
 *   T_EQ_U64(a, b, fmt, ...)    unsigned 64-bit integers
 *   T_EQ_STR(a, b, fmt, ...)    C strings, NULL allowed (equal only to NULL)
 *   T_EQ_MEM(a, b, len, fmt, ...) byte ranges, hex dumps and first difference on failure
 *   t_skip(why)                 "ok N - # SKIP why" (counted as skipped, not passed)
 *   t_done()                    prints the plan and "# N passed, N failed, N skipped"; the exit
 *                               code: 0 only if nothing failed and something ran
 *   t_env(name)                 getenv(name), or a "not ok" line and exit(1)
 *   t_run(cmd)                  a shell command's stdout (up to 64 KiB; a static buffer, the
 *                               next call overwrites it)
 *   t_tgt_portal(buf, n, host)  "127.0.0.HOST:$MCSI_TGT_PORT" (the harness's tgt) in buf
 * Every check returns nonzero when it passed.  Output goes to stdout, flushed. */
#ifndef MCSI_TESTLIB_H
#define MCSI_TESTLIB_H
#include <stddef.h>
#include <stdint.h>

#define T_PRINTF(f, a) __attribute__((format(printf, f, a)))

int t_ok_(int pass, const char *file, int line, const char *fmt, ...) T_PRINTF(4, 5);
int t_eq_int_(long long a, long long b, const char *file, int line, const char *fmt, ...)
    T_PRINTF(5, 6);
int t_eq_u64_(uint64_t a, uint64_t b, const char *file, int line, const char *fmt, ...)
    T_PRINTF(5, 6);
int t_eq_str_(const char *a, const char *b, const char *file, int line, const char *fmt, ...)
    T_PRINTF(5, 6);
int t_eq_mem_(const void *a, const void *b, size_t len, const char *file, int line,
              const char *fmt, ...) T_PRINTF(6, 7);

#define T_OK(cond, ...) t_ok_((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)
#define T_EQ_INT(a, b, ...) t_eq_int_((long long)(a), (long long)(b), __FILE__, __LINE__, __VA_ARGS__)
#define T_EQ_U64(a, b, ...) t_eq_u64_((uint64_t)(a), (uint64_t)(b), __FILE__, __LINE__, __VA_ARGS__)
#define T_EQ_STR(a, b, ...) t_eq_str_((a), (b), __FILE__, __LINE__, __VA_ARGS__)
#define T_EQ_MEM(a, b, len, ...) t_eq_mem_((a), (b), (len), __FILE__, __LINE__, __VA_ARGS__)

void t_skip(const char *why);
int t_done(void);
const char *t_env(const char *name);
char *t_run(const char *cmd);
char *t_tgt_portal(char *buf, size_t n, int host);
#endif
