/* policy.h: policies inside mcsid.
 *
 * One Lua 5.4 state holds the mcsi module bound to the daemon's initiator
 * (lmcsi_open_with_initiator) and the policy host mcsi.policy
 * (bindings/mcsi/policy.lua): each policy is a script run in a sandbox,
 * as coroutines of the engine under a budget (config policy_instructions,
 * policy_ms per activation), fed the engine's events. A script is a
 * built-in (failover, drain, rebalance: the embedded scripts/) or
 * policy_dir/NAME.lua. A policy that raises or exceeds its budget is stopped,
 * logged, and announced to subscribers as an Event of Kind "policy-failed"
 * ("policy-ended" when its session ended, "policy-stopped" when detached);
 * the daemon and the other policies go on. */
#ifndef MCSID_POLICY_H
#define MCSID_POLICY_H

#include <stddef.h>
#include <jansson.h>
#include "mcsid.h"

/* The event-mask bit of the policy events (Subscribe's Kinds). */
#define MCSID_POLICY_EVENT_BIT MCSI_EV_COUNT

/* 0, or -1 with a log line (the daemon then runs without policies). */
int mcsid_policies_open(mcsid *d);
void mcsid_policies_close(mcsid *d);
/* The longest the loop may wait for the policies (-1: no limit). */
int mcsid_policies_timeout(mcsid *d);
/* After each turn of the loop: the policies' timers and coroutines. */
void mcsid_policies_service(mcsid *d);
/* Attaches script to session sid with options (a JSON object or NULL,
 * borrowed); the policy's id, or 0 with a message in err. */
long mcsid_policy_attach(mcsid *d, mcsi_id sid, const char *script, json_t *options, char *err, size_t errlen);
/* 1 if a policy of that id was detached. */
int mcsid_policy_detach(mcsid *d, long id);
/* [{"PolicyId","UniqueSessionId","PolicyScript","State","Reason"?}] (new reference). */
json_t *mcsid_policy_list(mcsid *d);
/* 1 if a policy runs on sid. */
int mcsid_policy_running(mcsid *d, mcsi_id sid);

#endif
