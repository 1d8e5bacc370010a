/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_latency.c: the per-connection latency histogram (core/base/latency.c):
 * known latencies land in their log2 bucket of microseconds, the sum adds up,
 * the ends (0 us, beyond the last bucket) are caught, and the info keys read
 * every bucket of a snapshot by key. */
#include <string.h>
#include "info.h"
#include "latency.h"
#include "testlib.h"

static void test_buckets(void)
{
  static const struct { uint64_t us; int bucket; } rows[] = {
    { 0, 0 }, { 1, 0 }, { 2, 1 }, { 3, 1 }, { 4, 2 }, { 7, 2 }, { 8, 3 }, { 100, 6 }, { 127, 6 }, { 128, 7 },
    { 1000, 9 }, { 1023, 9 }, { 1024, 10 }, { 250000, 17 }, { 1000000, 19 }, { (1u << 23) - 1, 22 },
    { 1u << 23, 23 }, { 30000000, 23 }, { UINT64_MAX, 23 },
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    T_EQ_INT(mcsi_latency_bucket(rows[i].us), rows[i].bucket, "%llu us goes in bucket %d",
             (unsigned long long)rows[i].us, rows[i].bucket);
}

static void test_record(void)
{
  mcsi_latency h;
  memset(&h, 0, sizeof h);
  /* 90 commands at 100 us, 9 at 1 ms, 1 at 20 ms */
  for (int i = 0; i < 90; i++) mcsi_latency_record(&h, 100);
  for (int i = 0; i < 9; i++) mcsi_latency_record(&h, 1000);
  mcsi_latency_record(&h, 20000);
  T_EQ_U64(h.bucket[6], 90, "90 commands of 100 us in [64, 128)");
  T_EQ_U64(h.bucket[9], 9, "9 of 1 ms in [512, 1024)");
  T_EQ_U64(h.bucket[14], 1, "1 of 20 ms in [16384, 32768)");
  uint64_t n = 0;
  for (int k = 0; k < MCSI_LATENCY_BUCKETS; k++) n += h.bucket[k];
  T_EQ_U64(n, 100, "nothing else counted");
  T_EQ_U64(h.sum_us, 90 * 100 + 9 * 1000 + 20000, "the sum: 38 ms");
}

static void test_keys(void)
{
  mcsi_conn_info ci;
  memset(&ci, 0, sizeof ci);
  for (int k = 0; k < MCSI_LATENCY_BUCKETS; k++) ci.latency.bucket[k] = 1000u + (uint64_t)k;
  ci.latency.sum_us = 123456789012ull;
  int right = 0;
  for (int k = 0; k < MCSI_LATENCY_BUCKETS; k++)
    right += mcsi_conn_info_get(&ci, MCSI_CI_LATENCY_BUCKET_0 + k) == 1000u + (uint64_t)k;
  T_EQ_INT(right, MCSI_LATENCY_BUCKETS, "every bucket read by its key");
  T_EQ_U64(mcsi_conn_info_get(&ci, MCSI_CI_LATENCY_SUM_US), 123456789012ull, "the sum by its key");
  T_EQ_STR(mcsi_conn_info_key_name(MCSI_CI_LATENCY_BUCKET_0 + 23), "latency_bucket_23", "the last bucket's name");
  T_EQ_INT(mcsi_conn_info_key("latency_sum_us"), 26, "latency_sum_us is key 26");
  T_EQ_INT(mcsi_conn_info_key("latency_bucket_0"), 27, "latency_bucket_0 is key 27");
}

int main(void)
{
  test_buckets();
  test_record();
  test_keys();
  return t_done();
}
