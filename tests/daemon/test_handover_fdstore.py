#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_handover_fdstore.py: `systemctl restart` keeping the sessions through
the service manager's file descriptor store, with a small fake service
manager (no systemd PID 1 here): a NOTIFY_SOCKET datagram socket that takes
FDSTORE=1/FDNAME= with SCM_RIGHTS and FDSTOREREMOVE=1, and starts mcsid again
with the stored fds at 3.. and LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, as
systemd does for a unit with FileDescriptorStoreMax=.

- Upgrade {"ViaFdStore": true} then SIGTERM (what systemctl restart sends):
  the old mcsid stores every socket and a state memfd and exits 0 without a
  logout; the new one, started with them, serves the same session (same TSIH,
  ISID, 4 connections; tgtadm shows the very same connections: no login),
  the data reads back, fio (nbd engine, verify) keeps its one NBD connection
  through the restart with no error, and the store is emptied (FDSTOREREMOVE);
- an ordinary SIGTERM (systemctl stop: not armed) still logs the session out
  and stores nothing;
- Upgrade {"ViaFdStore": true} without a service manager ($NOTIFY_SOCKET) is
  refused (ISDSC_REQUEST_NOT_SUPPORTED).
    python3 tests/daemon/test_handover_fdstore.py TestHandoverFdStore.test_restart_keeps_sessions"""
import array
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import Daemon, result, tgt_portal, env, wait_for  # noqa: E402
from test_handover import HandoverDaemon, read, sessions, shape, target_view, write  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
LUN = int(env("MCSI_TGT_FILE_LUN"))


class FakeServiceManager:
    """systemd's side of sd_notify and the fd store, for one service."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.store = []          # [(name, fd)] in the order stored
        self.said = []           # every datagram's text

    def close(self):
        for _, fd in self.store:
            os.close(fd)
        self.store = []
        self.sock.close()

    def receive(self, timeout):
        """One datagram (its fds stored or removed as it says); its text, or None at the timeout."""
        self.sock.settimeout(timeout)
        try:
            msg, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(64 * 4))
        except socket.timeout:
            return None
        fds = array.array("i")
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        text = msg.decode(errors="replace")
        fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
        if fields.get("FDSTORE") == "1":
            for fd in fds:
                self.store.append((fields.get("FDNAME", "stored"), fd))
        else:
            for fd in fds:
                os.close(fd)
        if fields.get("FDSTOREREMOVE") == "1":
            keep = []
            for name, fd in self.store:
                if name == fields.get("FDNAME"):
                    os.close(fd)
                else:
                    keep.append((name, fd))
            self.store = keep
        self.said.append(text)
        return text

    def drain(self, until, timeout=15):
        """Datagrams until until(text) says so (True) or the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.receive(max(0.01, deadline - time.monotonic()))
            if text is not None and until(text):
                return True
        return False

    def start(self, argv, logf):
        """argv with the stored fds at 3.. and LISTEN_* (LISTEN_PID: the shell's pid, which exec keeps)."""
        fds = [fd for _, fd in self.store]
        names = [name for name, _ in self.store]

        def place():
            top = 3 + len(fds) + max(fds + [0]) + 16
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, top) for fd in fds]
            for i, h in enumerate(high):
                os.dup2(h, 3 + i, inheritable=True)

        environ = dict(os.environ, NOTIFY_SOCKET=self.path, LISTEN_FDS=str(len(fds)),
                       LISTEN_FDNAMES=":".join(names))
        return subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', "sh"] + argv,
                                env=environ, preexec_fn=place, close_fds=False, stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=logf)


def start_under_manager(case, d, prefix):
    """Starts daemon d with $NOTIFY_SOCKET naming a new FakeServiceManager (removed at
    the case's cleanup, with its directory); returns the manager."""
    import tempfile
    tmp = tempfile.mkdtemp(prefix=prefix)
    case.addCleanup(shutil.rmtree, tmp, True)
    fm = FakeServiceManager(os.path.join(tmp, "notify"))
    case.addCleanup(fm.close)
    os.environ["NOTIFY_SOCKET"] = fm.path
    try:
        d.start()
    finally:
        del os.environ["NOTIFY_SOCKET"]
    return fm


