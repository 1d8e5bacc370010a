/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_digest.c: iSCSI CRC32C vectors (RFC 3720 B.4 / RFC 7143), the
 * incremental form, the wire byte order. */
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "testlib.h"

static void test_vectors(void)
{
  uint8_t b[32];

  memset(b, 0x00, sizeof b);
  T_EQ_INT(mcsi_crc32c(b, sizeof b), 0x8A9136AAu, "32 bytes of 0x00");
  memset(b, 0xFF, sizeof b);
  T_EQ_INT(mcsi_crc32c(b, sizeof b), 0x62A8AB43u, "32 bytes of 0xFF");
  for (int i = 0; i < 32; i++)
    b[i] = (uint8_t)i;
  T_EQ_INT(mcsi_crc32c(b, sizeof b), 0x46DD794Eu, "32 incrementing bytes");
  for (int i = 0; i < 32; i++)
    b[i] = (uint8_t)(31 - i);
  T_EQ_INT(mcsi_crc32c(b, sizeof b), 0x113FDB5Cu, "32 decrementing bytes");
  T_EQ_INT(mcsi_crc32c("123456789", 9), 0xE3069283u, "check value of \"123456789\"");
  T_EQ_INT(mcsi_crc32c(b, 0), 0, "empty buffer");
  T_EQ_INT(mcsi_crc32c_final(MCSI_CRC32C_INIT), 0, "init then final is the empty CRC");
}

static uint32_t test_split_crc(const uint8_t *buf, size_t len, unsigned *seed)
{
  uint32_t c = MCSI_CRC32C_INIT;
  size_t off = 0;

  while (off < len) {
    size_t n = (size_t)rand_r(seed) % (len - off + 1);
    c = mcsi_crc32c_update(c, buf + off, n);
    off += n;
  }
  return mcsi_crc32c_final(c);
}

static void test_incremental(void)
{
  enum { N = 4099 };
  uint8_t *buf = malloc(N);
  unsigned seed = 12345;
  int bad = 0;

  if (!buf) {
    T_OK(0, "malloc");
    return;
  }
  for (size_t i = 0; i < N; i++)
    buf[i] = (uint8_t)rand_r(&seed);
  for (int round = 0; round < 200; round++) {
    size_t len = (size_t)rand_r(&seed) % (N + 1);
    size_t start = (size_t)rand_r(&seed) % (N - len + 1);
    if (test_split_crc(buf + start, len, &seed) != mcsi_crc32c(buf + start, len))
      bad++;
  }
  T_EQ_INT(bad, 0, "incremental == one-shot on 200 random splits (odd offsets too)");
  free(buf);
}

static void test_wire(void)
{
  static const uint8_t want[4] = { 0xaa, 0x36, 0x91, 0x8a };
  uint8_t zero[32] = { 0 }, out[4];

  mcsi_digest_put(out, mcsi_crc32c(zero, sizeof zero));
  T_EQ_MEM(out, want, 4, "digest of 32 zero bytes goes on the wire as aa 36 91 8a");
  T_EQ_INT(mcsi_digest_get(want), 0x8A9136AAu, "digest_get reads little-endian");
  mcsi_digest_put(out, 0x01020304u);
  T_EQ_MEM(out, "\x04\x03\x02\x01", 4, "put 0x01020304");
  T_EQ_INT(mcsi_digest_get(out), 0x01020304u, "get(put(x)) == x");
}

int main(void)
{
  test_vectors();
  test_incremental();
  test_wire();
  return t_done();
}
