/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* params.c: operational text keys (RFC 7143 13): what we offer, how the
 * target's answers and its own offers are checked and resolved. One table
 * describes every key: its kind, scope, range and where its value lives. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "base.h"
#include "params.h"

enum key_kind { K_DIGEST, K_AND, K_OR, K_MIN, K_MAX, K_DECL };

typedef struct keydef {
  const char *name;
  enum key_kind kind;
  int session;             /* session-wide (leading login only) */
  size_t off;              /* offset of the int/uint32_t in mcsi_params */
  uint32_t lo, hi;
} keydef;

#define P(f) offsetof(mcsi_params, f)
static const keydef keys[] = {
  { "HeaderDigest", K_DIGEST, 0, P(header_digest), 0, 1 },
  { "DataDigest", K_DIGEST, 0, P(data_digest), 0, 1 },
  { "MaxConnections", K_MIN, 1, P(max_connections), 1, 65535 },
  { "InitialR2T", K_OR, 1, P(initial_r2t), 0, 1 },
  { "ImmediateData", K_AND, 1, P(immediate_data), 0, 1 },
  { "MaxRecvDataSegmentLength", K_DECL, 0, P(max_recv_dsl), 512, 16777215 },
  { "MaxBurstLength", K_MIN, 1, P(max_burst), 512, 16777215 },
  { "FirstBurstLength", K_MIN, 1, P(first_burst), 512, 16777215 },
  { "DefaultTime2Wait", K_MAX, 1, P(time2wait), 0, 3600 },
  { "DefaultTime2Retain", K_MIN, 1, P(time2retain), 0, 3600 },
  { "MaxOutstandingR2T", K_MIN, 1, P(max_outstanding_r2t), 1, 65535 },
  { "DataPDUInOrder", K_OR, 1, P(data_pdu_in_order), 0, 1 },
  { "DataSequenceInOrder", K_OR, 1, P(data_seq_in_order), 0, 1 },
  { "ErrorRecoveryLevel", K_MIN, 1, P(erl), 0, 2 },
};
#undef P
#define NKEYS (sizeof keys / sizeof keys[0])

/* Keys the target may send that need no answer and no value check here. */
static const char *const declaratives[] = {
  "TargetAlias", "TargetPortalGroupTag", "TargetAddress", "TargetName", "AuthMethod",
  "CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R", "TaskReporting", "iSCSIProtocolLevel",
};

static uint32_t get(const mcsi_params *p, const keydef *k)
{
  return *(const uint32_t *)(const void *)((const char *)p + k->off);
}

static void set(mcsi_params *p, const keydef *k, uint32_t v)
{
  *(uint32_t *)(void *)((char *)p + k->off) = v;
}

void mcsi_params_rfc_defaults(mcsi_params *p)
{
  *p = (mcsi_params){
    .header_digest = 0, .data_digest = 0, .max_connections = 1, .initial_r2t = 1,
    .immediate_data = 1, .max_recv_dsl = 8192, .max_send_dsl = 8192, .max_burst = 262144,
    .first_burst = 65536, .time2wait = 2, .time2retain = 20, .max_outstanding_r2t = 1,
    .data_pdu_in_order = 1, .data_seq_in_order = 1, .erl = 0,
  };
}

static uint32_t or_default(uint32_t v, uint32_t d) { return v ? v : d; }

void mcsi_params_from_opts(mcsi_params *p, const mcsi_login_opts *o)
{
  mcsi_params_rfc_defaults(p);
  p->header_digest = o->header_digest == MCSI_DIGEST_CRC32C;
  p->data_digest = o->data_digest == MCSI_DIGEST_CRC32C;
  p->max_connections = or_default(o->max_connections, 4);
  p->initial_r2t = o->initial_r2t == MCSI_YES;
  p->immediate_data = o->immediate_data != MCSI_NO;
  p->max_recv_dsl = or_default(o->max_recv_data_segment_length, 262144);
  p->max_burst = or_default(o->max_burst_length, 1048576);
  p->first_burst = or_default(o->first_burst_length, 262144);
  if (p->first_burst > p->max_burst) p->first_burst = p->max_burst;
  p->max_outstanding_r2t = or_default(o->max_outstanding_r2t, 1);
  p->time2wait = o->default_time2wait;
  p->time2retain = or_default(o->default_time2retain, 20);
}

