/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_chap.c: CHAP responses, binary value decoding, algorithm choice. */
#include <stdlib.h>
#include <string.h>

#include "chap.h"
#include "testlib.h"

/* Vector 1: id 0x2a, secret "mcsi-secret-12" (14 bytes), 16-byte challenge
 * 01 23 45 67 89 ab cd ef fe dc ba 98 76 54 32 10. Expected values computed with
 *   { printf '\052'; printf 'mcsi-secret-12';
 *     printf '\001\043\105\147\211\253\315\357\376\334\272\230\166\124\062\020'; } > in.bin
 *   openssl dgst -md5 in.bin; openssl dgst -sha256 in.bin
 * Vector 2: id 0x07, empty secret, 1024-byte challenge: bytes 0..255 four times:
 *   python3 -c "open('big.bin','wb').write(bytes([7]) + bytes(range(256))*4)"
 *   openssl dgst -md5 big.bin; openssl dgst -sha256 big.bin */
static const uint8_t v1_challenge[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                          0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 };
static const char v1_secret[] = "mcsi-secret-12";
static const char v1_md5[] = "0x33ad064f9da28072bd92764ebc34c9b8";
static const char v1_sha256[] = "0x225023b8dd8b9825fb4edd75b438682baea4e4308607329fac484f4f629ed61e";
static const char v2_md5[] = "0x437e2ac86b1bd05ff1ef0cc06c4ac059";
static const char v2_sha256[] = "0x654a781555921aa0a1cf7331e5bd6feded4a605fdf5fad10d2eae98a35c77fff";

static void check_response(int alg, uint8_t id, const char *secret, const uint8_t *ch,
                           size_t ch_len, const char *want, const char *what)
{
  uint8_t out[MCSI_CHAP_DIGEST_MAX];
  char hex[2 * MCSI_CHAP_DIGEST_MAX + 3];
  size_t n = mcsi_chap_digest_len(alg);

  memset(out, 0, sizeof out);
  T_EQ_INT(mcsi_chap_response(alg, id, secret, strlen(secret), ch, ch_len, out), 0,
           "%s: response computed", what);
  mcsi_chap_encode_hex(out, n, hex);
  T_EQ_STR(hex, want, "%s: matches openssl dgst", what);
}

static void test_responses(void)
{
  uint8_t big[1024], out[MCSI_CHAP_DIGEST_MAX];

  T_EQ_INT(mcsi_chap_digest_len(MCSI_CHAP_MD5), 16, "MD5 digest length");
  T_EQ_INT(mcsi_chap_digest_len(MCSI_CHAP_SHA256), 32, "SHA-256 digest length");
  T_EQ_INT(mcsi_chap_digest_len(6), 0, "unsupported algorithm length 0");
  check_response(MCSI_CHAP_MD5, 0x2a, v1_secret, v1_challenge, 16, v1_md5, "MD5 vector 1");
  check_response(MCSI_CHAP_SHA256, 0x2a, v1_secret, v1_challenge, 16, v1_sha256,
                 "SHA-256 vector 1");
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)i;
  check_response(MCSI_CHAP_MD5, 7, "", big, sizeof big, v2_md5, "MD5 1024-byte challenge");
  check_response(MCSI_CHAP_SHA256, 7, "", big, sizeof big, v2_sha256,
                 "SHA-256 1024-byte challenge");
  T_EQ_INT(mcsi_chap_response(6, 1, "s", 1, big, 16, out), -1, "CHAP_A=6 refused");
  T_EQ_INT(mcsi_chap_response(0, 1, "s", 1, big, 16, out), -1, "CHAP_A=0 refused");
}

static void decode_ok(const char *s, const void *want, long n, const char *what)
{
  uint8_t out[64];
  long got = mcsi_chap_decode(s, out, sizeof out);

  T_EQ_INT(got, n, "decode %s (\"%s\") length", what, s);
  if (got == n && n > 0)
    T_EQ_MEM(out, want, (size_t)n, "decode %s bytes", what);
}

