#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_handover.py: mcsid hands its sessions and its control socket to a
new mcsid (SIGUSR2) with no logout and no login at the target.

- a plain session with 2 connections and a persistent one with 2: SIGUSR2
  twice then the Upgrade method; each time the old process exits 0, a new pid
  serves the same socket, SessionList shows the same TSIHs and connection
  counts, tgtadm shows the very same sessions and connections (no login,
  no logout), the data written before reads back and new writes land, the
  persistent session is still kept (Persistent) by the new process;
- fio through an export during three handovers: no error, data verified;
- kill -9 (no handover): the persistent login and export come back at the
  restart and qemu-io (reconnect-delay) goes on; every acknowledged write
  reads back;
- a successor that refuses (the binary on disk replaced by one that exits
  3): the old process keeps serving, its sessions unchanged and working;
- a successor that reads another state version refuses it (exit 3) and
  the old process goes on; so does one given a session blob of a format
  it does not read (version 3: it reads 2 and 1, mcsi 0.3.0's, whose
  reading tests/c/test_handover.c checks);
- ids (issue 17): SessionList's UniqueSessionId and UniqueConnectionIds,
  mcsi-iscsicli SessionList's 0x%016x lines and a persistent export's
  UniqueSessionId are the same before and after every handover; a
  connection the successor adds gets an id above every one it took over,
  and its events name the session by its old id; a persistent export
  keeps its ExportId; the connections' counters (commands, bytes, the
  latency histogram) go on growing instead of starting at 0.

The daemon runs from a copy of mcsid in its directory (the path a handover
starts again). The test process is a child subreaper, so the successors
(children of the process they replace) are its children to wait for:
    python3 tests/daemon/test_handover.py TestHandover.test_three_upgrades"""
import base64
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import Daemon, result, tgt_portal, env, wait_for, BUILD  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
chap = env("MCSI_TGT_IQN_CHAP")
LUN = int(env("MCSI_TGT_FILE_LUN"))
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Pid:
    """A process of ours by pid (a successor the subreaper adopted): what Daemon uses of a Popen."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -999
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = time.time() + (timeout or 3600)
        while self.poll() is None:
            if time.time() > deadline:
                raise subprocess.TimeoutExpired("mcsid", timeout)
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)


class HandoverDaemon(Daemon):
    """A daemon started from its own copy of mcsid (exe), which a test may replace."""

    def __init__(self, config=None, name="handover"):
        super().__init__(config=config, name=name)
        self.exe = os.path.join(self.dir, "mcsid")
        shutil.copy2(mcsid_test.MCSID, self.exe)

    def start(self, wait=True):
        saved = mcsid_test.MCSID
        mcsid_test.MCSID = self.exe
        try:
            return super().start(wait)
        finally:
            mcsid_test.MCSID = saved

    def hand_over(self, timeout=20, method=False):
        """SIGUSR2 (or the Upgrade method); returns (old exit code, new pid or None) once
        the old one exited."""
        old = self.proc
        seen = len(self.log_text())
        if method:
            c = self.client()
            self.upgrade_answer = c.call("Upgrade")
            c.close()
        else:
            old.send_signal(signal.SIGUSR2)
        try:
            rc = old.wait(timeout)
        except subprocess.TimeoutExpired:
            return None, None
        m = re.search(r"handover: pid (\d+) serves", self.log_text()[seen:])
        if not m:
            return rc, None
        self.proc = Pid(int(m.group(1)))
        return rc, self.proc.pid

    def follow(self, old, pid, timeout=10):
        """After an Upgrade answered with the successor's pid: waits for the old process (its
        exit code, None if it is still running after timeout) and makes the successor ours."""
        try:
            rc = old.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        if pid:
            self.proc = Pid(pid)
        return rc


def target_view(initiator):
    """tgtadm's blocks (Session, Connection, Initiator, IP) of this initiator on targets 1 and 2."""
    blocks = []
    for tid in (1, 2):
        out = subprocess.run(["tgtadm", "-C", "0", "--lld", "iscsi", "--op", "show", "--mode", "conn", "--tid",
                              str(tid)], env=dict(os.environ, TGT_IPC_SOCKET=env("MCSI_TGT_IPC")),
                             capture_output=True, text=True).stdout
        blocks += ["%d:%s" % (tid, b) for b in out.split("Session:")[1:] if ("Initiator: " + initiator) in b]
    return sorted(blocks)


def free_port():
    import socket as so
    with so.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drop_every_second(initiator, stop):
    """Drops one connection of the initiator's session on target 1 every second until stop."""
    adm = ["tgtadm", "-C", "0", "--lld", "iscsi"]
    envs = dict(os.environ, TGT_IPC_SOCKET=env("MCSI_TGT_IPC"))
    while not stop:
        time.sleep(1.0)
        out = subprocess.run(adm + ["--op", "show", "--mode", "conn", "--tid", "1"], env=envs,
                             capture_output=True, text=True).stdout
        for block in out.split("Session:")[1:]:
            if ("Initiator: " + initiator) in block:
                sid = block.split()[0]
                cid = block.split("Connection:")[1].split()[0]
                subprocess.run(adm + ["--op", "delete", "--mode", "conn", "--tid", "1", "--sid", sid, "--cid", cid],
                               env=envs, capture_output=True)
                break


