#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_intent.py: the administrator's intent sticks (issue 16).

RemoveTargetPortal of a portal stored with CHAP; sessions addressed by their
target name (one, none, several); tgt's MaxConnections=1 explained in the
Status message; the session's wanted number of connections (set at login,
changed by AddConnectionToSession / RemoveConnectionFromSession /
SetWantedConnections, kept by the failover policy, stored with a persistent
target across a restart); PersistentLoginTarget adopting a live session and
applying a new Connections live; RemovePersistentTarget removing its exports.
Real mcsid, real tgtd (the harness's); each case has a daemon of its own:
    python3 tests/daemon/test_intent.py TestIntent.test_remove_chap_portal"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import result, tgt_portal, env, wait_for  # noqa: E402

plain, chap_iqn = env("MCSI_TGT_IQN_PLAIN"), env("MCSI_TGT_IQN_CHAP")
user, secret = env("MCSI_CHAP_USER"), env("MCSI_CHAP_SECRET")


def tgtadm(*args):
    return subprocess.run(["tgtadm", "-C", "0", "--lld", "iscsi"] + list(args),
                          env=dict(os.environ, TGT_IPC_SOCKET=env("MCSI_TGT_IPC")), capture_output=True, text=True)


def tid_of(iqn):
    out = tgtadm("--op", "show", "--mode", "target").stdout
    for line in out.splitlines():
        if line.startswith("Target ") and line.rstrip().endswith(" " + iqn):
            return int(line.split()[1].rstrip(":"))
    return None


def tgt_sessions(iqn, initiator):
    """tgtadm's view: {session number: connection count} of initiator's sessions on target iqn."""
    out = tgtadm("--op", "show", "--mode", "conn", "--tid", str(tid_of(iqn))).stdout
    got = {}
    for block in out.split("Session:")[1:]:   # tgtadm repeats "Session: S" before each of its connections
        lines = [x.strip() for x in block.split("\n")]
        if ("Initiator: " + initiator) in lines:
            got[lines[0]] = got.get(lines[0], 0) + block.count("Connection:")
    return got


def session(c, sid):
    return result(c.call("GetSessionInfo", {"UniqueSessionId": sid})).get("Session", {})


def healthy(c, sid):
    return sum(1 for x in session(c, sid).get("Connections", []) if x.get("State") == "active")


class TestIntent(mcsid_test.DaemonCase):
    daemon_name = "intent"
    start_daemon = False
    log_tail = 6000

    def setUp(self):
        super().setUp()
        self.d = d = self.new_daemon(name="intent-" + self._testMethodName[5:].replace("_", "-")[:20])
        state = self.initial_state.get(self._testMethodName)
        if state:
            os.makedirs(d.state, mode=0o700, exist_ok=True)
            with open(os.path.join(d.state, "state.json"), "w") as f:
                json.dump(state(), f)
        d.start()
        self.c = self.client()

    # state.json a case's daemon starts with (tgt refuses CHAP on discovery, so a portal
    # stored with CHAP, as AddTargetPortal stores one on a target that asks for it, is written here)
    initial_state = {
        "test_remove_chap_portal": lambda: {
            "Version": 1, "PersistentTargets": [],
            "TargetPortals": [{"Address": a, "Port": int(env("MCSI_TGT_PORT")), "ChapAccount": user}
                              for a in ("127.0.0.1", "127.0.0.2")],
            "Targets": [{"TargetName": chap_iqn, "Portals": [{"Address": "127.0.0.1", "Port": int(env("MCSI_TGT_PORT")),
                                                               "Tpgt": 1}],
                         "DiscoveredThrough": [tgt_portal(), tgt_portal("127.0.0.2")]}]},
    }

    def login(self, target=plain, portal=None, **extra):
        r = self.c.call("LoginToTarget", dict({"TargetName": target, "TargetPortal": portal or tgt_portal()}, **extra))
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", r)
        return result(r)["UniqueSessionId"]

    # ---- RemoveTargetPortal of a portal stored with CHAP -------------------------------------------------

    def test_remove_chap_portal(self):
        t, c = self.t, self.c
        stored = result(c.call("ListTargetPortals")).get("TargetPortals", [])
        t.ok(len(stored) == 2 and all(p.get("ChapAccount") == user for p in stored),
             "two portals stored with their ChapAccount", stored)
        t.is_(len(result(c.call("ListTargets")).get("Targets", [])), 1, "... and a target found through them")
        r = c.call("RemoveTargetPortal", {"TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_SUCCESS", "RemoveTargetPortal \"host:port\" of a portal stored with CHAP removes it")
        left = result(c.call("ListTargetPortals")).get("TargetPortals", [])
        t.ok(len(left) == 1 and left[0].get("Address") == "127.0.0.2", "... ListTargetPortals shows the other", left)
        listed = dict(left[0], Tpgt=1)
        t.ok(listed.get("ChapAccount"), "the other, as listed, carries ChapAccount", listed)
        r = c.call("RemoveTargetPortal", {"TargetPortal": listed})
        t.status(r, "ISDSC_SUCCESS", "RemoveTargetPortal of the object as listed (ChapAccount, Tpgt; no secret)")
        t.is_(result(c.call("ListTargetPortals")).get("TargetPortals"), [], "... ListTargetPortals is empty")
        t.is_(result(c.call("ListTargets")).get("Targets"), [], "... and the target known through them went")
        with open(os.path.join(self.d.state, "state.json")) as f:
            t.is_(json.load(f).get("TargetPortals"), [], "... and state.json no longer has them")
        r = c.call("RemoveTargetPortal", {"TargetPortal": dict(listed, Bogus=1)})
        t.ok("error" in r and r["error"].get("code") == -32602, "an unknown key in a portal is still invalid params", r)

    # ---- sessions addressed by their target name ---------------------------------------------------------

    def test_session_by_target_name(self):
        t, c = self.t, self.c
        r = c.call("GetSessionInfo", {"UniqueSessionId": plain})
        t.status(r, "ISDSC_INVALID_SESSION_ID", "a target name with no session: ISDSC_INVALID_SESSION_ID")
        t.ok(plain in result(r).get("StatusMessage", ""), "... the message names the target", result(r))
        sid = self.login()
        r = c.call("GetSessionInfo", {"UniqueSessionId": plain})
        t.status(r, "ISDSC_SUCCESS", "GetSessionInfo by target name")
        t.is_(result(r).get("Session", {}).get("UniqueSessionId"), sid, "... is that session")
        r = c.call("AddConnectionToSession", {"UniqueSessionId": plain, "TargetPortal": tgt_portal("127.0.0.2")})
        t.status(r, "ISDSC_SUCCESS", "AddConnectionToSession by target name")
        t.is_(session(c, sid).get("ConnectionCount"), 2, "... added to that session")
        sid2 = self.login()
        r = c.call("LogoutFromTarget", {"UniqueSessionId": plain})
        t.status(r, "ISDSC_INVALID_SESSION_ID", "two sessions of the target: ambiguous, ISDSC_INVALID_SESSION_ID")
        msg = result(r).get("StatusMessage", "")
        t.ok("0x%016x" % sid in msg and "0x%016x" % sid2 in msg, "... the message names both sessions", msg)
        t.is_(len(result(c.call("SessionList")).get("Sessions", [])), 2, "... and both are still there")
        t.status(c.call("LogoutFromTarget", {"UniqueSessionId": sid2}), "ISDSC_SUCCESS", "logout of one by id")
        t.status(c.call("LogoutFromTarget", {"UniqueSessionId": plain}), "ISDSC_SUCCESS",
                 "LogoutFromTarget by target name once it is unambiguous")
        t.is_(result(c.call("SessionList")).get("Sessions"), [], "... no session left")
        r = c.call("GetSessionInfo", {"UniqueSessionId": "not-a-name"})
        t.ok("error" in r and r["error"].get("code") == -32602, "a string that is neither an id nor a name: invalid params")

    # ---- tgt's MaxConnections=1 --------------------------------------------------------------------------

    def test_max_connections_hint(self):
        t, c = self.t, self.c
        tid = tid_of(plain)
        t.ok(tid, "tgtadm shows the plain target's tid")
        tgtadm("--op", "update", "--mode", "target", "--tid", str(tid), "--name", "MaxConnections", "--value", "1")
        try:
            sid = self.login()
        finally:
            tgtadm("--op", "update", "--mode", "target", "--tid", str(tid), "--name", "MaxConnections", "--value", "4")
        t.is_(session(c, sid).get("Negotiated", {}).get("MaxConnections"), 1, "tgt negotiated MaxConnections=1")
        r = c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal("127.0.0.2")})
        t.status(r, "ISDSC_TOO_MANY_CONNECTIONS", "a second connection: ISDSC_TOO_MANY_CONNECTIONS")
        msg = result(r).get("StatusMessage", "")
        t.ok("one connection per session" in msg, "the message says the target allows one connection per session", msg)
        t.ok("tgtadm" in msg and "--name MaxConnections --value" in msg, "... and how tgt raises it", msg)
        c.call("LogoutFromTarget", {"UniqueSessionId": sid})

    # ---- the wanted number of connections ----------------------------------------------------------------

    def drop_connection(self, sid, cid):
        """tgt closes one connection of the session (from the target side, as a path drop)."""
        s = session(self.c, sid)
        tsih = s.get("TSIH", 0)
        tgt_sid = ((tsih & 0xff) << 8) | (tsih >> 8)
        wire_cid = [x["CID"] for x in s.get("Connections", []) if x["UniqueConnectionId"] == cid][0]
        return tgtadm("--op", "delete", "--mode", "conn", "--tid", str(tid_of(plain)), "--sid", str(tgt_sid),
                      "--cid", str(wire_cid))

    def test_wanted_connections(self):
        t, c = self.t, self.c
        sid = self.login()
        s = session(c, sid)
        t.is_(s.get("WantedConnections"), 1, "a new session wants the connection it logged in with")
        listed = result(c.call("SessionList")).get("Sessions", [{}])[0]
        t.is_(listed.get("WantedConnections"), 1, "SessionList shows WantedConnections")
        r = c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal("127.0.0.2")})
        t.status(r, "ISDSC_SUCCESS", "AddConnectionToSession")
        t.is_(result(r).get("WantedConnections"), 2, "... answers WantedConnections 2")
        t.ok("wanted connections: 2 (was 1)" in result(r).get("StatusMessage", ""), "... and says so",
             result(r).get("StatusMessage"))
        r = c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal()})
        t.is_(result(r).get("WantedConnections"), 3, "a third: WantedConnections 3")
        r = c.call("AttachPolicy", {"UniqueSessionId": sid, "PolicyScript": "failover",
                                    "Options": {"portals": [tgt_portal(), tgt_portal("127.0.0.2")], "interval_ms": 200}})
        t.status(r, "ISDSC_SUCCESS", "AttachPolicy failover without a connections option (keeps the wanted count)")
        time.sleep(1.0)
        t.is_(healthy(c, sid), 3, "failover keeps the three")

        victim = [x["UniqueConnectionId"] for x in session(c, sid)["Connections"] if not x["Leading"]][-1]
        r = c.call("RemoveConnectionFromSession", {"UniqueSessionId": sid, "UniqueConnectionId": victim})
        t.status(r, "ISDSC_SUCCESS", "an admin's RemoveConnectionFromSession")
        t.is_(result(r).get("WantedConnections"), 2, "... answers WantedConnections 2")
        t.ok("wanted connections: 2 (was 3)" in result(r).get("StatusMessage", ""), "... and says so",
             result(r).get("StatusMessage"))
        time.sleep(2.0)   # ten policy periods
        s = session(c, sid)
        t.ok(s.get("ConnectionCount") == 2 and healthy(c, sid) == 2 and s.get("WantedConnections") == 2,
             "2 s (10 policy periods) later failover has NOT added it back", s.get("ConnectionCount"))

        victim = [x["UniqueConnectionId"] for x in session(c, sid)["Connections"] if not x["Leading"]][-1]
        drop = self.drop_connection(sid, victim)
        t.ok(drop.returncode == 0, "tgt drops a connection (a path failure)", drop.stderr)
        t.ok(wait_for(lambda: victim not in [x["UniqueConnectionId"] for x in session(c, sid)["Connections"]
                                             if x["State"] == "active"], 5), "... the connection is gone")
        t.ok(wait_for(lambda: healthy(c, sid) == 2, 10), "after a path drop failover adds it back (2 healthy)",
             session(c, sid).get("Connections"))
        t.is_(session(c, sid).get("WantedConnections"), 2, "... and the wanted count stays 2")

        r = c.call("SetWantedConnections", {"UniqueSessionId": sid, "Connections": 3})
        t.status(r, "ISDSC_SUCCESS", "SetWantedConnections 3")
        t.is_(result(r).get("WantedConnections"), 3, "... answers WantedConnections 3")
        t.ok(wait_for(lambda: healthy(c, sid) == 3, 10), "failover grows the session to the new count")
        t.status(c.call("SetWantedConnections", {"UniqueSessionId": sid, "Connections": 0}), "ISDSC_INVALID_PARAMETER",
                 "SetWantedConnections 0: ISDSC_INVALID_PARAMETER")
        t.status(c.call("SetWantedConnections", {"UniqueSessionId": 999999, "Connections": 2}), "ISDSC_INVALID_SESSION_ID",
                 "SetWantedConnections of no session: ISDSC_INVALID_SESSION_ID")
        c.call("LogoutFromTarget", {"UniqueSessionId": sid})

    def test_login_with_connections(self):
        t, c, d = self.t, self.c, self.d
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Connections": 3})
        t.status(r, "ISDSC_SUCCESS", "LoginToTarget with Connections 3")
        out = result(r)
        sid = out.get("UniqueSessionId")
        t.ok(len(out.get("UniqueConnectionIds", [])) == 3 and out.get("WantedConnections") == 3,
             "... answers its 3 connections and WantedConnections 3", out)
        s = session(c, sid)
        t.ok(s.get("ConnectionCount") == 3 and s.get("WantedConnections") == 3, "... the session has and wants 3")
        t.is_(list(tgt_sessions(plain, d.iqn).values()), [3], "tgtadm: one session of 3 connections")
        c.call("LogoutFromTarget", {"UniqueSessionId": sid})
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Connections": 33})
        t.status(r, "ISDSC_INVALID_PARAMETER", "Connections 33: ISDSC_INVALID_PARAMETER")
        t.is_(result(c.call("SessionList")).get("Sessions"), [], "... and no session made")

    def test_wanted_survives_restart(self):
        t, c, d = self.t, self.c, self.d
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal(), tgt_portal("127.0.0.2")],
                                             "Connections": 3})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget with 3 connections")
        sid = result(r).get("UniqueSessionId")
        t.is_(session(c, sid).get("WantedConnections"), 3, "the session wants the target's Connections")
        victim = [x["UniqueConnectionId"] for x in session(c, sid)["Connections"] if not x["Leading"]][-1]
        r = c.call("RemoveConnectionFromSession", {"UniqueSessionId": sid, "UniqueConnectionId": victim})
        t.is_(result(r).get("WantedConnections"), 2, "RemoveConnectionFromSession: WantedConnections 2")
        e = result(c.call("ListPersistentTargets")).get("PersistentTargets", [{}])[0]
        t.is_(e.get("Connections"), 2, "the persistent target stores Connections 2")
        with open(os.path.join(d.state, "state.json")) as f:
            t.is_(json.load(f)["PersistentTargets"][0].get("Connections"), 2, "... in state.json")
        d.kill9()
        d.start()
        c = self.c = self.client()
        got = wait_for(lambda: [s for s in result(c.call("SessionList")).get("Sessions", [])
                                if s.get("ConnectionCount") == 2 and
                                all(x["State"] == "active" for x in s["Connections"])], 20)
        t.ok(got, "after kill -9 and a restart the session is back with 2 connections", got)
        t.is_(got and got[0].get("WantedConnections"), 2, "... and wants 2")
        sid = got[0]["UniqueSessionId"] if got else 0
        r = c.call("SetWantedConnections", {"UniqueSessionId": plain, "Connections": 3})
        t.status(r, "ISDSC_SUCCESS", "SetWantedConnections 3 (by target name)")
        e = result(c.call("ListPersistentTargets")).get("PersistentTargets", [{}])[0]
        t.is_(e.get("Connections"), 3, "... the persistent target stores 3")
        c.call("RemovePersistentTarget", {"TargetName": plain})
        c.call("LogoutFromTarget", {"UniqueSessionId": sid})

    # ---- PersistentLoginTarget adopting a live session; RemovePersistentTarget and its exports -------------

    def test_persistent_adopts_live_session(self):
        t, c, d = self.t, self.c, self.d
        portals = [tgt_portal(), tgt_portal("127.0.0.2")]
        sid = self.login()
        c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal("127.0.0.2")})
        t.is_(list(tgt_sessions(plain, d.iqn).values()), [2], "tgtadm: one session of 2 connections before")
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": portals, "Connections": 3})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget of a target with a live session")
        out = result(r)
        t.ok(out.get("Adopted") is True and out.get("UniqueSessionId") == sid, "... adopts that session", out)
        t.ok(out.get("ConnectionCount") == 3 and out.get("WantedConnections") == 3 and
             len(out.get("UniqueConnectionIds", [])) == 1, "... adds the one connection missing, wants 3", out)
        t.ok("kept" in out.get("StatusMessage", "") and "1 connection added" in out.get("StatusMessage", ""),
             "... and says what it did", out.get("StatusMessage"))
        t.is_(list(tgt_sessions(plain, d.iqn).values()), [3], "tgtadm: still ONE session, now of 3 connections")
        t.is_(len(result(c.call("SessionList")).get("Sessions", [])), 1, "SessionList: one session")
        t.is_(session(c, sid).get("Persistent"), True, "... now persistent")

        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": portals, "Connections": 1})
        out = result(r)
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget again with Connections 1")
        t.ok(out.get("UniqueSessionId") == sid and out.get("ConnectionCount") == 1 and out.get("WantedConnections") == 1,
             "... applied live: the same session, 1 connection, wants 1", out)
        t.ok("2 removed" in out.get("StatusMessage", ""), "... and says so", out.get("StatusMessage"))
        t.is_(list(tgt_sessions(plain, d.iqn).values()), [1], "tgtadm: one session of 1 connection")
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": portals, "Connections": 2})
        t.ok(result(r).get("UniqueSessionId") == sid and result(r).get("ConnectionCount") == 2,
             "Connections 2: the same session grows to 2", result(r))
        t.is_(list(tgt_sessions(plain, d.iqn).values()), [2], "tgtadm: one session of 2 connections")
        t.is_(result(c.call("ListPersistentTargets")).get("PersistentTargets", [{}])[0].get("Connections"), 2,
              "the stored Connections follow")
        c.call("RemovePersistentTarget", {"TargetName": plain})
        c.call("LogoutFromTarget", {"UniqueSessionId": sid})

    def test_remove_persistent_removes_exports(self):
        t, c, d = self.t, self.c, self.d
        lun = int(env("MCSI_TGT_FILE_LUN"))
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Connections": 1,
                                             "Exports": [{"Lun": lun, "Socket": "gone.sock"}]})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget with an export")
        sid = result(r).get("UniqueSessionId")
        up = wait_for(lambda: [x for x in result(c.call("ListExports")).get("Exports", []) if x.get("State") == "up"], 20)
        t.ok(up, "its export is up", result(c.call("ListExports")))
        path = os.path.join(d.export_dir, "gone.sock")
        t.ok(os.path.exists(path), "its socket exists")
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": lun, "Socket": "mine.sock"})
        t.status(r, "ISDSC_SUCCESS", "an export of the session made by ExportLun (not the entry's)")
        t.status(c.call("RemovePersistentTarget", {"TargetName": plain}), "ISDSC_SUCCESS", "RemovePersistentTarget")
        left = result(c.call("ListExports")).get("Exports", [])
        t.is_([os.path.basename(x.get("Socket", "")) for x in left], ["mine.sock"], "the entry's export is gone (ExportLun's stays with the session)")
        t.ok(not os.path.exists(path), "... its socket removed")
        t.is_(session(c, sid).get("State"), "active", "the session stays until logged out")
        t.status(c.call("LogoutFromTarget", {"UniqueSessionId": sid}), "ISDSC_SUCCESS", "LogoutFromTarget")
        t.is_(result(c.call("ListExports")).get("Exports"), [], "ListExports is empty after the logout")
        t.ok(not os.path.exists(os.path.join(d.export_dir, "mine.sock")), "... no socket left")


if __name__ == "__main__":
    mcsid_test.main()
