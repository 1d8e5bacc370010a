#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_state_races.py: the state file as a trust boundary, and requests that
race (issue 14, "State and races").

- Bad entries of state.json and secrets.json (every kind: persistent targets,
  their exports, portals, discovered targets, CHAP accounts) are set aside
  one by one under "Rejected", logged, never a crash; the good ones work.
- Temporary files of an interrupted save are removed at start, and logged.
- Disk full (a tiny tmpfs as the state directory, filled up): every mutating
  method answers a COULD_NOT_SAVE / COULD_NOT_REMOVE Status and changes
  nothing, in memory or later on disk.
- A persistent target whose session fails for good, again and again (its own
  tgt target: the initiator unbound and its connections dropped): its failed
  sessions are reaped, SessionList and the RSS stay bounded.
- AddConnectionToSession in flight (to a portal that never answers) when
  LogoutFromTarget arrives, pipelined on one socket or from two clients, and
  at SIGTERM: every request is answered exactly once, the daemon exits 0.

Each part is a case with a daemon of its own (DaemonCase.new_daemon: its
exit 0 on SIGTERM is checked when the case ends); one runs alone:
    python3 tests/daemon/test_state_races.py TestStateRaces.test_races
"""
import glob
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import env, result, sanitized, tgt_portal, wait_for  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
free_port = env("MCSI_FREE_PORT")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = "RejectedSecretValue-7f3a"


def sessions_of(c, target):
    return [s for s in result(c.call("SessionList")).get("Sessions", []) if s["TargetName"] == target]


def persistent(c):
    return {e["TargetName"]: e for e in result(c.call("ListPersistentTargets")).get("PersistentTargets", [])}


def load(path):
    with open(path) as f:
        return json.load(f)


def silent_portal():
    """A portal that accepts TCP (the kernel's backlog) and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s, "127.0.0.1:%d" % s.getsockname()[1]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- bad entries are set aside, one by one ----------------------------------------------------------------

def bad_entries(case):
    t = case.t
    d = case.new_daemon(name="state-check")
    os.makedirs(d.state, exist_ok=True)
    portal = {"Address": "127.0.0.1", "Port": int(env("MCSI_TGT_PORT"))}
    good = {"TargetName": plain, "Portals": [portal], "Connections": 1, "Exports": [{"Lun": 1}]}   # a bad export
    bad_persistent = [
        {"TargetName": 42, "Portals": [portal], "Connections": 1},            # the crash of the issue
        {"TargetName": "Not An IQN", "Portals": [portal], "Connections": 1},
        {"TargetName": plain + "x", "Portals": "127.0.0.1", "Connections": 1},
        {"TargetName": plain + "y", "Portals": [], "Connections": 1},
        {"TargetName": plain + "z", "Portals": [{"Address": "h", "Port": 70000}], "Connections": 1},
        {"TargetName": plain + "a", "Portals": [portal], "Connections": 99},
        {"TargetName": plain + "b", "Portals": [portal], "Connections": "2"},
        {"TargetName": plain + "c", "Portals": [portal], "Connections": 1, "LoadBalancePolicy": 9},
        {"TargetName": plain + "d", "Portals": [portal], "Connections": 1, "HeaderDigest": "MD5"},
        {"TargetName": plain + "e", "Portals": [portal], "Connections": 1, "RecoveryTimeoutMs": -5},
        {"TargetName": plain + "g", "Portals": [portal], "Connections": 1, "ChapAccount": 7},
        {"TargetName": plain + "h", "Portals": [portal], "Connections": 1, "PolicyScript": "../../etc/x"},
        "not an object",
        {"TargetName": plain, "Portals": [portal], "Connections": 2},          # a second entry of plain
    ]
    doc = {"Version": 1,
           "TargetPortals": [dict(portal), {"Address": 7, "Port": 3260}, dict(portal)],
           "Targets": [{"TargetName": plain, "Portals": [dict(portal, Tpgt=1)], "DiscoveredThrough": ["127.0.0.1:3260"]},
                       {"TargetName": ["x"], "Portals": [], "DiscoveredThrough": ["a"]},
                       {"TargetName": "iqn.2026-11.x:y", "Portals": [], "DiscoveredThrough": [3]}],
           "PersistentTargets": [good] + bad_persistent}
    secrets = {"Version": 1, "ChapAccounts": {
        "good": {"Username": "u", "Secret": "a-good-secret-1"},
        "nosecret": {"Username": "u"},
        "numsecret": {"Username": "u", "Secret": 5},
        "halfmutual": {"Username": "u", "Secret": "s3cret-s3cret", "TargetSecret": SECRET},
        "longsecret": {"Username": "u", "Secret": SECRET * 20}}}
    with open(os.path.join(d.state, "state.json"), "w") as f:
        json.dump(doc, f)
    with open(os.path.join(d.state, "secrets.json"), "w") as f:
        json.dump(secrets, f)
    os.chmod(os.path.join(d.state, "secrets.json"), 0o600)
    d.start()
    c = d.client()
    log = d.log_text()
    n_state = len(bad_persistent) + 1 + 2 + 2
    t.is_(log.count("set aside under \"Rejected\""), n_state + 4,
          "start: %d bad state entries and 4 bad accounts set aside, one log line each" % n_state)
    t.ok("PersistentTargets[1] set aside" in log and "TargetName is not an iSCSI name" in log,
         "the log line names the entry and why", log[-3000:])
    t.ok("PersistentTargets[14] set aside" in log and "same TargetName" in log, "a duplicate TargetName too")
    t.ok("PersistentTargets[0].Exports[0] set aside" in log, "a bad export alone: its target stays")
    t.ok(SECRET not in log, "no secret of a rejected account in the log")
    t.is_(sorted(persistent(c)), [plain], "ListPersistentTargets: the good entry only")
    t.ok(wait_for(lambda: [s for s in sessions_of(c, plain) if s["State"] == "active"], 15),
         "the good persistent target logs in")
    t.is_(len(result(c.call("ListTargetPortals")).get("TargetPortals", [])), 1, "ListTargetPortals: the good one")
    t.is_([x["TargetName"] for x in result(c.call("ListTargets")).get("Targets", [])], [plain],
          "ListTargets: the good one")
    st = load(os.path.join(d.state, "state.json"))
    kinds = [r["Kind"] for r in st.get("Rejected", [])]
    t.is_((kinds.count("PersistentTargets"), kinds.count("Exports"), kinds.count("TargetPortals"),
           kinds.count("Targets")), (len(bad_persistent), 1, 2, 2), "state.json keeps them under \"Rejected\" (Kind, Index, Reason, Entry)")
    t.ok(all({"Kind", "Index", "Reason", "Entry"} <= set(r) for r in st["Rejected"]) and
         st["Rejected"][0]["Entry"] == {"Lun": 1} and
         [r for r in st["Rejected"] if r["Kind"] == "PersistentTargets"][0]["Entry"]["TargetName"] == 42,
         "... each as it was, with its reason", st.get("Rejected"))
    t.is_([e["TargetName"] for e in st["PersistentTargets"]], [plain], "and its PersistentTargets hold the good one")
    sec = load(os.path.join(d.state, "secrets.json"))
    t.is_(sorted(sec["ChapAccounts"]), ["good"], "secrets.json: the good account stays")
    t.is_(sorted(r["Name"] for r in sec.get("Rejected", [])), ["halfmutual", "longsecret", "nosecret", "numsecret"],
          "the bad accounts are set aside in secrets.json itself (0600)")
    t.is_(os.stat(os.path.join(d.state, "secrets.json")).st_mode & 0o777, 0o600, "secrets.json still 0600")

    # The crash of the issue: the next PersistentLoginTarget compared every TargetName.
    r = c.call("PersistentLoginTarget", {"TargetName": "iqn.2026-11.org.mcsi.test:nowhere",
                                         "TargetPortal": "127.0.0.1:%s" % free_port})
    t.status(r, "ISDSC_CONNECTION_FAILED", "PersistentLoginTarget after the bad entries: answered, no crash")
    t.status(c.call("RemovePersistentTarget", {"TargetName": "iqn.2026-11.org.mcsi.test:nowhere"}), "ISDSC_SUCCESS",
             "RemovePersistentTarget")
    t.status(c.call("RemoveTargetPortal", {"TargetPortal": tgt_portal()}), "ISDSC_SUCCESS",
             "RemoveTargetPortal walks the discovered targets")
    r = c.call("PersistentLoginTarget", {"TargetName": "Bad Name", "TargetPortal": tgt_portal()})
    t.status(r, "ISDSC_INVALID_PARAMETER", "a new entry that would not load again is refused when stored")
    t.ok(d.proc.poll() is None, "the daemon runs")

    d.stop()
    before = d.log_text().count("set aside")
    d.start()
    c = d.client()
    t.is_(d.log_text().count("set aside"), before, "restart: nothing more set aside (the file was written clean)")
    t.is_(len(load(os.path.join(d.state, "state.json")).get("Rejected", [])), n_state,
          "the rejected entries are kept across restarts")


# ---- random damage: every entry kept or set aside, never a crash ------------------------------------------

def random_value(rng, depth=0):
    kinds = [lambda: None, lambda: rng.random() < 0.5, lambda: rng.randint(-2 ** 63, 2 ** 63 - 1),
             lambda: rng.randint(-3, 70000), lambda: rng.random() * 1e6,
             lambda: "".join(rng.choice("iqn.2026-11:ab/ Z\u00e9\x01") for _ in range(rng.randint(0, 300))),
             lambda: [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))] if depth < 2 else [],
             lambda: {"Address": random_value(rng, depth + 1), "Lun": 1} if depth < 2 else {}]
    return rng.choice(kinds)()