SLOW_START_MS = 6000
SLOW_POLICY = """-- slowstart.lua (tests/daemon/test_handover.py): a policy that starts as one on a loaded
-- host does: its entry keeps the runner's loop still for a while; then it repairs nothing.
return function(session_id, opts)
  local t0 = mcsi.now()
  while mcsi.now() - t0 < %d do end
  return { stop = function() end }
end
"""


# An NBD client (Debian's libnbd binding, the system python): keeps DEPTH writes of SIZE
# bytes at OFFSET (the same bytes each time) in flight until the file STOP exists.
OVERLAPPING_WRITER = r"""
import nbd, os, sys
uri, stop, off, size, depth = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
h = nbd.NBD()
h.connect_uri(uri)
data = bytearray((i * 7 + 3) & 0xff for i in range(size))
pending, sent, errors = set(), 0, []
while pending or not os.path.exists(stop):
    while len(pending) < depth and not os.path.exists(stop):
        pending.add(h.aio_pwrite(nbd.Buffer.from_bytearray(data), off))
        sent += 1
    h.poll(100)
    for cmd in list(pending):
        try:
            if h.aio_command_completed(cmd):
                pending.discard(cmd)
        except nbd.Error as e:
            errors.append(str(e))
            pending.discard(cmd)
h.shutdown()
print("%d writes, %d failed %s" % (sent, len(errors), errors[:1]))
sys.exit(1 if errors else 0)
"""


def tgt_conns(initiator):
    """tgtadm's view of the initiator on target 1: {session number: sorted CIDs}."""
    out = subprocess.run(["tgtadm", "-C", "0", "--lld", "iscsi", "--op", "show", "--mode", "conn", "--tid", "1"],
                         env=dict(os.environ, TGT_IPC_SOCKET=env("MCSI_TGT_IPC")), capture_output=True,
                         text=True).stdout
    view = {}
    for block in out.split("Session:")[1:]:          # one block per connection, each naming its session
        if ("Initiator: " + initiator) in block:
            view.setdefault(block.split()[0], []).extend(c.split()[0] for c in block.split("Connection:")[1:])
    return {s: sorted(c) for s, c in view.items()}


def drop_conn(session, cid):
    """tgt drops one connection of a session on target 1 (a plain close, as tests/harness/tgt-drop-conn)."""
    subprocess.run(["tgtadm", "-C", "0", "--lld", "iscsi", "--op", "delete", "--mode", "conn", "--tid", "1",
                    "--sid", str(session), "--cid", str(cid)], env=dict(os.environ, TGT_IPC_SOCKET=env("MCSI_TGT_IPC")),
                   capture_output=True)


def sessions(c):
    return {s["TargetName"]: s for s in result(c.call("SessionList")).get("Sessions", [])}


def shape(ss):
    """What must not change: per target its TSIH, ISID and connection count."""
    return {t: (s.get("TSIH"), s.get("ISID"), s.get("ConnectionCount")) for t, s in ss.items()}


def id_view(ss):
    """What a script holds: per target its UniqueSessionId and its UniqueConnectionIds (sorted)."""
    return {t: (s.get("UniqueSessionId"), sorted(c.get("UniqueConnectionId") for c in s.get("Connections", [])))
            for t, s in ss.items()}


def all_ids(ss):
    return [i for sid, cids in id_view(ss).values() for i in [sid] + cids]


def counters(ss):
    """Per UniqueConnectionId: Commands, BytesSent, BytesReceived and the latency histogram's count."""
    return {c.get("UniqueConnectionId"): tuple(c.get("Statistics", {}).get(k, 0) for k in
                                               ("Commands", "BytesSent", "BytesReceived"))
            + (sum(c.get("Statistics", {}).get("LatencyHistogram", [])),)
            for s in ss.values() for c in s.get("Connections", [])}


def grown(now, then):
    """Every counter of then is there in now, none smaller."""
    return all(k in now and all(a >= b for a, b in zip(now[k], v)) for k, v in then.items())


def cli_ids(d):
    """mcsi-iscsicli SessionList's id lines (Session Id / Connection Id, 0x%016x), in its order."""
    r = subprocess.run([os.path.join(BUILD, "mcsi-iscsicli"), "SessionList", "--socket", d.socket],
                       capture_output=True, text=True, timeout=60)
    return [ln.strip() for ln in r.stdout.splitlines() if re.match(r"\s*(Session|Connection) Id\s*:", ln)]