static const keydef *find(const char *name)
{
  for (size_t i = 0; i < NKEYS; i++)
    if (!strcmp(keys[i].name, name)) return &keys[i];
  return NULL;
}

int mcsi_params_is_session_key(const char *key)
{
  const keydef *k = find(key);
  return k && k->session;
}

static int add_value(mcsi_text *out, const keydef *k, uint32_t v)
{
  switch (k->kind) {
  case K_DIGEST: return mcsi_text_add(out, k->name, v ? "CRC32C" : "None");
  case K_AND: case K_OR: return mcsi_text_add(out, k->name, v ? "Yes" : "No");
  default: return mcsi_text_add_u32(out, k->name, v);
  }
}

int mcsi_params_offer(const mcsi_params *ours, int leading, int discovery, mcsi_text *out)
{
  for (size_t i = 0; i < NKEYS; i++) {
    const keydef *k = &keys[i];
    if (k->session && !leading) continue;
    /* Discovery sessions negotiate only what RFC 7143 allows there. */
    if (discovery && k->session && strcmp(k->name, "ErrorRecoveryLevel") != 0 &&
        strcmp(k->name, "DefaultTime2Wait") != 0 && strcmp(k->name, "DefaultTime2Retain") != 0)
      continue;
    if (add_value(out, k, get(ours, k))) return -1;
  }
  return 0;
}

static int parse_value(const keydef *k, const char *v, uint32_t *out)
{
  if (k->kind == K_DIGEST) {
    if (!strcasecmp(v, "None")) *out = 0;
    else if (!strcasecmp(v, "CRC32C")) *out = 1;
    else return -1;
    return 0;
  }
  if (k->kind == K_AND || k->kind == K_OR) {
    int b = mcsi_text_parse_bool(v);
    if (b < 0) return -1;
    *out = (uint32_t)b;
    return 0;
  }
  uint64_t n;
  if (mcsi_text_parse_number(v, &n) || n < k->lo || n > k->hi) return -1;
  *out = (uint32_t)n;
  return 0;
}

/* The result of our offer and the target's answer must follow the key's rule. */
static int check_answer(const keydef *k, uint32_t offer, uint32_t got)
{
  switch (k->kind) {
  case K_DIGEST: return got == offer || (offer == 0 && got == 0) ? 0 : -1;
  case K_AND: return offer == 0 && got == 1 ? -1 : 0;
  case K_OR: return offer == 1 && got == 0 ? -1 : 0;
  case K_MIN: return got > offer ? -1 : 0;
  case K_MAX: return got < offer ? -1 : 0;
  default: return 0;
  }
}

/* Our answer to a key the target offered first. */
static uint32_t resolve(const keydef *k, uint32_t ours, uint32_t theirs)
{
  switch (k->kind) {
  case K_DIGEST: return ours && theirs;
  case K_AND: return ours && theirs;
  case K_OR: return ours || theirs;
  case K_MIN: return ours < theirs ? ours : theirs;
  case K_MAX: return ours > theirs ? ours : theirs;
  default: return ours;
  }
}

static int is_declarative(const char *key)
{
  for (size_t i = 0; i < sizeof declaratives / sizeof declaratives[0]; i++)
    if (!strcmp(declaratives[i], key)) return 1;
  return 0;
}

/* A digest key offered by the target is a list: pick the first we accept. */
static int digest_from_list(const char *v, uint32_t want, uint32_t *out)
{
  char buf[128];
  snprintf(buf, sizeof buf, "%s", v);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    uint32_t d = !strcasecmp(tok, "CRC32C") ? 1 : !strcasecmp(tok, "None") ? 0 : 2;
    if (d == want) { *out = d; return 0; }
  }
  return -1;
}

