/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* latency.c: the command latency histogram of latency.h. */
#include <time.h>
#include "latency.h"

int mcsi_latency_bucket(uint64_t us)
{
  int k = us ? 63 - __builtin_clzll(us) : 0;
  return k < MCSI_LATENCY_BUCKETS ? k : MCSI_LATENCY_BUCKETS - 1;
}

void mcsi_latency_record(mcsi_latency *h, uint64_t us)
{
  h->sum_us += us;
  h->bucket[mcsi_latency_bucket(us)]++;
}

uint64_t mcsi_now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
