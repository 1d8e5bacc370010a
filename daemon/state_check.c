/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state_check.c: every entry of the state files checked, the bad ones set
 * aside (see state_check.h). */
#include <stdio.h>
#include <string.h>
#include "exports.h"
#include "log.h"
#include "loginopts.h"
#include "state_check.h"

#define FAIL(...) (snprintf(why, len, __VA_ARGS__), -1)

/* ---- fields ------------------------------------------------------------------------------------------ */

static int printable(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
  return 1;
}

/* A string of min..max bytes without control characters. */
static int text_ok(const json_t *v, size_t min, size_t max)
{
  if (!json_is_string(v)) return 0;
  size_t n = json_string_length(v);
  return n >= min && n <= max && strlen(json_string_value(v)) == n && printable(json_string_value(v));
}

static int int_in(const json_t *v, json_int_t min, json_int_t max)
{
  return json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max;
}

/* RFC 7143 4.2.7, as the engine checks it at login (lower case, iqn./eui./naa.). */
static int iscsi_name_ok(const json_t *v)
{
  if (!text_ok(v, 5, 223)) return 0;
  const char *n = json_string_value(v);
  if (strncmp(n, "iqn.", 4) && strncmp(n, "eui.", 4) && strncmp(n, "naa.", 4)) return 0;
  for (; *n; n++)
    if (!((*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || strchr(".-:", *n))) return 0;
  return 1;
}

/* {"Address", "Port"} (plus the keys listed in extra): an address the engine
 * takes (methods.c's mcsid_portal_text); max_address is 63 for portals
 * the daemon logs in to, more for what a target announced. */
static int portal_ok(const json_t *p, const char *const *extra, size_t max_address)
{
  const char *key;
  json_t *v;
  if (!json_is_object(p) || !text_ok(json_object_get(p, "Address"), 1, max_address) ||
      (max_address < 64 && strpbrk(json_string_value(json_object_get(p, "Address")), " \t/,")) ||
      !int_in(json_object_get(p, "Port"), 0, 65535) || (max_address < 64 && !json_integer_value(json_object_get(p, "Port"))))
    return 0;
  json_object_foreach((json_t *)p, key, v) {
    int known = !strcmp(key, "Address") || !strcmp(key, "Port");
    for (const char *const *k = extra; k && *k && !known; k++) known = !strcmp(key, *k);
    if (!known) return 0;
  }
  return 1;
}

static void portal_key(const json_t *p, char *out, size_t len)
{
  snprintf(out, len, "%s:%lld", json_string_value(json_object_get(p, "Address")),
           (long long)json_integer_value(json_object_get(p, "Port")));
}

/* Optional keys: absent, or what check says. */
static int absent_or(const json_t *v, int ok) { return !v || ok; }

/* ---- entries ------------------------------------------------------------------------------------------ */

static int exports_ok(const json_t *list, char *why, size_t len)
{
  json_t *s;
  size_t i;
  if (!json_is_array(list) || json_array_size(list) > MCSID_MAX_STORED_EXPORTS)
    return FAIL("Exports is not an array of at most %d export specs", MCSID_MAX_STORED_EXPORTS);
  json_array_foreach(list, i, s) {
    char spec_why[200];
    if (mcsid_export_spec_check(s, spec_why, sizeof spec_why) < 0) return FAIL("Exports[%zu]: %s", i, spec_why);
  }
  return 0;
}

int mcsid_check_persistent(const json_t *e, char *why, size_t len)
{
  json_t *portals = json_object_get(e, "Portals"), *p, *v;
  size_t i;
  if (!json_is_object(e)) return FAIL("not an object");
  if (!iscsi_name_ok(json_object_get(e, "TargetName")))
    return FAIL("TargetName is not an iSCSI name (iqn., eui. or naa.; 5..223 bytes of a-z 0-9 . - :)");
  if (!json_is_array(portals) || !json_array_size(portals) || json_array_size(portals) > MCSID_MAX_PORTALS)
    return FAIL("Portals is not an array of 1..%d portals", MCSID_MAX_PORTALS);
  json_array_foreach(portals, i, p)
    if (!portal_ok(p, NULL, 63)) return FAIL("Portals[%zu] is not {\"Address\": host, \"Port\": 1..65535}", i);
  if (!int_in(json_object_get(e, "Connections"), 1, MCSID_MAX_CONNECTIONS))
    return FAIL("Connections is not 1..%d", MCSID_MAX_CONNECTIONS);
  v = json_object_get(e, "LoadBalancePolicy");
  if (!absent_or(v, int_in(v, 1, MCSI_LB_COUNT - 1) && mcsi_lb_policy_name((int)json_integer_value(v))))
    return FAIL("LoadBalancePolicy is not 1..%d", MCSI_LB_COUNT - 1);
  v = json_object_get(e, "PolicyScript");
  if (!absent_or(v, text_ok(v, 0, 255) && !strchr(json_string_value(v), '/')))
    return FAIL("PolicyScript is not a script name (at most 255 bytes, no '/')");
  v = json_object_get(e, "ChapAccount");
  if (!absent_or(v, text_ok(v, 1, 127))) return FAIL("ChapAccount is not an account name of 1..127 bytes");
  const char *digests[] = { "HeaderDigest", "DataDigest" };
  for (int d = 0; d < 2; d++) {
    v = json_object_get(e, digests[d]);
    if (!absent_or(v, json_is_string(v) && mcsid_digest_number(json_string_value(v)) >= 0))
      return FAIL("%s is not \"None\" or \"CRC32C\"", digests[d]);
  }
  v = json_object_get(e, "RecoveryTimeoutMs");
  if (!absent_or(v, int_in(v, 0, MCSID_MAX_RECOVERY_MS))) return FAIL("RecoveryTimeoutMs is not 0..%d", MCSID_MAX_RECOVERY_MS);
  v = json_object_get(e, "Exports");
  return v ? exports_ok(v, why, len) : 0;
}

int mcsid_check_target_portal(const json_t *e, char *why, size_t len)
{
  static const char *const extra[] = { "ChapAccount", NULL };
  json_t *v = json_object_get(e, "ChapAccount");
  if (!portal_ok(e, extra, 63)) return FAIL("not {\"Address\": host, \"Port\": 1..65535, \"ChapAccount\": name}");
  if (!absent_or(v, text_ok(v, 1, 127))) return FAIL("ChapAccount is not an account name of 1..127 bytes");
  return 0;
}

int mcsid_check_discovered_target(const json_t *e, char *why, size_t len)
{
  static const char *const extra[] = { "Tpgt", NULL };
  json_t *portals = json_object_get(e, "Portals"), *through = json_object_get(e, "DiscoveredThrough"), *p;
  size_t i;
  if (!json_is_object(e)) return FAIL("not an object");
  if (!text_ok(json_object_get(e, "TargetName"), 1, 255)) return FAIL("TargetName is not a name of 1..255 bytes");
  if (!json_is_array(portals) || json_array_size(portals) > 256) return FAIL("Portals is not an array of at most 256");
  json_array_foreach(portals, i, p)
    if (!portal_ok(p, extra, 255) || !absent_or(json_object_get(p, "Tpgt"), int_in(json_object_get(p, "Tpgt"), 0, 65535)))
      return FAIL("Portals[%zu] is not {\"Address\", \"Port\", \"Tpgt\": 0..65535}", i);
  if (!json_is_array(through) || !json_array_size(through) || json_array_size(through) > 256)
    return FAIL("DiscoveredThrough is not an array of 1..256 portals");
  json_array_foreach(through, i, p)
    if (!text_ok(p, 1, 127)) return FAIL("DiscoveredThrough[%zu] is not a portal", i);
  return 0;
}

int mcsid_check_account(const char *name, const json_t *a, char *why, size_t len)
{
  json_t *tu = json_object_get(a, "TargetUsername"), *ts = json_object_get(a, "TargetSecret");
  if (!*name || strlen(name) > 127) return FAIL("the account name is not 1..127 bytes");
  if (!json_is_object(a)) return FAIL("not an object");
  if (!text_ok(json_object_get(a, "Username"), 1, 255)) return FAIL("Username is not a name of 1..255 bytes");
  json_t *secret = json_object_get(a, "Secret");
  if (!json_is_string(secret) || !json_string_length(secret) || json_string_length(secret) > 255 ||
      strlen(json_string_value(secret)) != json_string_length(secret))
    return FAIL("Secret is not a secret of 1..255 bytes");
  if (!tu != !ts) return FAIL("TargetUsername and TargetSecret come together");
  if (tu && !text_ok(tu, 1, 255)) return FAIL("TargetUsername is not a name of 1..255 bytes");
  if (ts && (!json_is_string(ts) || !json_string_length(ts) || json_string_length(ts) > 255 ||
             strlen(json_string_value(ts)) != json_string_length(ts)))
    return FAIL("TargetSecret is not a secret of 1..255 bytes");
  return 0;
}

/* ---- sorting out ----------------------------------------------------------------------------------------- */

/* The document's "Rejected" array, made if missing. */
static json_t *rejected_of(json_t *doc)
{
  json_t *r = json_object_get(doc, "Rejected");
  if (!json_is_array(r)) {
    r = json_array();
    json_object_set_new(doc, "Rejected", r);
  }
  return r;
}

typedef int (*entry_check)(const json_t *entry, char *why, size_t len);
typedef void (*entry_key)(const json_t *entry, char *out, size_t len);   /* duplicates share a key */

static void name_key(const json_t *e, char *out, size_t len)
{
  snprintf(out, len, "%s", json_string_value(json_object_get(e, "TargetName")));
}

static void target_portal_key(const json_t *e, char *out, size_t len) { portal_key(e, out, len); }

static size_t sort_out_array(json_t *doc, const char *file, const char *kind, entry_check check, entry_key key)
{
  json_t *list = json_object_get(doc, kind), *seen = json_object();
  size_t n = 0, index = 0;
  for (size_t i = 0; i < json_array_size(list); index++) {
    json_t *e = json_array_get(list, i);
    char why[300], k[300];
    int bad = check(e, why, sizeof why) < 0;
    if (!bad) {
      key(e, k, sizeof k);
      if (json_object_get(seen, k)) {
        snprintf(why, sizeof why, "another entry before it has the same %s", key == name_key ? "TargetName" : "portal");
        bad = 1;
      } else {
        json_object_set_new(seen, k, json_true());
      }
    }
    if (!bad) {
      i++;
      continue;
    }
    log_err("%s: %s[%zu] set aside under \"Rejected\": %s", file, kind, index, why);
    json_array_append_new(rejected_of(doc), json_pack("{s:s, s:I, s:s, s:O}", "Kind", kind, "Index", (json_int_t)index,
                                                      "Reason", why, "Entry", e));
    json_array_remove(list, i);
    n++;
  }
  json_decref(seen);
  return n;
}

/* A bad export of a persistent target is set aside alone: the target stays. */
static size_t sort_out_exports(json_t *doc, const char *file)
{
  json_t *list = json_object_get(doc, "PersistentTargets"), *e;
  size_t i, n = 0;
  json_array_foreach(list, i, e) {
    json_t *exports = json_object_get(e, "Exports"), *name = json_object_get(e, "TargetName");
    char why[300];
    if (!exports || !json_is_object(e)) continue;
    if (exports_ok(exports, why, sizeof why) == 0) continue;
    size_t index = 0;
    for (size_t j = 0; json_is_array(exports) && j < json_array_size(exports); index++) {
      json_t *spec = json_array_get(exports, j);
      if (json_array_size(exports) <= MCSID_MAX_STORED_EXPORTS && mcsid_export_spec_check(spec, why, sizeof why) == 0) {
        j++;
        continue;
      }
      if (json_array_size(exports) > MCSID_MAX_STORED_EXPORTS)
        snprintf(why, sizeof why, "more than %d exports", MCSID_MAX_STORED_EXPORTS);
      log_err("%s: PersistentTargets[%zu].Exports[%zu] set aside under \"Rejected\": %s", file, i, index, why);
      json_array_append_new(rejected_of(doc), json_pack("{s:s, s:O, s:I, s:s, s:O}", "Kind", "Exports", "TargetName",
                                                        name ? name : json_null(), "Index", (json_int_t)index,
                                                        "Reason", why, "Entry", spec));
      json_array_remove(exports, j);
      n++;
    }
    if (!json_is_array(exports)) {
      log_err("%s: PersistentTargets[%zu].Exports set aside under \"Rejected\": not an array", file, i);
      json_array_append_new(rejected_of(doc), json_pack("{s:s, s:O, s:s, s:O}", "Kind", "Exports", "TargetName",
                                                        name ? name : json_null(), "Reason", "not an array",
                                                        "Entry", exports));
      json_object_del(e, "Exports");
      n++;
    }
  }
  return n;
}

size_t mcsid_state_sort_out(json_t *doc, const char *file)
{
  return sort_out_exports(doc, file) +
         sort_out_array(doc, file, "PersistentTargets", mcsid_check_persistent, name_key) +
         sort_out_array(doc, file, "TargetPortals", mcsid_check_target_portal, target_portal_key) +
         sort_out_array(doc, file, "Targets", mcsid_check_discovered_target, name_key);
}

size_t mcsid_secrets_sort_out(json_t *secrets, const char *file)
{
  json_t *accounts = json_object_get(secrets, "ChapAccounts"), *a;
  const char *name;
  void *tmp;
  size_t n = 0;
  json_object_foreach_safe(accounts, tmp, name, a) {
    char why[300], shown[64];
    if (mcsid_check_account(name, a, why, sizeof why) == 0) continue;
    snprintf(shown, sizeof shown, "%s", name);   /* a name only, never the secret */
    for (char *c = shown; *c; c++)
      if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '"') *c = '?';
    log_err("%s: ChapAccounts \"%s\" set aside under \"Rejected\": %s", file, shown, why);
    json_array_append_new(rejected_of(secrets),
                          json_pack("{s:s, s:s, s:s, s:O}", "Kind", "ChapAccounts", "Name", name, "Reason", why, "Entry", a));
    json_object_del(accounts, name);
    n++;
  }
  return n;
}
