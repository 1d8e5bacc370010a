/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chap.c: CHAP (RFC 1994) as iSCSI uses it (RFC 7143 12.1.3), MD5 and SHA-256. */
#include "chap.h"
#include "text.h"

#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

size_t mcsi_chap_digest_len(int alg)
{
  switch (alg) {
  case MCSI_CHAP_MD5: return 16;
  case MCSI_CHAP_SHA256: return 32;
  default: return 0;
  }
}

static const EVP_MD *mcsi_chap_md(int alg)
{
  switch (alg) {
  case MCSI_CHAP_MD5: return EVP_md5();
  case MCSI_CHAP_SHA256: return EVP_sha256();
  default: return NULL;
  }
}

/* ---- Algorithm list ------------------------------------------------------ */

/* Reads one decimal token of a CHAP_A list; its end in *end, -1 if malformed.
 * Large numbers saturate (they are simply unsupported). */
static long mcsi_chap_token(const char *s, const char **end)
{
  long v = 0;
  const char *p = s;

  for (; *p >= '0' && *p <= '9'; p++)
    v = v > 100000 ? v : v * 10 + (*p - '0');
  if (p == s || (*p != ',' && *p != '\0'))
    return -1;
  *end = p;
  return v;
}

int mcsi_chap_pick_algorithm(const char *list)
{
  int md5 = 0, sha256 = 0;
  const char *p = list;

  if (!list)
    return -1;
  for (;;) {
    long v = mcsi_chap_token(p, &p);
    if (v < 0)
      return -1;
    md5 |= v == MCSI_CHAP_MD5;
    sha256 |= v == MCSI_CHAP_SHA256;
    if (*p == '\0')
      break;
    p++;                            /* the ',' */
  }
  return sha256 ? MCSI_CHAP_SHA256 : md5 ? MCSI_CHAP_MD5 : -1;
}

/* ---- Response ------------------------------------------------------------ */

static int mcsi_chap_hash(EVP_MD_CTX *ctx, const EVP_MD *md, uint8_t id,
                          const void *secret, size_t secret_len,
                          const uint8_t *challenge, size_t challenge_len, uint8_t *out)
{
  unsigned int n = 0;

  if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, &id, 1) != 1)
    return -1;
  if (secret_len && EVP_DigestUpdate(ctx, secret, secret_len) != 1)
    return -1;
  if (challenge_len && EVP_DigestUpdate(ctx, challenge, challenge_len) != 1)
    return -1;
  if (EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != (unsigned)EVP_MD_size(md))
    return -1;
  return 0;
}

int mcsi_chap_response(int alg, uint8_t id, const void *secret, size_t secret_len,
                       const uint8_t *challenge, size_t challenge_len, uint8_t *out)
{
  const EVP_MD *md = mcsi_chap_md(alg);
  EVP_MD_CTX *ctx;
  int rc;

  if (!md || !out || (!secret && secret_len) || (!challenge && challenge_len))
    return -1;
  ctx = EVP_MD_CTX_new();
  if (!ctx)
    return -1;
  rc = mcsi_chap_hash(ctx, md, id, secret, secret_len, challenge, challenge_len, out);
  EVP_MD_CTX_free(ctx);
  return rc;
}

/* ---- Binary values ------------------------------------------------------- */

/* Hex digits s[0..n): an odd count gets a leading 0. */
static long mcsi_chap_decode_hex(const char *s, size_t n, uint8_t *out, size_t max)
{
  size_t bytes = n / 2 + n % 2, i = 0, o = 0;

  if (n == 0 || bytes > max || bytes > LONG_MAX)
    return -1;
  for (i = 0; i < n; i++)
    if (mcsi_hex_digit(s[i]) < 0)
      return -1;
  i = 0;
  if (n % 2)
    out[o++] = (uint8_t)mcsi_hex_digit(s[i++]);
  for (; i < n; i += 2)
    out[o++] = (uint8_t)(mcsi_hex_digit(s[i]) << 4 | mcsi_hex_digit(s[i + 1]));
  return (long)bytes;
}

static int mcsi_b64val(char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Base64 s[0..n) (RFC 4648): '=' only at the end, at most two, and then the
 * whole length a multiple of 4; without padding a length of 4k+1 is invalid. */
static long mcsi_chap_decode_b64(const char *s, size_t n, uint8_t *out, size_t max)
{
  size_t pad = 0, bytes, o = 0;
  uint32_t acc = 0;

  while (pad < 2 && n > 0 && s[n - 1] == '=') {
    n--;
    pad++;
  }
  if (n == 0 || n % 4 == 1 || (pad && (n + pad) % 4 != 0))
    return -1;
  bytes = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
  if (bytes > max || bytes > LONG_MAX)
    return -1;
  for (size_t i = 0; i < n; i++) {
    int v = mcsi_b64val(s[i]);
    if (v < 0)
      return -1;
    acc = acc << 6 | (uint32_t)v;
    if (i % 4 == 3) {
      out[o++] = (uint8_t)(acc >> 16);
      out[o++] = (uint8_t)(acc >> 8);
      out[o++] = (uint8_t)acc;
      acc = 0;
    }
  }
  if (n % 4 == 2) {
    out[o++] = (uint8_t)(acc >> 4);
  } else if (n % 4 == 3) {
    out[o++] = (uint8_t)(acc >> 10);
    out[o++] = (uint8_t)(acc >> 2);
  }
  return (long)bytes;
}

long mcsi_chap_decode(const char *s, uint8_t *out, size_t max)
{
  if (!s || !out || s[0] != '0')
    return -1;
  if (s[1] == 'x' || s[1] == 'X')
    return mcsi_chap_decode_hex(s + 2, strlen(s + 2), out, max);
  if (s[1] == 'b' || s[1] == 'B')
    return mcsi_chap_decode_b64(s + 2, strlen(s + 2), out, max);
  return -1;
}

void mcsi_chap_encode_hex(const uint8_t *in, size_t len, char *out)
{
  static const char digits[] = "0123456789abcdef";

  *out++ = '0';
  *out++ = 'x';
  for (size_t i = 0; i < len; i++) {
    *out++ = digits[in[i] >> 4];
    *out++ = digits[in[i] & 15];
  }
  *out = '\0';
}

/* ---- Random and comparison ----------------------------------------------- */

int mcsi_chap_random(void *buf, size_t len)
{
  unsigned char *p = buf;

  while (len > 0) {
    size_t n = len < INT_MAX ? len : INT_MAX;
    if (RAND_bytes(p, (int)n) != 1)
      return -1;
    p += n;
    len -= n;
  }
  return 0;
}

int mcsi_chap_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
  return CRYPTO_memcmp(a, b, len) == 0;
}

void mcsi_chap_remember(mcsi_chap_memory *m, const uint8_t *challenge16)
{
  memcpy(m->recent[m->n++ % 8], challenge16, 16);
}

int mcsi_chap_reflected(const mcsi_chap_memory *m, const uint8_t *c, size_t len)
{
  for (unsigned i = 0; i < m->n && i < 8; i++)
    if (len >= 16 && !memcmp(m->recent[i], c, 16)) return 1;
  return 0;
}
