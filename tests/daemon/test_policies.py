# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_policies.py: policies inside mcsid (AttachPolicy, DetachPolicy,
ListPolicies, PersistentLoginTarget's PolicyScript, default_policy).

- the failover policy adds back a connection dropped from the target side;
- a policy that raises, one that loops forever (even under pcall) and one
  that waits forever are stopped and reported (a log line and a
  "policy-failed" Event) while the daemon and another session's policy go on;
- a policy's sandbox has no os.execute, io.open nor mcsi.run;
- a persistent target's PolicyScript (and default_policy) is attached to its
  session by the keeper, again after a restart.
No timing is asserted: waits are bounded and only decide when to look.

Two classes (a daemon each: TestPolicies, TestDefaultPolicy); each case
makes its own sessions (A: two connections kept by failover, B: one) and
subscriber, so that any case runs alone:
    python3 tests/daemon/test_policies.py TestPolicies.test_sandbox
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import env, result, tgt_portal, wait_for  # noqa: E402

IQN = env("MCSI_TGT_IQN_PLAIN")
T1, T2 = tgt_portal("127.0.0.1"), tgt_portal("127.0.0.2")
PORT = env("MCSI_TGT_PORT")
KEEP = os.environ.get("MCSI_KEEP_LOG")
DROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "tgt-drop-conn")

SCRIPTS = {
    "raises": 'return function(sid) mcsi.timer(20, function() error("policy boom on purpose") end) end',
    "loops": 'return function(sid) mcsi.timer(20, function() while true do end end) end',
    "pcall_loop": 'return function(sid) mcsi.timer(20, function() '
                  'while true do pcall(function() while true do end end) end end) end',
    "sandbox": 'return function(sid) print("sandbox", type(os.execute), type(io.open), type(io.popen), '
               'type(debug), pcall(mcsi.run), pcall(require, "os")) end',
    "quiet": 'return { policy = function(sid, opts) print("quiet policy on", sid, opts.word) '
             'return { stop = function() print("quiet stopped") end } end }',
}


def write_policy_dir(cls):
    """The policy scripts in a directory of the class's own, removed with it."""
    policy_dir = tempfile.mkdtemp(prefix="mcsid-policies.")
    cls.addClassCleanup(shutil.rmtree, policy_dir, True)
    for name, text in SCRIPTS.items():
        with open(os.path.join(policy_dir, name + ".lua"), "w") as f:
            f.write(text + "\n")
    return policy_dir


class PolicyCase(mcsid_test.DaemonCase):
    """What the policy cases share: a caller, logins, attach, ListPolicies."""

    def setUp(self):
        super().setUp()
        self.c = self.client()

    def login(self, portal=T1):
        """A session on the plain target (None if the login failed), logged out when the case ends."""
        sid = result(self.c.call("LoginToTarget", {"TargetName": IQN, "TargetPortal": portal})).get("UniqueSessionId")
        if sid:
            self.addCleanup(self.c.call, "LogoutFromTarget", {"UniqueSessionId": sid})
        return sid

    def attach(self, sid, script, options=None):
        params = {"UniqueSessionId": sid, "PolicyScript": script}
        if options is not None:
            params["Options"] = options
        return self.c.call("AttachPolicy", params)

    def policies(self):
        return {p["PolicyId"]: p for p in result(self.c.call("ListPolicies")).get("Policies", [])}

    def healthy(self, sid):
        s = result(self.c.call("GetSessionInfo", {"UniqueSessionId": sid})).get("Session", {})
        return [x for x in s.get("Connections", []) if x["State"] in ("active", "standby")]

    def forget_persistent(self):
        """No persistent target and no session left (the case's end; a client of its
        own: the case may have restarted the daemon)."""
        c = self.d.client()
        try:
            c.call("RemovePersistentTarget", {"TargetName": IQN})
            for s in result(c.call("SessionList")).get("Sessions", []):
                c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        finally:
            c.close()


