#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_handover_edges.py: edges of a handover (issue 17, the "frozen"
slice). A handover the successor refuses leaves nothing half handed over, is
not retried behind the administrator's back, and the next one works; a
connection login that hangs does not stop a handover.

- a persistent 2-connection session on tgt with an export and a libnbd client
  reading and writing through it all along; the binary on disk refuses once
  (exit 3), then is mcsid again. Upgrade {"Wait": true} answers
  ISDSC_NON_SPECIFIC_ERROR saying the successor exited 3 and the running
  mcsid goes on serving, the log says the same; the old process serves on:
  the NBD client goes on (not paused), the session reads (not frozen), a new
  control client is answered (the listener is served), no second successor is
  started by itself. A second Upgrade right after succeeds: the same TSIH and
  ISID, tgt shows the very same connections, the NBD client goes on through
  it without an error;
- a handover that first found the session busy (a READ the fake target
  answers BUSY, in its back-off), then was refused by its successor, leaves
  no count behind: the next handover, busy at first too, counts its
  attempts from 1 (before, the busy attempts of the refused one were
  counted against it, and a later handover gave up that many attempts
  early); the log says what kept the session busy (before: only "a session
  could not be exported").
- a persistent target whose second portal swallows logins (it accepts TCP
  and never answers; login_timeout_ms 30 s): its keeper's add hangs there
  when Upgrade {"Wait": true} comes. The handover aborts that login after
  its wait and succeeds, the same TSIH; before, every attempt found the
  session busy and it was given up after 20 (a reload failed while a portal
  was unreachable).
    python3 tests/daemon/test_handover_edges.py TestHandoverEdges.test_refused_then_again"""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import result, tgt_portal, env, wait_for  # noqa: E402
from test_handover import HandoverDaemon, read, sessions, shape, target_view  # noqa: E402
from test_io_policy import FAKE, Fake  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
LUN = int(env("MCSI_TGT_FILE_LUN"))
BUSY_LINE = re.compile(r"handover: attempt (\d+) of \d+: a session could not be exported \(.*\); this process "
                       r"goes on serving")

# A libnbd client on one connection: writes a block, reads it back, over and over, until the
# file STOP exists; after each round it writes its count to COUNT. Exit 0 when nothing failed.
NBD_CLIENT = r"""
import nbd, os, sys
uri, stop, count = sys.argv[1], sys.argv[2], sys.argv[3]
h = nbd.NBD()
h.connect_uri(uri)
n, errors = 0, []
while not os.path.exists(stop):
    data = bytes(((n + i) * 13) & 0xff for i in range(4096))
    try:
        h.pwrite(data, (300 << 20) + (n % 64) * 4096)
        if h.pread(4096, (300 << 20) + (n % 64) * 4096) != data:
            errors.append("round %d: read back differs" % n)
    except nbd.Error as e:
        errors.append(str(e))
        break
    n += 1
    with open(count + ".new", "w") as f:
        f.write(str(n))
    os.rename(count + ".new", count)
h.shutdown()
print("%d rounds, %d failed %s" % (n, len(errors), errors[:1]))
sys.exit(1 if errors else 0)
"""


def nbd_python():
    return next((p for p in ("/usr/bin/python3", "python3")
                 if subprocess.run([p, "-c", "import nbd"], cwd="/", capture_output=True).returncode == 0), None)


class TestHandoverEdges(mcsid_test.DaemonCase):
    start_daemon = False

    def daemon(self, config=None):
        d = HandoverDaemon(config=config, name="edges")
        self.addCleanup(self._finish_case_daemon, d)
        d.start()
        return d

    def install(self, d, script):
        """The binary on disk becomes script (the next successor runs it)."""
        with open(d.exe + ".new", "w") as f:
            f.write(script)
        os.chmod(d.exe + ".new", 0o755)
        os.rename(d.exe + ".new", d.exe)

    def started(self, d):
        return len(re.findall(r"handover: \d+ sessions exported, successor \S+ started as pid", d.log_text()))

    def test_refused_then_again(self):
        t = self.t
        py = nbd_python()
        if not py:
            t.skip("python3-libnbd missing (bash tools/deps.sh)")
            return
        d = self.daemon()
        c = d.client()
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal(), tgt_portal("127.0.0.2")],
                                             "Connections": 2,
                                             "Exports": [{"Lun": LUN, "Socket": "r.sock", "ExportName": "r"}]})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget %r" % (r,))
        self.assertTrue(wait_for(lambda: sessions(c).get(plain, {}).get("ConnectionCount") == 2, 20),
                        "setup: 2 connections")
        self.assertTrue(wait_for(lambda: [x for x in result(c.call("ListExports")).get("Exports", [])
                                          if x.get("State") == "up"], 20), "setup: the export is up")
        before, view = sessions(c), target_view(d.iqn)
        sid = before[plain]["UniqueSessionId"]
        stop, count = os.path.join(d.dir, "stop"), os.path.join(d.dir, "count")
        client = subprocess.Popen([py, "-c", NBD_CLIENT, "nbd+unix:///r?socket=" + os.path.join(d.export_dir, "r.sock"),
                                   stop, count], cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: client.poll() is None and client.kill())

        def rounds():
            try:
                with open(count) as f:
                    return int(f.read() or 0)
            except (OSError, ValueError):
                return 0
        self.assertTrue(wait_for(lambda: rounds() > 20, 20), "setup: the NBD client works")
        marker = os.path.join(d.dir, "refused-once")
        self.install(d, "#!/bin/sh\nif [ ! -e %s ]; then : > %s; exit 3; fi\nexec %s \"$@\"\n"
                     % (marker, marker, mcsid_test.MCSID))
        old = d.proc
        r = c.call("Upgrade", {"Wait": True}, timeout=60)
        t.status(r, "ISDSC_NON_SPECIFIC_ERROR", "the first Upgrade is answered with the refusal")
        msg = str(result(r).get("StatusMessage", r)) if isinstance(r, dict) else str(r)
        t.ok("exited 3" in msg and "goes on serving" in msg,
             "its answer says the successor exited 3 and the running mcsid goes on serving (%s)" % msg)
        t.ok("this process goes on serving" in d.log_text() and "the successor" in d.log_text(),
             "the log says so too")
        t.ok(old.poll() is None, "the old mcsid still runs")
        n0 = rounds()
        t.ok(wait_for(lambda: rounds() >= n0 + 20, 10), "the NBD client goes on through the old mcsid (not paused: "
             "%d rounds, then %d)" % (n0, rounds()))
        t.ok(len(read(c, sid, 100, 8)) == 8 * 512, "the session reads (not frozen)")
        c2 = d.client(timeout=10)
        t.ok(result(c2.call("GetVersion")).get("Version"), "a new control client is answered (the listener is "
             "still served by the old mcsid)")
        c2.close()
        time.sleep(1.0)
        t.is_(self.started(d), 1, "no successor was started again by itself (the refusal is the administrator's to "
              "retry)")
        r = c.call("Upgrade", {"Wait": True}, timeout=60)
        t.status(r, "ISDSC_SUCCESS", "a second Upgrade right after succeeds")
        pid = result(r).get("Pid") if isinstance(r, dict) else None
        t.ok(pid and pid != old.pid, "it names the successor's pid (%s)" % (pid,))
        t.is_(d.follow(old, pid), 0, "the old mcsid exits 0")
        c.close()
        c = d.client()
        t.is_(shape(sessions(c)), shape(before), "the same TSIH, ISID and 2 connections")
        t.is_(target_view(d.iqn), view, "tgt shows the very same session and connections (no login, no logout)")
        n1 = rounds()
        t.ok(wait_for(lambda: rounds() >= n1 + 20, 10), "the NBD client goes on through the successor")
        open(stop, "w").close()
        try:
            out, _ = client.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            client.kill()
            out, _ = client.communicate()
        t.is_(client.returncode, 0, "the NBD client saw no error, on one connection throughout (%s)" % out.strip())
        c.call("RemovePersistentTarget", {"TargetName": plain})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        c.close()

    def test_attempts_after_refusal(self):
        t = self.t
        if not os.access(FAKE, os.X_OK):
            t.skip("build/tests/fake-target is not built (make)")
            return
        d = self.daemon()
        fake = Fake()
        self.addCleanup(fake.stop)
        c = d.client()
        r = c.call("LoginToTarget", {"TargetName": fake.iqn, "TargetPortal": fake.portal}, timeout=20)
        sid = result(r).get("UniqueSessionId")
        self.assertTrue(sid, "setup: LoginToTarget of the fake target %r" % (r,))

        def upgrade_while_busy():
            """A READ answered BUSY 4 times (re-sent after 10, 20, 40, 80 ms) is in flight when Upgrade starts:
            the first attempt finds the session busy. Returns (the answer, the log lines of the attempts)."""
            fake.storm("busy", 4)
            a = d.client(timeout=60)
            a.send("ScsiRead", {"UniqueSessionId": sid, "Lun": 0, "Lba": 0, "Blocks": 1})
            time.sleep(0.03)                       # in its back-off now: 120 ms more, the export waits 100
            seen = len(d.log_text())
            r = c.call("Upgrade", {"Wait": True}, timeout=60)
            a.close()
            return r, BUSY_LINE.findall(d.log_text()[seen:])

        self.install(d, "#!/bin/sh\nexit 3\n")
        r, tries = upgrade_while_busy()
        t.status(r, "ISDSC_NON_SPECIFIC_ERROR", "busy first, then refused by the successor")
        t.ok(tries and tries[0] == "1", "the refused handover had found the session busy first (attempts %s)" % tries)
        t.ok("commands wait for a re-send's back-off" in d.log_text(),
             "the log says what kept the session busy")
        self.install(d, "#!/bin/sh\nexec %s \"$@\"\n" % mcsid_test.MCSID)
        old = d.proc
        r, tries = upgrade_while_busy()
        t.status(r, "ISDSC_SUCCESS", "the next Upgrade, busy first too, hands over")
        t.ok(tries and tries[0] == "1", "it counts its attempts from 1, none from the refused one (attempts %s)"
             % tries)
        d.follow(old, result(r).get("Pid") if isinstance(r, dict) else None)
        c.close()
        c = d.client()
        r = c.call("ScsiRead", {"UniqueSessionId": sid, "Lun": 0, "Lba": 0, "Blocks": 1})
        t.status(r, "ISDSC_SUCCESS", "the session reads through the successor")
        c.call("LogoutFromTarget", {"UniqueSessionId": sid})
        c.close()

    def test_hanging_join_aborted(self):
        t = self.t
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)                          # the kernel completes the handshakes; nobody says a word
        self.addCleanup(silent.close)
        portal = "127.0.0.1:%d" % silent.getsockname()[1]
        d = self.daemon(config={"login_timeout_ms": "30000"})
        c = d.client()
        c.send("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal(), portal], "Connections": 2})
        c2 = d.client()
        self.assertTrue(wait_for(lambda: sessions(c2).get(plain, {}).get("State") == "active"
                                 and ("conn-logging-in" in d.log_text() and portal in d.log_text()), 20),
                        "setup: the session, its second connection logging in to the silent portal: %r"
                        % (sessions(c2).get(plain),))
        before, view = sessions(c2), target_view(d.iqn)
        old = d.proc
        t0 = time.monotonic()
        r = c2.call("Upgrade", {"Wait": True}, timeout=60)
        secs = time.monotonic() - t0
        t.status(r, "ISDSC_SUCCESS", "Upgrade succeeds while the keeper's login to the silent portal hangs (%.0f ms)"
                 % (secs * 1000))
        t.ok("the login to %s was aborted: the session is being handed to another process" % portal in d.log_text(),
             "the log says the hanging login was aborted")
        d.follow(old, result(r).get("Pid") if isinstance(r, dict) else None)
        c.close()
        c2.close()
        c = d.client()
        t.is_(shape(sessions(c)), shape(before), "the same TSIH, ISID and connection")
        t.is_(target_view(d.iqn), view, "tgt shows the very same session and connection (no login, no logout)")
        c.call("RemovePersistentTarget", {"TargetName": plain})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        c.close()


if __name__ == "__main__":
    mcsid_test.main()
