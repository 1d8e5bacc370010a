/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state_check.h: what a valid entry of state.json and secrets.json is.
 *
 * Every field of every kind of entry is checked for its type and bounds
 * (the same rules the methods that store entries use, so what the daemon
 * writes it reads back):
 *   PersistentTargets  TargetName (an iSCSI name), Portals (1..64 portals),
 *                      Connections (1..32), LoadBalancePolicy (1..5),
 *                      PolicyScript, ChapAccount, HeaderDigest / DataDigest
 *                      ("None" or "CRC32C"), RecoveryTimeoutMs (0..3600000),
 *                      Exports (at most 64 export specs, exports.h); one entry
 *                      per TargetName
 *   TargetPortals      Address, Port, ChapAccount; one entry per portal
 *   Targets            TargetName, Portals (with Tpgt), DiscoveredThrough
 *   ChapAccounts       Username, Secret (1..255 bytes each), TargetUsername
 *                      and TargetSecret both or neither
 * Keys the daemon does not know are left alone. A reason never quotes a
 * value (a secret may be one). */
#ifndef MCSID_STATE_CHECK_H
#define MCSID_STATE_CHECK_H

#include <stddef.h>
#include <jansson.h>

#define MCSID_MAX_PORTALS 64        /* of a persistent target */
#define MCSID_MAX_CONNECTIONS 32    /* of a persistent target */
#define MCSID_MAX_STORED_EXPORTS 64 /* of a persistent target */
#define MCSID_MAX_RECOVERY_MS 3600000

/* 0, or -1 with why. */
int mcsid_check_persistent(const json_t *entry, char *why, size_t len);
int mcsid_check_target_portal(const json_t *entry, char *why, size_t len);
int mcsid_check_discovered_target(const json_t *entry, char *why, size_t len);
int mcsid_check_account(const char *name, const json_t *account, char *why, size_t len);

/* At start: moves every bad entry (and every later duplicate) of the
 * document into its "Rejected" array, with an error log line each.
 * Returns how many were set aside. */
size_t mcsid_state_sort_out(json_t *doc, const char *file);
size_t mcsid_secrets_sort_out(json_t *secrets, const char *file);

#endif
