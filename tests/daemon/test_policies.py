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
"""
import os
import subprocess
import tempfile

from mcsid_test import TAP, Daemon, env, result, tgt_portal, wait_for

t = TAP()
IQN = env("MCSI_TGT_IQN_PLAIN")
T1, T2 = tgt_portal("127.0.0.1"), tgt_portal("127.0.0.2")
PORT = env("MCSI_TGT_PORT")

policy_dir = tempfile.mkdtemp(prefix="mcsid-policies.")
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
for name, text in SCRIPTS.items():
    with open(os.path.join(policy_dir, name + ".lua"), "w") as f:
        f.write(text + "\n")

d = Daemon({"policy_dir": policy_dir, "policy_instructions": "2000000", "policy_ms": "20000"}, name="policies")
d.start()
c = d.client()
ev = d.client()
KEEP = os.environ.get("MCSI_KEEP_LOG")
t.status(ev.call("Subscribe"), "ISDSC_SUCCESS", "Subscribe (every kind, the policy ones included)")


def login(portal=T1):
    r = result(c.call("LoginToTarget", {"TargetName": IQN, "TargetPortal": portal}))
    return r.get("UniqueSessionId")


def attach(sid, script, options=None):
    params = {"UniqueSessionId": sid, "PolicyScript": script}
    if options is not None:
        params["Options"] = options
    return c.call("AttachPolicy", params)


def policies():
    return {p["PolicyId"]: p for p in result(c.call("ListPolicies")).get("Policies", [])}


def healthy(sid):
    s = result(c.call("GetSessionInfo", {"UniqueSessionId": sid})).get("Session", {})
    return [x for x in s.get("Connections", []) if x["State"] in ("active", "standby")]


# ---- a session kept at 2 connections by failover ----
a = login()
t.ok(a, "login A")
t.status(c.call("AddConnectionToSession", {"UniqueSessionId": a, "TargetPortal": T2}), "ISDSC_SUCCESS",
         "A: a second connection through 127.0.0.2")
r = attach(a, "failover", {"connections": 2, "portals": [T1, T2], "interval_ms": 200})
t.status(r, "ISDSC_SUCCESS", "AttachPolicy failover on A")
fid = result(r).get("PolicyId")
t.ok(isinstance(fid, int) and fid > 0, "a PolicyId", r)

# ---- the errors of AttachPolicy ----
t.status(attach(a, "no-such-policy"), "ISDSC_INVALID_PARAMETER", "an unknown script: ISDSC_INVALID_PARAMETER")
t.status(attach(a, "../etc/passwd"), "ISDSC_INVALID_PARAMETER", "a path is not a script name")
t.status(attach(999999, "failover"), "ISDSC_INVALID_SESSION_ID", "no such session: ISDSC_INVALID_SESSION_ID")
err = c.call("AttachPolicy", {"UniqueSessionId": a, "PolicyScript": "failover", "Options": [1]})
t.ok(err.get("error", {}).get("code") == -32602, "Options must be an object: invalid params", err)

# ---- a policy that raises: stopped and reported, the rest goes on ----
b = login()
t.ok(b, "login B")
rid = result(attach(b, "raises")).get("PolicyId")
e = ev.wait_event(lambda p: p.get("Kind") == "policy-failed" and p.get("PolicyId") == rid, 20)
t.ok(e is not None, "the raising policy: a policy-failed Event", e)
t.ok(e and "policy boom on purpose" in e.get("Reason", ""), "its Reason is the error", e)
t.ok(e and e.get("UniqueSessionId") == b and e.get("PolicyScript") == "raises", "the Event names session and script",
     e)
p = policies()
t.is_(p.get(rid, {}).get("State"), "failed", "ListPolicies: the raising policy failed")
t.is_(p.get(fid, {}).get("State"), "running", "ListPolicies: failover on A still runs")
t.ok("policy %d (raises) on session %d failed and is stopped" % (rid, b) in d.log_text(), "a log line says so")
t.status(c.call("ScsiReadCapacity", {"UniqueSessionId": b, "Lun": 1}), "ISDSC_SUCCESS", "session B still works")

# ---- loops forever, also under pcall: the budget stops them ----
for script in ("loops", "pcall_loop"):
    lid = result(attach(b, script)).get("PolicyId")
    e = ev.wait_event(lambda p: p.get("Kind") == "policy-failed" and p.get("PolicyId") == lid, 30)
    t.ok(e is not None and "instruction budget" in e.get("Reason", ""),
         "%s: stopped by the instruction budget and reported" % script, e)
    t.status(c.call("GetVersion"), "ISDSC_SUCCESS", "%s: the daemon answers" % script)
t.is_(policies().get(fid, {}).get("State"), "running", "failover on A still runs after the runaway policies")

# ---- the sandbox ----
sid_ = result(attach(b, "sandbox")).get("PolicyId")
line = wait_for(lambda: [l for l in d.log_text().splitlines() if "(sandbox): sandbox" in l], 10)
t.ok(line, "the sandbox policy printed (to the daemon's log)")
text = line[0] if line else ""
t.ok("sandbox\tnil\tnil\tnil\tnil\tfalse" in text, "no os.execute, io.open, io.popen, debug; "
     "mcsi.run refused", text)
t.ok(text.endswith("false\ta policy may require \"mcsi\" only (not 'os')") or "require \"mcsi\" only" in text,
     "require of anything but mcsi refused", text)

# ---- Options reach the policy; DetachPolicy runs its stop ----
qid = result(attach(b, "quiet", {"word": "hello"})).get("PolicyId")
t.ok(wait_for(lambda: "quiet policy on\t%d\thello" % b in d.log_text(), 10), "Options reach the policy")
t.status(c.call("DetachPolicy", {"PolicyId": qid}), "ISDSC_SUCCESS", "DetachPolicy")
t.ok(wait_for(lambda: "quiet stopped" in d.log_text(), 10), "the detached policy's stop ran")
e = ev.wait_event(lambda p: p.get("Kind") == "policy-stopped" and p.get("PolicyId") == qid, 10)
t.ok(e is not None, "a policy-stopped Event", e)
t.status(c.call("DetachPolicy", {"PolicyId": qid}), "ISDSC_NOT_FOUND", "DetachPolicy again: ISDSC_NOT_FOUND")

# ---- failover on a connection dropped from the target side ----
before = healthy(a)
t.is_(len(before), 2, "A has its 2 connections")
victim = [x["UniqueConnectionId"] for x in before if x["TargetPortal"]["Address"] == "127.0.0.2"]
subprocess.run(["ss", "-K", "-tn", "src 127.0.0.2 and sport = :%s" % PORT], capture_output=True)
e = ev.wait_event(lambda p: p.get("Kind") == "conn-failed" and p.get("UniqueSessionId") == a, 20)
t.ok(e is not None, "the dropped connection failed (conn-failed)", e)
after = wait_for(lambda: (lambda h: h if len(h) == 2 and not set(victim) & {x["UniqueConnectionId"] for x in h}
                          else None)(healthy(a)), 30)
t.ok(after, "failover added a connection back: 2 healthy, the dropped one replaced", healthy(a))
t.ok("policy %d (failover): [failover" % fid in d.log_text() and "] add" in d.log_text(),
     "the policy's actions are in the daemon's log")
t.is_(policies().get(fid, {}).get("State"), "running", "failover still runs")

# ---- a session's end ends its policy ----
t.status(c.call("LogoutFromTarget", {"UniqueSessionId": a}), "ISDSC_SUCCESS", "logout A")
e = ev.wait_event(lambda p: p.get("Kind") == "policy-ended" and p.get("PolicyId") == fid, 10)
t.ok(e is not None, "failover ended with its session (policy-ended)", e)
c.call("LogoutFromTarget", {"UniqueSessionId": b})

# ---- PersistentLoginTarget's PolicyScript, and after a restart ----
r = c.call("PersistentLoginTarget", {"TargetName": IQN, "Portals": [T1, T2], "Connections": 2,
                                     "PolicyScript": "failover"})
t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget with PolicyScript failover")
psid = result(r).get("UniqueSessionId")
t.ok(wait_for(lambda: [p for p in policies().values() if p["UniqueSessionId"] == psid and p["State"] == "running"
                       and p["PolicyScript"] == "failover"], 10), "the keeper attached failover to its session")


# ---- every connection dropped by the target (tgt-drop-conn): the session is
# reinstated (or logged in again by the keeper), failover brings it back to 2 ----
def target_session():
    for p in result(c.call("ListPersistentTargets")).get("PersistentTargets", []):
        if p.get("UniqueSessionId"):
            return p["UniqueSessionId"]
    return None


old = {x["UniqueConnectionId"] for x in healthy(psid)}
t.is_(len(old), 2, "the persistent target's session has its 2 connections")
drop = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "tgt-drop-conn"), "1"],
                      capture_output=True, text=True)
t.ok(drop.returncode == 0 and drop.stdout.count("dropped") >= 2, "tgt-drop-conn dropped its connections",
     drop.stdout + drop.stderr)


def back_to_two():
    sid = target_session()
    h = healthy(sid) if sid else []
    return sid if len(h) == 2 and not old & {x["UniqueConnectionId"] for x in h} else None


back = wait_for(back_to_two, 60)
t.ok(back, "after the drop the target's session has 2 new healthy connections", healthy(target_session() or psid))
t.ok(wait_for(lambda: [p for p in policies().values() if p["UniqueSessionId"] == back and p["State"] == "running"],
              10), "with its failover policy running")
psid = back or psid
c.close()
ev.close()
d.kill9()
d.start()
c = d.client()
psid2 = wait_for(lambda: [p["UniqueSessionId"] for p in result(c.call("ListPersistentTargets"))
                          .get("PersistentTargets", []) if p.get("UniqueSessionId")], 30)
t.ok(psid2, "after kill -9 and a restart the persistent target is back")
t.ok(wait_for(lambda: [p for p in policies().values() if psid2 and p["UniqueSessionId"] == psid2[0]
                       and p["State"] == "running"], 10), "and its policy is attached again")
c.call("RemovePersistentTarget", {"TargetName": IQN})
for s in result(c.call("SessionList")).get("Sessions", []):
    c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
c.close()
t.is_(d.stop(), 0, "SIGTERM: exit 0")
if KEEP:
    with open(KEEP, "w") as f:
        f.write(d.log_text())
d.cleanup()

# ---- default_policy from the configuration ----
d = Daemon({"policy_dir": policy_dir, "default_policy": "quiet"}, name="default-policy")
d.start()
c = d.client()
r = c.call("PersistentLoginTarget", {"TargetName": IQN, "TargetPortal": T1})
t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget without a PolicyScript")
t.ok(wait_for(lambda: [p for p in policies().values() if p["PolicyScript"] == "quiet"], 10),
     "default_policy is attached to it")
c.call("RemovePersistentTarget", {"TargetName": IQN})
for s in result(c.call("SessionList")).get("Sessions", []):
    c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
c.close()
d.cleanup()
for name in SCRIPTS:
    os.remove(os.path.join(policy_dir, name + ".lua"))
os.rmdir(policy_dir)
t.done()
