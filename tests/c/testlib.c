/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testlib.c: see testlib.h. */
#include "testlib.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned t_passed, t_failed, t_skipped;

/* Prints "ok N - msg" / "not ok N - msg  (file:line)"; returns pass. */
static int t_report(int pass, const char *file, int line, const char *fmt, va_list ap)
    T_PRINTF(4, 0);
static int t_report(int pass, const char *file, int line, const char *fmt, va_list ap)
{
  char msg[512];

  vsnprintf(msg, sizeof msg, fmt, ap);
  if (pass)
    t_passed++;
  else
    t_failed++;
  if (pass)
    printf("ok %u - %s\n", t_passed + t_failed + t_skipped, msg);
  else
    printf("not ok %u - %s  (%s:%d)\n", t_passed + t_failed + t_skipped, msg, file, line);
  fflush(stdout);
  return pass;
}

int t_ok_(int pass, const char *file, int line, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  pass = t_report(pass, file, line, fmt, ap);
  va_end(ap);
  return pass;
}

int t_eq_int_(long long a, long long b, const char *file, int line, const char *fmt, ...)
{
  va_list ap;
  int pass;

  va_start(ap, fmt);
  pass = t_report(a == b, file, line, fmt, ap);
  va_end(ap);
  if (!pass)
    printf("#   got      %lld (0x%llx)\n#   expected %lld (0x%llx)\n", a,
           (unsigned long long)a, b, (unsigned long long)b);
  fflush(stdout);
  return pass;
}

int t_eq_u64_(uint64_t a, uint64_t b, const char *file, int line, const char *fmt, ...)
{
  va_list ap;
  int pass;

  va_start(ap, fmt);
  pass = t_report(a == b, file, line, fmt, ap);
  va_end(ap);
  if (!pass)
    printf("#   got      %" PRIu64 " (0x%" PRIx64 ")\n#   expected %" PRIu64 " (0x%" PRIx64 ")\n",
           a, a, b, b);
  fflush(stdout);
  return pass;
}

int t_eq_str_(const char *a, const char *b, const char *file, int line, const char *fmt, ...)
{
  va_list ap;
  int pass = (a && b) ? strcmp(a, b) == 0 : a == b;

  va_start(ap, fmt);
  pass = t_report(pass, file, line, fmt, ap);
  va_end(ap);
  if (!pass)
    printf("#   got      %s%s%s\n#   expected %s%s%s\n", a ? "\"" : "", a ? a : "NULL",
           a ? "\"" : "", b ? "\"" : "", b ? b : "NULL", b ? "\"" : "");
  fflush(stdout);
  return pass;
}

/* "#   label  01 02 ..." for at most 64 bytes. */
static void t_dump(const char *label, const uint8_t *p, size_t len)
{
  printf("#   %-8s", label);
  for (size_t i = 0; i < len && i < 64; i++)
    printf(" %02x", p[i]);
  printf("%s\n", len > 64 ? " ..." : "");
}

int t_eq_mem_(const void *a, const void *b, size_t len, const char *file, int line,
              const char *fmt, ...)
{
  va_list ap;
  int pass = (a && b) ? memcmp(a, b, len) == 0 : a == b;

  va_start(ap, fmt);
  pass = t_report(pass, file, line, fmt, ap);
  va_end(ap);
  if (!pass && a && b) {
    size_t i = 0;
    while (((const uint8_t *)a)[i] == ((const uint8_t *)b)[i])
      i++;
    printf("#   first difference at byte %zu of %zu\n", i, len);
    t_dump("got", a, len);
    t_dump("expected", b, len);
  } else if (!pass) {
    printf("#   got %s, expected %s\n", a ? "data" : "NULL", b ? "data" : "NULL");
  }
  fflush(stdout);
  return pass;
}

void t_skip(const char *why)
{
  t_skipped++;
  printf("ok %u - # SKIP %s\n", t_passed + t_failed + t_skipped, why);
  fflush(stdout);
}

int t_done(void)
{
  unsigned n = t_passed + t_failed + t_skipped;

  printf("1..%u\n# %u passed, %u failed, %u skipped\n", n, t_passed, t_failed, t_skipped);
  fflush(stdout);
  return (t_failed == 0 && n > 0) ? 0 : 1;
}

const char *t_env(const char *name)
{
  const char *v = getenv(name);

  if (!v) {
    printf("not ok %u - environment variable %s is missing\n", t_passed + t_failed + t_skipped + 1,
           name);
    t_failed++;
    t_done();
    exit(1);
  }
  return v;
}

char *t_run(const char *cmd)
{
  static char out[65536];
  FILE *p = popen(cmd, "r");
  size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;

  out[n] = 0;
  if (p)
    pclose(p);
  return out;
}

char *t_tgt_portal(char *buf, size_t n, int host)
{
  snprintf(buf, n, "127.0.0.%d:%s", host, t_env("MCSI_TGT_PORT"));
  return buf;
}
