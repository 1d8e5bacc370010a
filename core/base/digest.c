/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* digest.c: iSCSI CRC32C (RFC 7143 11.1) on top of ISA-L's crc32_iscsi.
 *
 * ISA-L convention (checked by test): crc32_iscsi(buf, len, init) runs the
 * reflected Castagnoli CRC from the raw register value init and returns the
 * raw register; it neither complements init nor the result.  So the iSCSI
 * digest is ~crc32_iscsi(buf, len, 0xFFFFFFFF), and chaining raw values
 * gives the incremental form. */
#include "digest.h"

#include <isa-l/crc.h>

/* ISA-L takes an int length and a non-const pointer (it only reads). */
#define MCSI_CRC_CHUNK ((size_t)1 << 30)

uint32_t mcsi_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
  unsigned char *p = (unsigned char *)(uintptr_t)buf;

  while (len > 0) {
    size_t n = len < MCSI_CRC_CHUNK ? len : MCSI_CRC_CHUNK;
    crc = crc32_iscsi(p, (int)n, crc);
    p += n;
    len -= n;
  }
  return crc;
}

uint32_t mcsi_crc32c_final(uint32_t crc)
{
  return ~crc;
}

uint32_t mcsi_crc32c(const void *buf, size_t len)
{
  return mcsi_crc32c_final(mcsi_crc32c_update(MCSI_CRC32C_INIT, buf, len));
}

void mcsi_digest_put(uint8_t out[4], uint32_t digest)
{
  out[0] = (uint8_t)digest;
  out[1] = (uint8_t)(digest >> 8);
  out[2] = (uint8_t)(digest >> 16);
  out[3] = (uint8_t)(digest >> 24);
}

uint32_t mcsi_digest_get(const uint8_t in[4])
{
  return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
         (uint32_t)in[3] << 24;
}
