/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* opts.c: the opaque login and connection options of mcsi.h, set and read
 * by key (MCSI_OPT_LIST); where each key lives in the structs of opts.h. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "base.h"
#include "opts.h"

enum { U32, INT, STR };
#define NONE SIZE_MAX

/* Per key: its C type and its field in each struct (NONE: not there). */
static const struct field {
  int ctype;
  size_t login, conn;
} fields[MCSI_OPT_COUNT] = {
#define L(f) offsetof(struct mcsi_login_opts, f)
#define C(f) offsetof(struct mcsi_conn_opts, f)
  [MCSI_OPT_PORTAL] = { STR, L(portal), C(portal) },
  [MCSI_OPT_TARGET] = { STR, L(target), NONE },
  [MCSI_OPT_USERNAME] = { STR, L(chap.username), C(chap.username) },
  [MCSI_OPT_SECRET] = { STR, L(chap.secret), C(chap.secret) },
  [MCSI_OPT_TARGET_USERNAME] = { STR, L(chap.target_username), C(chap.target_username) },
  [MCSI_OPT_TARGET_SECRET] = { STR, L(chap.target_secret), C(chap.target_secret) },
  [MCSI_OPT_HEADER_DIGEST] = { INT, L(header_digest), NONE },
  [MCSI_OPT_DATA_DIGEST] = { INT, L(data_digest), NONE },
  [MCSI_OPT_MAX_CONNECTIONS] = { U32, L(max_connections), NONE },
  [MCSI_OPT_MAX_RECV_DATA_SEGMENT_LENGTH] = { U32, L(max_recv_data_segment_length), NONE },
  [MCSI_OPT_MAX_BURST_LENGTH] = { U32, L(max_burst_length), NONE },
  [MCSI_OPT_FIRST_BURST_LENGTH] = { U32, L(first_burst_length), NONE },
  [MCSI_OPT_MAX_OUTSTANDING_R2T] = { U32, L(max_outstanding_r2t), NONE },
  [MCSI_OPT_DEFAULT_TIME2WAIT] = { U32, L(default_time2wait), NONE },
  [MCSI_OPT_DEFAULT_TIME2RETAIN] = { U32, L(default_time2retain), NONE },
  [MCSI_OPT_INITIAL_R2T] = { INT, L(initial_r2t), NONE },
  [MCSI_OPT_IMMEDIATE_DATA] = { INT, L(immediate_data), NONE },
  [MCSI_OPT_LOGIN_TIMEOUT_MS] = { INT, L(login_timeout_ms), C(login_timeout_ms) },
  [MCSI_OPT_COMMAND_TIMEOUT_MS] = { INT, L(command_timeout_ms), NONE },
  [MCSI_OPT_NOP_INTERVAL_MS] = { INT, L(nop_interval_ms), NONE },
  [MCSI_OPT_NOP_TIMEOUT_MS] = { INT, L(nop_timeout_ms), NONE },
  [MCSI_OPT_MAX_REDIRECTS] = { INT, L(max_redirects), NONE },
  [MCSI_OPT_RECOVERY_TIMEOUT_MS] = { INT, L(recovery_timeout_ms), NONE },
  [MCSI_OPT_WEIGHT] = { U32, NONE, C(weight) },
#undef L
#undef C
};

/* The public row of each key: name, kind, range. */
static const struct key {
  const char *name;
  int kind;
  int64_t min, max;
} keys[MCSI_OPT_COUNT] = {
#define MCSI_X_OPT_ROW(e, v, nm, kd, lo, hi, where) [e] = { nm, MCSI_OPT_##kd, lo, hi },
  MCSI_OPT_LIST(MCSI_X_OPT_ROW)
#undef MCSI_X_OPT_ROW
};

static int known(int key) { return key > 0 && key < MCSI_OPT_COUNT && keys[key].name; }

const char *mcsi_opt_name(int key) { return known(key) ? keys[key].name : NULL; }
int mcsi_opt_kind(int key) { return known(key) ? keys[key].kind : 0; }

int mcsi_opt_key(const char *name)
{
  for (int k = 1; name && k < MCSI_OPT_COUNT; k++)
    if (keys[k].name && strcmp(keys[k].name, name) == 0) return k;
  return 0;
}

/* ---- one setter and getter over a struct and its offsets ---------------------------- */

static mcsi_status set_int(void *base, size_t off, int key, int64_t v)
{
  if (!known(key) || off == NONE || fields[key].ctype == STR) return ISDSC_INVALID_PARAMETER;
  if (v < keys[key].min || v > keys[key].max) return ISDSC_INVALID_PARAMETER;
  char *p = (char *)base + off;
  if (fields[key].ctype == U32) *(uint32_t *)(void *)p = (uint32_t)v;
  else *(int *)(void *)p = (int)v;
  return ISDSC_SUCCESS;
}

static int secret_key(int key) { return key == MCSI_OPT_SECRET || key == MCSI_OPT_TARGET_SECRET; }