class TestHandoverFdStore(mcsid_test.DaemonCase):
    start_daemon = False

    def manager(self, d):
        return start_under_manager(self, d, "mcsid-fdstore.")

    def login(self, d):
        c = d.client()
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal(), tgt_portal("127.0.0.2")],
                                             "Connections": 4, "PolicyScript": "failover.lua",
                                             "Exports": [{"Lun": LUN, "Socket": "s.sock", "ExportName": "s"}]})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget %r" % (r,))
        self.assertTrue(wait_for(lambda: sessions(c).get(plain, {}).get("ConnectionCount") == 4, 20),
                        "setup: 4 connections: %r" % (sessions(c),))
        self.assertTrue(wait_for(lambda: [x for x in result(c.call("ListExports")).get("Exports", [])
                                          if x.get("State") == "up"], 20), "setup: the export is up")
        return c

    def test_restart_keeps_sessions(self):
        t = self.t
        d = HandoverDaemon(config={"nbd_plain_tcp": "yes"}, name="fdstore")
        self.addCleanup(self._finish_case_daemon, d)
        fm = self.manager(d)
        t.ok(fm.drain(lambda s: "READY=1" in s), "mcsid tells the (fake) service manager it is ready")
        c = self.login(d)
        sid = sessions(c)[plain]["UniqueSessionId"]
        data = os.urandom(8 * 512)
        t.is_(write(c, sid, 5000, data), "ISDSC_SUCCESS", "a pattern written before the restart")
        before = sessions(c)
        view = target_view(d.iqn)
        t.is_(sum(v.count("Connection:") for v in view), 4, "tgt shows the session's 4 connections")
        fio = None
        if shutil.which("fio"):
            out = os.path.join(d.dir, "fio.json")
            uri = "nbd+unix:///s?socket=" + os.path.join(d.export_dir, "s.sock")
            fio = subprocess.Popen(["fio", "--name=fdstore", "--ioengine=nbd", "--uri=" + uri, "--rw=randwrite",
                                    "--bs=4k", "--iodepth=32", "--size=16M", "--offset=64M", "--verify=crc32c",
                                    "--verify_backlog=64", "--time_based", "--runtime=6", "--output-format=json",
                                    "--output=" + out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True, cwd=d.dir)
            time.sleep(1.5)
        t.status(c.call("Upgrade", {"ViaFdStore": True}), "ISDSC_SUCCESS", "Upgrade {ViaFdStore: true} arms SIGTERM")
        c.close()
        old = d.proc
        t0 = time.monotonic()
        old.send_signal(signal.SIGTERM)                     # systemctl restart: stop ...
        try:
            rc = old.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        while fm.receive(0.2) is not None:                  # what it stored
            pass
        names = [n for n, _ in fm.store]
        t.is_(rc, 0, "the old mcsid exits 0")
        t.ok("logging out" not in d.log_text(), "... without logging out")
        t.ok("mcsid-state" in names, "it stored the state memfd (%d fds stored)" % len(names))
        t.ok(sum(n.startswith("mcsid-fd-") for n in names) >= 4 + 1 + 1,
             "and its sockets: 4 connections, the control socket, the export's socket, fio's (%s)" % names)
        logf = open(d.log, "a")
        d.proc = fm.start([d.exe, "--socket", d.socket, "--state-dir", d.state, "--config", d.conf], logf)  # ... start
        logf.close()
        t.ok(fm.drain(lambda s: "READY=1" in s), "the new mcsid says it is ready")
        t.note("restart: %.0f ms from SIGTERM to READY=1" % ((time.monotonic() - t0) * 1000))
        t.ok(not fm.store or fm.drain(lambda s: not fm.store, 5),
             "the new mcsid emptied the store (%s)" % [n for n, _ in fm.store])
        c = d.client()
        now = sessions(c)
        t.is_(shape(now), shape(before), "the same TSIH, ISID and 4 connections")
        t.is_(target_view(d.iqn), view, "tgt shows the very same session and connections (no login)")
        nsid = now.get(plain, {}).get("UniqueSessionId")
        t.ok(read(c, nsid, 5000, 8) == data, "the pattern reads back through the new mcsid")
        t.ok(now.get(plain, {}).get("Persistent"), "the session is still persistent")
        if fio:
            err = fio.communicate(timeout=120)[1]
            t.is_(fio.returncode, 0, "fio went on through the restart without an error (%s)" % err.strip()[-300:])
            try:
                with open(out) as f:
                    job = json.load(f)["jobs"][0]
                t.ok(job["error"] == 0 and job["write"]["io_bytes"] > 0, "fio wrote and verified %d MiB"
                     % (job["write"]["io_bytes"] >> 20))
                t.note("fio: longest completion %.1f ms across the restart" % (job["write"]["clat_ns"]["max"] / 1e6))
            except (OSError, ValueError, KeyError, IndexError) as e:
                t.ok(False, "fio's report reads (%s)" % e)
            t.ok("NBD clients go on with their export" in d.log_text(), "the log says the NBD client went on")
        else:
            t.skip("no fio")
        c.call("RemovePersistentTarget", {"TargetName": plain})
        c.close()
        # systemctl stop: not armed, the ordinary stop
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        while fm.receive(0.2) is not None:
            pass
        t.is_(rc, 0, "an ordinary SIGTERM: mcsid exits 0")
        t.is_([n for n, _ in fm.store], [], "... and stores nothing")
        t.is_(target_view(d.iqn), [], "... after logging the session out")

    def test_needs_a_service_manager(self):
        t = self.t
        d = Daemon(name="fdstore-none")
        self.addCleanup(self._finish_case_daemon, d)
        saved = os.environ.pop("NOTIFY_SOCKET", None)
        try:
            d.start()
        finally:
            if saved is not None:
                os.environ["NOTIFY_SOCKET"] = saved
        c = d.client()
        r = c.call("Upgrade", {"ViaFdStore": True})
        t.status(r, "ISDSC_REQUEST_NOT_SUPPORTED", "Upgrade {ViaFdStore: true} without $NOTIFY_SOCKET is refused")
        t.ok("NOTIFY_SOCKET" in json.dumps(r), "and says why (%s)" % json.dumps(r)[:200])
        c.close()


if __name__ == "__main__":
    mcsid_test.main()
