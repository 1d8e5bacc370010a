#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_persistence.py: persistent logins and the state file.

PersistentLoginTarget (3 connections over two portals, a policy, a policy
script name, and a CHAP one from a SecretFile), seen on the tgt side; kill -9
and a restart: every persistent login is back with its connections and
policy; LogoutFromTarget keeps a persistent one out until SIGHUP; back-off on
a dead portal; a corrupt state file kept aside; SIGTERM logs every session
out (tgtadm shows none) and exits 0; the CHAP secret is in no response, no
log line, no state file but the 0600 secret store.

Each case has a daemon of its own (a fresh state directory: the file is about
what the daemon keeps there) and sets up the persistent logins it needs, so
that any case runs alone:
    python3 tests/daemon/test_persistence.py TestPersistence.test_corrupt_state_file"""
import glob
import json
import os
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import result, tgt_portal, env, tgt_connections, wait_for  # noqa: E402

plain, chap_iqn = env("MCSI_TGT_IQN_PLAIN"), env("MCSI_TGT_IQN_CHAP")
user, secret = env("MCSI_CHAP_USER"), env("MCSI_CHAP_SECRET")


def sessions(c):
    return {s["TargetName"]: s for s in result(c.call("SessionList")).get("Sessions", [])}


def restored(c, want):
    """SessionList once every wanted target has an active session with its connection count."""
    def check():
        s = sessions(c)
        ok = all(n in s and s[n]["ConnectionCount"] == k and
                 all(x["State"] == "active" for x in s[n]["Connections"]) for n, k in want.items())
        return s if ok else None
    return wait_for(check, 30, 0.05)


class TestPersistence(mcsid_test.DaemonCase):
    daemon_name = "persist"
    start_daemon = False          # a daemon per case (new_daemon)
    log_tail = 6000

    def setUp(self):
        super().setUp()
        self.clients = []
        # an initiator name of the case's own: tgtadm counts each case's connections apart
        self.d = d = self.new_daemon(name="persist-" + self._testMethodName[5:].replace("_", "-"))
        self.secret_file = os.path.join(d.dir, "chap.secret")
        with open(self.secret_file, "w") as f:
            f.write(secret + "\n")
        os.chmod(self.secret_file, 0o600)
        d.start()
        self.c = self.client()

    def client(self, timeout=30):
        c = super().client(timeout)
        self.clients.append(c)
        return c

    def persistent_logins(self):
        """Both persistent logins of this file (setup): plain (3 connections over two
        portals, least-queue-depth, failover.lua) and CHAP (its secret from the SecretFile)."""
        c = self.c
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal(), tgt_portal("127.0.0.2")],
                                             "Connections": 3, "LoadBalancePolicy": "least-queue-depth",
                                             "PolicyScript": "failover.lua"})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget plain: %r" % (r,))
        r = c.call("PersistentLoginTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "Username": user,
                                             "SecretFile": self.secret_file})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget CHAP: %r" % (r,))
        self.assertTrue(restored(c, {plain: 3, chap_iqn: 1}), "setup: both logged in")

    def test_persistent_logins(self):
        """PersistentLoginTarget: 3 connections over two portals, a policy, a policy script
        name, and a CHAP one from a SecretFile, seen on the tgt side."""
        t, d = self.t, self.d
        c = self.c
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal(), tgt_portal("127.0.0.2")],
                                             "Connections": 3, "LoadBalancePolicy": "least-queue-depth",
                                             "PolicyScript": "failover.lua"})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget: 3 connections over two portals")
        sid = result(r).get("UniqueSessionId")
        t.is_(len(result(r).get("UniqueConnectionIds", [])), 3, "... answers the session and its 3 connection ids")
        t.is_(tgt_connections(d.iqn, [1]), 3, "tgtadm shows 3 connections of the daemon's initiator")
        s = sessions(c).get(plain, {})
        t.ok(s.get("LoadBalancePolicy") == 4 and s.get("Persistent") is True, "the policy is set, the session persistent", s)
        remotes = sorted({x["TargetAddress"] for x in s.get("Connections", [])})
        t.is_(remotes, ["127.0.0.1", "127.0.0.2"], "the connections use both portals")

        r = c.call("PersistentLoginTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "Username": user,
                                             "SecretFile": self.secret_file})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget with CHAP from a SecretFile")
        r = c.call("LoginToTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "ChapAccount": user})
        t.status(r, "ISDSC_SUCCESS", "LoginToTarget through the stored ChapAccount")
        c.call("LogoutFromTarget", {"UniqueSessionId": result(r).get("UniqueSessionId")})
        r = c.call("LoginToTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "Username": user,
                                     "SecretFile": os.path.join(d.dir, "missing")})
        t.status(r, "ISDSC_INVALID_PARAMETER", "a SecretFile that is not there: ISDSC_INVALID_PARAMETER")
        r = c.call("LoginToTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_AUTHENTICATION_FAILURE", "the CHAP target without CHAP: ISDSC_AUTHENTICATION_FAILURE")

        r = c.call("ListPersistentTargets")
        entries = {e["TargetName"]: e for e in result(r).get("PersistentTargets", [])}
        e = entries.get(plain, {})
        t.ok(e.get("Connections") == 3 and e.get("LoadBalancePolicy") == 4 and e.get("PolicyScript") == "failover.lua"
             and len(e.get("Portals", [])) == 2 and e.get("UniqueSessionId") == sid,
             "ListPersistentTargets: target, portals, connections, policy, script, live session", e)
        t.ok(entries.get(chap_iqn, {}).get("ChapAccount") == user, "... the CHAP one names its account only")
        st_mode = stat.S_IMODE(os.stat(os.path.join(d.state, "secrets.json")).st_mode)
        t.is_(st_mode, 0o600, "secrets.json is 0600")

    def test_restart_after_kill9(self):
        """kill -9 and a restart: every persistent login is back with its connections and policy."""
        t, d = self.t, self.d
        self.persistent_logins()
        d.kill9()
        with open(os.path.join(d.state, "state.json")) as f:
            doc = json.load(f)
        t.is_(sorted(x["TargetName"] for x in doc["PersistentTargets"]), sorted([plain, chap_iqn]),
              "after kill -9 state.json is intact and holds both")
        t.is_(glob.glob(os.path.join(d.state, "*.tmp-*")), [], "no temporary file left behind")
        d.start()
        c = self.client()
        s = restored(c, {plain: 3, chap_iqn: 1})
        t.ok(s, "the restarted daemon logs both in again: 3 + 1 connections, all active",
             json.dumps(sessions(c), indent=1)[:3000])
        s = s or sessions(c)
        t.is_(s.get(plain, {}).get("LoadBalancePolicy"), 4, "the policy is set again")
        t.ok(wait_for(lambda: tgt_connections(d.iqn) == 4, 15), "tgtadm: 4 connections on tid 1 and 2 (the killed ones are gone)")

    def test_logout_keeps_out_until_sighup(self):
        t, c, d = self.t, self.c, self.d
        self.persistent_logins()
        sid = sessions(c).get(plain, {}).get("UniqueSessionId")
        t.status(c.call("LogoutFromTarget", {"UniqueSessionId": sid}), "ISDSC_SUCCESS", "LogoutFromTarget a persistent one")
        time.sleep(1.0)
        t.ok(plain not in sessions(c), "it stays out (no retry after a requested logout)")
        d.signal(signal.SIGHUP)
        t.ok(restored(c, {plain: 3}), "SIGHUP logs it in again")

    def test_backoff_on_dead_portal(self):
        """A dead portal: back-off, then RemovePersistentTarget stops it."""
        t, c, d = self.t, self.c, self.d
        dead = "iqn.2026-11.org.mcsi.test:nowhere"
        r = c.call("PersistentLoginTarget", {"TargetName": dead, "TargetPortal": "127.0.0.1:%s" % env("MCSI_FREE_PORT")})
        t.status(r, "ISDSC_CONNECTION_FAILED", "PersistentLoginTarget to a closed port: the first attempt's Status")
        t.ok(wait_for(lambda: "next attempt in 800 ms" in d.log_text(), 10), "retries with a doubling back-off (200, 400, 800 ms)")
        t.status(c.call("RemovePersistentTarget", {"TargetName": dead}), "ISDSC_SUCCESS", "RemovePersistentTarget")
        n = d.log_text().count(dead + ": ISDSC_CONNECTION_FAILED")
        time.sleep(2.5)
        t.is_(d.log_text().count(dead + ": ISDSC_CONNECTION_FAILED"), n, "no attempt after the removal")

    def test_sigterm_logs_out_every_session(self):
        """SIGTERM: every session logged out, on the target's side too, exit 0."""
        t, d = self.t, self.d
        self.persistent_logins()
        d.signal(signal.SIGTERM)
        rc = d.wait(20)
        t.is_(rc, 0, "SIGTERM: exit 0")
        t.ok("shutdown: 2 sessions logged out, 0 failed" in d.log_text(), "the exit log: 2 sessions logged out")
        t.is_(tgt_connections(d.iqn), 0, "tgtadm: no connection of the daemon's initiator left")

    def test_kill9_during_logins_at_start(self):
        """kill -9 while the persistent logins are under way: the state is intact, the next
        start restores them."""
        t, d = self.t, self.d
        self.persistent_logins()
        d.stop()
        with open(os.path.join(d.state, "state.json")) as f:
            before = f.read()
        d.start()
        time.sleep(0.03)
        d.kill9()
        with open(os.path.join(d.state, "state.json")) as f:
            t.is_(f.read(), before, "kill -9 during the logins at start: state.json unchanged")
        d.start()
        c = self.client()
        t.ok(restored(c, {plain: 3, chap_iqn: 1}), "the next start restores both again")
        d.stop()

    def test_corrupt_state_file(self):
        """A corrupt state file: kept aside, the daemon runs with an empty state."""
        t, d = self.t, self.d
        d.stop()
        path = os.path.join(d.state, "state.json")
        with open(path, "w") as f:
            f.write('{"Version": 1, "PersistentTargets": [ oops')
        d.start()
        c = self.client()
        aside = glob.glob(path + ".corrupt-*")
        t.is_(len(aside), 1, "the corrupt state.json is kept aside as state.json.corrupt-<time>")
        t.ok("unusable" in d.log_text() and "kept aside" in d.log_text(), "... with a clear log line")
        t.is_(result(c.call("ListPersistentTargets")).get("PersistentTargets"), [], "the daemon runs with an empty state")
        with open(aside[0]) as f:
            t.ok("oops" in f.read(), "the kept file is the corrupt one, untouched")
        t.status(c.call("AddTargetPortal", {"TargetPortal": tgt_portal()}), "ISDSC_SUCCESS", "and writes a new state")
        with open(path) as f:
            t.ok(json.load(f)["TargetPortals"], "state.json is valid JSON again")
        d.stop()

    def test_secret_nowhere_else(self):
        """The CHAP secret: in no response, no log line, no state file but the 0600 secret
        store, after logins through it, kill -9 and a restart."""
        t, c, d = self.t, self.c, self.d
        self.persistent_logins()
        r = c.call("LoginToTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "ChapAccount": user})
        c.call("LogoutFromTarget", {"UniqueSessionId": result(r).get("UniqueSessionId")})
        d.kill9()
        d.start()
        self.assertTrue(restored(self.client(), {plain: 3, chap_iqn: 1}), "setup: restored after kill -9")
        d.stop()
        clients = self.clients
        texts = {"responses": "\n".join(line for cl in clients for line in cl.lines), "the log": d.log_text()}
        for name in glob.glob(os.path.join(d.state, "*")):
            if not name.endswith("secrets.json"):
                with open(name, errors="replace") as f:
                    texts[os.path.basename(name)] = f.read()
        for name, text in texts.items():
            t.ok(secret not in text, "the CHAP secret is not in %s (%d bytes)" % (name, len(text)))
        with open(os.path.join(d.state, "secrets.json")) as f:
            t.ok(secret in f.read(), "it is in secrets.json (0600), where it belongs")


if __name__ == "__main__":
    mcsid_test.main()