def write(c, sid, lba, data):
    return result(c.call("ScsiWrite", {"UniqueSessionId": sid, "Lun": LUN, "Lba": lba,
                                       "Data": base64.b64encode(data).decode()})).get("StatusName")


def read(c, sid, lba, blocks):
    r = c.call("ScsiRead", {"UniqueSessionId": sid, "Lun": LUN, "Lba": lba, "Blocks": blocks})
    return base64.b64decode(result(r).get("Data", ""))


class TestHandover(mcsid_test.DaemonCase):
    start_daemon = False

    def daemon(self):
        d = HandoverDaemon(config={"nbd_plain_tcp": "yes"})
        self.addCleanup(self._finish_case_daemon, d)
        d.start()
        return d

    def two_sessions(self, d):
        """A plain session with 2 connections and a persistent one (CHAP target) with 2 (setup)."""
        c = d.client()
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        sid = result(r).get("UniqueSessionId")
        self.assertTrue(sid, "setup: LoginToTarget %r" % (r,))
        r = c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal("127.0.0.2")})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: AddConnectionToSession %r" % (r,))
        r = c.call("PersistentLoginTarget", {"TargetName": chap, "Portals": [tgt_portal(), tgt_portal("127.0.0.2")],
                                             "Connections": 2, "Username": env("MCSI_CHAP_USER"),
                                             "Secret": env("MCSI_CHAP_SECRET")})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget %r" % (r,))
        wait_for(lambda: sessions(c).get(chap, {}).get("ConnectionCount") == 2, 10)
        return c, sid

    def test_three_upgrades(self):
        t = self.t
        import socket as so
        notify = so.socket(so.AF_UNIX, so.SOCK_DGRAM)     # a service manager's NOTIFY_SOCKET, as systemd's
        notify_path = os.path.join(self.tmpdir(), "notify")
        notify.bind(notify_path)
        notify.settimeout(10)
        self.addCleanup(notify.close)
        os.environ["NOTIFY_SOCKET"] = notify_path
        try:
            d = self.daemon()
        finally:
            del os.environ["NOTIFY_SOCKET"]
        t.is_(notify.recv(256).decode(), "READY=1", "mcsid tells the service manager it is ready")
        c, sid = self.two_sessions(d)
        data = os.urandom(8 * 512)
        t.is_(write(c, sid, 4096, data), "ISDSC_SUCCESS", "a pattern written before the first handover")
        psid = sessions(c).get(chap, {}).get("UniqueSessionId")
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": "gone.sock"})
        c.call("UnexportLun", {"ExportId": result(r).get("ExportId")})   # ExportId 1 is used up: the next is 2
        r = c.call("ExportLun", {"UniqueSessionId": psid, "Lun": LUN, "Socket": "ids.sock", "ExportName": "ids",
                                 "IsPersistent": True})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: a persistent export %r" % (r,))
        export_id = result(r).get("ExportId")
        self.assertTrue(export_id and export_id > 1, "setup: the persistent export's ExportId %r" % (r,))
        before = sessions(c)
        ids_before = id_view(before)
        count_before = counters(before)
        t.ok(sum(v[0] for v in count_before.values()) > 0, "the connections have counted commands (%s)" % count_before)
        cli_before = cli_ids(d)
        t.ok(len(cli_before) == 6 and all(re.search(r": 0x[0-9a-f]{16}$", ln) for ln in cli_before) and
             "Session Id             : 0x%016x" % sid in cli_before,
             "mcsi-iscsicli SessionList shows 2 session and 4 connection ids as 0x%%016x (%s)" % cli_before)
        view = target_view(d.iqn)
        t.is_(len({v.split()[0] for v in view}), 2, "tgt shows the 2 sessions")
        t.is_(sum(v.count("Connection:") for v in view), 4, "with 4 connections")
        c.close()
        pids = [d.proc.pid]
        for n in range(1, 4):
            t0 = time.monotonic()
            rc, pid = d.hand_over(method=n == 3)
            if n == 3:
                t.status(d.upgrade_answer, "ISDSC_SUCCESS", "handover 3 through the Upgrade method")
            t.is_(rc, 0, "handover %d: the old mcsid exits 0" % n)
            t.ok(pid and pid not in pids, "handover %d: a new pid serves (%s after %s)" % (n, pid, pids))
            try:
                said = notify.recv(256).decode()
            except OSError as e:
                said = str(e)
            t.is_(said, "MAINPID=%s\nREADY=1" % pid, "handover %d: the new mcsid tells the service manager its pid" % n)
            pids.append(pid)
            c = d.client()
            now = sessions(c)
            t.note("handover %d: %.0f ms from SIGUSR2 to the old one's exit and a SessionList answered"
                   % (n, (time.monotonic() - t0) * 1000))
            t.is_(shape(now), shape(before), "handover %d: the same TSIHs, ISIDs and connection counts" % n)
            t.is_(id_view(now), ids_before, "handover %d: the same UniqueSessionIds and UniqueConnectionIds" % n)
            t.is_(cli_ids(d), cli_before, "handover %d: mcsi-iscsicli SessionList prints the same ids" % n)
            t.ok(grown(counters(now), count_before), "handover %d: every connection's counters go on from where they "
                 "were (commands, bytes, latency histogram: %s)" % (n, counters(now)))
            count_before = counters(now)
            info = result(c.call("GetSessionInfo", {"UniqueSessionId": sid})).get("Session", {})
            t.is_(info.get("TargetName"), plain, "handover %d: GetSessionInfo by the old id finds the session" % n)
            x = wait_for(lambda: [e for e in result(c.call("ListExports")).get("Exports", [])
                                  if e.get("State") == "up"], 20) or [{}]
            t.ok(x[0].get("UniqueSessionId") == ids_before[chap][0] and x[0].get("IsPersistent"),
                 "handover %d: the persistent export is up on the same session id (%s)"
                 % (n, x[0].get("UniqueSessionId")))
            t.is_(x[0].get("ExportId"), export_id, "handover %d: and keeps its ExportId" % n)
            t.is_(target_view(d.iqn), view, "handover %d: tgt shows the same sessions and connections" % n)
            nsid = now.get(plain, {}).get("UniqueSessionId")
            t.ok(read(c, sid, 4096, 8) == data, "handover %d: the pattern reads back (by the id from before)" % n)
            more = os.urandom(4 * 512)
            t.is_(write(c, nsid, 8192 + 8 * n, more), "ISDSC_SUCCESS", "handover %d: a new write" % n)
            t.ok(read(c, nsid, 8192 + 8 * n, 4) == more, "handover %d: reads back" % n)
            t.ok(now.get(chap, {}).get("Persistent"), "handover %d: the CHAP session is still persistent" % n)
            psid = now.get(chap, {}).get("UniqueSessionId")
            t.ok(len(read(c, psid, 0, 1)) == 512, "handover %d: the persistent session reads" % n)
            c.close()
        c = d.client()
        c.call("RemovePersistentTarget", {"TargetName": chap})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        t.is_(target_view(d.iqn), [], "the new mcsid logs the sessions out at the end")

    def test_control_clients_go_on(self):
        """Control clients at a request boundary go with the handover: a subscriber keeps its
        subscription and gets the new process's events, a client's next call is answered on the
        same connection, a request half sent before the handover and finished after is answered;
        a client with a call in flight is closed as before (it reconnects)."""
        t = self.t
        d = self.daemon()
        c = d.client()
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        sid = result(r).get("UniqueSessionId")
        self.assertTrue(sid, "setup: LoginToTarget %r" % (r,))
        for _ in range(40):                    # command tags come from the id counter: the next ids are larger
            read(c, sid, 0, 1)
        r = c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal()})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: a second connection %r" % (r,))
        ids_before = all_ids(sessions(c))
        sub = d.client(timeout=10)
        t.status(sub.call("Subscribe"), "ISDSC_SUCCESS", "a subscriber (every kind)")
        half = d.client(timeout=10)
        half.send_raw(b'{"jsonrpc":"2.0","id":7,"method":"Sessi')
        time.sleep(0.2)                        # read by the old process before the handover
        rc, pid = d.hand_over()
        t.ok(rc == 0 and pid, "the handover happened (old exits %s, pid %s serves)" % (rc, pid))
        half.send_raw(b'onList"}\n')
        try:
            got = half.wait_id(7)
        except OSError as e:
            got = str(e)
        t.ok(isinstance(got, dict) and result(got).get("StatusName") == "ISDSC_SUCCESS"
             and result(got).get("Sessions"), "a request half sent before the handover is answered after it (%s)"
             % str(got)[:200])
        try:
            got = c.call("GetVersion", timeout=10)
        except OSError as e:
            got = str(e)
        t.ok(isinstance(got, dict) and result(got).get("Version"), "a client's next call is answered on the same "
             "connection (%s)" % str(got)[:200])
        now = sessions(c)
        nsid = now.get(plain, {}).get("UniqueSessionId")
        t.is_(nsid, sid, "the session has the same UniqueSessionId after the handover")
        try:
            r = c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal("127.0.0.2")},
                       timeout=20)
        except OSError as e:
            r = str(e)
        t.status(r, "ISDSC_SUCCESS", "a connection added by the new process, to the session by its old id")
        cid = result(r).get("UniqueConnectionId", 0) if isinstance(r, dict) else 0
        t.ok(cid > max(ids_before), "its UniqueConnectionId (%s) is above every id the new process took over (%s)"
             % (cid, ids_before))
        try:
            ev = sub.wait_event(lambda p: True, 10)
        except OSError as e:
            ev = str(e)
        t.ok(isinstance(ev, dict) and ev.get("Kind"), "the subscriber gets the new process's event (%s)" % (ev,))
        t.ok(isinstance(ev, dict) and ev.get("UniqueSessionId") == sid,
             "the event names the session by its id from before the handover (%s)" % (ev,))
        t.ok("control clients go on" in d.log_text(), "the log says the control clients went on")
        for x in (sub, half):
            x.close()
        c.call("LogoutFromTarget", {"UniqueSessionId": nsid})
        c.close()

    def test_nbd_client_goes_on(self):
        """fio (nbd engine: 4 KiB random writes, QD 32, verified as it goes) on a persistent
        export while mcsid hands over three times (MCSI_HANDOVER_ROUNDS): no error, the same
        connection (no new handshake: fio opens it once), the longest completion reported."""
        self.fio_through_handovers(int(os.environ.get("MCSI_HANDOVER_ROUNDS", "3")), drops=False)

    def test_nbd_tcp_client_goes_on(self):
        """The same over a TCP export (Tls off, a fixed port): its listening socket is handed
        too, so the successor never binds the port the old process still holds."""
        self.fio_through_handovers(3, drops=False, tcp=True)

    def test_nbd_client_goes_on_under_drops(self):
        """The same while the target drops one connection of the session every second
        (tgtadm delete conn; failover.lua adds it back): handovers that find a connection
        being replaced are tried again, fio sees no error."""
        self.fio_through_handovers(3, drops=True)

    def fio_through_handovers(self, rounds, drops, tcp=False):
        t = self.t
        if not shutil.which("fio"):
            t.skip("no fio")
            return
        d = self.daemon()
        c = d.client()
        port = free_port()
        spec = ({"Lun": LUN, "Tcp": "127.0.0.1:%d" % port, "Tls": "off", "ExportName": "h"} if tcp
                else {"Lun": LUN, "Socket": "h.sock", "ExportName": "h"})
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal(), tgt_portal("127.0.0.2")],
                                             "Connections": 2, "PolicyScript": "failover.lua",
                                             "Exports": [spec]})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget %r" % (r,))
        up = wait_for(lambda: [x for x in result(c.call("ListExports")).get("Exports", []) if x.get("State") == "up"], 20)
        self.assertTrue(up, "setup: the export is up: %r %r" % (r, c.call("ListExports")))
        sock = os.path.join(d.export_dir, "h.sock")
        psid = sessions(c).get(plain, {}).get("UniqueSessionId")
        c.close()
        out = os.path.join(d.dir, "fio.json")
        uri = "nbd://127.0.0.1:%d/h" % port if tcp else "nbd+unix:///h?socket=" + sock
        fio = subprocess.Popen(["fio", "--name=handover", "--ioengine=nbd", "--uri=" + uri,
                                "--rw=randwrite", "--bs=4k", "--iodepth=32", "--size=16M", "--offset=64M",
                                "--verify=crc32c", "--verify_backlog=64", "--time_based",
                                "--runtime=%d" % (rounds * max(0.2, 5.0 / rounds) + 4),
                                "--output-format=json", "--output=" + out],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               cwd=d.dir)   # fio leaves its verify state there when it fails
        stop = []
        dropper = None
        if drops:
            import threading
            dropper = threading.Thread(target=drop_every_second, args=(d.iqn, stop))
            dropper.start()
        time.sleep(1.0)
        pids = [d.proc.pid]
        started = time.monotonic()
        for n in range(1, rounds + 1):
            rc, pid = d.hand_over(timeout=30)
            t.ok(rc == 0 and pid and pid not in pids, "handover %d under fio: the old exits 0, pid %s serves" % (n, pid))
            pids.append(pid)
            time.sleep(max(0.2, 5.0 / rounds))
        stop.append(1)
        if dropper:
            dropper.join()
        err = fio.communicate(timeout=120)[1]
        t.note("%d handovers in %.1f s" % (rounds, time.monotonic() - started))
        t.is_(fio.returncode, 0, "fio ends without an error (%s)" % err.strip()[-300:])
        try:
            import json
            with open(out) as f:
                job = json.load(f)["jobs"][0]
            w = job["write"]
            t.ok(job["error"] == 0 and w["io_bytes"] > 0, "fio wrote %d MiB, error %d" % (w["io_bytes"] >> 20, job["error"]))
            t.note("fio: %d write IOPS, longest completion %.1f ms across %d handovers%s"
                   % (w["iops"], w["clat_ns"]["max"] / 1e6, rounds, " and connection drops" if drops else ""))
        except (OSError, ValueError, KeyError, IndexError) as e:
            t.ok(False, "fio's report reads (%s)" % e)
        t.ok("NBD clients go on with their export" in d.log_text(), "the log says the NBD client went on")
        c = d.client()
        pol = wait_for(lambda: [p for p in result(c.call("ListPolicies")).get("Policies", [])
                                if p.get("State") == "running"], 10) or []
        t.ok(len(pol) == 1 and pol[0].get("UniqueSessionId") == psid,
             "the keeper's policy runs on the session's id from before the handovers (%s, %s)" % (psid, pol))
        x = [e for e in result(c.call("ListExports")).get("Exports", []) if e.get("State") == "up"]
        now = sessions(c).get(plain, {}).get("UniqueSessionId")
        t.ok(len(x) == 1 and x[0].get("UniqueSessionId") == psid and now == psid,
             "SessionList and the export name the session by that id still (%s)" % now)
        c.call("RemovePersistentTarget", {"TargetName": plain})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        c.close()

    def slow_start_session(self):
        """A daemon whose policy_dir has SLOW_POLICY (its entry keeps the runner's loop still for
        SLOW_START_MS) and a persistent 2-connection session of plain with it as its PolicyScript."""
        policy_dir = self.tmpdir()
        with open(os.path.join(policy_dir, "slowstart.lua"), "w") as f:
            f.write(SLOW_POLICY % SLOW_START_MS)
        d = HandoverDaemon(config={"policy_dir": policy_dir, "policy_instructions": "2000000000",
                                   "policy_cpu_ms": "600000", "policy_cpu_window_ms": "600000"})
        self.addCleanup(self._finish_case_daemon, d)
        d.start()
        c = d.client()
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal(), tgt_portal("127.0.0.2")],
                                             "Connections": 2, "PolicyScript": "slowstart"})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget %r" % (r,))
        self.assertTrue(wait_for(lambda: sessions(c).get(plain, {}).get("ConnectionCount") == 2, 20),
                        "setup: 2 connections: %r" % (sessions(c),))
        return d, c

    def test_repair_backs_off_while_policy_starts(self):
        """While the session's policy starts, a target that refuses logins (tgt unbinds every
        initiator) gets one attempt per back-off (retry_initial_ms, 200 ms here), not a login
        storm; once it takes logins again, the lost connection comes back."""
        t = self.t
        d, c = self.slow_start_session()
        c.close()
        rc, pid = d.hand_over(timeout=30)
        t.ok(rc == 0 and pid, "the handover happened (old exits %s, pid %s serves)" % (rc, pid))
        adm = ["tgtadm", "-C", "0", "--lld", "iscsi", "--mode", "target", "--tid", "1", "-I", "ALL"]
        envs = dict(os.environ, TGT_IPC_SOCKET=env("MCSI_TGT_IPC"))
        subprocess.run(adm + ["--op", "unbind"], env=envs, capture_output=True)
        try:
            tsess, cids = (list(tgt_conns(d.iqn).items()) or [(None, [])])[0]
            drop_conn(tsess, cids[0])
            time.sleep(2.0)
            tries = d.log_text().count("was not added back while its policy starts")
            t.ok(1 <= tries <= 14, "2 s of refused logins: %d attempts (one per 200 ms back-off)" % tries)
        finally:
            subprocess.run(adm + ["--op", "bind"], env=envs, capture_output=True)
        t.ok(wait_for(lambda: sum(len(v) for v in tgt_conns(d.iqn).values()) == 2, 3),
             "logins taken again: the connection is back (%s)" % (tgt_conns(d.iqn),))
        t.is_(sorted(tgt_conns(d.iqn)), [tsess], "tgt: the same session")
        c = d.client()
        c.call("RemovePersistentTarget", {"TargetName": plain})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        c.close()

    def test_nbd_drain_longer_than_a_short_wait(self):
        """Clients that keep more in flight than a host finishes in MCSID_HANDOVER_WAIT_MS: two
        libnbd clients, each with 64 unaligned 1 MiB writes of the same bytes in flight all along
        (read-modify-writes of the same blocks: the export runs them one after another). The old
        process waits as long as requests keep finishing, so each handover happens; before, every
        attempt gave up after 100 ms (the clients refill their queues between two) and the
        handover was abandoned after 20. No write is lost or torn: the bytes read back."""
        t = self.t
        py = next((p for p in ("/usr/bin/python3", "python3")
                   if subprocess.run([p, "-c", "import nbd"], cwd="/", capture_output=True).returncode == 0), None)
        if not py:
            t.skip("python3-libnbd missing (bash tools/deps.sh)")
            return
        d = self.daemon()
        c = d.client()
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Connections": 1,
                                             "Exports": [{"Lun": LUN, "Socket": "w.sock", "ExportName": "w"}]})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget %r" % (r,))
        up = wait_for(lambda: [x for x in result(c.call("ListExports")).get("Exports", []) if x.get("State") == "up"], 20)
        self.assertTrue(up, "setup: the export is up: %r" % (r,))
        c.close()
        uri = "nbd+unix:///w?socket=" + os.path.join(d.export_dir, "w.sock")
        stop = os.path.join(d.dir, "stop-writing")
        off, size = (200 << 20) + 1000, 1 << 20
        writers = [subprocess.Popen([py, "-c", OVERLAPPING_WRITER, uri, stop, str(off), str(size), "64"], cwd="/",
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        time.sleep(1.0)
        pids = [d.proc.pid]
        for n in (1, 2):
            t0 = time.monotonic()
            rc, pid = d.hand_over(timeout=30)
            t.ok(rc == 0 and pid and pid not in pids, "handover %d with 2 x 64 overlapping 1 MiB writes in flight: "
                 "the old exits 0 (%s), pid %s serves" % (n, rc, pid))
            t.note("handover %d: %.0f ms" % (n, (time.monotonic() - t0) * 1000))
            pids.append(pid)
            time.sleep(0.5)
        open(stop, "w").close()
        said = [w.communicate(timeout=120)[0].strip() for w in writers]
        t.ok(all(w.returncode == 0 for w in writers), "the writers end without an error (%s)" % (said,))
        c = d.client()
        sid = sessions(c).get(plain, {}).get("UniqueSessionId")
        got = read(c, sid, off // 512, (off + size) // 512 + 1 - off // 512)[off % 512:off % 512 + size]
        t.ok(got == bytes((i * 7 + 3) & 0xff for i in range(size)), "the bytes written read back")
        c.call("RemovePersistentTarget", {"TargetName": plain})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        c.close()

    def test_crash_nbd_client_reconnects(self):
        """kill -9 cannot hand over: the persistent login and its export come back at the
        restart, and qemu-io (reconnect-delay) goes on writing; every write it acknowledged,
        before and after the crash, reads back."""
        t = self.t
        if not shutil.which("qemu-io"):
            t.skip("no qemu-io")
            return
        d = self.daemon()
        c = d.client()
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Connections": 1,
                                             "Exports": [{"Lun": LUN, "Socket": "k.sock", "ExportName": "k"}]})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget %r" % (r,))
        up = lambda: [x for x in result(d.client().call("ListExports")).get("Exports", []) if x.get("State") == "up"]
        self.assertTrue(wait_for(up, 20), "setup: the export is up")
        c.close()
        sock = os.path.join(d.export_dir, "k.sock")
        q = subprocess.Popen(["qemu-io", "--image-opts",
                              "driver=nbd,server.type=unix,server.path=%s,export=k,reconnect-delay=30" % sock],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             bufsize=1)

        def command(line):
            q.stdin.write(line + "\n")
            q.stdin.flush()
            got = q.stdout.readline()
            while got and not re.search(r"(wrote|read) \d+/\d+ bytes|error|failed|Pattern verification", got, re.I):
                got = q.stdout.readline()
            return got

        base = 96 << 20
        acked = []
        for i in range(40):
            if i == 20:
                d.kill9()
                d.start()                      # the persistent login and the export come back
            line = command("write -P %d %d 4k" % (i + 1, base + i * 4096))
            if re.search(r"wrote 4096/4096", line):
                acked.append(i)
        t.is_(len(acked), 40, "qemu-io: all 40 writes acknowledged across the crash (%d)" % len(acked))
        bad = [i for i in acked if not re.search(r"read 4096/4096", command("read -P %d %d 4k" % (i + 1, base + i * 4096)))]
        t.is_(bad, [], "every acknowledged write reads back through the same qemu-io")
        x = (up() or [{}])[0]
        t.ok(x.get("Clients") == 1 and x.get("Statistics", {}).get("Requests", 0) >= 20,
             "the restarted mcsid serves qemu-io, which reconnected (%s clients, %s requests)"
             % (x.get("Clients"), x.get("Statistics", {}).get("Requests")))
        q.stdin.close()
        q.wait(30)
        c = d.client()
        c.call("RemovePersistentTarget", {"TargetName": plain})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        c.close()

    def test_connections_repaired_while_policy_starts(self):
        """The session's policy (which adds lost connections back) is a new process in the
        successor, which takes seconds to start on a loaded host (ASan, CI): here one whose entry
        keeps the runner's loop still for SLOW_START_MS. The target drops a connection of the
        handed session, then the other one: the new mcsid adds the first back before the second
        goes, so the session lives on (the same TSIH, tgt's same session: no new login); before,
        nobody repaired it until the policy ran and the session was reinstated."""
        t = self.t
        d, c = self.slow_start_session()
        before = sessions(c)[plain]
        c.close()
        rc, pid = d.hand_over(timeout=30)
        t.ok(rc == 0 and pid, "the handover happened (old exits %s, pid %s serves)" % (rc, pid))
        view = tgt_conns(d.iqn)
        t.is_(sorted(len(v) for v in view.values()), [2], "tgt: one session, 2 connections (%s)" % (view,))
        tsess, first = (list(view.items()) or [(None, [])])[0]
        drop_conn(tsess, first[0])
        repaired = wait_for(lambda: set(sum(tgt_conns(d.iqn).values(), [])) - set(first), 3)
        t.ok(repaired, "the dropped connection is added back while the policy starts (now %s)" % (tgt_conns(d.iqn),))
        for cid in first[1:]:
            drop_conn(tsess, cid)                 # every connection the old process had is gone now
        wait_for(lambda: sum(len(v) for v in tgt_conns(d.iqn).values()) == 2 and
                 not set(first) & set(sum(tgt_conns(d.iqn).values(), [])), 5)
        now = tgt_conns(d.iqn)
        t.is_(sorted(now), [tsess], "tgt: the very same session (no new session login): %s" % (now,))
        t.is_(sum(len(v) for v in now.values()), 2, "tgt: 2 connections again")
        c = d.client()
        after = sessions(c).get(plain, {})
        t.is_((after.get("TSIH"), after.get("ISID")), (before.get("TSIH"), before.get("ISID")),
              "SessionList: the same TSIH and ISID")
        t.ok("added back while its policy starts" in d.log_text(), "the log says who repaired it")
        c.call("RemovePersistentTarget", {"TargetName": plain})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        c.close()

    def refused(self, successor, what, said, refusal_said=True):
        t = self.t
        d = self.daemon()
        c, sid = self.two_sessions(d)
        data = os.urandom(8 * 512)
        write(c, sid, 6000, data)
        before = sessions(c)
        view = target_view(d.iqn)
        c.close()
        with open(d.exe + ".new", "w") as f:
            f.write(successor)
        os.chmod(d.exe + ".new", 0o755)
        os.rename(d.exe + ".new", d.exe)       # the binary on disk is upgraded
        pid = d.proc.pid
        d.proc.send_signal(signal.SIGUSR2)
        t.ok(wait_for(lambda: "goes on serving" in d.log_text(), 20), "%s: the old mcsid says it goes on" % what)
        t.ok(d.proc.poll() is None and d.proc.pid == pid, "%s: the old mcsid still runs" % what)
        t.ok(said in d.log_text(), "%s: the log says why (%s)" % (what, said))
        if refusal_said:
            t.ok(re.search(r"refused the handover before serving \(exited 3\): [^\n]*" + re.escape(said), d.log_text()),
                 "%s: the old mcsid's own line carries the successor's reason" % what)
        c = d.client()
        t.is_(shape(sessions(c)), shape(before), "%s: its sessions are unchanged" % what)
        t.is_(target_view(d.iqn), view, "%s: tgt shows the same sessions and connections" % what)
        t.ok(read(c, sid, 6000, 8) == data, "%s: the data reads back through the old mcsid" % what)
        t.is_(write(c, sid, 6100, data), "ISDSC_SUCCESS", "%s: and it writes" % what)
        c.call("RemovePersistentTarget", {"TargetName": chap})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        c.close()

    def test_successor_refuses(self):
        self.refused("#!/bin/sh\nexit 3\n", "a successor that exits 3", "the successor exited 3", refusal_said=False)

    def test_other_state_version(self):
        """The successor is mcsid itself, given a document of version 99 (a wrapper rewrites it)."""
        wrapper = ("#!/bin/sh\n"
                   "fd=${MCSID_HANDOVER#state=}; fd=${fd%%%%,*}\n"
                   "sed 's/\"Version\":1/\"Version\":99/' /proc/self/fd/$fd > %s/state99\n"
                   "exec 9<%s/state99\n"
                   "MCSID_HANDOVER=\"state=9,ready=${MCSID_HANDOVER#*ready=}\" exec %s \"$@\"\n"
                   % (self.tmpdir(), self.tmpdir(), mcsid_test.MCSID))
        self.refused(wrapper, "a successor reading another version",
                     "state version 99, this mcsid reads version 1: refused")

    def test_newer_blob_format(self):
        """The successor is mcsid itself, given session blobs of a format it does not read (version
        3; it reads 1, mcsi 0.3.0's, and 2): it refuses them with ISDSC_UNSUPPORTED_VERSION and the
        old process goes on."""
        magic = "4d4353492d484f0a"                       # "MCSI-HO\n", then the version (4 bytes)
        wrapper = ("#!/bin/sh\n"
                   "fd=${MCSID_HANDOVER#state=}; fd=${fd%%%%,*}\n"
                   "sed 's/%s00000002/%s00000003/g' /proc/self/fd/$fd > %s/state-v3\n"
                   "exec 9<%s/state-v3\n"
                   "MCSID_HANDOVER=\"state=9,ready=${MCSID_HANDOVER#*ready=}\" exec %s \"$@\"\n"
                   % (magic, magic, self.tmpdir(), self.tmpdir(), mcsid_test.MCSID))
        self.refused(wrapper, "a successor given blobs of version 3",
                     "ISDSC_UNSUPPORTED_VERSION: handover blob version 3, this library reads versions 1 to 2")

    def tmpdir(self):
        if not hasattr(self, "_tmp"):
            import tempfile
            self._tmp = tempfile.mkdtemp(prefix="mcsid-handover.")
            self.addCleanup(shutil.rmtree, self._tmp, True)
        return self._tmp


if __name__ == "__main__":
    mcsid_test.main()
