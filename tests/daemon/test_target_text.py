#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_target_text.py: text from a target that is not valid UTF-8 never drops
an answer, an event or a session: mcsid escapes each invalid byte as \\xHH
(daemon/json_text.c) wherever target text becomes JSON.

Targets: build/tests/fake-target (tests/c/fake_target.c as a process) with a
TargetAlias and a SendTargets TargetName chosen here, and one that redirects
every login to an address that is not UTF-8 (the login fails with a message
quoting it); and the harness's tgtd, on which this test makes a target of its
own (tid 9: a LUN whose INQUIRY vendor, product and revision are not UTF-8)
and removes it at the end. (tgt takes such a RedirectAddress but then does
not redirect.)

Without the escape: the caller and every subscriber are disconnected (a
NULL answer or event closes them), SessionList leaves the session out, and
ScsiInquiry answers without VendorId.

One mcsid and the tid 9 target for the class; each case has its own caller
and subscriber, so that any case runs alone:
    python3 tests/daemon/test_target_text.py TestTargetText.test_redirect"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test as m  # noqa: E402

FAKE = os.path.join(m.BUILD, "tests", "fake-target")
ALIAS = b"caf\xe9 \xff alias"                       # Latin-1 and a byte no UTF-8 has
ALIAS_TEXT = "caf\\xe9 \\xff alias"
EXTRA = b"iqn.2026-11.org.mcsi:bad\xc3(\xed\xa0\x80"  # a cut character, a surrogate
EXTRA_TEXT = "iqn.2026-11.org.mcsi:bad\\xc3(\\xed\\xa0\\x80"
EXTRA_ADDRESS = b"10.0.0.\xff\xc0:3261,7"           # where SendTargets says it is
EXTRA_PORTAL = {"Address": "10.0.0.\\xff\\xc0", "Port": 3261, "Tpgt": 7}
REDIRECT = b"127.0.0.1:\xff\xfe"                   # a bad port: refused before any name lookup
REDIRECT_TEXT = "127.0.0.1:\\xff\\xfe"
TID_INQ = 9
IQN_INQ = "iqn.2026-11.org.mcsi.test:text-inquiry"


def tgtadm(*args, check=True):
    env = dict(os.environ, TGT_IPC_SOCKET=m.env("MCSI_TGT_IPC"))
    r = subprocess.run(["tgtadm", "-C", "0", "--lld", "iscsi"] + list(args), env=env, capture_output=True)
    if check and r.returncode:
        raise RuntimeError("tgtadm %s: %s" % (" ".join(str(a) for a in args), r.stderr.decode(errors="replace")))
    return r


def make_tgt_targets(workdir):
    lun = os.path.join(workdir, "inq.img")
    with open(lun, "wb") as f:
        f.truncate(8 << 20)
    tgtadm("--op", "new", "--mode", "target", "--tid", str(TID_INQ), "--targetname", IQN_INQ)
    tgtadm("--op", "new", "--mode", "logicalunit", "--tid", str(TID_INQ), "--lun", "1", "--backing-store", lun)
    tgtadm("--op", "update", "--mode", "logicalunit", "--tid", str(TID_INQ), "--lun", "1", "--params",
           b"vendor_id=V\xffN,product_id=P\xfe\xc3,product_rev=\xe2\x82")
    tgtadm("--op", "bind", "--mode", "target", "--tid", str(TID_INQ), "--initiator-address", "ALL")


def remove_tgt_targets():
    tgtadm("--op", "delete", "--mode", "target", "--tid", str(TID_INQ), "--force", check=False)


