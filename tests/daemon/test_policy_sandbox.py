# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_policy_sandbox.py: a policy cannot hang, bloat or escape mcsid
(issue 14, "Policies"). Each policy runs in its own process
(mcsid --policy-runner, daemon/policy_runner.c); the daemon kills it past its
CPU budget, the kernel and its Lua heap cap bound its memory, and the daemon
screens what its connection asks (daemon/policy.c).

Every hostile script below hangs or escapes an in-process policy host (the
daemon's loop stops, or the budget is not enforced). Here each one must:
  - show as failed (a "policy-failed" Event, State "failed" in ListPolicies,
    a log line), or have its action refused;
  - leave the daemon answering GetVersion, and another session's I/O
    (ScsiRead by another client, all along) never stalled more than STALL_MAX.
Stuck activations end at the CPU budget (policy_cpu_ms per
policy_cpu_window_ms) or when the runner's loop stands still longer than
policy_ms + 1 s (whichever first); many short ones at the CPU budget.
Cases: a loop in a coroutine the policy made (the count hook removes itself),
catastrophic pattern backtracking (C), a loop in a __gc finalizer (no hooks),
a loop in an xpcall message handler, a change to the string metatable (must
not reach later policies), a 6 GiB string.rep, mcsi.every with heavy C work
per activation, mcsi.export / ExportLun to a path, chap.secret_file of a
root-only file, another session, methods a policy may not call. And the
runner's process: not root, no_new_privs, seccomp filter on.

One daemon for the class, with two sessions (A for the policies, B for
another client's I/O) and a subscriber made once (setUpClass); each case
detaches what it attached, so that any case runs alone, e.g. to see one
hostile script fail on its own against a daemon without the fix (the first
hostile case hangs such a daemon for good):
    python3 tests/daemon/test_policy_sandbox.py TestPolicySandbox.test_pattern
"""
import atexit
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import env, result, tgt_portal, wait_for  # noqa: E402

IQN = env("MCSI_TGT_IQN_PLAIN")
T1, T2 = tgt_portal("127.0.0.1"), tgt_portal("127.0.0.2")
STALL_MAX = 2.0          # seconds: the longest the other session's I/O or GetVersion may wait
CPU_MS, WINDOW_MS = 500, 5000
# stuck in one activation: the CPU budget or the loop standing still, whichever comes first (CPU time comes
# slowly on a loaded machine); short activations that add up: the CPU budget (or, when the machine is so
# loaded that one activation of C work takes longer than the loop may stand still, that)
STUCK = "CPU budget|stood still"

policy_dir = tempfile.mkdtemp(prefix="mcsid-sandbox.")
atexit.register(shutil.rmtree, policy_dir, True)
secret = os.path.join(policy_dir, "root-only-secret")
export_path = os.path.join(policy_dir, "policy-export.sock")

SCRIPTS = {
    # the count hook of a guarded coroutine is copied into a new coroutine, finds no budget there and goes
    "coroutine_loop": 'return function(sid) mcsi.timer(10, function() '
                      'local co = coroutine.create(function() while true do end end) coroutine.resume(co) end) end',
    # O(n^4) backtracking inside string.find: one C call, minutes long
    "pattern": 'return function(sid) mcsi.timer(10, function() '
               'local s = ("a"):rep(600) s:find(".-.-.-b") end) end',
    # finalizers run with hooks off
    "gc_loop": 'return function(sid) mcsi.timer(10, function() '
               'setmetatable({}, { __gc = function() while true do end end }) '
               'local x for i = 1, 300000 do x = { i } end end) end',
    # the message handler of xpcall loops
    "xpcall_loop": 'return function(sid) mcsi.timer(10, function() '
                   'xpcall(error, function() while true do end end) end) end',
    # the string metatable is the state's, shared with the host
    "string_meta": 'return function(sid) '
                   'local mt = getmetatable("") '
                   'mt.__index.upper = function() while true do end end '
                   'mt.__index = function() while true do end end '
                   'error("string_meta changed it") end',
    "string_user": 'return function(sid) mcsi.timer(10, function() '
                   'print("upper of abc:", ("abc"):upper(), ("x"):rep(3)) end) end',
    # no memory cap: 6 GiB (string.rep makes at most 2 GiB at once in Lua 5.4: six of 1 GiB)
    "big_rep": 'return function(sid) mcsi.timer(10, function() local t = {} '
               'for i = 1, 6 do t[i] = string.rep("x", 1024 * 1024 * 1024) end '
               'print("big_rep made", #t * #t[1]) end) end',
    # each activation is short in VM instructions, long in C (about 0.4 s), again and again
    "every_c": 'return function(sid) mcsi.every(50, function() '
               'local s = ("a"):rep(150) s:find(".-.-.-b") end) end',
    # a path for an export, directly and through the daemon's method
    "export": 'return function(sid) mcsi.timer(10, function() '
              'print("export mcsi.export", pcall(mcsi.export, { session = sid, lun = 1, socket = "%s" })) '
              'local r, st = mcsi.rpc("ExportLun", { UniqueSessionId = sid, Lun = 1, Socket = "%s" }) '
              'print("export ExportLun", st.name) end) end' % (export_path, export_path),
    # a root-only secret file for CHAP
    "secret": 'return function(sid, o) mcsi.timer(10, function() '
              'local c, st = mcsi.add_connection_to_session(sid, { portal = o.portal, '
              'chap = { username = "u", secret_file = "%s" } }) '
              'print("secret add", c, st.name) '
              'local r, st2 = mcsi.rpc("LoginToTarget", { TargetName = o.iqn, TargetPortal = o.portal, '
              'Username = "u", SecretFile = "%s" }) '
              'print("secret login", st2.name) end) end' % (secret, secret),
    # the connection acts on its own session only, and calls a policy's methods only
    "reach": 'return function(sid, o) mcsi.on(function(ev) print("reach event", ev.kind, ev.session_id) end) '
             'mcsi.timer(10, function() '
             'local i, st = mcsi.session_info(o.other) print("reach other", i, st.name) '
             'local j, st1 = mcsi.session_info(sid) print("reach own", j and j.id == sid, st1.name) '
             'local r, st2 = mcsi.rpc("AttachPolicy", { UniqueSessionId = sid, PolicyScript = "failover" }) '
             'print("reach attach", st2.name) '
             'local r3, st3 = mcsi.rpc("PersistentLoginTarget", { TargetName = o.iqn, TargetPortal = o.portal }) '
             'print("reach persistent", st3.name) end) end',
    # its stop never returns (C): detached, it is killed after the grace
    "stuck_stop": 'return function(sid) return { stop = function() ("a"):rep(600):find(".-.-.-b") end } end',
    # idles: its process is looked at from outside
    "idle": 'return function(sid) mcsi.every(1000, function() end) end',
}


def write_policy_dir():
    with open(secret, "w") as f:
        f.write("a-root-only-secret-1234\n")
    os.chmod(secret, 0o600)
    for name, text in SCRIPTS.items():
        with open(os.path.join(policy_dir, name + ".lua"), "w") as f:
            f.write(text + "\n")


class Prober:
    """Another client: ScsiRead on session B and GetVersion, back to back;
    the longest wait of each is kept."""

    def __init__(self, d, b):
        self.b = b
        self.cl = d.client(timeout=30)
        self.max_read = self.max_version = 0.0
        self.reads = 0
        self.failed = []
        self.stop = False
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop:
            t0 = time.time()
            r = self.cl.call("ScsiRead", {"UniqueSessionId": self.b, "Lun": 1, "Lba": 0, "Blocks": 8})
            self.max_read = max(self.max_read, time.time() - t0)
            if result(r).get("StatusName") != "ISDSC_SUCCESS":
                self.failed.append(r)
            self.reads += 1
            t0 = time.time()
            self.cl.call("GetVersion")
            self.max_version = max(self.max_version, time.time() - t0)
            time.sleep(0.01)

    def end(self):
        self.stop = True
        self.th.join(30)
        self.cl.close()


def proc_status(t, pid):
    status = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for x in f:
                k, _, v = x.partition(":")
                status[k] = v.split()
    except OSError as err:
        t.note("cannot read the runner's status: %s" % err)
    return status


def runners(d):
    """The daemon's policy runners (its only children here)."""
    return d.children()


class TestPolicySandbox(mcsid_test.DaemonCase):
    daemon_name = "policy-sandbox"
    daemon_config = {"policy_dir": policy_dir, "policy_cpu_ms": str(CPU_MS), "policy_cpu_window_ms": str(WINDOW_MS),
                     "policy_memory_mb": "64", "policy_ms": "2000", "max_policies": "6", "log_level": "info"}

    @classmethod
    def setUpClass(cls):
        write_policy_dir()
        super().setUpClass()
        cls.c = cls.d.client()
        cls.ev = cls.d.client()
        cls.addClassCleanup(cls.ev.close)
        cls.addClassCleanup(cls.c.close)
        cls.tap.status(cls.ev.call("Subscribe"), "ISDSC_SUCCESS", "Subscribe")
        cls.a = cls.login()
        cls.b = cls.login(T2)
        for sid in (cls.a, cls.b):
            if sid:
                cls.addClassCleanup(cls.c.call, "LogoutFromTarget", {"UniqueSessionId": sid})
        if not cls.tap.ok(cls.a and cls.b, "two sessions: A for the policies, B for another client's I/O"):
            raise RuntimeError("no two sessions")

    @classmethod
    def finish_daemon(cls, d):
        if os.environ.get("MCSI_KEEP_LOG"):
            with open(os.environ["MCSI_KEEP_LOG"], "w") as f:
                f.write(d.log_text())
        super().finish_daemon(d)

    @classmethod
    def login(cls, portal=T1):
        return result(cls.c.call("LoginToTarget", {"TargetName": IQN, "TargetPortal": portal})).get("UniqueSessionId")

    def policies(self):
        return {p["PolicyId"]: p for p in result(self.c.call("ListPolicies")).get("Policies", [])}

    def attach(self, script, options=None, sid=None):
        """AttachPolicy (on session A by default): (PolicyId, answer); detached when the case ends."""
        params = {"UniqueSessionId": sid or self.a, "PolicyScript": script}
        if options:
            params["Options"] = options
        r = self.c.call("AttachPolicy", params)
        pid = result(r).get("PolicyId")
        if pid:
            self.addCleanup(self.c.call, "DetachPolicy", {"PolicyId": pid})
        return pid, r

    def logged(self, prefix, timeout=10, want=None):
        """The last whole log line holding prefix (and satisfying want), waited
        for up to timeout; "" if none came. A line the daemon is still writing
        is not read."""
        def whole_lines():
            text = self.d.log_text()
            return text[:text.rfind("\n") + 1].splitlines()
        lines = wait_for(lambda: [x for x in whole_lines() if prefix in x and (want is None or want(x))], timeout)
        return lines[-1] if lines else ""

    def hostile(self, script, want_reason, timeout=30):
        """Attach script; it must fail (reason containing want_reason) while the
        daemon and another session's I/O go on."""
        t, c, d, ev, a = self.t, self.c, self.d, self.ev, self.a
        probe = Prober(d, self.b)
        pid, r = self.attach(script)
        t.ok(pid, "%s: attached" % script, r)
        t0 = time.time()
        e = ev.wait_event(lambda p: p.get("Kind") == "policy-failed" and p.get("PolicyId") == pid, timeout)
        took = time.time() - t0
        time.sleep(0.3)
        probe.end()
        t.ok(e is not None and any(w in e.get("Reason", "") for w in want_reason.split("|")),
             "%s: policy-failed (%s) in %.1f s" % (script, want_reason, took), e)
        t.is_(self.policies().get(pid, {}).get("State"), "failed", "%s: ListPolicies says failed" % script)
        t.ok("policy %s (%s) on session 0x%016x failed and is stopped" % (pid, script, a) in d.log_text(),
             "%s: a log line" % script)
        t0 = time.time()
        t.status(c.call("GetVersion", timeout=STALL_MAX), "ISDSC_SUCCESS", "%s: the daemon answers GetVersion" % script)
        t.ok(probe.reads > 0 and not probe.failed and probe.max_read < STALL_MAX and probe.max_version < STALL_MAX,
             "%s: another session's I/O went on: %d reads, longest %.3f s, GetVersion longest %.3f s" %
             (script, probe.reads, probe.max_read, probe.max_version), probe.failed[:2])
        return pid

    def test_runner(self):
        """The runner's process: not root, no_new_privs, seccomp, limits; a stop that
        hangs; a runner killed from outside."""
        t, c, d, ev = self.t, self.c, self.d, self.ev
        attach, logged = self.attach, self.logged
        iid, r = attach("idle")
        t.ok(iid, "idle: attached", r)
        line = logged("policy %d (idle) attached" % iid)
        rpid = int(line.rsplit("process ", 1)[1]) if "process " in line else 0
        t.ok(rpid > 0 and rpid != d.proc.pid, "the policy runs in a process of its own (%d)" % rpid, line)

        # once it runs the script (the mcsi.every timer's first turn): it has loaded a seccomp filter of its
        # own, one more than the daemon's (a daemon confined by its unit's SystemCallFilter has one already,
        # which the runner inherits at fork; tests/sh/test_service_unit.sh runs this file so)
        own = int(proc_status(t, d.proc.pid).get("Seccomp_filters", ["0"])[0])
        status = wait_for(lambda: (lambda s: s if s.get("Seccomp") == ["2"] and
                                   int(s.get("Seccomp_filters", [own + 1])[0]) > own else None)(proc_status(t, rpid)),
                          10) or proc_status(t, rpid)
        t.ok(status.get("Uid", ["0"])[0] != "0" and len(set(status.get("Uid", ["0"]))) == 1,
             "its process does not run as root (real, effective, saved, fs uid: %s)" % status.get("Uid"))
        t.ok(status.get("Groups", ["?"]) == [], "no supplementary groups", status.get("Groups"))
        t.is_(status.get("NoNewPrivs"), ["1"], "no_new_privs")
        t.is_(status.get("Seccomp"), ["2"], "a seccomp filter")
        t.is_(status.get("CapEff"), ["0000000000000000"], "no capabilities")
        limits = {}
        try:
            with open("/proc/%d/limits" % rpid) as f:
                for x in f.read().splitlines()[1:]:
                    limits[x[:26].strip()] = x[26:].split()
        except OSError as err:
            t.note("cannot read the runner's limits: %s" % err)
        t.is_(limits.get("Max open files", [])[:2], ["16", "16"], "RLIMIT_NOFILE 16")
        t.is_(limits.get("Max processes", [])[:2], ["0", "0"], "RLIMIT_NPROC 0")
        t.is_(limits.get("Max file size", [])[:2], ["0", "0"], "RLIMIT_FSIZE 0")
        cpu = limits.get("Max cpu time", ["unlimited"])[0]
        t.ok(cpu.isdigit() and int(cpu) <= 60, "RLIMIT_CPU: a backstop of a few seconds (%s)" % cpu)
        t.status(c.call("DetachPolicy", {"PolicyId": iid}), "ISDSC_SUCCESS", "DetachPolicy idle")
        t.ok(wait_for(lambda: not os.path.exists("/proc/%d/status" % rpid) or
                      open("/proc/%d/status" % rpid).read().find("State:\tZ") >= 0, 10), "the detached runner is gone")

        # a stop that never returns: the runner is killed after its grace
        sid2, r = attach("stuck_stop")
        sline = logged("policy %d (stuck_stop) attached" % sid2)
        spid = int(sline.rsplit("process ", 1)[1]) if "process " in sline else 0
        time.sleep(0.5)
        t.status(c.call("DetachPolicy", {"PolicyId": sid2}), "ISDSC_SUCCESS", "DetachPolicy of a policy whose stop hangs")
        t.ok(spid and wait_for(lambda: not os.path.exists("/proc/%d/status" % spid) or
                               "State:\tZ" in open("/proc/%d/status" % spid).read(), 10),
             "its runner is gone within the grace")
        # a runner that dies (killed from outside) shows as failed
        kid, r = attach("idle")
        kline = logged("policy %d (idle) attached" % kid)
        kpid = int(kline.rsplit("process ", 1)[1]) if "process " in kline else 0
        if kpid:
            os.kill(kpid, 9)
        e = ev.wait_event(lambda p: p.get("Kind") == "policy-failed" and p.get("PolicyId") == kid, 10)
        t.ok(e and "killed by signal 9" in e.get("Reason", ""), "a runner killed from outside: policy-failed", e)

    def test_coroutine_loop(self):
        self.hostile("coroutine_loop", STUCK)

    def test_pattern(self):
        self.hostile("pattern", STUCK)

    def test_gc_loop(self):
        self.hostile("gc_loop", STUCK)

    def test_xpcall_loop(self):
        self.hostile("xpcall_loop", "")

    def test_every_c(self):
        self.hostile("every_c", STUCK)

    def test_big_rep(self):
        self.hostile("big_rep", "not enough memory")
        self.t.ok(not self.logged("big_rep made", 0.1), "big_rep never made its string")

    def test_string_meta(self):
        """The string metatable: refused, and never reaches a later policy."""
        t, c, hostile, attach, logged, policies = self.t, self.c, self.hostile, self.attach, self.logged, self.policies
        hostile("string_meta", "")
        uid_, r = attach("string_user")
        line = logged("(string_user): upper of abc:")
        t.ok(line.endswith("upper of abc:\tABC\txxx"), "a later policy's strings are untouched", line)
        t.is_(policies().get(uid_, {}).get("State"), "running", "and it runs")
        c.call("DetachPolicy", {"PolicyId": uid_})

    def test_export(self):
        """A path for an export from a policy: refused."""
        t, attach, logged = self.t, self.attach, self.logged
        xid, r = attach("export")
        line = logged("(export): export ExportLun")
        t.ok(line.endswith("ISDSC_AUTHORIZATION_FAILURE"), "ExportLun with a path from a policy: refused", line)
        line = logged("(export): export mcsi.export")
        t.ok("\tfalse\t" in line and "not available to a policy" in line, "mcsi.export in a policy: refused", line)
        t.ok(not os.path.exists(export_path), "no socket at the path")

    def test_secret(self):
        """A root-only secret file for CHAP from a policy: refused."""
        t, c, d, a, attach, logged = self.t, self.c, self.d, self.a, self.attach, self.logged
        sid_, r = attach("secret", {"portal": T1, "iqn": IQN})
        line = logged("(secret): secret add")
        t.ok(line.endswith("nil\tISDSC_AUTHORIZATION_FAILURE"), "chap.secret_file from a policy: refused", line)
        line = logged("(secret): secret login")
        t.ok(line.endswith("ISDSC_AUTHORIZATION_FAILURE"), "LoginToTarget with a SecretFile from a policy: refused", line)
        t.ok("a-root-only-secret" not in d.log_text(), "the secret is nowhere in the log")
        t.is_(len([x for x in result(c.call("GetSessionInfo", {"UniqueSessionId": a})).get("Session", {})
                   .get("Connections", [])]), 1, "session A got no connection from it")

    def test_reach(self):
        """Its own session only, a policy's methods only."""
        t, c, d, a, b, attach, logged = self.t, self.c, self.d, self.a, self.b, self.attach, self.logged
        rid, r = attach("reach", {"other": b, "iqn": IQN, "portal": T1})
        t.ok(logged("(reach): reach other").endswith("nil\tISDSC_AUTHORIZATION_FAILURE"), "another session: refused")
        t.ok(logged("(reach): reach own").endswith("true\tISDSC_SUCCESS"), "its own session: served")
        t.ok(logged("(reach): reach attach").endswith("ISDSC_AUTHORIZATION_FAILURE"), "AttachPolicy: refused")
        t.ok(logged("(reach): reach persistent").endswith("ISDSC_AUTHORIZATION_FAILURE"), "PersistentLoginTarget: refused")
        t.is_(result(c.call("ListPersistentTargets")).get("PersistentTargets"), [], "no persistent target was made")
        # the Events it hears: its own session's only
        for s_, portal in ((b, T1), (a, T2)):
            r = c.call("AddConnectionToSession", {"UniqueSessionId": s_, "TargetPortal": portal})
            t.status(r, "ISDSC_SUCCESS", "a connection added to session %d" % s_)
            c.call("RemoveConnectionFromSession", {"UniqueSessionId": s_,
                                                   "UniqueConnectionId": result(r).get("UniqueConnectionId")})
        own = logged("(reach): reach event\tconn-", 10, lambda x: x.endswith("\t%d" % a))
        t.ok(own.endswith("\t%d" % a), "it hears its own session's events", own)
        heard = [x for x in d.log_text().splitlines() if "(reach): reach event" in x]
        t.ok(heard and not [x for x in heard if x.endswith("\t%d" % b)], "and no other session's", heard[-5:])

    def test_max_policies(self):
        """At most max_policies (6) at once."""
        t, c, d, attach = self.t, self.c, self.d, self.attach
        self.addCleanup(wait_for, lambda: not runners(d), 5)   # the next case finds every slot free
        for pid_, p in self.policies().items():     # what earlier cases left, if any
            if p["State"] == "running":
                c.call("DetachPolicy", {"PolicyId": pid_})
        wait_for(lambda: not runners(d), 5)         # the detached runners are gone (2 s of grace at most)
        many = [attach("idle") for _ in range(7)]
        t.ok(all(x[0] for x in many[:6]), "6 policies run at once", [x[1] for x in many[:6] if not x[0]])
        t.ok(not many[6][0] and "max_policies" in result(many[6][1]).get("StatusMessage", ""),
             "a 7th is refused (max_policies)", many[6][1])
        for x in many:
            if x[0]:
                c.call("DetachPolicy", {"PolicyId": x[0]})


if __name__ == "__main__":
    mcsid_test.main()
