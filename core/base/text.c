/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* text.c: iSCSI text key=value lists (RFC 7143 6.1). */
#include "text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mcsi_text_init(mcsi_text *t)
{
  t->items = NULL;
  t->count = 0;
  t->cap = 0;
}

static void mcsi_text_truncate(mcsi_text *t, size_t count)
{
  while (t->count > count) {
    t->count--;
    free(t->items[t->count].key);
    free(t->items[t->count].value);
  }
}

void mcsi_text_free(mcsi_text *t)
{
  mcsi_text_truncate(t, 0);
  free(t->items);
  mcsi_text_init(t);
}

static int mcsi_text_grow(mcsi_text *t)
{
  size_t cap;
  mcsi_kv *items;

  if (t->count < t->cap)
    return 0;
  cap = t->cap ? t->cap * 2 : 8;
  if (cap < t->cap || cap > SIZE_MAX / sizeof *items)
    return -1;
  items = realloc(t->items, cap * sizeof *items);
  if (!items)
    return -1;
  t->items = items;
  t->cap = cap;
  return 0;
}

static char *mcsi_text_dup(const char *s, size_t len)
{
  char *p = malloc(len + 1);

  if (p) {
    memcpy(p, s, len);
    p[len] = '\0';
  }
  return p;
}

/* Appends copies of key[0..klen) and value[0..vlen). */
static int mcsi_text_push(mcsi_text *t, const char *key, size_t klen,
                          const char *value, size_t vlen)
{
  char *k, *v;

  if (mcsi_text_grow(t) < 0)
    return -1;
  k = mcsi_text_dup(key, klen);
  v = mcsi_text_dup(value, vlen);
  if (!k || !v) {
    free(k);
    free(v);
    return -1;
  }
  t->items[t->count].key = k;
  t->items[t->count].value = v;
  t->count++;
  return 0;
}

int mcsi_text_add(mcsi_text *t, const char *key, const char *value)
{
  if (!key || !value)
    return -1;
  return mcsi_text_push(t, key, strlen(key), value, strlen(value));
}

int mcsi_text_add_u32(mcsi_text *t, const char *key, uint32_t n)
{
  char buf[16];

  snprintf(buf, sizeof buf, "%" PRIu32, n);
  return mcsi_text_add(t, key, buf);
}

const char *mcsi_text_get(const mcsi_text *t, const char *key)
{
  for (size_t i = 0; i < t->count; i++)
    if (strcmp(t->items[i].key, key) == 0)
      return t->items[i].value;
  return NULL;
}

/* ---- Parsing ------------------------------------------------------------- */

static int mcsi_text_key_char(char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '-' || c == '+' || c == '@' || c == '_';
}

/* Is key[0..klen) already in t? */
static int mcsi_text_has(const mcsi_text *t, const char *key, size_t klen)
{
  for (size_t i = 0; i < t->count; i++)
    if (strlen(t->items[i].key) == klen && memcmp(t->items[i].key, key, klen) == 0)
      return 1;
  return 0;
}

/* Checks one "key=value" (no NUL inside) and appends it; NULL or what is wrong. */
static const char *mcsi_text_pair(mcsi_text *t, const char *p, size_t n, int dups)
{
  const char *eq = memchr(p, '=', n);
  size_t klen, vlen;

  if (!eq)
    return "text pair without '='";
  klen = (size_t)(eq - p);
  vlen = n - klen - 1;
  if (klen == 0)
    return "empty text key";
  if (klen > MCSI_TEXT_KEY_MAX)
    return "text key longer than 63 bytes";
  for (size_t i = 0; i < klen; i++)
    if (!mcsi_text_key_char(p[i]))
      return "text key with a character outside [A-Za-z0-9.-+@_]";
  if (vlen > MCSI_TEXT_VALUE_MAX)
    return "text value too long";
  if (!dups && mcsi_text_has(t, p, klen))
    return "text key given twice";
  if (mcsi_text_push(t, p, klen, eq + 1, vlen) < 0)
    return "out of memory";
  return NULL;
}

static const char *mcsi_text_pairs(mcsi_text *t, const uint8_t *data, size_t len, int dups)
{
  const char *p = (const char *)data, *end = p + len;
  size_t found = 0;

  while (p < end) {
    const char *nul;
    const char *err;

    if (*p == '\0') {          /* padding, or an empty entry */
      p++;
      continue;
    }
    nul = memchr(p, '\0', (size_t)(end - p));
    if (!nul)
      nul = end;               /* last pair without its NUL */
    if (found == MCSI_TEXT_MAX_PAIRS)
      return "too many text pairs";
    err = mcsi_text_pair(t, p, (size_t)(nul - p), dups);
    if (err)
      return err;
    found++;
    p = nul;
  }
  return found ? NULL : "empty text data (no key=value pair)";
}

static int mcsi_text_parse_any(mcsi_text *t, const uint8_t *data, size_t len,
                               const char **bad, int dups)
{
  size_t before = t->count;
  const char *err = data || len == 0 ? mcsi_text_pairs(t, data, len, dups)
                                     : "text data is NULL";

  if (!err)
    return 0;
  mcsi_text_truncate(t, before);
  if (bad)
    *bad = err;
  return -1;
}

int mcsi_text_parse(mcsi_text *t, const uint8_t *data, size_t len, const char **bad)
{
  return mcsi_text_parse_any(t, data, len, bad, 0);
}

int mcsi_text_parse_multi(mcsi_text *t, const uint8_t *data, size_t len, const char **bad)
{
  return mcsi_text_parse_any(t, data, len, bad, 1);
}

/* ---- Encoding ------------------------------------------------------------ */

uint8_t *mcsi_text_encode(const mcsi_text *t, size_t *len)
{
  size_t total = 0, off = 0;
  uint8_t *buf;

  for (size_t i = 0; i < t->count; i++) {
    size_t n = strlen(t->items[i].key) + strlen(t->items[i].value) + 2;
    if (n < 2 || total > SIZE_MAX - n)
      return NULL;
    total += n;
  }
  buf = malloc(total ? total : 1);
  if (!buf)
    return NULL;
  for (size_t i = 0; i < t->count; i++) {
    size_t kl = strlen(t->items[i].key), vl = strlen(t->items[i].value);
    memcpy(buf + off, t->items[i].key, kl);
    buf[off + kl] = '=';
    memcpy(buf + off + kl + 1, t->items[i].value, vl);
    buf[off + kl + 1 + vl] = '\0';
    off += kl + vl + 2;
  }
  *len = total;
  return buf;
}

/* ---- Values -------------------------------------------------------------- */

int mcsi_hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int mcsi_parse_hex(const char *s, uint64_t *out)
{
  uint64_t v = 0;

  if (*s == '\0')
    return -1;
  for (; *s; s++) {
    int d = mcsi_hex_digit(*s);
    if (d < 0 || (v >> 60) != 0)
      return -1;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 0;
}

static int mcsi_parse_dec(const char *s, uint64_t *out)
{
  uint64_t v = 0;

  if (*s == '\0')
    return -1;
  for (; *s; s++) {
    unsigned d;
    if (*s < '0' || *s > '9')
      return -1;
    d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int mcsi_text_parse_number(const char *s, uint64_t *out)
{
  if (!s || !out)
    return -1;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    return mcsi_parse_hex(s + 2, out);
  return mcsi_parse_dec(s, out);
}

int mcsi_text_parse_bool(const char *s)
{
  if (!s)
    return -1;
  if (strcmp(s, "Yes") == 0)
    return 1;
  if (strcmp(s, "No") == 0)
    return 0;
  return -1;
}