def start_fake(*args):
    p = subprocess.Popen([FAKE] + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    portal, iqn = p.stdout.readline().decode().split()
    return p, portal, iqn


def alive(t, c, name):
    """The client is still connected and answered."""
    r = m.result(c.call("GetVersion", timeout=10))
    return t.is_(r.get("StatusName"), "ISDSC_SUCCESS", name)


class TestTargetText(m.DaemonCase):
    daemon_name = "text"

    @classmethod
    def setUpClass(cls):
        if not os.access(FAKE, os.X_OK):
            raise RuntimeError("build/tests/fake-target is not built (make)")
        m.env("MCSI_TGT_IPC")
        super().setUpClass()
        work = tempfile.mkdtemp(prefix="mcsi-text.")
        cls.addClassCleanup(subprocess.run, ["rm", "-rf", work])
        cls.addClassCleanup(remove_tgt_targets)
        make_tgt_targets(work)

    def run_part(self, part):
        """A subscriber (a check) and a caller, then part(t, sub, c). An OSError is
        the daemon closing a client, what the escape prevents."""
        t = self.t
        sub = self.client()
        t.status(sub.call("Subscribe", {}), "ISDSC_SUCCESS", "a subscriber")
        c = self.client()
        try:
            part(t, sub, c)
        except OSError as e:
            t.ok(False, "%s: no client is disconnected" % part.__name__, repr(e))

    def fake_target_part(self, t, sub, c):
        fake, portal, iqn = start_fake("--alias", ALIAS, "--extra-target", EXTRA, "--extra-address", EXTRA_ADDRESS)
        try:
            r = c.call("SendTargets", {"TargetPortal": portal}, timeout=20)
            t.status(r, "ISDSC_SUCCESS", "SendTargets with a TargetName that is not UTF-8: answered")
            targets = m.result(r).get("Targets", [])
            names = [x.get("TargetName") for x in targets]
            t.ok(EXTRA_TEXT in names and iqn in names, "both names listed, the bad bytes as \\xHH", names)
            portals = [x.get("Portals") for x in targets if x.get("TargetName") == EXTRA_TEXT]
            t.is_(portals, [[EXTRA_PORTAL]], "its address (not UTF-8 either) escaped")
            r = c.call("AddTargetPortal", {"TargetPortal": portal}, timeout=20)
            t.status(r, "ISDSC_SUCCESS", "AddTargetPortal of that portal: answered")
            names = [x.get("TargetName") for x in m.result(c.call("ListTargets")).get("Targets", [])]
            t.ok(EXTRA_TEXT in names, "ListTargets keeps the escaped name", names)

            r = c.call("LoginToTarget", {"TargetName": iqn, "TargetPortal": portal}, timeout=20)
            t.status(r, "ISDSC_SUCCESS", "LoginToTarget of a target whose TargetAlias is not UTF-8")
            sid = m.result(r).get("UniqueSessionId")
            sessions = m.result(c.call("SessionList")).get("Sessions", [])
            mine = [s for s in sessions if s.get("UniqueSessionId") == sid]
            t.ok(len(mine) == 1, "the session is in SessionList", sessions)
            t.is_(mine[0].get("TargetAlias") if mine else None, ALIAS_TEXT, "its TargetAlias, escaped")
            info = m.result(c.call("GetSessionInfo", {"UniqueSessionId": sid}))
            t.is_(info.get("Session", {}).get("TargetAlias"), ALIAS_TEXT, "GetSessionInfo shows it too")
            ev = sub.wait_event(lambda p: p.get("Kind") == "session-active" and p.get("UniqueSessionId") == sid)
            t.ok(ev is not None, "the subscriber got session-active")
            alive(t, sub, "the subscriber is still connected")
            alive(t, c, "the caller is still connected")
            t.status(c.call("LogoutFromTarget", {"UniqueSessionId": sid}, timeout=20), "ISDSC_SUCCESS", "logout")
        finally:
            fake.stdin.close()
            fake.wait(10)


    def redirect_part(self, t, sub, c):
        fake, portal, iqn = start_fake("--redirect", REDIRECT)
        try:
            r = c.call("LoginToTarget", {"TargetName": iqn, "TargetPortal": portal, "LoginTimeoutMs": 3000}, timeout=20)
            res = m.result(r)
            t.ok(res.get("StatusName") not in (None, "ISDSC_SUCCESS"), "a login redirected to %s fails, answered"
                 % REDIRECT_TEXT, r)
            t.ok(REDIRECT_TEXT in res.get("StatusMessage", ""), "its StatusMessage quotes the address escaped", r)
            alive(t, c, "the caller is still connected")
            alive(t, sub, "the subscriber is still connected")
            reasons = [e["params"].get("Reason", "") for e in sub.events]
            t.ok([x for x in reasons if REDIRECT_TEXT in x], "the subscriber got the event that quotes it", reasons[-6:])
        finally:
            fake.stdin.close()
            fake.wait(10)


    def tgt_targets_part(self, t, sub, c):
        r = c.call("LoginToTarget", {"TargetName": IQN_INQ, "TargetPortal": m.tgt_portal()}, timeout=20)
        t.status(r, "ISDSC_SUCCESS", "LoginToTarget on tgt (a LUN whose INQUIRY strings are not UTF-8)")
        sid = m.result(r).get("UniqueSessionId")
        r = m.result(c.call("ScsiInquiry", {"UniqueSessionId": sid, "Lun": 1}, timeout=20))
        if r.get("StatusName") == "ISDSC_SCSI_REQUEST_FAILED":   # tgt's UNIT ATTENTION of a new session
            r = m.result(c.call("ScsiInquiry", {"UniqueSessionId": sid, "Lun": 1}, timeout=20))
        t.is_(r.get("StatusName"), "ISDSC_SUCCESS", "ScsiInquiry answered")
        t.ok(r.get("VendorId", "").startswith("V\\xffN"), "VendorId escaped", r)
        t.ok(r.get("ProductId", "").startswith("P\\xfe\\xc3"), "ProductId escaped", r)
        t.ok(r.get("ProductRevision", "").startswith("\\xe2\\x82"), "ProductRevision escaped", r)
        t.status(c.call("LogoutFromTarget", {"UniqueSessionId": sid}, timeout=20), "ISDSC_SUCCESS", "logout")

    def test_fake_target(self):
        self.run_part(self.fake_target_part)

    def test_redirect(self):
        self.run_part(self.redirect_part)

    def test_tgt_targets(self):
        self.run_part(self.tgt_targets_part)


if __name__ == "__main__":
    m.main()