static void free_string(int key, const char *s)
{
  if (s && secret_key(key)) OPENSSL_cleanse((void *)(uintptr_t)s, strlen(s));
  free((void *)(uintptr_t)s);
}

static mcsi_status set_string(void *base, size_t off, int key, const char *v)
{
  if (!known(key) || off == NONE || fields[key].ctype != STR) return ISDSC_INVALID_PARAMETER;
  char *copy = NULL;
  if (v && !(copy = mcsi_strdup0(v))) return ISDSC_OUT_OF_RESOURCES;
  const char **p = (const char **)(void *)((char *)base + off);
  free_string(key, *p);
  *p = copy;
  return ISDSC_SUCCESS;
}

static int64_t get_int(const void *base, size_t off, int key)
{
  if (!known(key) || off == NONE || fields[key].ctype == STR) return 0;
  const char *p = (const char *)base + off;
  return fields[key].ctype == U32 ? (int64_t)*(const uint32_t *)(const void *)p : *(const int *)(const void *)p;
}

static const char *get_string(const void *base, size_t off, int key)
{
  if (!known(key) || off == NONE || fields[key].ctype != STR) return NULL;
  return *(const char *const *)(const void *)((const char *)base + off);
}

/* Frees every string of a struct (the keys that live in it). */
static void free_strings(void *base, int conn)
{
  for (int k = 1; k < MCSI_OPT_COUNT; k++) {
    size_t off = conn ? fields[k].conn : fields[k].login;
    if (known(k) && off != NONE && fields[k].ctype == STR) free_string(k, get_string(base, off, k));
  }
}

/* Duplicates every string of a struct already copied by value; -1 out of memory
 * (the strings not duplicated are NULL, so free_strings is safe). */
static int dup_strings(void *base, int conn)
{
  int bad = 0;
  for (int k = 1; k < MCSI_OPT_COUNT; k++) {
    size_t off = conn ? fields[k].conn : fields[k].login;
    if (!known(k) || off == NONE || fields[k].ctype != STR) continue;
    const char **p = (const char **)(void *)((char *)base + off);
    if (*p && !(*p = mcsi_strdup0(*p))) bad = 1;
  }
  return bad ? -1 : 0;
}

/* ---- mcsi_login_opts -------------------------------------------------------------------- */

mcsi_login_opts *mcsi_login_opts_new(void) { return calloc(1, sizeof(struct mcsi_login_opts)); }

mcsi_login_opts *mcsi_login_opts_dup(const mcsi_login_opts *o)
{
  mcsi_login_opts *d = malloc(sizeof *d);
  if (!d) return NULL;
  *d = *o;
  if (dup_strings(d, 0) == 0) return d;
  mcsi_login_opts_free(d);
  return NULL;
}

void mcsi_login_opts_free(mcsi_login_opts *o)
{
  if (!o) return;
  free_strings(o, 0);
  free(o);
}

mcsi_status mcsi_login_opts_set_int(mcsi_login_opts *o, int key, int64_t v)
{
  return set_int(o, known(key) ? fields[key].login : NONE, key, v);
}

mcsi_status mcsi_login_opts_set_string(mcsi_login_opts *o, int key, const char *v)
{
  return set_string(o, known(key) ? fields[key].login : NONE, key, v);
}

int64_t mcsi_login_opts_get_int(const mcsi_login_opts *o, int key)
{
  return get_int(o, known(key) ? fields[key].login : NONE, key);
}

const char *mcsi_login_opts_get_string(const mcsi_login_opts *o, int key)
{
  return get_string(o, known(key) ? fields[key].login : NONE, key);
}

/* ---- mcsi_conn_opts ---------------------------------------------------------------------- */

mcsi_conn_opts *mcsi_conn_opts_new(void) { return calloc(1, sizeof(struct mcsi_conn_opts)); }

mcsi_conn_opts *mcsi_conn_opts_dup(const mcsi_conn_opts *o)
{
  mcsi_conn_opts *d = malloc(sizeof *d);
  if (!d) return NULL;
  *d = *o;
  if (dup_strings(d, 1) == 0) return d;
  mcsi_conn_opts_free(d);
  return NULL;
}

void mcsi_conn_opts_free(mcsi_conn_opts *o)
{
  if (!o) return;
  free_strings(o, 1);
  free(o);
}

mcsi_status mcsi_conn_opts_set_int(mcsi_conn_opts *o, int key, int64_t v)
{
  return set_int(o, known(key) ? fields[key].conn : NONE, key, v);
}

mcsi_status mcsi_conn_opts_set_string(mcsi_conn_opts *o, int key, const char *v)
{
  return set_string(o, known(key) ? fields[key].conn : NONE, key, v);
}

int64_t mcsi_conn_opts_get_int(const mcsi_conn_opts *o, int key)
{
  return get_int(o, known(key) ? fields[key].conn : NONE, key);
}

const char *mcsi_conn_opts_get_string(const mcsi_conn_opts *o, int key)
{
  return get_string(o, known(key) ? fields[key].conn : NONE, key);
}
