/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config.c: the key = value configuration file (see config.h). */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "config.h"
#include "log.h"

typedef enum { K_STRING, K_LONG, K_LEVEL, K_BOOL } key_kind;

typedef struct key_row {
  const char *name;
  key_kind kind;
  size_t offset;
  size_t size;        /* K_STRING: buffer size */
  long min, max;      /* K_LONG */
} key_row;

#define STR(f) K_STRING, offsetof(mcsid_config, f), sizeof(((mcsid_config *)0)->f), 0, 0
#define NUM(f, lo, hi) K_LONG, offsetof(mcsid_config, f), 0, lo, hi

/* One row per key. */
static const key_row keys[] = {
  { "initiator_name", STR(initiator_name) },
  { "socket_group", STR(socket_group) },
  { "export_dir", STR(export_dir) },
  { "log_level", K_LEVEL, offsetof(mcsid_config, log_level), 0, 0, 0 },
  { "request_max", NUM(request_max, 1024, 64L << 20) },
  { "max_pending", NUM(max_pending, 1, 100000) },
  { "max_clients", NUM(max_clients, 1, 100000) },
  { "max_clients_per_uid", NUM(max_clients_per_uid, 1, 100000) },
  { "reserved_clients", NUM(reserved_clients, 0, 99999) },
  { "idle_timeout_ms", NUM(idle_timeout_ms, 100, 86400000) },
  { "memory_budget", NUM(memory_budget, 1L << 20, 1L << 40) },
  { "partial_timeout_ms", NUM(partial_timeout_ms, 10, 3600000) },
  { "output_max", NUM(output_max, 4096, 1L << 30) },
  { "shutdown_timeout_ms", NUM(shutdown_timeout_ms, 100, 600000) },
  { "retry_initial_ms", NUM(retry_initial_ms, 10, 3600000) },
  { "retry_max_ms", NUM(retry_max_ms, 10, 86400000) },
  { "login_timeout_ms", NUM(login_timeout_ms, 100, 600000) },
  { "nop_interval_ms", NUM(nop_interval_ms, 100, 3600000) },
  { "nop_timeout_ms", NUM(nop_timeout_ms, 100, 600000) },
  { "policy_dir", STR(policy_dir) },
  { "default_policy", STR(default_policy) },
  { "policy_instructions", NUM(policy_instructions, 10000, 2000000000L) },
  { "policy_ms", NUM(policy_ms, 10, 3600000) },
  { "nbd_tls_cert", STR(nbd_tls_cert) },
  { "nbd_tls_key", STR(nbd_tls_key) },
  { "nbd_tls_ca", STR(nbd_tls_ca) },
  { "nbd_tls_psk_file", STR(nbd_tls_psk_file) },
  { "nbd_plain_tcp", K_BOOL, offsetof(mcsid_config, nbd_plain_tcp), 0, 0, 0 },
  { "policy_user", STR(policy_user) },
  { "policy_memory_mb", NUM(policy_memory_mb, 4, 65536) },
  { "policy_cpu_ms", NUM(policy_cpu_ms, 10, 3600000) },
  { "policy_cpu_window_ms", NUM(policy_cpu_window_ms, 100, 600000) },
  { "max_policies", NUM(max_policies, 1, 1024) },
};

void mcsid_config_defaults(mcsid_config *c)
{
  memset(c, 0, sizeof *c);
  c->log_level = -1;
  snprintf(c->export_dir, sizeof c->export_dir, "%s", "/run/mcsi/exports");
  c->request_max = 1L << 20;
  c->max_pending = 64;
  c->max_clients = 256;
  c->max_clients_per_uid = 32;
  c->reserved_clients = 8;
  c->idle_timeout_ms = 60000;
  c->memory_budget = 256L << 20;
  c->partial_timeout_ms = 10000;
  c->output_max = 4L << 20;
  c->shutdown_timeout_ms = 5000;
  c->retry_initial_ms = 1000;
  c->retry_max_ms = 60000;
  c->login_timeout_ms = 15000;
  c->nop_interval_ms = 5000;            /* a keep-alive NOP-Out per connection every 5 s (open-iscsi's too) */
  c->nop_timeout_ms = 2000;
  c->policy_instructions = 50000000;
  c->policy_ms = 60000;
  c->policy_memory_mb = 64;
  c->policy_cpu_ms = 1000;
  c->policy_cpu_window_ms = 10000;
  c->max_policies = 64;
}