static void decode_bad(const char *s, size_t max, const char *what)
{
  uint8_t out[64];

  T_EQ_INT(mcsi_chap_decode(s, out, max), -1, "decode %s (\"%s\") rejected", what, s);
}

static void test_decode(void)
{
  decode_ok("0x0123456789abcdef", "\x01\x23\x45\x67\x89\xab\xcd\xef", 8, "hex");
  decode_ok("0XABCDEF", "\xab\xcd\xef", 3, "uppercase 0X and digits");
  decode_ok("0xaBcD", "\xab\xcd", 2, "mixed case");
  decode_ok("0xabc", "\x0a\xbc", 2, "odd-length hex");
  decode_ok("0x1", "\x01", 1, "single digit");
  decode_ok("0bASNFZ4mrze/+3LqYdlQyEA==", v1_challenge, 16, "base64 with ==");
  decode_ok("0bYWI=", "ab", 2, "base64 with =");
  decode_ok("0BYWJjZA==", "abcd", 4, "base64 0B");
  decode_ok("0bYWJj", "abc", 3, "base64 without padding");
  decode_ok("0bYWI", "ab", 2, "base64 short, unpadded");
  decode_ok("0b//79/A==", "\xff\xfe\xfd\xfc", 4, "base64 + and /");
  decode_bad("0x", 64, "empty hex");
  decode_bad("0b", 64, "empty base64");
  decode_bad("0x12g4", 64, "invalid hex char");
  decode_bad("0x12 4", 64, "space in hex");
  decode_bad("1234", 64, "no prefix");
  decode_bad("x1234", 64, "no leading 0");
  decode_bad("0z12", 64, "unknown prefix");
  decode_bad("", 64, "empty string");
  decode_bad("0x123456", 2, "hex longer than max");
  decode_bad("0x12345", 2, "odd hex longer than max");
  decode_bad("0bYWJjZA==", 3, "base64 longer than max");
  decode_bad("0bYWJjZA=", 64, "base64 with bad padding");
  decode_bad("0bYWJjZ", 64, "base64 of 4k+1 chars");
  decode_bad("0bYW=I", 64, "'=' inside base64");
  decode_bad("0bYQ===", 64, "three '='");
  decode_bad("0bYW*I", 64, "invalid base64 char");
  decode_bad("0b====", 64, "padding only");
  T_EQ_INT(mcsi_chap_decode(NULL, NULL, 0), -1, "decode NULL rejected");
  {
    uint8_t one[1];
    T_EQ_INT(mcsi_chap_decode("0xff", one, 1), 1, "exactly max bytes accepted");
  }
}

static void test_decode_big(void)
{
  char *hex = malloc(2 * (MCSI_CHAP_CHALLENGE_MAX + 1) + 3);
  uint8_t *in = malloc(MCSI_CHAP_CHALLENGE_MAX + 1), *out = malloc(MCSI_CHAP_CHALLENGE_MAX);
  long n;

  if (!hex || !in || !out) {
    T_OK(0, "malloc");
    goto done;
  }
  for (size_t i = 0; i <= MCSI_CHAP_CHALLENGE_MAX; i++)
    in[i] = (uint8_t)(i * 7 + 3);
  mcsi_chap_encode_hex(in, MCSI_CHAP_CHALLENGE_MAX, hex);
  T_EQ_INT(strlen(hex), 2 * MCSI_CHAP_CHALLENGE_MAX + 2, "encode_hex length");
  n = mcsi_chap_decode(hex, out, MCSI_CHAP_CHALLENGE_MAX);
  T_EQ_INT(n, MCSI_CHAP_CHALLENGE_MAX, "1024-byte challenge accepted");
  if (n == MCSI_CHAP_CHALLENGE_MAX)
    T_EQ_MEM(out, in, MCSI_CHAP_CHALLENGE_MAX, "1024-byte challenge round trip");
  mcsi_chap_encode_hex(in, MCSI_CHAP_CHALLENGE_MAX + 1, hex);
  T_EQ_INT(mcsi_chap_decode(hex, out, MCSI_CHAP_CHALLENGE_MAX), -1,
           "1025-byte challenge rejected");
  mcsi_chap_encode_hex(in, 0, hex);
  T_EQ_STR(hex, "0x", "encode_hex of nothing");
  mcsi_chap_encode_hex((const uint8_t *)"\x00\x0f\xa0\xff", 4, hex);
  T_EQ_STR(hex, "0x000fa0ff", "encode_hex is lowercase with leading zeros");
done:
  free(hex);
  free(in);
  free(out);
}

