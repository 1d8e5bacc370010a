/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json_text.c: peer text as JSON strings, invalid bytes as \xHH (see json_text.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_text.h"

size_t mcsid_utf8_char_len(const unsigned char *p, size_t n)
{
  if (!n) return 0;
  unsigned c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xbf;       /* the range of the second byte */
  if (c >= 0xc2 && c <= 0xdf) len = 2;
  else if (c == 0xe0) len = 3, lo = 0xa0;                  /* no overlong form */
  else if (c == 0xed) len = 3, hi = 0x9f;                  /* no surrogate */
  else if (c >= 0xe1 && c <= 0xef) len = 3;
  else if (c == 0xf0) len = 4, lo = 0x90;                  /* no overlong form */
  else if (c >= 0xf1 && c <= 0xf3) len = 4;
  else if (c == 0xf4) len = 4, hi = 0x8f;                  /* nothing above U+10FFFF */
  else return 0;                                           /* 0x80..0xc1, 0xf5..0xff */
  if (n < len || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (p[i] < 0x80 || p[i] > 0xbf) return 0;
  return len;
}

int mcsid_utf8_valid(const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = mcsid_utf8_char_len(p + i, n - i);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

int mcsid_text_prefix(const char *s, size_t max)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strnlen(s, max), avail = strnlen(s, max + 4), i = 0;   /* a character is 4 bytes at most */
  while (i < n) {
    size_t k = mcsid_utf8_char_len(p + i, avail - i);
    if (!k) k = 1;                     /* an invalid byte is one (it is escaped later) */
    if (i + k > n) break;
    i += k;
  }
  return (int)i;
}

char *mcsid_text_escape(const char *s)
{
  if (!s) s = "";
  size_t n = strlen(s);
  char *out = malloc(4 * n + 1);       /* at most \xHH per byte */
  if (!out) return NULL;
  const unsigned char *p = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t k = mcsid_utf8_char_len(p + i, n - i);
    if (k) {
      memcpy(out + o, p + i, k);
      o += k;
      i += k;
    } else {
      snprintf(out + o, 5, "\\x%02x", p[i]);
      o += 4;
      i++;
    }
  }
  out[o] = 0;
  return out;
}

json_t *mcsid_json_text(const char *s)
{
  if (!s) s = "";
  if (mcsid_utf8_valid(s, strlen(s))) return json_string(s);
  char *e = mcsid_text_escape(s);
  json_t *v = e ? json_string(e) : NULL;
  free(e);
  return v;
}
