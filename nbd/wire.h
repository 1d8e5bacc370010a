/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wire.h: the NBD protocol's numbers (doc/proto.md of NetworkBlockDevice/nbd)
 * and big-endian helpers. Nothing here knows iSCSI.
 */
#ifndef MCSI_NBD_WIRE_H
#define MCSI_NBD_WIRE_H

#include <stdint.h>

/* Handshake */
#define NBD_MAGIC             0x4e42444d41474943ULL   /* "NBDMAGIC" */
#define NBD_IHAVEOPT          0x49484156454F5054ULL   /* "IHAVEOPT" */
#define NBD_REP_MAGIC         0x0003e889045565a9ULL
#define NBD_FLAG_FIXED_NEWSTYLE   (1u << 0)           /* server handshake flags */
#define NBD_FLAG_NO_ZEROES        (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)           /* client flags */
#define NBD_FLAG_C_NO_ZEROES      (1u << 1)

/* Options */
#define NBD_OPT_EXPORT_NAME      1
#define NBD_OPT_ABORT            2
#define NBD_OPT_LIST             3
#define NBD_OPT_STARTTLS         5
#define NBD_OPT_INFO             6
#define NBD_OPT_GO               7
#define NBD_OPT_STRUCTURED_REPLY 8

/* Option replies */
#define NBD_REP_ACK          1u
#define NBD_REP_SERVER       2u
#define NBD_REP_INFO         3u
#define NBD_REP_ERR(n)       ((1u << 31) + (n))
#define NBD_REP_ERR_UNSUP    NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY   NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID  NBD_REP_ERR(3)
#define NBD_REP_ERR_TLS_REQD NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN  NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN NBD_REP_ERR(7)
#define NBD_REP_ERR_TOO_BIG  NBD_REP_ERR(9)

/* NBD_REP_INFO types */
#define NBD_INFO_EXPORT      0
#define NBD_INFO_NAME        1
#define NBD_INFO_DESCRIPTION 2
#define NBD_INFO_BLOCK_SIZE  3

/* Transmission flags */
#define NBD_FLAG_HAS_FLAGS          (1u << 0)
#define NBD_FLAG_READ_ONLY          (1u << 1)
#define NBD_FLAG_SEND_FLUSH         (1u << 2)
#define NBD_FLAG_SEND_FUA           (1u << 3)
#define NBD_FLAG_SEND_TRIM          (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES  (1u << 6)
#define NBD_FLAG_CAN_MULTI_CONN     (1u << 8)

/* Transmission */
#define NBD_REQUEST_MAGIC       0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC  0x67446698u
#define NBD_REQUEST_SIZE        28
#define NBD_SIMPLE_REPLY_SIZE   16

#define NBD_CMD_READ          0
#define NBD_CMD_WRITE         1
#define NBD_CMD_DISC          2
#define NBD_CMD_FLUSH         3
#define NBD_CMD_TRIM          4
#define NBD_CMD_WRITE_ZEROES  6

#define NBD_CMD_FLAG_FUA      (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE  (1u << 1)

/* Errors, on the wire's own numbering */
#define NBD_EPERM      1
#define NBD_EIO        5
#define NBD_ENOMEM     12
#define NBD_EINVAL     22
#define NBD_ENOSPC     28
#define NBD_EOVERFLOW  75
#define NBD_ENOTSUP    95
#define NBD_ESHUTDOWN  108

static inline void nbd_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void nbd_put32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void nbd_put64(uint8_t *p, uint64_t v) { nbd_put32(p, (uint32_t)(v >> 32)); nbd_put32(p + 4, (uint32_t)v); }
static inline uint16_t nbd_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t nbd_get32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t nbd_get64(const uint8_t *p) { return (uint64_t)nbd_get32(p) << 32 | nbd_get32(p + 4); }

#endif