class TestPolicies(PolicyCase):
    daemon_name = "policies"

    @classmethod
    def setUpClass(cls):
        cls.daemon_config = {"policy_dir": write_policy_dir(cls), "policy_instructions": "2000000",
                             "policy_ms": "20000"}
        super().setUpClass()

    @classmethod
    def finish_daemon(cls, d):
        if KEEP:
            with open(KEEP, "w") as f:
                f.write(d.log_text())
        super().finish_daemon(d)

    def subscriber(self):
        """A client subscribed to every kind (a check)."""
        ev = self.client()
        self.t.status(ev.call("Subscribe"), "ISDSC_SUCCESS", "Subscribe (every kind, the policy ones included)")
        return ev

    def session_a(self, checked=False):
        """Session A: two connections (127.0.0.1, 127.0.0.2) kept by failover; its PolicyId."""
        t = self.t if checked else None
        a = self.login()
        if t:
            t.ok(a, "login A")
        r = self.c.call("AddConnectionToSession", {"UniqueSessionId": a, "TargetPortal": T2})
        if t:
            t.status(r, "ISDSC_SUCCESS", "A: a second connection through 127.0.0.2")
        r = self.attach(a, "failover", {"connections": 2, "portals": [T1, T2], "interval_ms": 200})
        if t:
            t.status(r, "ISDSC_SUCCESS", "AttachPolicy failover on A")
        fid = result(r).get("PolicyId")
        if t:
            t.ok(isinstance(fid, int) and fid > 0, "a PolicyId", r)
        else:
            self.assertTrue(isinstance(fid, int) and fid > 0, "setup: session A with failover: %r" % (r,))
        return a, fid

    def session_b(self, checked=False):
        b = self.login()
        if checked:
            self.t.ok(b, "login B")
        else:
            self.assertTrue(b, "setup: login B")
        return b

    def test_attach_failover_and_errors(self):
        t, c = self.t, self.c
        a, _ = self.session_a(checked=True)
        t.status(self.attach(a, "no-such-policy"), "ISDSC_INVALID_PARAMETER", "an unknown script: ISDSC_INVALID_PARAMETER")
        t.status(self.attach(a, "../etc/passwd"), "ISDSC_INVALID_PARAMETER", "a path is not a script name")
        t.status(self.attach(999999, "failover"), "ISDSC_INVALID_SESSION_ID", "no such session: ISDSC_INVALID_SESSION_ID")
        err = c.call("AttachPolicy", {"UniqueSessionId": a, "PolicyScript": "failover", "Options": [1]})
        t.ok(err.get("error", {}).get("code") == -32602, "Options must be an object: invalid params", err)

    def test_raising_policy(self):
        """A policy that raises: stopped and reported, the rest goes on."""
        t, c, d = self.t, self.c, self.d
        ev = self.subscriber()
        _, fid = self.session_a()
        b = self.session_b(checked=True)
        rid = result(self.attach(b, "raises")).get("PolicyId")
        e = ev.wait_event(lambda p: p.get("Kind") == "policy-failed" and p.get("PolicyId") == rid, 20)
        t.ok(e is not None, "the raising policy: a policy-failed Event", e)
        t.ok(e and "policy boom on purpose" in e.get("Reason", ""), "its Reason is the error", e)
        t.ok(e and e.get("UniqueSessionId") == b and e.get("PolicyScript") == "raises",
             "the Event names session and script", e)
        p = self.policies()
        t.is_(p.get(rid, {}).get("State"), "failed", "ListPolicies: the raising policy failed")
        t.is_(p.get(fid, {}).get("State"), "running", "ListPolicies: failover on A still runs")
        t.ok("policy %d (raises) on session %d failed and is stopped" % (rid, b) in d.log_text(), "a log line says so")
        t.status(c.call("ScsiReadCapacity", {"UniqueSessionId": b, "Lun": 1}), "ISDSC_SUCCESS", "session B still works")

    def test_runaway_policies(self):
        """Loops forever, also under pcall: the budget stops them."""
        t, c = self.t, self.c
        ev = self.subscriber()
        _, fid = self.session_a()
        b = self.session_b()
        for script in ("loops", "pcall_loop"):
            lid = result(self.attach(b, script)).get("PolicyId")
            e = ev.wait_event(lambda p: p.get("Kind") == "policy-failed" and p.get("PolicyId") == lid, 30)
            t.ok(e is not None and "instruction budget" in e.get("Reason", ""),
                 "%s: stopped by the instruction budget and reported" % script, e)
            t.status(c.call("GetVersion"), "ISDSC_SUCCESS", "%s: the daemon answers" % script)
        t.is_(self.policies().get(fid, {}).get("State"), "running",
              "failover on A still runs after the runaway policies")

    def test_sandbox(self):
        t, d = self.t, self.d
        b = self.session_b()
        self.attach(b, "sandbox")
        line = wait_for(lambda: [x for x in d.log_text().splitlines() if "(sandbox): sandbox" in x], 10)
        t.ok(line, "the sandbox policy printed (to the daemon's log)")
        text = line[0] if line else ""
        t.ok("sandbox\tnil\tnil\tnil\tnil\tfalse" in text, "no os.execute, io.open, io.popen, debug; "
             "mcsi.run refused", text)
        t.ok(text.endswith("false\ta policy may require \"mcsi\" only (not 'os')") or "require \"mcsi\" only" in text,
             "require of anything but mcsi refused", text)

    def test_options_and_detach(self):
        """Options reach the policy; DetachPolicy runs its stop."""
        t, c, d = self.t, self.c, self.d
        ev = self.subscriber()
        b = self.session_b()
        qid = result(self.attach(b, "quiet", {"word": "hello"})).get("PolicyId")
        t.ok(wait_for(lambda: "quiet policy on\t%d\thello" % b in d.log_text(), 10), "Options reach the policy")
        t.status(c.call("DetachPolicy", {"PolicyId": qid}), "ISDSC_SUCCESS", "DetachPolicy")
        t.ok(wait_for(lambda: "quiet stopped" in d.log_text(), 10), "the detached policy's stop ran")
        e = ev.wait_event(lambda p: p.get("Kind") == "policy-stopped" and p.get("PolicyId") == qid, 10)
        t.ok(e is not None, "a policy-stopped Event", e)
        t.status(c.call("DetachPolicy", {"PolicyId": qid}), "ISDSC_NOT_FOUND", "DetachPolicy again: ISDSC_NOT_FOUND")

    def test_failover_replaces_dropped_connection(self):
        """Failover on a connection dropped from the target side; a session's end ends its policy."""
        t, c, d = self.t, self.c, self.d
        ev = self.subscriber()
        a, fid = self.session_a()
        before = self.healthy(a)
        t.is_(len(before), 2, "A has its 2 connections")
        victim = [x["UniqueConnectionId"] for x in before if x["TargetPortal"]["Address"] == "127.0.0.2"]
        subprocess.run(["ss", "-K", "-tn", "src 127.0.0.2 and sport = :%s" % PORT], capture_output=True)
        e = ev.wait_event(lambda p: p.get("Kind") == "conn-failed" and p.get("UniqueSessionId") == a, 20)
        t.ok(e is not None, "the dropped connection failed (conn-failed)", e)
        after = wait_for(lambda: (lambda h: h if len(h) == 2 and not set(victim) & {x["UniqueConnectionId"] for x in h}
                                  else None)(self.healthy(a)), 30)
        t.ok(after, "failover added a connection back: 2 healthy, the dropped one replaced", self.healthy(a))
        t.ok("policy %d (failover): [failover" % fid in d.log_text() and "] add" in d.log_text(),
             "the policy's actions are in the daemon's log")
        t.is_(self.policies().get(fid, {}).get("State"), "running", "failover still runs")

        t.status(c.call("LogoutFromTarget", {"UniqueSessionId": a}), "ISDSC_SUCCESS", "logout A")
        e = ev.wait_event(lambda p: p.get("Kind") == "policy-ended" and p.get("PolicyId") == fid, 10)
        t.ok(e is not None, "failover ended with its session (policy-ended)", e)

    def test_persistent_policy_script(self):
        """PersistentLoginTarget's PolicyScript; every connection dropped by the target
        (tgt-drop-conn): the session is reinstated (or logged in again by the keeper),
        failover brings it back to 2; again after kill -9 and a restart of the daemon."""
        t, c, d = self.t, self.c, self.d
        self.addCleanup(self.forget_persistent)
        r = c.call("PersistentLoginTarget", {"TargetName": IQN, "Portals": [T1, T2], "Connections": 2,
                                             "PolicyScript": "failover"})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget with PolicyScript failover")
        psid = result(r).get("UniqueSessionId")
        t.ok(wait_for(lambda: [p for p in self.policies().values() if p["UniqueSessionId"] == psid
                               and p["State"] == "running" and p["PolicyScript"] == "failover"], 10),
             "the keeper attached failover to its session")

        def target_session():
            for p in result(c.call("ListPersistentTargets")).get("PersistentTargets", []):
                if p.get("UniqueSessionId"):
                    return p["UniqueSessionId"]
            return None

        old = {x["UniqueConnectionId"] for x in self.healthy(psid)}
        t.is_(len(old), 2, "the persistent target's session has its 2 connections")
        drop = subprocess.run([DROP, "1"], capture_output=True, text=True)
        t.ok(drop.returncode == 0 and drop.stdout.count("dropped") >= 2, "tgt-drop-conn dropped its connections",
             drop.stdout + drop.stderr)

        def back_to_two():
            sid = target_session()
            h = self.healthy(sid) if sid else []
            return sid if len(h) == 2 and not old & {x["UniqueConnectionId"] for x in h} else None

        back = wait_for(back_to_two, 60)
        t.ok(back, "after the drop the target's session has 2 new healthy connections",
             self.healthy(target_session() or psid))
        t.ok(wait_for(lambda: [p for p in self.policies().values() if p["UniqueSessionId"] == back
                               and p["State"] == "running"], 10), "with its failover policy running")

        c.close()
        d.kill9()
        d.start()
        c = self.c = self.client()
        psid2 = wait_for(lambda: [p["UniqueSessionId"] for p in result(c.call("ListPersistentTargets"))
                                  .get("PersistentTargets", []) if p.get("UniqueSessionId")], 30)
        t.ok(psid2, "after kill -9 and a restart the persistent target is back")
        t.ok(wait_for(lambda: [p for p in self.policies().values() if psid2 and p["UniqueSessionId"] == psid2[0]
                               and p["State"] == "running"], 10), "and its policy is attached again")


class TestDefaultPolicy(PolicyCase):
    daemon_name = "default-policy"

    @classmethod
    def setUpClass(cls):
        cls.daemon_config = {"policy_dir": write_policy_dir(cls), "default_policy": "quiet"}
        super().setUpClass()

    def test_default_policy(self):
        """default_policy from the configuration."""
        t, c = self.t, self.c
        self.addCleanup(self.forget_persistent)
        r = c.call("PersistentLoginTarget", {"TargetName": IQN, "TargetPortal": T1})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget without a PolicyScript")
        t.ok(wait_for(lambda: [p for p in self.policies().values() if p["PolicyScript"] == "quiet"], 10),
             "default_policy is attached to it")


if __name__ == "__main__":
    mcsid_test.main()
