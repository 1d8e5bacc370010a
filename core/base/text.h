/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* text.h: iSCSI text key=value lists (RFC 7143 6.1): parse, build, encode. */
#ifndef MCSI_TEXT_H
#define MCSI_TEXT_H
#include <stddef.h>
#include <stdint.h>

#define MCSI_TEXT_KEY_MAX 63        /* RFC 7143 6.1: key names up to 63 bytes */
#define MCSI_TEXT_VALUE_MAX 8192    /* longest value we accept (CHAP challenges in hex are long) */
#define MCSI_TEXT_MAX_PAIRS 256     /* a reply with more pairs is malformed */

typedef struct mcsi_kv {
  char *key;
  char *value;
} mcsi_kv;

typedef struct mcsi_text {
  mcsi_kv *items;
  size_t count, cap;
} mcsi_text;

void mcsi_text_init(mcsi_text *t);
void mcsi_text_free(mcsi_text *t);   /* frees the items; t may be reused after init */

/* Appends the pairs found in data[0..len): "key=value\0key=value\0...".
 * A final pair without its NUL is accepted; padding NULs are skipped.
 * Returns 0, or -1 when the data is malformed (no '=', empty or overlong key,
 * key with characters outside [A-Za-z0-9.-+@_], overlong value, a key given
 * twice, too many pairs) or memory runs out; on -1, *bad (if not NULL) points
 * to a static string saying what was wrong. */
int mcsi_text_parse(mcsi_text *t, const uint8_t *data, size_t len, const char **bad);
/* Added with text.c: the same, but a key may be given more than once (the
 * SendTargets reply repeats TargetName and TargetAddress); the pairs are kept
 * in order and mcsi_text_get finds the first.
 * Both reject data holding no pair at all (len 0 or only NULs: check len
 * first where an empty segment is fine) and, on -1, leave t as it was. */
int mcsi_text_parse_multi(mcsi_text *t, const uint8_t *data, size_t len, const char **bad);

/* Appends key=value (both copied); 0 or -1 on OOM. */
int mcsi_text_add(mcsi_text *t, const char *key, const char *value);
/* Appends key=<decimal n>. */
int mcsi_text_add_u32(mcsi_text *t, const char *key, uint32_t n);
/* The value of key, or NULL. */
const char *mcsi_text_get(const mcsi_text *t, const char *key);

/* Encodes as "k=v\0..." into a malloc'd buffer; *len gets its length.
 * Returns NULL on OOM. An empty list gives a non-NULL buffer of length 0. */
uint8_t *mcsi_text_encode(const mcsi_text *t, size_t *len);

/* Parses an iSCSI numerical value: decimal, or hex "0x..". 0 or -1. */
int mcsi_text_parse_number(const char *s, uint64_t *out);
/* The value of one hex digit (either case), or -1. */
int mcsi_hex_digit(char c);
/* "Yes" -> 1, "No" -> 0, anything else -> -1. */
int mcsi_text_parse_bool(const char *s);
#endif