static int apply_offered(mcsi_params *neg, const mcsi_params *ours, const keydef *k,
                         const char *value, const char **err)
{
  if (!strcmp(value, "NotUnderstood") || !strcmp(value, "Irrelevant")) return 0;
  if (!strcmp(value, "Reject")) {
    if (k->kind == K_DIGEST && get(ours, k)) { *err = "target rejected the digest we require"; return -1; }
    return 0;   /* keep the RFC default */
  }
  uint32_t v;
  if (parse_value(k, value, &v)) { *err = "invalid value in the target's answer"; return -1; }
  if (k->kind == K_DECL) { neg->max_send_dsl = v; return 0; }
  if (check_answer(k, get(ours, k), v)) { *err = "target's answer breaks the negotiation rule"; return -1; }
  set(neg, k, v);
  return 0;
}

static int apply_target_offer(mcsi_params *neg, const mcsi_params *ours, const keydef *k,
                              const char *value, mcsi_text *answers, const char **err)
{
  uint32_t v;
  if (k->kind == K_DECL) {
    if (parse_value(k, value, &v)) { *err = "invalid MaxRecvDataSegmentLength"; return -1; }
    neg->max_send_dsl = v;
    return 0;
  }
  if (k->kind == K_DIGEST) {
    if (digest_from_list(value, get(ours, k), &v)) return mcsi_text_add(answers, k->name, "Reject");
    set(neg, k, v);
    return add_value(answers, k, v);
  }
  if (parse_value(k, value, &v)) return mcsi_text_add(answers, k->name, "Reject");
  uint32_t r = resolve(k, get(ours, k), v);
  set(neg, k, r);
  return add_value(answers, k, r);
}

int mcsi_params_apply(mcsi_params *neg, const mcsi_params *ours, const char *key,
                      const char *value, int offered, mcsi_text *answers, const char **err)
{
  const keydef *k = find(key);
  if (!k) {
    if (is_declarative(key) || offered) return 0;
    return mcsi_text_add(answers, key, "NotUnderstood");   /* incl. X- and X# keys */
  }
  if (offered) return apply_offered(neg, ours, k, value, err);
  return apply_target_offer(neg, ours, k, value, answers, err);
}

/* ---- owned copies of login options ---- */

int mcsi_opts_copy(mcsi_login_opts *dst, const mcsi_login_opts *o)
{
  *dst = *o;
  const char **strs[] = { &dst->portal, &dst->target, &dst->chap.username, &dst->chap.secret,
                          &dst->chap.target_username, &dst->chap.target_secret };
  int bad = 0;
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    if (!*strs[i]) continue;
    *strs[i] = mcsi_strdup0(*strs[i]);
    bad |= !*strs[i];
  }
  if (!dst->login_timeout_ms) dst->login_timeout_ms = 15000;
  if (!dst->command_timeout_ms) dst->command_timeout_ms = 30000;
  if (!dst->nop_interval_ms) dst->nop_interval_ms = 1000;
  if (!dst->nop_timeout_ms) dst->nop_timeout_ms = 1000;
  if (!dst->max_redirects) dst->max_redirects = 4;
  if (!dst->recovery_timeout_ms) dst->recovery_timeout_ms = 30000;
  return bad ? -1 : 0;
}

/* Secrets do not outlive the session in freed memory. */
static void wipe_free(const char *secret)
{
  if (!secret) return;
  OPENSSL_cleanse((void *)(uintptr_t)secret, strlen(secret));
  free((void *)(uintptr_t)secret);
}

void mcsi_opts_free(mcsi_login_opts *o)
{
  free((char *)(uintptr_t)o->portal);
  free((char *)(uintptr_t)o->target);
  free((char *)(uintptr_t)o->chap.username);
  wipe_free(o->chap.secret);
  free((char *)(uintptr_t)o->chap.target_username);
  wipe_free(o->chap.target_secret);
}
