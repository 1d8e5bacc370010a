/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fake_target_main.c: build/tests/fake-target, the scripted fake target of
 * tests/c/fake_target.c as a process, for the daemon's tests (Python).
 *
 *   fake-target [--alias TEXT] [--extra-target TEXT [--extra-address TEXT]] [--redirect TEXT]
 *               [--storm ua|busy|tsf|aborted:N] [--count-file PATH]
 *               [--max-transfer-blocks N] [--lun1-4k]
 *
 * Listens on 127.0.0.1 (an ephemeral port), prints "PORTAL IQN" on one line
 * of stdout, and runs until its stdin ends (the test closes the pipe, or
 * dies) or SIGTERM. TEXT is given to the target as it is, any bytes: a
 * TargetAlias for normal logins, a TargetName SendTargets lists too (and its
 * TargetAddress), the TargetAddress every login is redirected to (0x0101).
 *
 * Storms (issue 15): --storm KIND:N answers the next N I/O commands (every
 * SCSI command but INQUIRY, REPORT LUNS and READ CAPACITY) with UNIT
 * ATTENTION 29/00, BUSY, TASK SET FULL or ABORTED COMMAND 47/00, then
 * normally. A line "storm KIND:N" on stdin arms a storm again (counters are
 * not reset). --count-file PATH: the counters, rewritten every 50 ms while
 * they change and at exit, as one line "commands=A io=B storm=C rw=D fua=E
 * dpo=F max_rw_blocks=G" (A: every SCSI command; B: the I/O commands among
 * them, which storms hit; C: those a storm answered). A line "count" on stdin
 * prints that line on stdout. --max-transfer-blocks N: a Block Limits VPD
 * page with that MAXIMUM TRANSFER LENGTH. --lun1-4k: LUN 1 too, 4096-byte
 * blocks over the same disk. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_target.h"

static const char usage[] =
  "usage: fake-target [--alias TEXT] [--extra-target TEXT [--extra-address TEXT]] [--redirect TEXT]\n"
  "                   [--storm ua|busy|tsf|aborted:N] [--count-file PATH] [--max-transfer-blocks N] [--lun1-4k]\n";

/* "ua:3" -> storm and count; 0, or -1 when it is not one. */
static int parse_storm(const char *arg, int *storm, unsigned *count)
{
  char name[16];
  const char *colon = strchr(arg, ':');
  char *end;
  if (!colon || (size_t)(colon - arg) >= sizeof name) return -1;
  memcpy(name, arg, (size_t)(colon - arg));
  name[colon - arg] = 0;
  unsigned long n = strtoul(colon + 1, &end, 10);
  if (*end || end == colon + 1 || n > 1000000) return -1;
  *storm = fake_storm_parse(name);
  *count = (unsigned)n;
  return *storm < 0 ? -1 : 0;
}

static void format_counts(const fake_target *ft, char *out, size_t len)
{
  snprintf(out, len, "commands=%u io=%u storm=%u rw=%u fua=%u dpo=%u max_rw_blocks=%u\n",
           fake_target_commands(ft), fake_target_io_commands(ft), fake_target_storm_answers(ft),
           fake_target_rw_commands(ft), fake_target_fua(ft), fake_target_dpo(ft), fake_target_max_rw_blocks(ft));
}

/* Rewritten whole (a temporary file renamed over it): a reader never sees half a line. */
static void write_counts(const fake_target *ft, const char *path, char *last, size_t len)
{
  char line[256], tmp[4096];
  format_counts(ft, line, sizeof line);
  if (!path || !strcmp(line, last)) return;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fputs(line, f);
  if (fclose(f) == 0 && rename(tmp, path) == 0) snprintf(last, len, "%s", line);
}

/* One line of stdin: "storm KIND:N" or "count". */
static void command(fake_target *ft, const char *line)
{
  int storm;
  unsigned count;
  char counts[256];
  if (!strncmp(line, "storm ", 6) && parse_storm(line + 6, &storm, &count) == 0) {
    fake_target_storm(ft, storm, count);
  } else if (!strcmp(line, "count")) {
    format_counts(ft, counts, sizeof counts);
    fputs(counts, stdout);
    fflush(stdout);
  }
}

int main(int argc, char **argv)
{
  fake_target_opts o = { .scenario = FAKE_NORMAL };
  const char *count_file = NULL;
  for (int i = 1; i < argc; i++) {
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = 1;
    if (!strcmp(argv[i], "--lun1-4k")) o.lun1_4k = 1, takes = 0;
    else if (!val) takes = -1;
    else if (!strcmp(argv[i], "--alias")) o.target_alias = val;
    else if (!strcmp(argv[i], "--extra-target")) o.extra_target = val;
    else if (!strcmp(argv[i], "--extra-address")) o.extra_address = val;
    else if (!strcmp(argv[i], "--redirect")) o.scenario = FAKE_LOGIN_REDIRECT_LOOP, o.redirect_to = val;
    else if (!strcmp(argv[i], "--storm")) takes = parse_storm(val, &o.storm, &o.storm_count) ? -1 : 1;
    else if (!strcmp(argv[i], "--count-file")) count_file = val;
    else if (!strcmp(argv[i], "--max-transfer-blocks")) o.max_transfer_blocks = (uint32_t)strtoul(val, NULL, 10);
    else takes = -1;
    if (takes < 0) {
      fputs(usage, stderr);
      return 2;
    }
    i += takes;
  }
  signal(SIGPIPE, SIG_IGN);
  fake_target *ft = fake_target_start_opts(&o);
  if (!ft) return 1;
  printf("%s %s\n", fake_target_portal(ft), fake_target_iqn(ft));
  fflush(stdout);
  char buf[256], line[256], last[256] = "";
  size_t used = 0;
  write_counts(ft, count_file, last, sizeof last);
  for (;;) {                                       /* SIGTERM ends us too, at once */
    struct pollfd p = { .fd = 0, .events = POLLIN };
    int r = poll(&p, 1, 50);
    write_counts(ft, count_file, last, sizeof last);
    if (r <= 0) continue;
    ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t k = 0; k < n; k++) {
      if (buf[k] != '\n') {
        if (used < sizeof line - 1) line[used++] = buf[k];
        continue;
      }
      line[used] = 0;
      used = 0;
      command(ft, line);
    }
  }
  write_counts(ft, count_file, last, sizeof last);
  fake_target_stop(ft);
  return 0;
}
