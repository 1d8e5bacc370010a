/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_json_text.c: the daemon's escape of peer text (daemon/json_text.c)
 * and the JSON-RPC messages built on it (daemon/rpc.c): invalid UTF-8 from a
 * target becomes \xHH, valid text stays as it is, and jansson accepts every
 * result (it refuses invalid UTF-8: json_string() is NULL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "json_text.h"
#include "rpc.h"
#include "testlib.h"

/* What the escape makes of s, through a JSON string. */
static void check_escape(const char *s, const char *want, const char *what)
{
  json_t *v = mcsid_json_text(s);
  T_OK(v != NULL, "%s: a JSON string", what);
  T_EQ_STR(v ? json_string_value(v) : NULL, want, "%s: as text", what);
  json_decref(v);
}

static void test_valid_unchanged(void)
{
  check_escape("iqn.2026-11.org.mcsi:disk1", "iqn.2026-11.org.mcsi:disk1", "ASCII");
  check_escape("", "", "empty");
  check_escape(NULL, "", "NULL is empty");
  check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbd", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbd",
               "2-, 3-, 4-byte characters and U+FFFD itself");
  check_escape("\xf4\x8f\xbf\xbf\xed\x9f\xbf", "\xf4\x8f\xbf\xbf\xed\x9f\xbf", "U+10FFFF and U+D7FF");
  check_escape("tab\tnew\nline\x01", "tab\tnew\nline\x01", "control characters (JSON escapes them)");
}

static void test_invalid_escaped(void)
{
  check_escape("caf\xe9", "caf\\xe9", "a Latin-1 byte");
  check_escape("\xff\xfe", "\\xff\\xfe", "0xff 0xfe");
  check_escape("a\x80z", "a\\x80z", "a lone continuation byte");
  check_escape("\xc0\xaf", "\\xc0\\xaf", "an overlong '/' (2 bytes)");
  check_escape("\xe0\x80\xaf", "\\xe0\\x80\\xaf", "an overlong '/' (3 bytes)");
  check_escape("\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf", "an overlong '/' (4 bytes)");
  check_escape("\xed\xa0\x80", "\\xed\\xa0\\x80", "a UTF-16 surrogate (U+D800)");
  check_escape("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "above U+10FFFF");
  check_escape("\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80", "a lead byte 0xf5");
  check_escape("ab\xc3", "ab\\xc3", "a 2-byte character cut at the end");
  check_escape("ab\xe2\x82", "ab\\xe2\\x82", "a 3-byte character cut at the end");
  check_escape("\xe2\x82z\xc3\xa9", "\\xe2\\x82z\xc3\xa9", "a cut character, then valid text");
  check_escape("\xc3\xc3\xa9", "\\xc3\xc3\xa9", "a lead byte before a valid character");
  char *e = mcsid_text_escape("x\xff");
  T_EQ_STR(e, "x\\xff", "mcsid_text_escape: a C string");
  free(e);
}

static void test_prefix(void)
{
  T_EQ_INT(mcsid_text_prefix("abc", 64), 3, "prefix: a short text whole");
  T_EQ_INT(mcsid_text_prefix("abcdef", 4), 4, "prefix: ASCII cut anywhere");
  T_EQ_INT(mcsid_text_prefix("ab\xe2\x82\xac", 4), 2, "prefix: not inside a 3-byte character");
  T_EQ_INT(mcsid_text_prefix("ab\xe2\x82\xac", 5), 5, "prefix: up to its end");
  T_EQ_INT(mcsid_text_prefix("a\xf0\x9d\x84\x9e", 4), 1, "prefix: not inside a 4-byte character");
  T_EQ_INT(mcsid_text_prefix("a\xff\xfe", 2), 2, "prefix: invalid bytes count one each");
}

/* Our validator and jansson's agree on every 1- and 2-byte string, and on
 * many 3- and 4-byte ones; the escape of each is accepted by jansson. */
static void test_agrees_with_jansson(void)
{
  unsigned long disagree = 0, refused = 0, n = 0;
  unsigned char b[5];
  unsigned seed = 12345;
  for (unsigned long i = 0; i < 65536 + 400000; i++) {
    size_t len;
    if (i < 256) { b[0] = (unsigned char)i; len = 1; }
    else if (i < 65536) { b[0] = (unsigned char)(i >> 8); b[1] = (unsigned char)i; len = 2; }
    else {
      len = 3 + (i & 1);
      for (size_t k = 0; k < len; k++) {
        seed = seed * 1103515245u + 12345u;
        b[k] = (unsigned char)(0x80 + ((seed >> 16) % 0x80));   /* mostly high bytes: the hard cases */
      }
    }
    if (memchr(b, 0, len)) continue;
    b[len] = 0;
    n++;
    json_t *j = json_stringn((const char *)b, len);
    if (!j != !mcsid_utf8_valid((const char *)b, len)) disagree++;
    json_decref(j);
    json_t *v = mcsid_json_text((const char *)b);
    if (!v) refused++;
    json_decref(v);
  }
  T_EQ_INT(disagree, 0, "validity agrees with jansson's on %lu strings", n);
  T_EQ_INT(refused, 0, "jansson accepts the escape of all of them");
}

/* The messages rpc.c builds carry such text without failing. */
static void test_rpc_messages(void)
{
  json_t *st = mcsid_status_object(ISDSC_INVALID_HOST, "redirect to \xff\xfe:3260: bad host");
  T_OK(st != NULL, "a Status object whose message has invalid UTF-8");
  T_EQ_STR(json_string_value(json_object_get(st, "StatusMessage")), "redirect to \\xff\\xfe:3260: bad host",
           "StatusMessage escaped");
  json_t *id = json_integer(7);
  json_t *msg = mcsid_rpc_result(id, st);   /* id is referenced, st stolen */
  json_decref(id);
  size_t len = 0;
  char *line = msg ? mcsid_rpc_line(msg, &len) : NULL;
  T_OK(line && len && line[len - 1] == '\n', "the answer becomes a line");
  free(line);
  json_decref(msg);
  /* "%.64s" of a valid method name can cut a character: the error still goes out */
  json_t *err = mcsid_rpc_error(NULL, RPC_METHOD_NOT_FOUND, "method not found: \xe2\x82");
  T_OK(err != NULL, "an error whose message ends in a cut character");
  json_decref(err);
}

int main(void)
{
  test_valid_unchanged();
  test_invalid_escaped();
  test_prefix();
  test_agrees_with_jansson();
  test_rpc_messages();
  return t_done();
}
