#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_handover_load.py: issue 17's measurement as a pass/fail test. Clients
nobody here wrote run against the export of one 4-connection session on tgt
while mcsid is upgraded MCSI_HANDOVER_ROUNDS (20) times in a row:

- fio (nbd engine, 4 KiB random writes, verify=crc32c, QD 32) all along;
- nbdcopy of MCSI_HANDOVER_COPY_MIB (1024) MiB out (a random file to the
  export) and in (the export to a file), again and again, each pass compared
  with cmp afterwards.

Checked: every handover's old process exits 0 and a new pid serves; fio and
every nbdcopy exit 0; cmp finds the data identical; SessionList shows the
same TSIH and 4 connections; tgtadm shows the very same session and the very
same 4 connections before and after (no new login, no logout). The second case
does the same while tgt drops one connection of the session every second
(as tests/harness/tgt-drop-conn does): then the connections are replaced by
failover.lua, so it checks the same TSIH (tgt's session number) and 4
connections at the end instead of the same connections.

No timing is asserted: the longest stalls (fio's clat max, nbdcopy's longest
gap between two progress updates) are notes, and with MCSI_HANDOVER_REPORT=FILE
they are written as JSON for tools/bench-handover.sh (make bench).
    python3 tests/daemon/test_handover_load.py TestHandoverLoad.test_upgrades_under_load"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402,F401
from mcsid_test import result, tgt_portal, env, wait_for  # noqa: E402
from test_handover import HandoverDaemon, sessions, drop_every_second  # noqa: E402  (makes us a subreaper)

plain = env("MCSI_TGT_IQN_PLAIN")
LUN = int(env("MCSI_TGT_FILE_LUN"))
ROUNDS = int(os.environ.get("MCSI_HANDOVER_ROUNDS", "20"))
COPY_MIB = int(os.environ.get("MCSI_HANDOVER_COPY_MIB", "1024"))
FIO_OFFSET_MIB = 1536          # fio's 16 MiB, past nbdcopy's first GiB of the 2 GiB LUN
CONNECTIONS = 4
# fio's runtime: room for the handovers (each waits for an nbdcopy to be copying), three times as much
# under AddressSanitizer (make asan on a loaded machine took more than 40 s for 20); fio's nbd engine
# ends with an error on SIGINT, so it runs its time out
FIO_SECONDS = int(os.environ.get("MCSI_HANDOVER_FIO_SECONDS",
                                 str((int(ROUNDS * 1.5) + 10) * (3 if mcsid_test.sanitized() else 1))))


def tgt_session(initiator):
    """tgtadm's view of this initiator on tid 1: {session number: sorted [(cid, ip)]}."""
    out = subprocess.run(["tgtadm", "-C", "0", "--lld", "iscsi", "--op", "show", "--mode", "conn", "--tid", "1"],
                         env=dict(os.environ, TGT_IPC_SOCKET=env("MCSI_TGT_IPC")),
                         capture_output=True, text=True, timeout=10).stdout
    view = {}
    for block in out.split("Session:")[1:]:
        if ("Initiator: " + initiator) not in block:
            continue
        sid = block.split()[0]
        for conn in block.split("Connection:")[1:]:
            cid = conn.split()[0]
            ip = conn.split("IP Address:")[1].split()[0] if "IP Address:" in conn else "?"
            view.setdefault(sid, []).append((cid, ip))
    return {s: sorted(c) for s, c in view.items()}


class Copier(threading.Thread):
    """nbdcopy out and in, passes of COPY_MIB each, until stopped after at least one
    full cycle; cmp after each in. Records errors, passes and the longest gap between
    two progress updates of nbdcopy (--progress=FD: one line per percent)."""

    def __init__(self, uri, workdir):
        super().__init__(daemon=True)
        self.uri, self.dir = uri, workdir
        self.src = os.path.join(workdir, "copy-src")
        self.dst = os.path.join(workdir, "copy-dst")
        self.stop = False
        self.busy = threading.Event()      # an nbdcopy is moving data now
        self.during = 0                    # handovers made while an nbdcopy ran
        self.errors = []
        self.passes = {"out": 0, "in": 0, "cmp": 0}
        self.max_gap = {"out": 0.0, "in": 0.0}
        self.seconds = {"out": [], "in": []}

    def prepare(self):
        with open("/dev/urandom", "rb") as r, open(self.src, "wb") as w:
            for _ in range(COPY_MIB):
                w.write(r.read(1 << 20))

    def copy(self, what, src, dst):
        rfd, wfd = os.pipe()
        t0 = time.monotonic()
        p = subprocess.Popen(["nbdcopy", "--progress=%d" % wfd, src, dst], pass_fds=(wfd,),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        os.close(wfd)
        last = None                  # from the first update on: connecting is not a stall
        with os.fdopen(rfd, "rb", buffering=0) as progress:
            while True:
                chunk = progress.read(256)
                now = time.monotonic()
                if not chunk:
                    break
                if last is not None:
                    self.max_gap[what] = max(self.max_gap[what], now - last)
                else:
                    self.busy.set()
                last = now
        self.busy.clear()
        err = p.communicate(timeout=600)[1]
        self.seconds[what].append(time.monotonic() - t0)
        if p.returncode != 0:
            self.errors.append("nbdcopy %s exited %d: %s" % (what, p.returncode, err.strip()[-300:]))
            return False
        self.passes[what] += 1
        return True

    def run(self):
        try:
            while not self.stop or self.passes["cmp"] == 0:
                if len(self.errors) > 3:
                    return
                if not self.copy("out", self.src, self.uri):
                    continue
                # the in side: the whole export (2 GiB LUN) to a file, whose first COPY_MIB are compared
                if not self.copy("in", self.uri, self.dst):
                    continue
                r = subprocess.run(["cmp", "-n", str(COPY_MIB << 20), self.src, self.dst],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    self.errors.append("cmp: %s" % (r.stdout + r.stderr).strip())
                else:
                    self.passes["cmp"] += 1
                os.unlink(self.dst)
        except Exception as e:     # noqa: BLE001  (reported as an error of the client)
            self.errors.append("copier: %r" % (e,))


class TestHandoverLoad(mcsid_test.DaemonCase):
    start_daemon = False

    def test_upgrades_under_load(self):
        self.upgrades_under_load(drops=False)

    def test_upgrades_under_load_and_drops(self):
        self.upgrades_under_load(drops=True)

    def upgrades_under_load(self, drops):
        t = self.t
        for tool in ("fio", "nbdcopy", "cmp"):
            if not shutil.which(tool):
                t.skip("no %s" % tool)
                return
        d = HandoverDaemon(config={"nbd_plain_tcp": "yes"}, name="handover-load")
        self.addCleanup(self._finish_case_daemon, d)
        d.start()
        c = d.client()
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "Portals": [tgt_portal(), tgt_portal("127.0.0.2")],
                                             "Connections": CONNECTIONS, "PolicyScript": "failover.lua",
                                             "Exports": [{"Lun": LUN, "Socket": "l.sock", "ExportName": "l"}]})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget %r" % (r,))
        self.assertTrue(wait_for(lambda: sessions(c).get(plain, {}).get("ConnectionCount") == CONNECTIONS, 20),
                        "setup: %d connections (tgt must allow MaxConnections %d): %r"
                        % (CONNECTIONS, CONNECTIONS, sessions(c)))
        self.assertTrue(wait_for(lambda: [x for x in result(c.call("ListExports")).get("Exports", [])
                                          if x.get("State") == "up"], 20), "setup: the export is up")
        before = sessions(c)[plain]
        view = tgt_session(d.iqn)
        c.close()
        t.is_(len(view), 1, "tgt shows one session of this initiator")
        t.is_(sum(len(v) for v in view.values()), CONNECTIONS, "with %d connections" % CONNECTIONS)

        uri = "nbd+unix:///l?socket=" + os.path.join(d.export_dir, "l.sock")
        copier = Copier(uri, d.dir)
        copier.prepare()
        interval = 0.5
        out = os.path.join(d.dir, "fio.json")
        fio = subprocess.Popen(["fio", "--name=handover-load", "--ioengine=nbd", "--uri=" + uri,
                                "--rw=randwrite", "--bs=4k", "--iodepth=32", "--size=16M",
                                "--offset=%dM" % FIO_OFFSET_MIB, "--verify=crc32c", "--verify_backlog=64",
                                "--time_based", "--runtime=%d" % FIO_SECONDS,
                                "--output-format=json", "--output=" + out],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=d.dir)
        copier.start()
        stop = []
        dropper = None
        if drops:
            dropper = threading.Thread(target=drop_every_second, args=(d.iqn, stop), daemon=True)
            dropper.start()
        time.sleep(1.0)
        pids = [d.proc.pid]
        handover_ms = []
        good = 0
        started = time.monotonic()
        for n in range(1, ROUNDS + 1):
            if copier.busy.wait(120):     # each handover while an nbdcopy moves data
                copier.during += 1
            t0 = time.monotonic()
            rc, pid = d.hand_over(timeout=30)
            handover_ms.append((time.monotonic() - t0) * 1000)
            if rc == 0 and pid and pid not in pids:
                good += 1
            else:
                t.ok(False, "handover %d: the old exits 0 (%s), a new pid serves (%s)" % (n, rc, pid))
                break
            pids.append(pid)
            time.sleep(interval)
        upgraded = time.monotonic() - started
        t.ok(fio.poll() is None, "fio was still running at the last handover (MCSI_HANDOVER_FIO_SECONDS=%d)"
             % FIO_SECONDS)
        t.is_(good, ROUNDS, "%d handovers in a row under fio and nbdcopy%s, each by a new pid"
              % (ROUNDS, " and connection drops" if drops else ""))
        stop.append(1)
        if dropper:
            dropper.join(10)
        copier.stop = True
        fio_err = fio.communicate(timeout=FIO_SECONDS + 300)[1]
        copier.join(900)
        t.is_(fio.returncode, 0, "fio ends without an error (%s)" % fio_err.strip()[-300:])
        fio_job = {}
        try:
            with open(out) as f:
                fio_job = json.load(f)["jobs"][0]
        except (OSError, ValueError, KeyError, IndexError) as e:
            t.ok(False, "fio's report reads (%s)" % e)
        w = fio_job.get("write", {})
        t.ok(fio_job.get("error") == 0 and w.get("io_bytes", 0) > 0,
             "fio wrote and verified %d MiB, error %s" % (w.get("io_bytes", 0) >> 20, fio_job.get("error")))
        t.is_(copier.errors, [], "nbdcopy out and in exit 0 and cmp finds the data identical")
        t.ok(copier.passes["cmp"] >= 1 and copier.passes["out"] >= 1 and copier.passes["in"] >= 1,
             "nbdcopy passes: %r" % (copier.passes,))
        t.is_(copier.during, ROUNDS, "every handover happened while an nbdcopy was copying")

        c = d.client()
        if drops:
            # the last drop may be being repaired: failover.lua brings the count back
            wait_for(lambda: sessions(c).get(plain, {}).get("ConnectionCount") == CONNECTIONS, 20)
            wait_for(lambda: sum(len(v) for v in tgt_session(d.iqn).values()) == CONNECTIONS, 10)
        after = sessions(c).get(plain, {})
        t.is_((after.get("TSIH"), after.get("ISID"), after.get("ConnectionCount")),
              (before.get("TSIH"), before.get("ISID"), CONNECTIONS),
              "SessionList: the same TSIH and ISID, %d connections" % CONNECTIONS)
        t.is_(after.get("UniqueSessionId"), before.get("UniqueSessionId"),
              "SessionList: the same UniqueSessionId after %d handovers" % ROUNDS)
        if not drops:
            ids = lambda s: sorted(x.get("UniqueConnectionId") for x in s.get("Connections", []))
            t.is_(ids(after), ids(before), "SessionList: the same %d UniqueConnectionIds" % CONNECTIONS)
        now = tgt_session(d.iqn)
        if drops:
            t.is_(sorted(now), sorted(view), "tgt: the very same session (no new session login)")
            t.is_(sum(len(v) for v in now.values()), CONNECTIONS, "tgt: %d connections" % CONNECTIONS)
        else:
            t.is_(now, view, "tgt: the very same session and the very same %d connections (no login)" % CONNECTIONS)
        if ROUNDS:                 # 0: the bench's baseline, the same load without handovers
            t.ok("NBD clients go on with their export" in d.log_text(), "the log says the NBD clients went on")

        figures = {
            "drops": drops, "rounds": good, "seconds": round(upgraded, 1),
            "handover_ms_max": round(max(handover_ms or [0]), 1),
            "handover_ms_median": round(sorted(handover_ms)[len(handover_ms) // 2], 1) if handover_ms else 0,
            "fio_iops": round(w.get("iops", 0)), "fio_clat_max_ms": round(w.get("clat_ns", {}).get("max", 0) / 1e6, 1),
            "during_copy": copier.during, "fio_errors": fio_job.get("error"), "fio_mib": w.get("io_bytes", 0) >> 20,
            "copy_mib": COPY_MIB, "copy_passes": copier.passes, "copy_errors": len(copier.errors),
            "copy_max_gap_ms": {k: round(v * 1000, 1) for k, v in copier.max_gap.items()},
            "copy_seconds": {k: [round(s, 1) for s in v] for k, v in copier.seconds.items()},
            "same_connections": now == view, "same_session": sorted(now) == sorted(view),
        }
        t.note("figures: %s" % json.dumps(figures))
        report = os.environ.get("MCSI_HANDOVER_REPORT")
        if report:
            with open(report, "a") as f:
                f.write(json.dumps(figures) + "\n")
        c.call("RemovePersistentTarget", {"TargetName": plain})
        for s in sessions(c).values():
            c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        c.close()


if __name__ == "__main__":
    mcsid_test.main()
