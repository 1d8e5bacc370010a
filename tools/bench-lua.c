/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-lua.c: the C side of tools/bench-lua.sh. Times N calls of a
 * status-only operation (mcsi_remove_connection_from_session with an unknown
 * session id: no I/O, just the lookup and the Status) and prints
 * "c_ns_per_call <ns>". Usage: bench-lua [N] (default 2000000). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "mcsi.h"

int main(int argc, char **argv)
{
  long n = argc > 1 ? atol(argv[1]) : 2000000;
  mcsi_initiator *ini = mcsi_initiator_new(NULL);
  if (!ini || n <= 0) return 1;
  struct timespec a, b;
  volatile mcsi_status sink = 0;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) sink = mcsi_remove_connection_from_session(ini, 0x7777, (mcsi_id)i);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
  printf("c_ns_per_call %.1f\n", ns);
  mcsi_initiator_free(ini);
  return sink == ISDSC_INVALID_SESSION_ID ? 0 : 1;
}
