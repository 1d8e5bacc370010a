#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_upgrade_running.py: `mcsid --upgrade-running --socket PATH`, the
unit's ExecReload (`systemctl reload mcsid`), against a real mcsid with a
(fake) service manager on $NOTIFY_SOCKET (tests/sh/test_systemd.sh does the
same under a real systemd):

- with a persistent 2-connection session on tgt: it exits 0 only once the
  successor serves, printing the successor's pid; the old process has
  exited 0 by then (or does at once); the successor told the service manager
  MAINPID=<its pid> and READY=1 in one datagram; the same TSIH, ISID and
  connections (tgtadm shows the very same: no login), the data reads back;
  the successor read the configuration again (log_level notice -> debug);
- a successor that refuses (the configuration made invalid): exit 1 with the
  Status and why ("goes on serving") on stderr, no MAINPID= to the service
  manager, the old process serves on, its session unchanged; the successor
  was started as the service manager's child (CLONE_PARENT: systemd then
  supervises a successor as its own, waits for it at a stop): the (fake)
  manager reaps its exit 1; with the configuration mended, the next reload
  works;
- Upgrade {"Wait": true, "ViaFdStore": true} is refused (INVALID_PARAMETER);
- against an mcsid older than Wait (a fake one answering "invalid params"):
  a plain Upgrade, then, once the new binary answers, Upgrade with Wait
  again (exit 0 with that successor's pid); nothing on the socket: exit 3.
The client runs under MCSI_MCSID_WRAPPER like the daemon (test_service_unit.sh:
ExecReload confined as the unit says).
    python3 tests/daemon/test_upgrade_running.py TestUpgradeRunning.test_reload_hands_over"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import result, tgt_portal, env, wait_for  # noqa: E402
from test_handover import HandoverDaemon, read, sessions, shape, target_view, write  # noqa: E402
from test_handover_fdstore import start_under_manager  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
LUN = int(env("MCSI_TGT_FILE_LUN"))


def upgrade_running(exe, sock, timeout=90):
    """mcsid --upgrade-running (under the daemon's wrapper): (exit code, stdout, stderr, seconds)."""
    wrapper = os.environ.get("MCSI_MCSID_WRAPPER", "").split()
    t0 = time.monotonic()
    p = subprocess.run(wrapper + [exe, "--upgrade-running", "--socket", sock], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


class TestUpgradeRunning(mcsid_test.DaemonCase):
    start_daemon = False

    def start(self, config=None):
        d = HandoverDaemon(config=dict({"log_level": "notice"}, **(config or {})), name="reload")
        self.addCleanup(self._finish_case_daemon, d)
        fm = start_under_manager(self, d, "mcsid-reload.")
        self.assertTrue(fm.drain(lambda s: "READY=1" in s), "setup: READY=1")
        c = d.client()
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal()], "Connections": 2})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget %r" % (r,))
        self.assertTrue(wait_for(lambda: sessions(c).get(plain, {}).get("ConnectionCount") == 2, 20),
                        "setup: 2 connections: %r" % (sessions(c),))
        return d, fm, c

    def said(self, fm):
        """Everything the service manager was told since the last call."""
        out = []
        while True:
            text = fm.receive(0.2)
            if text is None:
                return out
            out.append(text)

    def test_reload_hands_over(self):
        t = self.t
        d, fm, c = self.start()
        sid = sessions(c)[plain]["UniqueSessionId"]
        data = os.urandom(4 * 512)
        t.is_(write(c, sid, 3000, data), "ISDSC_SUCCESS", "a pattern written before the reload")
        before, view = sessions(c), target_view(d.iqn)
        c.call("GetVersion")
        c.close()
        debug_before = "debug:" in d.log_text()
        d.write_config(dict(d.config, log_level="debug"))   # the successor reads the configuration again
        old = d.proc
        self.said(fm)
        rc, out, err, secs = upgrade_running(d.exe, d.socket)
        t.note("mcsid --upgrade-running: %.0f ms" % (secs * 1000))
        t.is_(rc, 0, "mcsid --upgrade-running exits 0 (%s)" % (out + err).strip()[-300:])
        pid = int(out.split("pid ")[1].split()[0]) if "pid " in out else None
        t.ok(pid and pid != old.pid, "it names the successor's pid (%s; the old one was %d)" % (pid, old.pid))
        t.is_(d.follow(old, pid, 5), 0, "the old mcsid has exited 0 (it answered just before)")
        told = self.said(fm)
        t.ok("MAINPID=%s\nREADY=1" % pid in told, "the successor told the service manager MAINPID=%s and READY=1 (%r)"
             % (pid, told))
        c = d.client()
        t.is_(shape(sessions(c)), shape(before), "the same TSIH, ISID and 2 connections")
        t.is_(target_view(d.iqn), view, "tgt shows the very same session and connections (no login)")
        nsid = sessions(c).get(plain, {}).get("UniqueSessionId")
        t.ok(read(c, nsid, 3000, 4) == data, "the pattern reads back through the successor")
        seen = len(d.log_text())
        c.call("GetVersion")
        t.ok(not debug_before and wait_for(lambda: "debug:" in d.log_text()[seen:], 5),
             "the successor read the configuration again (log_level notice -> debug)")
        c.call("RemovePersistentTarget", {"TargetName": plain})
        c.close()

    def test_refused_goes_on(self):
        t = self.t
        d, fm, c = self.start()
        before, view = sessions(c), target_view(d.iqn)
        c.close()
        good = dict(d.config)
        with open(d.conf, "a") as f:
            f.write("a line without an equals sign\n")   # the successor refuses to start
        old = d.proc
        self.said(fm)
        rc, out, err, secs = upgrade_running(d.exe, d.socket)
        t.is_(rc, 1, "mcsid --upgrade-running exits 1 when the successor refuses (%.0f ms)" % (secs * 1000))
        t.ok("ISDSC_NON_SPECIFIC_ERROR" in err and "goes on serving" in err and "before serving" in err,
             "it says so, with the Status and why (%s)" % err.strip()[-400:])
        t.ok("refused the handover" in err and "mcsid.conf:" in err and "key = value" in err,
             "the answer carries the successor's own reason (the configuration line it refused)")
        t.ok(old.poll() is None, "the old mcsid is still running")
        m = re.findall(r"successor \S+ started as pid (\d+)", d.log_text())
        try:
            status = os.waitpid(int(m[-1]), 0)[1] if m else None
            code = os.waitstatus_to_exitcode(status) if status is not None else None
        except ChildProcessError:
            code = "not ours"
        t.is_(code, 1, "the successor was the service manager's child, not the old mcsid's (CLONE_PARENT): the "
              "manager reaps its exit 1")
        t.ok(not [s for s in self.said(fm) if "MAINPID=" in s], "the service manager heard of no new main pid")
        c = d.client()
        t.is_(shape(sessions(c)), shape(before), "the session is unchanged")
        t.is_(target_view(d.iqn), view, "tgt shows the very same session and connections")
        r = c.call("Upgrade", {"Wait": True, "ViaFdStore": True})
        t.status(r, "ISDSC_INVALID_PARAMETER", "Upgrade {Wait, ViaFdStore} is refused")
        c.close()
        d.write_config(good)
        rc, out, err, secs = upgrade_running(d.exe, d.socket)
        t.is_(rc, 0, "with the configuration mended, the next reload hands over (%s)" % (out + err).strip()[-200:])
        t.is_(d.follow(old, int(out.split("pid ")[1].split()[0]) if "pid " in out else None, 5), 0,
              "... and the old mcsid exits 0")
        c = d.client()
        t.is_(shape(sessions(c)), shape(before), "the same session after it")
        c.call("RemovePersistentTarget", {"TargetName": plain})
        c.close()

    def test_older_daemon_and_none(self):
        t = self.t
        tmp = tempfile.mkdtemp(prefix="mcsid-old.")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
        path = os.path.join(tmp, "old.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(4)
        srv.settimeout(20)
        asked = []

        def older_mcsid():   # an mcsid before Upgrade's Wait, then (handed over) this one
            handed = False
            for _ in range(3):
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                with conn:
                    req = json.loads(conn.makefile().readline())
                    asked.append(req)
                    ok = {"Status": 0, "StatusName": "ISDSC_SUCCESS", "StatusMessage": "Success"}
                    if "Wait" in req.get("params", {}) and not handed:
                        ans = {"jsonrpc": "2.0", "id": req["id"], "error": {
                            "code": -32602, "message": "invalid params: Upgrade has no parameter Wait"}}
                    elif handed:
                        ans = {"jsonrpc": "2.0", "id": req["id"], "result": dict(ok, Pid=4242)}
                    else:
                        handed = True
                        ans = {"jsonrpc": "2.0", "id": req["id"], "result": ok}
                    conn.sendall((json.dumps(ans) + "\n").encode())

        th = threading.Thread(target=older_mcsid)
        th.start()
        rc, out, err, _ = upgrade_running(mcsid_test.MCSID, path)
        th.join(25)
        srv.close()
        t.is_(rc, 0, "an older mcsid (no Wait): exit 0 (%s)" % (out + err).strip()[-300:])
        t.is_([r.get("params", {}) for r in asked], [{"Wait": True}, {}, {"Wait": True}],
              "asked with Wait, then a plain Upgrade, then with Wait the binary it handed over to (its successor: "
              "the service manager's child)")
        t.ok("pid 4242 serves" in out, "it names the last successor's pid (%s)" % out.strip())
        rc, out, err, _ = upgrade_running(mcsid_test.MCSID, os.path.join(tmp, "none.sock"))
        t.is_(rc, 3, "no mcsid on the socket: exit 3 (%s)" % err.strip()[-200:])


if __name__ == "__main__":
    mcsid_test.main()