def damaged(rng, template, n):
    e = json.loads(json.dumps(template))
    for _ in range(n):
        key = rng.choice(list(template) + ["Extra"])
        if rng.random() < 0.2:
            e.pop(key, None)
        else:
            e[key] = random_value(rng)
    return e


def random_damage(case):
    t = case.t
    seed = int(os.environ.get("MCSI_STATE_SEED", "14"))
    rng = __import__("random").Random(seed)
    d = case.new_daemon(name="state-random")
    os.makedirs(d.state, exist_ok=True)
    dead = {"Address": "127.0.0.1", "Port": int(free_port)}
    doc = {"Version": 1, "PersistentTargets": [], "TargetPortals": [], "Targets": []}
    for i in range(150):
        tmpl = {"TargetName": "iqn.2026-11.org.mcsi.test:r%d" % i, "Portals": [dead], "Connections": 1,
                "LoadBalancePolicy": 2, "HeaderDigest": "None", "RecoveryTimeoutMs": 1000,
                "Exports": [{"Lun": 1, "Tcp": "127.0.0.1:0"}], "ChapAccount": "a%d" % i, "PolicyScript": "failover"}
        doc["PersistentTargets"].append(damaged(rng, tmpl, rng.randint(0, 2)) if rng.random() < 0.9 else random_value(rng))
        doc["TargetPortals"].append(damaged(rng, dict(dead, Port=1000 + i, ChapAccount="a"), rng.randint(0, 2)))
        doc["Targets"].append(damaged(rng, {"TargetName": "iqn.x:%d" % i, "Portals": [dict(dead, Tpgt=1)],
                                            "DiscoveredThrough": ["127.0.0.1:%d" % (1000 + i)]}, rng.randint(0, 2)))
    accounts = {"a%d" % i: damaged(rng, {"Username": "u", "Secret": "s3cret-%d" % i, "TargetUsername": "t",
                                         "TargetSecret": "t-s3cret"}, rng.randint(0, 2)) for i in range(150)}
    with open(os.path.join(d.state, "state.json"), "w") as f:
        json.dump(doc, f)
    with open(os.path.join(d.state, "secrets.json"), "w") as f:
        json.dump({"Version": 1, "ChapAccounts": accounts}, f)
    total = sum(len(doc[k]) for k in ("PersistentTargets", "TargetPortals", "Targets"))
    d.start()
    c = d.client()
    st = load(os.path.join(d.state, "state.json"))
    kept = sum(len(st[k]) for k in ("PersistentTargets", "TargetPortals", "Targets"))
    whole = [r for r in st.get("Rejected", []) if r["Kind"] != "Exports"]
    t.is_(kept + len(whole), total, "seed %d: %d entries of random damage: each kept (%d) or set aside (%d)" %
          (seed, total, kept, len(whole)))
    sec = load(os.path.join(d.state, "secrets.json"))
    t.is_(len(sec["ChapAccounts"]) + len(sec.get("Rejected", [])), 150, "150 damaged accounts: each kept or set aside")
    t.is_(len(persistent(c)), len(st["PersistentTargets"]), "ListPersistentTargets lists the kept ones")
    r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
    t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget beside them")
    for e in st["PersistentTargets"][:20]:
        c.call("RemovePersistentTarget", {"TargetName": e["TargetName"]})
    for p in st["TargetPortals"][:20]:
        c.call("RemoveTargetPortal", {"TargetPortal": "%s:%d" % (p["Address"], p["Port"])})
    t.status(c.call("AddTargetPortal", {"TargetPortal": tgt_portal()}), "ISDSC_SUCCESS", "AddTargetPortal beside them")
    d.signal(1)
    time.sleep(0.5)
    t.ok(result(c.call("GetVersion")).get("Version") and d.proc.poll() is None,
         "removals, SIGHUP (every keeper woken): the daemon runs")
    before = d.log_text().count("set aside")
    d.stop()
    d.start()
    t.is_(d.log_text().count("set aside"), before, "restart: nothing more set aside")


