/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policy.h: policies of mcsid, each in its own process.
 *
 * AttachPolicy (or a persistent target's PolicyScript / default_policy)
 * starts a process: this program again in its runner mode
 * (`mcsid --policy-runner`, policy_runner.c), on one end of a socketpair
 * whose other end becomes a client of the daemon (clients.h,
 * mcsid_client_adopt). The runner runs the script with the mcsi Lua API of
 * mcsi.connect (bindings/mcsi/remote.lua, bindings/mcsi/policy.lua) as
 * policy_user (default nobody), without privileges, under rlimits
 * (policy_memory_mb of Lua heap) and a seccomp filter. A script is a
 * built-in (failover, drain, rebalance: the embedded scripts/) or
 * policy_dir/NAME.lua.
 *
 * What the runner's connection may do (policy.c, screen): the methods a
 * policy needs, on its own session only (GetSessionInfo, Add/Remove
 * connections, SetLoadBalancePolicy, LogoutFromTarget, the SCSI methods),
 * with the rights of the client that attached it (root for the keeper's);
 * no login, no persistent target, no discovery, no export, no other policy,
 * and no parameter that names a file, a socket or a secret: those answer
 * ISDSC_AUTHORIZATION_FAILURE.
 *
 * Budgets: inside the runner each activation has policy_instructions VM
 * instructions and policy_ms of wall time (a count hook); outside it, what
 * no hook sees (C functions, finalizers, message handlers, coroutines of the
 * script's own) is bounded by the daemon, which reads the runner's CPU
 * (/proc/PID/stat) every 100 ms and kills it (SIGKILL) once it used more
 * than policy_cpu_ms in the last policy_cpu_window_ms, and pings it every
 * 500 ms: a runner whose loop does not answer for policy_ms + 1 s (at least
 * 3 s; the clock starts at its first PolicyPong) is stuck in one activation
 * and killed too. RLIMIT_CPU, moved by the runner's own loop, is the
 * kernel's backstop. A runner hears its own session's Events only. At most
 * max_policies run at once.
 *
 * A policy that raises, exceeds a budget or whose process dies is failed:
 * a log line, an Event of Kind "policy-failed", State "failed" with its
 * Reason in ListPolicies ("policy-ended" when its session ended,
 * "policy-stopped" when detached: then its object's stop runs in the
 * runner, which gets 2 s before SIGKILL). The daemon's loop never runs
 * policy code. */
#ifndef MCSID_POLICY_H
#define MCSID_POLICY_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include "mcsid.h"

/* The event-mask bit of the policy events (Subscribe's Kinds). */
#define MCSID_POLICY_EVENT_BIT MCSI_EV_COUNT
/* argv[1] of the runner mode. */
#define MCSID_POLICY_RUNNER_ARG "--policy-runner"

/* 0, or -1 with a log line (the daemon then runs without policies). */
int mcsid_policies_open(mcsid *d);
/* Kills every runner. */
void mcsid_policies_close(mcsid *d);
/* Kept for the loop in main.c: -1 (the policies' timers are the engine's). */
int mcsid_policies_timeout(mcsid *d);
void mcsid_policies_service(mcsid *d);
/* Attaches script to session sid with options (a JSON object or NULL,
 * borrowed), the connection with the rights of owner; the policy's id, or 0
 * with a message in err. _attach: as root (the keeper's). */
long mcsid_policy_attach_as(mcsid *d, mcsi_id sid, const char *script, json_t *options, uid_t owner, gid_t owner_gid,
                            char *err, size_t errlen);
long mcsid_policy_attach(mcsid *d, mcsi_id sid, const char *script, json_t *options, char *err, size_t errlen);
/* 1 if a policy of that id was detached. */
int mcsid_policy_detach(mcsid *d, long id);
/* [{"PolicyId","UniqueSessionId","PolicyScript","State","Reason"?}] (new reference). */
json_t *mcsid_policy_list(mcsid *d);
/* 1 if a policy runs on sid. */
int mcsid_policy_running(mcsid *d, mcsi_id sid);
/* 1 if a policy runs on sid whose loop has not answered a PolicyPing yet:
 * its runner is still being exec'd, sandboxed, loaded, or its entry has not
 * had its first turn (seconds on a loaded host). */
int mcsid_policy_starting(mcsid *d, mcsi_id sid);

/* The runner mode (policy_runner.c): main when argv[1] is MCSID_POLICY_RUNNER_ARG. */
int mcsid_policy_runner_main(int argc, char **argv);

#endif
