/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_text.c: iSCSI text key=value lists: parse, build, encode, values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "text.h"

/* Parses data[0..len) into a fresh list, expecting success; returns the count. */
static size_t parse_ok(mcsi_text *t, const char *data, size_t len, const char *what)
{
  const char *bad = NULL;
  int rc;

  mcsi_text_init(t);
  rc = mcsi_text_parse(t, (const uint8_t *)data, len, &bad);
  T_EQ_INT(rc, 0, "%s: parsed%s%s", what, bad ? ": " : "", bad ? bad : "");
  return t->count;
}

/* Expects rejection with a message; the list must be left as it was. */
static void parse_bad(const char *data, size_t len, const char *what)
{
  mcsi_text t;
  const char *bad = NULL;
  int rc;

  mcsi_text_init(&t);
  mcsi_text_add(&t, "Before", "1");
  rc = mcsi_text_parse(&t, (const uint8_t *)data, len, &bad);
  T_OK(rc == -1 && bad && *bad, "%s: rejected (%s)", what, bad ? bad : "no message");
  T_EQ_INT(t.count, 1, "%s: list unchanged after the failure", what);
  mcsi_text_free(&t);
}

static void test_parse_basic(void)
{
  static const char d[] = "HeaderDigest=None\0MaxRecvDataSegmentLength=8192\0Empty=\0";
  mcsi_text t;

  T_EQ_INT(parse_ok(&t, d, sizeof d - 1, "three pairs"), 3, "three pairs found");
  T_EQ_STR(mcsi_text_get(&t, "HeaderDigest"), "None", "HeaderDigest");
  T_EQ_STR(mcsi_text_get(&t, "MaxRecvDataSegmentLength"), "8192", "MRDSL");
  T_EQ_STR(mcsi_text_get(&t, "Empty"), "", "empty value allowed");
  T_EQ_STR(mcsi_text_get(&t, "Missing"), NULL, "missing key gives NULL");
  T_EQ_STR(mcsi_text_get(&t, "headerdigest"), NULL, "keys are case-sensitive");
  mcsi_text_free(&t);

  parse_ok(&t, "A=1\0B=x=y", 9, "trailing pair without NUL");
  T_EQ_INT(t.count, 2, "trailing pair counted");
  T_EQ_STR(mcsi_text_get(&t, "B"), "x=y", "value keeps later '=' characters");
  mcsi_text_free(&t);

  parse_ok(&t, "A=1\0\0\0\0B=2\0\0\0", 14, "padding NULs");
  T_EQ_INT(t.count, 2, "padding NULs skipped");
  T_EQ_STR(mcsi_text_get(&t, "B"), "2", "pair after padding");
  mcsi_text_free(&t);

  parse_ok(&t, "a.b-c+d@e_F9=v", 14, "all allowed key characters");
  T_EQ_STR(mcsi_text_get(&t, "a.b-c+d@e_F9"), "v", "key with . - + @ _");
  mcsi_text_free(&t);
}

static void test_parse_appends(void)
{
  mcsi_text t;
  const char *bad = NULL;

  parse_ok(&t, "A=1", 3, "first segment");
  T_EQ_INT(mcsi_text_parse(&t, (const uint8_t *)"B=2", 3, &bad), 0, "second segment appended");
  T_EQ_INT(t.count, 2, "two pairs after two parses");
  T_EQ_INT(mcsi_text_parse(&t, (const uint8_t *)"A=3", 3, &bad), -1,
           "key already in the list rejected");
  T_EQ_INT(mcsi_text_parse(&t, (const uint8_t *)"C=1\0A=3", 7, NULL), -1,
           "bad may be NULL; whole segment rolled back");
  T_EQ_INT(t.count, 2, "still two pairs");
  mcsi_text_free(&t);
}

static void test_parse_multi(void)
{
  static const char d[] = "TargetName=iqn.a\0TargetAddress=10.0.0.1:3260,1\0"
                          "TargetAddress=10.0.0.2:3260,1\0TargetName=iqn.b\0";
  mcsi_text t;
  const char *bad = NULL;

  mcsi_text_init(&t);
  T_EQ_INT(mcsi_text_parse_multi(&t, (const uint8_t *)d, sizeof d - 1, &bad), 0,
           "parse_multi accepts repeated keys (SendTargets)");
  T_EQ_INT(t.count, 4, "four pairs in order");
  T_OK(t.count == 4 && strcmp(t.items[3].value, "iqn.b") == 0, "last pair is TargetName=iqn.b");
  T_EQ_STR(mcsi_text_get(&t, "TargetName"), "iqn.a", "get finds the first");
  T_EQ_INT(mcsi_text_parse_multi(&t, (const uint8_t *)"=x", 2, &bad), -1,
           "parse_multi still checks keys");
  mcsi_text_free(&t);
  parse_bad(d, sizeof d - 1, "parse rejects the same data (duplicate key)");
}

