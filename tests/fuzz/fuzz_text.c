/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_text.c: libFuzzer harness for text key=value lists (core/text.h)
 * and the negotiation of their values (params.c), as a Login Response
 * applies them.
 *
 * Input: byte 0 chooses our offer (digests, ImmediateData, InitialR2T,
 * bursts, leading/discovery) and whether the keys count as answers to our
 * offers or as the target's own offers; the rest is the data segment.
 * Checks: a list that parses encodes to bytes that parse to the same pairs;
 * a failed parse leaves the list as it was and says why; every key applied
 * leaves the negotiated values inside what the rules allow (never a digest
 * or ImmediateData we refused, never more than we offered for a minimum). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void text_check(int ok, const char *what)
{
  if (ok) return;
  fprintf(stderr, "fuzz_text: %s\n", what);
  abort();
}

static uint32_t max32(uint32_t a, uint32_t b) { return a > b ? a : b; }
static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

static void same_pairs(const mcsi_text *a, const mcsi_text *b)
{
  text_check(a->count == b->count, "pair count changed in the round trip");
  for (size_t i = 0; i < a->count; i++)
    text_check(!strcmp(a->items[i].key, b->items[i].key) && !strcmp(a->items[i].value, b->items[i].value),
               "a pair changed in the round trip");
}

static void round_trip(const mcsi_text *t, int multi)
{
  size_t len = 0;
  uint8_t *enc = mcsi_text_encode(t, &len);
  if (!enc) return;
  mcsi_text back;
  mcsi_text_init(&back);
  const char *bad = NULL;
  int rc = multi ? mcsi_text_parse_multi(&back, enc, len, &bad) : mcsi_text_parse(&back, enc, len, &bad);
  text_check(rc == 0, "the encoding of a parsed list does not parse");
  same_pairs(t, &back);
  mcsi_text_free(&back);
  free(enc);
}

static void parse_one(const uint8_t *d, size_t n, int multi, mcsi_text *t)
{
  const char *bad = NULL;
  mcsi_text_init(t);
  int rc = multi ? mcsi_text_parse_multi(t, d, n, &bad) : mcsi_text_parse(t, d, n, &bad);
  if (rc) {
    text_check(t->count == 0, "a failed parse kept pairs");
    text_check(bad != NULL, "a failed parse without a reason");
    return;
  }
  text_check(t->count > 0 && t->count <= MCSI_TEXT_MAX_PAIRS, "pair count out of bounds");
  for (size_t i = 0; i < t->count; i++) {
    text_check(strlen(t->items[i].key) <= MCSI_TEXT_KEY_MAX, "overlong key accepted");
    text_check(strlen(t->items[i].value) <= MCSI_TEXT_VALUE_MAX, "overlong value accepted");
    if (!multi) text_check(mcsi_text_get(t, t->items[i].key) == t->items[i].value, "get finds another pair");
  }
  round_trip(t, multi);
}

static void our_offer(uint8_t sel, mcsi_params *ours)
{
  mcsi_login_opts o;
  memset(&o, 0, sizeof o);
  o.header_digest = sel & 0x01 ? MCSI_DIGEST_CRC32C : MCSI_DIGEST_NONE;
  o.data_digest = sel & 0x02 ? MCSI_DIGEST_CRC32C : MCSI_DIGEST_NONE;
  o.immediate_data = sel & 0x04 ? MCSI_NO : MCSI_YES;
  o.initial_r2t = sel & 0x08 ? MCSI_YES : MCSI_NO;
  o.first_burst_length = sel & 0x10 ? 512 : 0;
  mcsi_params_from_opts(ours, &o);
}

/* What the negotiated value of the key just applied may be. */
static void check_key(const char *k, const char *v, const mcsi_params *neg, const mcsi_params *ours,
                      const mcsi_params *rfc)
{
  /* a refused key (or one we answer with Reject: not Yes/No) leaves the RFC default */
  int refused = !strcmp(v, "Reject") || !strcmp(v, "NotUnderstood") || !strcmp(v, "Irrelevant") ||
                mcsi_text_parse_bool(v) < 0;
  if (!strcmp(k, "HeaderDigest")) text_check(neg->header_digest <= ours->header_digest, "HeaderDigest we did not offer");
  if (!strcmp(k, "DataDigest")) text_check(neg->data_digest <= ours->data_digest, "DataDigest we did not offer");
  if (!strcmp(k, "ImmediateData"))
    text_check(!neg->immediate_data || ours->immediate_data || (refused && rfc->immediate_data),
               "ImmediateData=Yes after we said No");
  if (!strcmp(k, "InitialR2T"))
    text_check(neg->initial_r2t || !ours->initial_r2t || refused, "InitialR2T=No after we said Yes");
  if (!strcmp(k, "MaxBurstLength"))
    text_check(neg->max_burst <= max32(ours->max_burst, rfc->max_burst) && neg->max_burst >= 512,
               "MaxBurstLength out of range");
  if (!strcmp(k, "FirstBurstLength"))
    text_check(neg->first_burst <= max32(ours->first_burst, rfc->first_burst) && neg->first_burst >= 512,
               "FirstBurstLength out of range");
  if (!strcmp(k, "MaxConnections"))
    text_check(neg->max_connections >= 1 && neg->max_connections <= max32(ours->max_connections, 1),
               "MaxConnections out of range");
  text_check(neg->max_send_dsl >= 512 && neg->max_send_dsl <= MCSI_MAX_DSL, "MaxRecvDataSegmentLength out of range");
  text_check(neg->erl <= 2, "ErrorRecoveryLevel out of range");
  text_check(neg->time2wait >= min32(ours->time2wait, rfc->time2wait) && neg->time2wait <= 3600,
             "DefaultTime2Wait out of range");
  text_check(neg->max_outstanding_r2t >= 1, "MaxOutstandingR2T 0");
}

static void negotiate(uint8_t sel, const mcsi_text *t)
{
  mcsi_params ours, neg, rfc;
  mcsi_text answers, offer;
  our_offer(sel, &ours);
  mcsi_params_rfc_defaults(&rfc);
  mcsi_params_rfc_defaults(&neg);
  mcsi_text_init(&answers);
  mcsi_text_init(&offer);
  if (mcsi_params_offer(&ours, (sel & 0x20) != 0, (sel & 0x40) != 0, &offer) == 0) round_trip(&offer, 0);
  for (size_t i = 0; i < t->count; i++) {
    const char *err = NULL, *k = t->items[i].key, *v = t->items[i].value;
    int offered = sel & 0x80 ? mcsi_text_get(&offer, k) != NULL : 0;
    uint64_t n;
    if (mcsi_text_parse_number(v, &n) == 0) text_check(strlen(v) > 0, "an empty number parsed");
    int b = mcsi_text_parse_bool(v);
    text_check(b == -1 || b == (strcmp(v, "Yes") == 0), "a bool other than Yes/No");
    if (mcsi_params_apply(&neg, &ours, k, v, offered, &answers, &err)) break;
    check_key(k, v, &neg, &ours, &rfc);
    (void)mcsi_params_is_session_key(k);
  }
  if (answers.count) round_trip(&answers, 1);
  mcsi_text_free(&answers);
  mcsi_text_free(&offer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  mcsi_text one, multi;
  parse_one(data + 1, size - 1, 0, &one);
  parse_one(data + 1, size - 1, 1, &multi);
  negotiate(data[0], &multi);
  mcsi_text_free(&one);
  mcsi_text_free(&multi);
  return 0;
}
