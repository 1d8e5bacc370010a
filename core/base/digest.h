/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* digest.h: iSCSI CRC32C header and data digests (RFC 7143 11.1), via ISA-L. */
#ifndef MCSI_DIGEST_H
#define MCSI_DIGEST_H
#include <stddef.h>
#include <stdint.h>

/* Complete iSCSI CRC32C of one buffer (initial value ~0, final complement),
 * as the value that goes on the wire little-endian. */
uint32_t mcsi_crc32c(const void *buf, size_t len);

/* Incremental form over several pieces:
 *   uint32_t c = MCSI_CRC32C_INIT; c = mcsi_crc32c_update(c, a, n); ...;
 *   digest = mcsi_crc32c_final(c); */
#define MCSI_CRC32C_INIT 0xFFFFFFFFu
uint32_t mcsi_crc32c_update(uint32_t crc, const void *buf, size_t len);
uint32_t mcsi_crc32c_final(uint32_t crc);

/* Wire form: 4 bytes, little-endian. */
void mcsi_digest_put(uint8_t out[4], uint32_t digest);
uint32_t mcsi_digest_get(const uint8_t in[4]);
#endif
