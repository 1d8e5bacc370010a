/* fake_target_main.c: build/tests/fake-target, the scripted fake target of
 * tests/c/fake_target.c as a process, for the daemon's tests (Python).
 *
 *   fake-target [--alias TEXT] [--extra-target TEXT [--extra-address TEXT]] [--redirect TEXT]
 *
 * Listens on 127.0.0.1 (an ephemeral port), prints "PORTAL IQN" on one line
 * of stdout, and runs until its stdin ends (the test closes the pipe, or
 * dies) or SIGTERM. TEXT is given to the target as it is, any bytes: a
 * TargetAlias for normal logins, a TargetName SendTargets lists too (and its
 * TargetAddress), the TargetAddress every login is redirected to (0x0101). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fake_target.h"

int main(int argc, char **argv)
{
  fake_target_opts o = { .scenario = FAKE_NORMAL };
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--alias")) o.target_alias = argv[i + 1];
    else if (!strcmp(argv[i], "--extra-target")) o.extra_target = argv[i + 1];
    else if (!strcmp(argv[i], "--extra-address")) o.extra_address = argv[i + 1];
    else if (!strcmp(argv[i], "--redirect")) o.scenario = FAKE_LOGIN_REDIRECT_LOOP, o.redirect_to = argv[i + 1];
    else {
      fprintf(stderr, "usage: fake-target [--alias TEXT] [--extra-target TEXT [--extra-address TEXT]] [--redirect TEXT]\n");
      return 2;
    }
  }
  if (argc % 2 == 0) {
    fprintf(stderr, "usage: fake-target [--alias TEXT] [--extra-target TEXT [--extra-address TEXT]] [--redirect TEXT]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  fake_target *ft = fake_target_start_opts(&o);
  if (!ft) return 1;
  printf("%s %s\n", fake_target_portal(ft), fake_target_iqn(ft));
  fflush(stdout);
  char buf[256];
  while (read(0, buf, sizeof buf) > 0) continue;   /* SIGTERM ends us too, at once */
  fake_target_stop(ft);
  return 0;
}