static char *trim(char *s)
{
  while (*s == ' ' || *s == '\t') s++;
  char *e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = 0;
  return s;
}

static int set_key(mcsid_config *c, const key_row *k, const char *v)
{
  char *field = (char *)c + k->offset;
  char *end;
  long n;
  switch (k->kind) {
  case K_STRING:
    if (strlen(v) >= k->size) return -1;
    memcpy(field, v, strlen(v) + 1);
    return 0;
  case K_LEVEL:
    n = mcsid_log_level_parse(v);
    if (n < 0) return -1;
    *(int *)field = (int)n;
    return 0;
  case K_BOOL:
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1")) *(int *)field = 1;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0")) *(int *)field = 0;
    else return -1;
    return 0;
  case K_LONG:
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < k->min || n > k->max) return -1;
    *(long *)field = n;
    return 0;
  }
  return -1;
}

static int parse_line(mcsid_config *c, char *line, const char *path, int lineno)
{
  char *s = trim(line);
  if (!*s || *s == '#') return 0;
  char *eq = strchr(s, '=');
  if (!eq) {
    log_err("%s:%d: expected key = value", path, lineno);
    return -1;
  }
  *eq = 0;
  char *key = trim(s), *value = trim(eq + 1);
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    if (strcmp(keys[i].name, key)) continue;
    if (set_key(c, &keys[i], value) == 0) return 0;
    log_err("%s:%d: bad value for %s", path, lineno, key);
    return -1;
  }
  log_warning("%s:%d: unknown key %s (ignored)", path, lineno, key);
  return 0;
}

int mcsid_config_load(mcsid_config *c, const char *path)
{
  mcsid_config next;
  mcsid_config_defaults(&next);
  FILE *f = fopen(path, "re");
  if (!f) {
    if (errno != ENOENT) {
      log_err("config %s: %s", path, strerror(errno));
      return -1;
    }
    log_info("config %s: not found, using the defaults", path);
    *c = next;
    return 0;
  }
  char line[1024];
  int lineno = 0, bad = 0;
  while (fgets(line, sizeof line, f)) bad |= parse_line(&next, line, path, ++lineno);
  fclose(f);
  for (size_t n = strlen(next.export_dir); n > 1 && next.export_dir[n - 1] == '/'; n--) next.export_dir[n - 1] = 0;
  if (!bad && (next.export_dir[0] != '/' || strstr(next.export_dir, "/../") || strstr(next.export_dir, "/./"))) {
    log_err("%s: export_dir must be an absolute path without . or .. (%s)", path, next.export_dir);
    bad = 1;
  }
  if (bad) return -1;
  if (next.reserved_clients >= next.max_clients) next.reserved_clients = next.max_clients - 1;
  if (next.retry_max_ms < next.retry_initial_ms) next.retry_max_ms = next.retry_initial_ms;
  if (next.policy_cpu_ms > next.policy_cpu_window_ms) {
    log_err("%s: policy_cpu_ms (%ld) is more than policy_cpu_window_ms (%ld)", path, next.policy_cpu_ms,
            next.policy_cpu_window_ms);
    return -1;
  }
  *c = next;
  return 0;
}

gid_t mcsid_config_group(const mcsid_config *c, int *found)
{
  *found = 0;
  if (!c->socket_group[0]) return 0;
  struct group *g = getgrnam(c->socket_group);
  if (!g) {
    char *end;
    long n = strtol(c->socket_group, &end, 10);
    if (*end || n < 0) return 0;
    *found = 1;
    return (gid_t)n;
  }
  *found = 1;
  return g->gr_gid;
}