static void test_parse_malformed(void)
{
  char key64[128], big[MCSI_TEXT_VALUE_MAX + 64], *many;
  size_t off = 0;

  parse_bad("NoEquals", 8, "pair without '='");
  parse_bad("A=1\0NoEquals\0", 13, "second pair without '='");
  parse_bad("=value", 6, "empty key");
  memset(key64, 'K', 64);
  memcpy(key64 + 64, "=v", 2);
  parse_bad(key64, 66, "64-byte key");
  key64[63] = '=';
  key64[64] = 'v';
  {
    mcsi_text t;
    parse_ok(&t, key64, 65, "63-byte key accepted");
    mcsi_text_free(&t);
  }
  parse_bad("Bad Key=1", 9, "space in key");
  parse_bad("Bad/Key=1", 9, "'/' in key");
  parse_bad("K\xc3\xa9y=1", 6, "non-ASCII key");
  memcpy(big, "K=", 2);
  memset(big + 2, 'v', MCSI_TEXT_VALUE_MAX + 1);
  parse_bad(big, MCSI_TEXT_VALUE_MAX + 3, "value of MCSI_TEXT_VALUE_MAX + 1 bytes");
  {
    mcsi_text t;
    parse_ok(&t, big, MCSI_TEXT_VALUE_MAX + 2, "value of MCSI_TEXT_VALUE_MAX bytes accepted");
    mcsi_text_free(&t);
  }
  parse_bad("A=1\0A=1", 7, "duplicate key");
  parse_bad("", 0, "empty data");
  parse_bad("\0\0\0\0", 4, "padding only");
  many = malloc((MCSI_TEXT_MAX_PAIRS + 1) * 16);
  if (!many) {
    T_OK(0, "malloc");
    return;
  }
  for (int i = 0; i <= MCSI_TEXT_MAX_PAIRS; i++)
    off += (size_t)sprintf(many + off, "K%d=%d", i, i) + 1;
  parse_bad(many, off, "MCSI_TEXT_MAX_PAIRS + 1 pairs");
  {
    mcsi_text t;
    size_t last = off - strlen("K256=256") - 1;
    T_EQ_INT(parse_ok(&t, many, last, "MCSI_TEXT_MAX_PAIRS pairs accepted"),
             MCSI_TEXT_MAX_PAIRS, "pair count");
    mcsi_text_free(&t);
  }
  free(many);
}

static void test_build_encode(void)
{
  mcsi_text t, back;
  uint8_t *enc;
  size_t len = 99;
  static const char want[] = "InitiatorName=iqn.x:y\0SessionType=Normal\0MaxBurstLength=4294967295\0";

  mcsi_text_init(&t);
  enc = mcsi_text_encode(&t, &len);
  T_OK(enc != NULL && len == 0, "empty list encodes to a non-NULL buffer of length 0");
  free(enc);
  T_EQ_INT(mcsi_text_add(&t, "InitiatorName", "iqn.x:y"), 0, "add");
  T_EQ_INT(mcsi_text_add(&t, "SessionType", "Normal"), 0, "add");
  T_EQ_INT(mcsi_text_add_u32(&t, "MaxBurstLength", 4294967295u), 0, "add_u32");
  enc = mcsi_text_encode(&t, &len);
  T_EQ_INT(len, sizeof want - 1, "encoded length");
  if (enc && len == sizeof want - 1)
    T_EQ_MEM(enc, want, len, "encoded bytes");
  T_EQ_INT(parse_ok(&back, (const char *)enc, len, "round trip"), 3, "round trip count");
  for (size_t i = 0; i < t.count && i < back.count; i++) {
    T_EQ_STR(back.items[i].key, t.items[i].key, "round trip key %zu", i);
    T_EQ_STR(back.items[i].value, t.items[i].value, "round trip value %zu", i);
  }
  free(enc);
  mcsi_text_free(&back);
  mcsi_text_free(&t);
  T_EQ_INT(t.count, 0, "free leaves an empty, reusable list");
  T_EQ_INT(mcsi_text_add(&t, "Again", "1"), 0, "reuse after free");
  mcsi_text_free(&t);
}

static void number_ok(const char *s, uint64_t want)
{
  uint64_t v = 0;

  T_EQ_INT(mcsi_text_parse_number(s, &v), 0, "number \"%s\" accepted", s);
  T_EQ_U64(v, want, "number \"%s\" value", s);
}

static void number_bad(const char *s)
{
  uint64_t v = 77;

  T_OK(mcsi_text_parse_number(s, &v) == -1 && v == 77, "number \"%s\" rejected", s);
}

static void test_values(void)
{
  number_ok("0", 0);
  number_ok("8192", 8192);
  number_ok("007", 7);
  number_ok("18446744073709551615", UINT64_MAX);
  number_ok("0x0", 0);
  number_ok("0x1F", 31);
  number_ok("0Xff", 255);
  number_ok("0xFFFFFFFFFFFFFFFF", UINT64_MAX);
  number_ok("0x0000000000000000001", 1);
  number_bad("18446744073709551616");
  number_bad("99999999999999999999999");
  number_bad("0x10000000000000000");
  number_bad("");
  number_bad("0x");
  number_bad("-1");
  number_bad("+1");
  number_bad(" 1");
  number_bad("1 ");
  number_bad("12a");
  number_bad("0x1g");
  number_bad("0b101");
  number_bad("1e3");
  T_EQ_INT(mcsi_text_parse_number(NULL, NULL), -1, "number NULL rejected");

  T_EQ_INT(mcsi_text_parse_bool("Yes"), 1, "Yes");
  T_EQ_INT(mcsi_text_parse_bool("No"), 0, "No");
  T_EQ_INT(mcsi_text_parse_bool("yes"), -1, "yes (wrong case)");
  T_EQ_INT(mcsi_text_parse_bool("NO"), -1, "NO (wrong case)");
  T_EQ_INT(mcsi_text_parse_bool(""), -1, "empty");
  T_EQ_INT(mcsi_text_parse_bool("Yes "), -1, "trailing space");
  T_EQ_INT(mcsi_text_parse_bool("Irrelevant"), -1, "Irrelevant");
  T_EQ_INT(mcsi_text_parse_bool(NULL), -1, "NULL");
}

int main(void)
{
  test_parse_basic();
  test_parse_appends();
  test_parse_multi();
  test_parse_malformed();
  test_build_encode();
  test_values();
  return t_done();
}
