/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* base.c: ids, owned strings, messages, the monotonic clock. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base.h"

mcsi_status mcsi_msgv(char *buf, mcsi_status st, const char *fmt, va_list ap)
{
  vsnprintf(buf, MCSI_MSG_MAX, fmt, ap);
  return st;
}

mcsi_status mcsi_msg(char *buf, mcsi_status st, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  mcsi_msgv(buf, st, fmt, ap);
  va_end(ap);
  return st;
}

static _Atomic mcsi_id last_id;         /* shared by every initiator of the process */

mcsi_id mcsi_new_id(void) { return ++last_id; }

void mcsi_id_reserve(mcsi_id id)
{
  mcsi_id seen = last_id;
  while (seen < id && !atomic_compare_exchange_weak(&last_id, &seen, id)) {
  }
}

char *mcsi_strdup0(const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

uint64_t mcsi_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
