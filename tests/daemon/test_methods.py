#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_methods.py: every mcsid method against real tgt and istgt, through a
client written with Python's json + socket only. Each result carries Status,
StatusName, StatusMessage beside its outputs.

One mcsid for the class; each case makes its own sessions and portals and
removes them, so that any case runs alone:
    python3 tests/daemon/test_methods.py TestMethods.test_tgt_session"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import result, tgt_portal, istgt_portal, env  # noqa: E402

plain, ist = env("MCSI_TGT_IQN_PLAIN"), env("MCSI_ISTGT_IQN")


class TestMethods(mcsid_test.DaemonCase):
    daemon_name = "methods"

    def login(self, c, target, portal, **extra):
        """A session for a case's setup (not a check), logged out when the case ends."""
        r = c.call("LoginToTarget", dict({"TargetName": target, "TargetPortal": portal}, **extra))
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", r)
        sid = result(r)["UniqueSessionId"]
        self.addCleanup(c.call, "LogoutFromTarget", {"UniqueSessionId": sid})
        return sid

    def test_get_version(self):
        t, c, d = self.t, self.client(), self.d
        r = c.call("GetVersion")
        t.status(r, "ISDSC_SUCCESS", "GetVersion answers ISDSC_SUCCESS")
        v = result(r)
        t.ok(v.get("Version") and v.get("ProtocolVersion") == 1 and v.get("InitiatorName") == d.iqn,
             "GetVersion: version, protocol 1, the configured initiator name", v)
        t.ok(set(v.get("Methods", [])) >= {"LoginToTarget", "Subscribe", "PersistentLoginTarget"},
             "GetVersion lists the methods")
        t.ok(v.get("Status") == 0 and v.get("StatusMessage"), "a result has Status 0 and a StatusMessage")

    def test_discovery(self):
        """SendTargets, then the stored portal lists; the portal is removed at the end."""
        t, c, d = self.t, self.client(), self.d
        r = c.call("SendTargets", {"TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_SUCCESS", "SendTargets on tgt")
        names = [x["TargetName"] for x in result(r).get("Targets", [])]
        t.ok(plain in names, "SendTargets lists the plain tgt target", names)
        port = int(env("MCSI_TGT_PORT"))
        first = result(r).get("Targets", [{}])[0].get("Portals", [{}])[0]
        t.ok(first.get("Port") == port and first.get("Address") and "Tpgt" in first,
             "a discovered portal is {Address, Port, Tpgt}", first)
        r = c.call("SendTargets", {"TargetPortal": {"Address": "127.0.0.1", "Port": int(env("MCSI_ISTGT_PORT"))}})
        t.ok(ist in [x["TargetName"] for x in result(r).get("Targets", [])], "SendTargets on istgt, portal as an object")
        r = c.call("SendTargets", {"TargetPortal": "127.0.0.1:%s" % env("MCSI_FREE_PORT"), "LoginTimeoutMs": 2000})
        t.status(r, "ISDSC_CONNECTION_FAILED", "SendTargets on a closed port: a result with a failing Status")
        t.ok(r.get("result", {}).get("StatusMessage") and "error" not in r, "... with its own message, not an error")
        t.is_(result(c.call("ListTargetPortals")).get("TargetPortals"), [],
              "ListTargetPortals: none before AddTargetPortal")

        r = c.call("AddTargetPortal", {"TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_SUCCESS", "AddTargetPortal contacts tgt")
        t.ok(plain in [x["TargetName"] for x in result(r).get("Targets", [])], "AddTargetPortal answers what it found")
        r = c.call("AddTargetPortal", {"TargetPortal": "127.0.0.1:%s" % env("MCSI_FREE_PORT"), "LoginTimeoutMs": 2000})
        t.status(r, "ISDSC_CONNECTION_FAILED", "AddTargetPortal of a dead portal fails")
        r = c.call("ListTargetPortals")
        t.is_(result(r).get("TargetPortals"), [{"Address": "127.0.0.1", "Port": port}],
              "ListTargetPortals: the portal that answered only")
        r = c.call("ListTargets")
        t.ok(plain in [x["TargetName"] for x in result(r).get("Targets", [])], "ListTargets: the discovered targets")
        with open(os.path.join(d.state, "state.json")) as f:
            t.ok(plain in f.read(), "the portal and its targets are in state.json")

        r = c.call("RemoveTargetPortal", {"TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_SUCCESS", "RemoveTargetPortal")
        t.is_(result(c.call("ListTargets")).get("Targets"), [], "ListTargets: its targets went with it")
        t.status(c.call("RemoveTargetPortal", {"TargetPortal": tgt_portal()}), "ISDSC_PORTAL_NOT_FOUND",
                 "RemoveTargetPortal again: ISDSC_PORTAL_NOT_FOUND")

    def test_tgt_session(self):
        """A session on tgt with three connections: information, SCSI, policies, removal, logout."""
        t, c = self.t, self.client()
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_SUCCESS", "LoginToTarget tgt")
        sid, cid = result(r).get("UniqueSessionId"), result(r).get("UniqueConnectionId")
        t.ok(isinstance(sid, int) and isinstance(cid, int) and sid > 0, "LoginToTarget answers the two ids", r)
        r = c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal("127.0.0.2")})
        t.status(r, "ISDSC_SUCCESS", "AddConnectionToSession through 127.0.0.2")
        cid2 = result(r).get("UniqueConnectionId")
        r = c.call("AddConnectionToSession", {"UniqueSessionId": str(sid), "TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_SUCCESS", "AddConnectionToSession with the id as a decimal string")
        cid3 = result(r).get("UniqueConnectionId")

        r = c.call("GetSessionInfo", {"UniqueSessionId": "0x%x" % sid})
        t.status(r, "ISDSC_SUCCESS", "GetSessionInfo (id as a 0x string)")
        s = result(r).get("Session", {})
        t.is_(s.get("TargetName"), plain, "GetSessionInfo: TargetName")
        t.is_(s.get("ConnectionCount"), 3, "GetSessionInfo: 3 connections")
        conns = s.get("Connections", [])
        t.is_(sorted(x["UniqueConnectionId"] for x in conns), sorted([cid, cid2, cid3]), "GetSessionInfo: their ids")
        st = conns[0].get("Statistics", {}) if conns else {}
        t.ok(st.get("BytesSent", 0) > 0 and st.get("PDUsReceived", 0) > 0, "connection statistics (bytes, PDUs)", st)
        t.ok(s.get("Negotiated", {}).get("MaxConnections") == 4, "negotiated values (MaxConnections 4)",
             s.get("Negotiated"))

        r = c.call("ScsiReportLuns", {"UniqueSessionId": sid})
        t.status(r, "ISDSC_SUCCESS", "ScsiReportLuns")
        t.ok(1 in result(r).get("Luns", []) and 2 in result(r).get("Luns", []), "ScsiReportLuns: LUNs 1 and 2", r)
        r = c.call("ScsiInquiry", {"UniqueSessionId": sid, "Lun": 1})
        t.status(r, "ISDSC_SUCCESS", "ScsiInquiry LUN 1")
        t.ok(result(r).get("PeripheralDeviceType") == 0 and result(r).get("VendorId"), "ScsiInquiry: a disk, a vendor", r)
        r = c.call("ScsiInquiry", {"UniqueSessionId": sid, "Lun": 1, "PageCode": 0x80})
        t.status(r, "ISDSC_SUCCESS", "ScsiInquiry VPD page 0x80 (serial number)")
        r = c.call("ScsiReadCapacity", {"UniqueSessionId": sid, "Lun": 1})
        t.status(r, "ISDSC_SUCCESS", "ScsiReadCapacity LUN 1")
        t.is_(result(r).get("Bytes"), 2 << 30, "ScsiReadCapacity: 2 GiB")
        r = c.call("ScsiReadCapacity", {"UniqueSessionId": sid, "Lun": 9})
        t.status(r, "ISDSC_SCSI_REQUEST_FAILED", "ScsiReadCapacity of a LUN that is not there: a failing Status")

        r = c.call("SetLoadBalancePolicy", {"UniqueSessionId": sid, "LoadBalancePolicy": "least-queue-depth"})
        t.status(r, "ISDSC_SUCCESS", "SetLoadBalancePolicy by name")
        r = c.call("SetLoadBalancePolicy", {"UniqueSessionId": sid, "LoadBalancePolicy": 1,
                                            "Paths": [{"UniqueConnectionId": cid2, "Primary": True}]})
        t.status(r, "ISDSC_SUCCESS", "SetLoadBalancePolicy fail-over-only with a primary path")
        s = result(c.call("GetSessionInfo", {"UniqueSessionId": sid})).get("Session", {})
        prim = [x["UniqueConnectionId"] for x in s.get("Connections", []) if x.get("Primary")]
        t.ok(s.get("LoadBalancePolicy") == 1 and prim == [cid2], "GetSessionInfo shows the policy and the primary", s)
        r = c.call("SetLoadBalancePolicy", {"UniqueSessionId": sid, "LoadBalancePolicy": 9})
        t.status(r, "ISDSC_INVALID_LOAD_BALANCE_POLICY", "policy 9: ISDSC_INVALID_LOAD_BALANCE_POLICY")

        r = c.call("RemoveConnectionFromSession", {"UniqueSessionId": sid, "UniqueConnectionId": cid3})
        t.status(r, "ISDSC_SUCCESS", "RemoveConnectionFromSession")
        r = c.call("RemoveConnectionFromSession", {"UniqueSessionId": sid, "UniqueConnectionId": cid3})
        t.status(r, "ISDSC_INVALID_CONNECTION_ID", "the same again: ISDSC_INVALID_CONNECTION_ID")
        r = c.call("RemoveConnectionFromSession", {"UniqueSessionId": sid, "UniqueConnectionId": cid})
        t.status(r, "ISDSC_CANNOT_REMOVE_LEADING_CONNECTION", "the leading one: ISDSC_CANNOT_REMOVE_LEADING_CONNECTION")

        r = c.call("LogoutFromTarget", {"UniqueSessionId": sid})
        t.status(r, "ISDSC_SUCCESS", "LogoutFromTarget tgt")
        r = c.call("LogoutFromTarget", {"UniqueSessionId": sid})
        t.status(r, "ISDSC_INVALID_SESSION_ID", "LogoutFromTarget again: ISDSC_INVALID_SESSION_ID")
        t.is_(result(c.call("SessionList")).get("Sessions"), [], "SessionList: none left")

    def test_istgt_session_and_events(self):
        """istgt beside a tgt session: two connections with header digests; both sessions
        listed; Subscribe, then a connection added and removed is heard. (One case: an
        istgt logout takes a second, and this file made one.)"""
        t, c = self.t, self.client()
        sid = self.login(c, plain, tgt_portal())
        r = c.call("LoginToTarget", {"TargetName": ist, "TargetPortal": istgt_portal(), "HeaderDigest": "CRC32C"})
        t.status(r, "ISDSC_SUCCESS", "LoginToTarget istgt with HeaderDigest CRC32C")
        sid2 = result(r).get("UniqueSessionId")
        self.addCleanup(c.call, "LogoutFromTarget", {"UniqueSessionId": sid2})   # if the case stops early
        r = c.call("AddConnectionToSession", {"UniqueSessionId": sid2, "TargetPortal": istgt_portal("127.0.0.2")})
        t.status(r, "ISDSC_SUCCESS", "AddConnectionToSession istgt")
        r = c.call("ScsiReadCapacity", {"UniqueSessionId": sid2, "Lun": 0})
        t.is_(result(r).get("Bytes"), 128 << 20, "ScsiReadCapacity istgt LUN 0: 128 MiB")
        r = c.call("ScsiInquiry", {"UniqueSessionId": sid2})
        t.status(r, "ISDSC_SUCCESS", "ScsiInquiry istgt LUN 0")
        s = result(c.call("GetSessionInfo", {"UniqueSessionId": sid2})).get("Session", {})
        t.ok(all(x.get("HeaderDigest") == "CRC32C" for x in s.get("Connections", [])) and s.get("ConnectionCount") == 2,
             "istgt: 2 connections with CRC32C header digests", s)

        r = c.call("SessionList")
        ids = sorted(x["UniqueSessionId"] for x in result(r).get("Sessions", []))
        t.is_(ids, sorted([sid, sid2]), "SessionList: both sessions")
        r = c.call("LoginToTarget", {"TargetName": "iqn.2026-11.org.example:none", "TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_TARGET_NOT_FOUND", "LoginToTarget of an unknown target: ISDSC_TARGET_NOT_FOUND")

        ev = self.client()
        t.status(ev.call("Subscribe", {"Kinds": ["conn-active", "conn-removed"]}), "ISDSC_SUCCESS",
                 "Subscribe to two kinds")
        r = c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal()})
        cid4 = result(r).get("UniqueConnectionId")
        e = ev.wait_event(lambda p: p["Kind"] == "conn-active" and p["UniqueConnectionId"] == cid4)
        t.ok(e and e["UniqueSessionId"] == sid and e["NewState"] == "active" and e["StatusName"] == "ISDSC_SUCCESS",
             "an Event notification: Kind, ids, NewState, Status", e)
        c.call("RemoveConnectionFromSession", {"UniqueSessionId": sid, "UniqueConnectionId": cid4})
        e = ev.wait_event(lambda p: p["Kind"] == "conn-removed" and p["UniqueConnectionId"] == cid4)
        t.ok(e and e["OldState"] is not None, "conn-removed heard, with its old state", e)
        t.ok(not [x for x in ev.events if x["params"]["Kind"] not in ("conn-active", "conn-removed")],
             "only the subscribed kinds arrive", ev.events)
        t.status(ev.call("Unsubscribe"), "ISDSC_SUCCESS", "Unsubscribe")
        c.call("LogoutFromTarget", {"UniqueSessionId": sid2})
        try:
            extra = ev.read_message(0.5)
        except OSError:
            extra = None
        t.ok(extra is None, "after Unsubscribe nothing arrives", extra)
        r = c.call("Subscribe", {"Kinds": ["no-such-kind"]})
        t.is_(r.get("error", {}).get("code"), -32602, "Subscribe to an unknown kind: invalid params (-32602)")

    def test_persistent_login(self):
        t, c = self.t, self.client()
        r = c.call("LoginToTarget", {"TargetName": ist, "TargetPortal": istgt_portal(), "IsPersistent": True})
        t.status(r, "ISDSC_SUCCESS", "LoginToTarget with IsPersistent (istgt)")
        psid = result(r).get("UniqueSessionId")
        e = result(c.call("ListPersistentTargets")).get("PersistentTargets", [{}])[0]
        t.ok(e.get("TargetName") == ist and e.get("Connections") == 1 and e.get("UniqueSessionId") == psid and
             e.get("Portals") == [{"Address": "127.0.0.1", "Port": int(env("MCSI_ISTGT_PORT"))}],
             "... is a persistent target of one connection, its portal stored as {Address, Port}", e)
        s = result(c.call("GetSessionInfo", {"UniqueSessionId": psid})).get("Session", {})
        t.is_(s.get("Persistent"), True, "GetSessionInfo: Persistent true")
        t.status(c.call("RemovePersistentTarget", {"TargetName": ist}), "ISDSC_SUCCESS", "RemovePersistentTarget")
        t.status(c.call("LogoutFromTarget", {"UniqueSessionId": psid}), "ISDSC_SUCCESS",
                 "... its session stays until logged out")
        t.status(c.call("RemovePersistentTarget", {"TargetName": plain}), "ISDSC_TARGET_NOT_FOUND",
                 "RemovePersistentTarget of none: ISDSC_TARGET_NOT_FOUND")
        t.is_(result(c.call("ListPersistentTargets")).get("PersistentTargets"), [], "ListPersistentTargets: none")


if __name__ == "__main__":
    mcsid_test.main()
