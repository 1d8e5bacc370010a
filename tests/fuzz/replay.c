/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* replay.c: runs a libFuzzer harness over saved inputs without fuzzing,
 * for `make check` (built with -fsanitize=address,undefined).
 *
 *   replay-<harness> PATH...      (files, or directories of files)
 *
 * Each file runs in a child process (fork) with a 30 s alarm, so that one
 * crash, sanitizer report, leak or hang is one "not ok" line and the
 * others still run.  Prints TAP lines "ok N - <path>" and the plan; exits
 * non-zero when anything failed or nothing ran. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_ALARM_S 30

static int n_run, n_failed;

static int read_file(const char *path, uint8_t **out, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 4096, n = 0;
  uint8_t *b = malloc(cap);
  while (b) {
    n += fread(b + n, 1, cap - n, f);
    if (n < cap) break;
    uint8_t *nb = realloc(b, cap *= 2);
    if (!nb) { free(b); b = NULL; }
    else b = nb;
  }
  int bad = ferror(f) || !b;
  fclose(f);
  if (bad) { free(b); return -1; }
  *out = b;
  *len = n;
  return 0;
}

/* The path from tests/fuzz/ on, for the TAP line. */
static const char *short_name(const char *path)
{
  const char *p = strstr(path, "tests/fuzz/");
  return p ? p + strlen("tests/fuzz/") : path;
}

static void replay_file(const char *path)
{
  uint8_t *data = NULL;
  size_t len = 0;
  n_run++;
  if (read_file(path, &data, &len)) {
    n_failed++;
    printf("not ok %d - %s (cannot read)\n", n_run, short_name(path));
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(REPLAY_ALARM_S);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    exit(0);
  }
  free(data);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) status = -1;
  if (status == 0) {
    printf("ok %d - %s\n", n_run, short_name(path));
  } else {
    n_failed++;
    if (status != -1 && WIFSIGNALED(status))
      printf("not ok %d - %s (signal %d%s)\n", n_run, short_name(path), WTERMSIG(status),
             WTERMSIG(status) == SIGALRM ? ": hang" : "");
    else
      printf("not ok %d - %s (exit %d)\n", n_run, short_name(path), status == -1 ? -1 : WEXITSTATUS(status));
  }
  fflush(stdout);
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static void replay_path(const char *path)
{
  struct stat st;
  if (stat(path, &st)) return;               /* an absent directory holds nothing */
  if (!S_ISDIR(st.st_mode)) { replay_file(path); return; }
  struct dirent **ents;
  int n = scandir(path, &ents, NULL, by_name);
  for (int i = 0; i < n; i++) {
    if (ents[i]->d_name[0] != '.') {
      char sub[4096];
      snprintf(sub, sizeof sub, "%s/%s", path, ents[i]->d_name);
      if (!stat(sub, &st) && S_ISREG(st.st_mode)) replay_file(sub);
    }
    free(ents[i]);
  }
  if (n >= 0) free(ents);
}

int main(int argc, char **argv)
{
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  for (int i = 1; i < argc; i++) replay_path(argv[i]);
  printf("1..%d\n# %d passed, %d failed\n", n_run, n_run - n_failed, n_failed);
  return n_failed || !n_run;
}