static void test_pick(void)
{
  T_EQ_INT(mcsi_chap_pick_algorithm("5"), 5, "\"5\" -> MD5");
  T_EQ_INT(mcsi_chap_pick_algorithm("7"), 7, "\"7\" -> SHA-256");
  T_EQ_INT(mcsi_chap_pick_algorithm("7,5"), 7, "\"7,5\" -> SHA-256");
  T_EQ_INT(mcsi_chap_pick_algorithm("5,7"), 7, "\"5,7\" -> SHA-256");
  T_EQ_INT(mcsi_chap_pick_algorithm("6,5"), 5, "\"6,5\" -> MD5");
  T_EQ_INT(mcsi_chap_pick_algorithm("6"), -1, "\"6\" -> none");
  T_EQ_INT(mcsi_chap_pick_algorithm("99999999999999999999,5"), 5, "huge number ignored");
  T_EQ_INT(mcsi_chap_pick_algorithm(""), -1, "empty");
  T_EQ_INT(mcsi_chap_pick_algorithm("Reject"), -1, "Reject");
  T_EQ_INT(mcsi_chap_pick_algorithm("garbage"), -1, "garbage");
  T_EQ_INT(mcsi_chap_pick_algorithm("7,"), -1, "trailing comma");
  T_EQ_INT(mcsi_chap_pick_algorithm(",7"), -1, "leading comma");
  T_EQ_INT(mcsi_chap_pick_algorithm("7,,5"), -1, "empty item");
  T_EQ_INT(mcsi_chap_pick_algorithm("7x"), -1, "junk after number");
  T_EQ_INT(mcsi_chap_pick_algorithm("-7"), -1, "negative");
  T_EQ_INT(mcsi_chap_pick_algorithm(" 7"), -1, "leading space");
  T_EQ_INT(mcsi_chap_pick_algorithm(NULL), -1, "NULL");
}

static void test_random_equal(void)
{
  uint8_t a[32], b[32], z[32] = { 0 };

  T_EQ_INT(mcsi_chap_random(a, sizeof a), 0, "random a");
  T_EQ_INT(mcsi_chap_random(b, sizeof b), 0, "random b");
  T_OK(memcmp(a, b, sizeof a) != 0, "two random draws differ");
  T_OK(memcmp(a, z, sizeof a) != 0, "random is not all zero");
  T_EQ_INT(mcsi_chap_random(a, 0), 0, "random of 0 bytes");
  T_EQ_INT(mcsi_chap_equal(a, a, sizeof a), 1, "equal to itself");
  memcpy(b, a, sizeof b);
  b[31] ^= 1;
  T_EQ_INT(mcsi_chap_equal(a, b, sizeof a), 0, "last bit differs");
  b[31] ^= 1;
  b[0] ^= 0x80;
  T_EQ_INT(mcsi_chap_equal(a, b, sizeof a), 0, "first bit differs");
  T_EQ_INT(mcsi_chap_equal(a, b, 0), 1, "zero length is equal");
}

int main(void)
{
  test_responses();
  test_decode();
  test_decode_big();
  test_pick();
  test_random_equal();
  return t_done();
}
