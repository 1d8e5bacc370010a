/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-rusage: runs a command and reports the CPU it used, from the
 * child's own rusage (wait4), for make bench's CPU per I/O of tools that do
 * not measure themselves (libiscsi's iscsi-perf).
 *
 *   bench-rusage OUTFILE COMMAND [ARGS...]
 *
 * COMMAND inherits stdin, stdout and stderr. When it ends, OUTFILE gets one
 * line:
 *
 *   user U sys S wall W status X
 *
 * U and S in seconds (microsecond resolution), W the wall-clock seconds from
 * fork to exit, X the exit status (128+N for a death by signal N).
 * Exit status: X, or 125 when COMMAND could not be run or OUTFILE written.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_HARNESS = 125, EXIT_EXEC = 127, SIGNAL_BASE = 128 };

static double seconds_of(struct timeval tv)
{
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exit_code_of(int status)
{
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return SIGNAL_BASE + WTERMSIG(status);
  return EXIT_HARNESS;
}

/* Runs argv, waits for it; fills *ru and *wall; returns its wait status or -1. */
static int run_child(char **argv, struct rusage *ru, double *wall)
{
  double t0 = now_seconds();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "bench-rusage: fork: %s\n", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    execvp(argv[0], argv);
    fprintf(stderr, "bench-rusage: %s: %s\n", argv[0], strerror(errno));
    _exit(EXIT_EXEC);
  }
  int status;
  while (wait4(pid, &status, 0, ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "bench-rusage: wait4: %s\n", strerror(errno));
      return -1;
    }
  }
  *wall = now_seconds() - t0;
  return status;
}

static int write_report(const char *path, const struct rusage *ru, double wall, int code)
{
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "bench-rusage: %s: %s\n", path, strerror(errno));
    return -1;
  }
  fprintf(f, "user %.6f sys %.6f wall %.6f status %d\n", seconds_of(ru->ru_utime),
          seconds_of(ru->ru_stime), wall, code);
  if (fclose(f) != 0) {
    fprintf(stderr, "bench-rusage: %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: bench-rusage OUTFILE COMMAND [ARGS...]\n");
    return EXIT_HARNESS;
  }
  struct rusage ru;
  double wall = 0;
  int status = run_child(argv + 2, &ru, &wall);
  if (status < 0)
    return EXIT_HARNESS;
  int code = exit_code_of(status);
  if (write_report(argv[1], &ru, wall, code) < 0)
    return EXIT_HARNESS;
  return code;
}
