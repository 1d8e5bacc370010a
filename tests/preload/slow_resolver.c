/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* slow_resolver.c: an LD_PRELOAD shim for tests (build/tests/slow_resolver.so).
 * getaddrinfo for the name "slow.mcsi.test" sleeps MCSI_SLOW_RESOLVER_MS
 * (default 5000) and then answers as for 127.0.0.1; a numeric-only lookup
 * of it (AI_NUMERICHOST) fails at once, as for any name. Every other call
 * goes to the C library's getaddrinfo. Built without sanitizers: an ASan
 * program that preloads it runs with ASAN_OPTIONS=verify_asan_link_order=0. */
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOW_NAME "slow.mcsi.test"

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
  getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  if (node && !strcmp(node, SLOW_NAME)) {
    if (hints && hints->ai_flags & AI_NUMERICHOST) return EAI_NONAME;
    const char *ms = getenv("MCSI_SLOW_RESOLVER_MS");
    long delay = ms ? strtol(ms, NULL, 10) : 5000;
    struct timespec ts = { delay / 1000, delay % 1000 * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
    node = "127.0.0.1";
  }
  return real(node, service, hints, res);
}
