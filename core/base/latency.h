/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* latency.h: a command latency histogram, fixed size, no allocation: log2
 * buckets of microseconds (bucket k holds [2^k, 2^(k+1)) us, bucket 0 also
 * 0 us, the last everything from 2^(MCSI_LATENCY_BUCKETS-1) us up) and
 * the sum. Counters only grow: a reader takes two snapshots and subtracts
 * them to get an interval's distribution (mcsi top). */
#ifndef MCSI_LATENCY_H
#define MCSI_LATENCY_H
#include <stdint.h>
#include "mcsi.h"

typedef struct mcsi_latency {
  uint64_t sum_us;
  uint64_t bucket[MCSI_LATENCY_BUCKETS];
} mcsi_latency;

/* The bucket a latency of us microseconds falls in. */
int mcsi_latency_bucket(uint64_t us);
void mcsi_latency_record(mcsi_latency *h, uint64_t us);
uint64_t mcsi_now_us(void);
#endif