# ---- temporaries of an interrupted save -------------------------------------------------------------------

def temporaries(case):
    t = case.t
    d = case.new_daemon(name="state-tmp")
    os.makedirs(d.state, exist_ok=True)
    left = [os.path.join(d.state, n) for n in ("state.json.tmp-99999", "secrets.json.tmp-4242")]
    for p in left:
        with open(p, "w") as f:
            f.write('{"Version": 1, "PersistentTargets": [')
    keep = os.path.join(d.state, "notes.tmp-1")
    open(keep, "w").close()
    d.start()
    t.is_([p for p in left if os.path.exists(p)], [], "start: the temporary files of an interrupted save are gone")
    t.ok(all("removed %s, left by an interrupted save" % os.path.basename(p) in d.log_text() for p in left),
         "... each with a log line")
    t.ok(os.path.exists(keep), "another file of the directory is left alone")


# ---- disk full: nothing refused is applied ----------------------------------------------------------------

def fill(path):
    """Fills the filesystem of path (again: tops it up); returns the filler's name."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    os.close(fd)
    return filler


def disk_full(case):
    t = case.t
    if os.geteuid() != 0:
        t.skip("disk full: needs root to mount a tmpfs")
        return
    d = case.new_daemon(config={"nbd_plain_tcp": "yes"}, name="state-full")   # its TCP export is plain, said explicitly
    os.makedirs(d.state, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", d.state]).returncode != 0:
        t.skip("disk full: mount -t tmpfs failed")
        return
    state = os.path.join(d.state, "state.json")
    sock = "full.sock"   # a name: the socket is export_dir/full.sock (exportdir.h)
    silent, silent_addr = silent_portal()
    try:
        d.start()
        c = d.client()
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(),
                                             "Exports": [{"Lun": 1, "Socket": sock}]})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget with an export, before the disk is full")
        sid = result(r).get("UniqueSessionId")
        t.status(c.call("AddTargetPortal", {"TargetPortal": tgt_portal()}), "ISDSC_SUCCESS", "AddTargetPortal")
        exp = wait_for(lambda: [x for x in result(c.call("ListExports")).get("Exports", []) if x.get("State") == "up"], 10)
        t.ok(exp, "the persistent export is up", result(c.call("ListExports")))
        on_disk = load(state)
        filler = fill(d.state)

        def unchanged(what):
            fill(d.state)   # a failed save gave its pages back: full again for the next case
            t.is_(load(state), on_disk, "%s: state.json on disk unchanged" % what)
            p = persistent(c)
            t.ok(list(p) == [plain] and p[plain].get("Connections") == 1 and p[plain].get("UniqueSessionId") == sid,
                 "%s: in memory unchanged, the keeper still holds session %s" % (what, sid), p)

        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Connections": 2})
        t.status(r, "ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA", "disk full: PersistentLoginTarget again answers COULD_NOT_SAVE")
        unchanged("re-storing")
        s = sessions_of(c, plain)
        t.ok(len(s) == 1 and s[0]["Persistent"] is True and s[0]["ConnectionCount"] == 1,
             "the session is still the keeper's, with 1 connection", s)

        new = "iqn.2026-11.org.mcsi.test:refused"
        r = c.call("PersistentLoginTarget", {"TargetName": new, "TargetPortal": "127.0.0.1:%s" % free_port})
        t.status(r, "ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA", "a new PersistentLoginTarget: COULD_NOT_SAVE")
        unchanged("a new target")
        time.sleep(0.5)
        t.ok(new + ": ISDSC_CONNECTION_FAILED" not in d.log_text(), "... and no keeper tries to log it in")

        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "IsPersistent": True,
                                     "HeaderDigest": "CRC32C"})
        t.status(r, "ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA", "LoginToTarget IsPersistent: COULD_NOT_SAVE")
        unchanged("LoginToTarget IsPersistent")

        t.status(c.call("RemovePersistentTarget", {"TargetName": plain}), "ISDSC_COULD_NOT_REMOVE_PERSISTENT_LOGIN_DATA",
                 "RemovePersistentTarget: COULD_NOT_REMOVE")
        unchanged("removing")
        t.ok(sessions_of(c, plain)[0]["Persistent"] is True, "... the keeper stays")

        r = c.call("AddTargetPortal", {"TargetPortal": tgt_portal("127.0.0.2")})
        t.status(r, "ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA", "AddTargetPortal: COULD_NOT_SAVE")
        t.is_(len(result(c.call("ListTargetPortals")).get("TargetPortals", [])), 1, "... the portal list unchanged")
        t.status(c.call("RemoveTargetPortal", {"TargetPortal": tgt_portal()}),
                 "ISDSC_COULD_NOT_REMOVE_PERSISTENT_LOGIN_DATA", "RemoveTargetPortal: COULD_NOT_REMOVE")
        t.is_(len(result(c.call("ListTargetPortals")).get("TargetPortals", [])), 1, "... still listed")
        t.ok(result(c.call("ListTargets")).get("Targets"), "... its discovered targets too")

        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": 1, "Tcp": "127.0.0.1:0", "Tls": "off", "IsPersistent": True})
        t.status(r, "ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA", "ExportLun IsPersistent: COULD_NOT_SAVE")
        up = [x for x in result(c.call("ListExports")).get("Exports", []) if x.get("State") == "up"]
        t.is_(len(up), 1, "... only the stored export is up")
        eid = exp[0]["ExportId"]
        t.status(c.call("UnexportLun", {"ExportId": eid}), "ISDSC_COULD_NOT_REMOVE_PERSISTENT_LOGIN_DATA",
                 "UnexportLun of the stored export: COULD_NOT_REMOVE")
        t.ok([x for x in result(c.call("ListExports")).get("Exports", []) if x["ExportId"] == eid and x["State"] == "up"],
             "... the export stays up")
        unchanged("exports")

        with open(os.path.join(d.dir, "chap.secret"), "w") as f:
            f.write("a-chap-secret-12\n")
        os.chmod(os.path.join(d.dir, "chap.secret"), 0o600)
        fill(d.state)
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Username": "acct",
                                             "SecretFile": os.path.join(d.dir, "chap.secret")})
        t.status(r, "ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA", "a CHAP account (secrets.json): COULD_NOT_SAVE")
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "ChapAccount": "acct"})
        t.ok("no CHAP account" in result(r).get("StatusMessage", ""), "... and the account is not usable", r)
        unchanged("a CHAP account")

        # Space again: the next save writes what memory holds, none of the refused changes.
        os.unlink(filler)
        t.status(c.call("AddTargetPortal", {"TargetPortal": tgt_portal("127.0.0.2")}), "ISDSC_SUCCESS",
                 "space again: AddTargetPortal saves")
        doc = load(state)
        t.is_([(e["TargetName"], e["Connections"], e.get("HeaderDigest"), len(e.get("Exports", [])))
               for e in doc["PersistentTargets"]], [(plain, 1, None, 1)],
              "state.json: the target as it was, no refused entry, export or digest reached disk later")
        t.ok(not glob.glob(os.path.join(d.state, "*.tmp-*")), "no temporary file left on the full disk")
        t.ok(d.proc.poll() is None, "the daemon runs")
    finally:
        silent.close()
        d.stop()
        subprocess.run(["umount", "-l", d.state], stderr=subprocess.DEVNULL)


# ---- an account stored for a target that was not stored is taken back ------------------------------------

def account_undo(case):
    t = case.t
    chap_iqn, user, secret = env("MCSI_TGT_IQN_CHAP"), env("MCSI_CHAP_USER"), env("MCSI_CHAP_SECRET")
    d = case.new_daemon(name="state-account")

    def secret_file(name, text):
        path = os.path.join(d.dir, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, 0o600)
        return path

    good, wrong = secret_file("good.secret", secret), secret_file("wrong.secret", "wrong-secret-1234")
    d.start()
    c = d.client()
    r = c.call("PersistentLoginTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "Username": user,
                                         "SecretFile": good})
    t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget with CHAP: the account is stored")
    # state.json cannot be written any more (its temporary name is taken by a directory); secrets.json can.
    os.mkdir(os.path.join(d.state, "state.json.tmp-%d" % d.proc.pid))
    r = c.call("PersistentLoginTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "Username": user,
                                         "SecretFile": wrong, "Connections": 2})
    t.status(r, "ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA", "state.json not writable: re-storing it with "
             "another secret answers COULD_NOT_SAVE")
    r = c.call("LoginToTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "ChapAccount": user})
    t.status(r, "ISDSC_SUCCESS", "... and the stored account still has its old secret (taken back)")
    c.call("LogoutFromTarget", {"UniqueSessionId": result(r).get("UniqueSessionId")})
    with open(os.path.join(d.state, "secrets.json")) as f:
        t.ok("wrong-secret-1234" not in f.read(), "... in secrets.json too")
    r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Username": "other",
                                         "SecretFile": wrong})
    t.status(r, "ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA", "a new target with a new account: COULD_NOT_SAVE")
    r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "ChapAccount": "other"})
    t.ok("no CHAP account" in result(r).get("StatusMessage", ""), "... and the new account is not stored", r)
    os.rmdir(os.path.join(d.state, "state.json.tmp-%d" % d.proc.pid))


# ---- a flapping persistent target: failed sessions reaped --------------------------------------------------

def tgtadm(*args):
    return subprocess.run(["tgtadm", "-C", "0", "--lld", "iscsi"] + list(args),
                          env=dict(os.environ, TGT_IPC_SOCKET=env("MCSI_TGT_IPC")), capture_output=True, text=True)


def flapping(case):
    t = case.t
    tid, iqn = "47", "iqn.2026-11.org.mcsi.test:flap-%d" % os.getpid()
    if tgtadm("--op", "new", "--mode", "target", "--tid", tid, "--targetname", iqn).returncode != 0:
        t.skip("tgtadm: cannot make target %s" % tid)
        return
    case.addCleanup(tgtadm, "--op", "delete", "--mode", "target", "--tid", tid, "--force")
    d = case.new_daemon(name="state-flap")   # stopped before the target is deleted
    tgtadm("--op", "new", "--mode", "logicalunit", "--tid", tid, "--lun", "1", "--bstype", "null",
           "--backing-store", "/dev/null")
    tgtadm("--op", "bind", "--mode", "target", "--tid", tid, "--initiator-address", "ALL")
    d.start()
    c = d.client()
    r = c.call("PersistentLoginTarget", {"TargetName": iqn, "TargetPortal": tgt_portal(), "RecoveryTimeoutMs": 300})
    t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget to a target of its own")
    counts, rss = [], []
    cycles = 6
    def active():
        return [s["UniqueSessionId"] for s in sessions_of(c, iqn) if s["State"] == "active"]

    for i in range(cycles):
        up = wait_for(active, 15)
        if not up:
            break
        tgtadm("--op", "unbind", "--mode", "target", "--tid", tid, "--initiator-address", "ALL")
        subprocess.run(["bash", os.path.join(ROOT, "tests/harness/tgt-drop-conn"), tid], capture_output=True)
        failed = wait_for(lambda: [s for s in sessions_of(c, iqn)
                                   if s["UniqueSessionId"] == up[0] and s["State"] == "failed"], 10)
        tgtadm("--op", "bind", "--mode", "target", "--tid", tid, "--initiator-address", "ALL")
        if not failed:
            break
        wait_for(lambda: [x for x in active() if x != up[0]], 15)   # the keeper's next session
        wait_for(lambda: len(sessions_of(c, iqn)) == 1, 3)
        counts.append(len(sessions_of(c, iqn)))
        rss.append(rss_kib(d.proc.pid))
    t.is_(len(counts), cycles, "%d times: the session failed for good (initiator refused), then came back" % cycles)
    t.is_(counts, [1] * cycles, "SessionList holds one session of the target after each (the failed ones reaped)")
    t.ok("reaped" in d.log_text(), "the log says so")
    if sanitized() or len(rss) < cycles:
        t.skip("RSS under ASan says nothing")
    else:
        t.ok(rss[-1] - rss[0] < 1024, "RSS after cycle 1 and %d: %d and %d KiB (less than 1 MiB more)" %
             (cycles, rss[0], rss[-1]))


# ---- every request answered once, whatever races it ------------------------------------------------------

def login(c):
    r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "MaximumConnections": 4})
    return result(r).get("UniqueSessionId")


def answered_once(c, ids, timeout):
    got = {}
    deadline = time.time() + timeout
    for i in ids:
        try:
            got[i] = c.wait_id(i, max(0.1, deadline - time.time()))
        except socket.timeout:
            got[i] = None
    return got


def races(case):
    t = case.t
    d = case.new_daemon(name="state-race")
    silent, silent_addr = silent_portal()
    add = {"TargetPortal": silent_addr, "LoginTimeoutMs": 20000}
    try:
        d.start()
        c = d.client()

        sid = login(c)
        t0 = time.time()
        a = c.send("AddConnectionToSession", dict(add, UniqueSessionId=sid))
        time.sleep(0.2)
        b = c.send("LogoutFromTarget", {"UniqueSessionId": sid})
        got = answered_once(c, [a, b], 5)
        t.status(got[a] or {}, "ISDSC_CONNECTION_FAILED",
                 "one socket: AddConnectionToSession in flight when LogoutFromTarget arrives is answered")
        t.ok("logged out" in result(got[a]).get("StatusMessage", ""), "... saying the session was logged out", got[a])
        t.status(got[b] or {}, "ISDSC_SUCCESS", "... and the logout too")
        t.ok(time.time() - t0 < 5, "both within 5 s, not the add's 20 s login timeout")

        sid = login(c)
        lines = [{"jsonrpc": "2.0", "id": 901, "method": "AddConnectionToSession",
                  "params": dict(add, UniqueSessionId=sid)},
                 {"jsonrpc": "2.0", "id": 902, "method": "LogoutFromTarget", "params": {"UniqueSessionId": sid}}]
        c.send_raw("".join(json.dumps(x) + "\n" for x in lines).encode())   # one write: pipelined
        got = answered_once(c, [901, 902], 5)
        t.ok(result(got[901]).get("StatusName") == "ISDSC_CONNECTION_FAILED" and
             result(got[902]).get("StatusName") == "ISDSC_SUCCESS",
             "pipelined in one write: the add answered ISDSC_CONNECTION_FAILED, the logout ISDSC_SUCCESS", got)

        sid = login(c)
        c2 = d.client()
        a = c.send("AddConnectionToSession", dict(add, UniqueSessionId=sid))
        time.sleep(0.2)
        t.status(c2.call("LogoutFromTarget", {"UniqueSessionId": sid}, timeout=5), "ISDSC_SUCCESS",
                 "two clients: the logout from the second is answered")
        got = answered_once(c, [a], 5)
        t.status(got[a] or {}, "ISDSC_CONNECTION_FAILED", "... and the add in flight on the first")

        sid = login(c)
        ids = [c.send("AddConnectionToSession", dict(add, UniqueSessionId=sid)) for _ in range(3)]
        time.sleep(0.2)
        d.signal(15)
        got = answered_once(c, ids, 10)
        t.ok(all(got[i] and result(got[i]).get("StatusName") == "ISDSC_CONNECTION_FAILED" for i in ids),
             "SIGTERM with 3 adds in flight: each answered before the daemon goes", got)
        extra = None
        try:
            extra = c.read_message(2)
        except socket.timeout:
            pass
        t.ok(extra is None, "and nothing more (each exactly once)", extra)
    finally:
        silent.close()   # the daemon's exit 0 is checked when the case ends (a use-after-free at the end would not be)


class TestStateRaces(mcsid_test.DaemonCase):
    start_daemon = False          # a daemon per case (new_daemon)

    def test_bad_entries(self):
        bad_entries(self)

    def test_random_damage(self):
        random_damage(self)

    def test_temporaries(self):
        temporaries(self)

    def test_disk_full(self):
        disk_full(self)

    def test_account_undo(self):
        account_undo(self)

    def test_flapping(self):
        flapping(self)

    def test_races(self):
        races(self)


if __name__ == "__main__":
    mcsid_test.main()
