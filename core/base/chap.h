/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chap.h: CHAP for iSCSI login (RFC 7143 12.1.3, RFC 1994), MD5 (CHAP_A=5)
 * and SHA-256 (CHAP_A=7), with OpenSSL libcrypto for digests and random. */
#ifndef MCSI_CHAP_H
#define MCSI_CHAP_H
#include <stddef.h>
#include <stdint.h>

enum { MCSI_CHAP_MD5 = 5, MCSI_CHAP_SHA256 = 7 };
#define MCSI_CHAP_DIGEST_MAX 32        /* SHA-256 */
#define MCSI_CHAP_CHALLENGE_MAX 1024   /* RFC 7143: challenges up to 1024 bytes */

/* Digest length for an algorithm, 0 if unsupported. */
size_t mcsi_chap_digest_len(int alg);

/* Picks our preferred supported algorithm from a CHAP_A list as the target
 * sent it ("7,5" or "5"): SHA-256 first, then MD5. -1 if none supported. */
int mcsi_chap_pick_algorithm(const char *list);

/* response = H(id || secret || challenge); out must hold
 * mcsi_chap_digest_len(alg) bytes. 0, or -1 for an unsupported alg. */
int mcsi_chap_response(int alg, uint8_t id, const void *secret, size_t secret_len,
                       const uint8_t *challenge, size_t challenge_len, uint8_t *out);

/* Decodes a CHAP binary value: "0x" or "0X" followed by hex digits (an odd
 * count gets a leading 0), or "0b"/"0B" followed by base64. Returns the byte
 * count, or -1 if malformed or longer than max. */
long mcsi_chap_decode(const char *s, uint8_t *out, size_t max);

/* Encodes bytes as "0x" + lowercase hex into out (needs 2*len+3 bytes). */
void mcsi_chap_encode_hex(const uint8_t *in, size_t len, char *out);

/* Fills buf with cryptographically strong random bytes (RAND_bytes). 0 or -1. */
int mcsi_chap_random(void *buf, size_t len);

/* The challenges we sent lately, so that a target reflecting one back at
 * us is caught (RFC 7143 12.1.3); one per initiator. */
typedef struct mcsi_chap_memory { uint8_t recent[8][16]; unsigned n; } mcsi_chap_memory;
void mcsi_chap_remember(mcsi_chap_memory *m, const uint8_t *challenge16);
int mcsi_chap_reflected(const mcsi_chap_memory *m, const uint8_t *c, size_t len);

/* Constant-time comparison of two digests; 1 if equal. */
int mcsi_chap_equal(const uint8_t *a, const uint8_t *b, size_t len);
#endif
