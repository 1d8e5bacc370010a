#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_io_policy.py: the daemon carries no I/O policy of its own (issue 15):
ScsiRead, ScsiWrite, ScsiSynchronizeCache and ScsiCommand run on the engine's
calls, whose one retry rule and flags are the same as in C, Lua and NBD.

Target: build/tests/fake-target (tests/c/fake_target.c as a process) whose
storms are armed at run time through its stdin ("storm KIND:N") and whose
counters are read the same way ("count"): every count below is the target's.

- a UNIT ATTENTION, BUSY, TASK SET FULL or ABORTED COMMAND storm of
  MCSI_SCSI_RETRIES commands (core/mcsi.h)
  under ScsiRead: success, and the target received exactly MCSI_SCSI_RETRIES+1
  READs; a storm one longer: ISDSC_SCSI_REQUEST_FAILED after exactly
  MCSI_SCSI_RETRIES+1 (the daemon's own loop of 4 on top of the engine's
  sent up to 20);
- the same for ScsiWrite, and for a raw READ(10) through ScsiCommand;
- ScsiWrite with ForceUnitAccess reaches the target with the FUA bit, one
  without does not; ScsiRead with DisablePageOut carries DPO;
- ScsiSynchronizeCache is one command; ScsiUnmap on a LUN without UNMAP is
  ISDSC_REQUEST_NOT_SUPPORTED without a command; ScsiWriteZeroes zeroes; a
  bad flag is -32602;
- splitting (a target started with --max-transfer-blocks N): a ScsiWrite and
  a ScsiRead of 4N+5 blocks arrive as 5 WRITEs and 5 READs, none longer than
  N blocks (the target's largest READ/WRITE), and the data reads back intact;
- geometry per LUN (--lun1-4k, LUN 1 in 4096-byte blocks over the same disk):
  on ONE session, one 4096-byte block on LUN 1 and 8 512-byte blocks on LUN 0
  each write and read back at the same LBA, LUN 1 first and (on a new
  session) LUN 0 first; the
  target sees one READ/WRITE each, LUN 1's of 1 block, LUN 0's of 8.

One mcsid for the class; each case its own fake target and login (any case
runs alone: python3 tests/daemon/test_io_policy.py TestIoPolicy.test_flags)."""
import os
import re
import subprocess
import sys
import base64  # noqa: I001

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test as m  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE = os.path.join(m.BUILD, "tests", "fake-target")


def retries_limit():
    with open(os.path.join(ROOT, "core", "mcsi.h")) as f:
        return int(re.search(r"#define MCSI_SCSI_RETRIES (\d+)", f.read()).group(1))


class Fake:
    """build/tests/fake-target driven through its stdin; counts from its stdout."""

    def __init__(self, *args):
        self.p = subprocess.Popen([FAKE, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.portal, self.iqn = self.p.stdout.readline().decode().split()

    def send(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def storm(self, kind, n):
        self.send("storm %s:%d" % (kind, n))
        self.counts()               # the target read the line before this answer: the storm is armed

    def counts(self):
        self.send("count")
        line = self.p.stdout.readline().decode()
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}

    def stop(self):
        self.p.stdin.close()
        self.p.wait(10)


KEYS = ("io", "storm", "rw", "fua", "dpo")
KINDS = ("ua", "busy", "tsf", "aborted")    # UNIT ATTENTION, BUSY, TASK SET FULL, ABORTED COMMAND


def measure(fake, call):
    before = fake.counts()
    r = call()
    after = fake.counts()
    return m.result(r), tuple(after.get(k, 0) - before.get(k, 0) for k in KEYS)


class FakeTargetCase(m.DaemonCase):
    """One mcsid for the class; each case its own fake target (started with
    fake_args) and login, so that any case runs alone."""

    @classmethod
    def setUpClass(cls):
        if not os.access(FAKE, os.X_OK):
            raise RuntimeError("build/tests/fake-target is not built (make)")
        cls.limit = retries_limit()
        super().setUpClass()

    fake_args = ()                  # the options of the case's fake target (subclasses)

    def setUp(self):
        super().setUp()
        self.fake = Fake(*self.fake_args)
        self.addCleanup(self.fake.stop)
        self.c = self.client()
        r = self.c.call("LoginToTarget", {"TargetName": self.fake.iqn, "TargetPortal": self.fake.portal}, timeout=20)
        self.t.status(r, "ISDSC_SUCCESS", "LoginToTarget of the fake target")
        self.sid = m.result(r).get("UniqueSessionId")
        self.addCleanup(self.c.call, "LogoutFromTarget", {"UniqueSessionId": self.sid}, 20)

    def read(self, **flags):
        p = {"UniqueSessionId": self.sid, "Lun": 0, "Lba": 8, "Blocks": 1}
        p.update(flags)
        return lambda: self.c.call("ScsiRead", p, timeout=20)

    def write(self, data, **flags):
        p = {"UniqueSessionId": self.sid, "Lun": 0, "Lba": 16, "Data": base64.b64encode(data).decode()}
        p.update(flags)
        return lambda: self.c.call("ScsiWrite", p, timeout=20)


class TestIoPolicy(FakeTargetCase):
    """Storms and flags; any case runs alone: python3 tests/daemon/test_io_policy.py test_storms"""
    daemon_name = "iopolicy"

    def test_storms(self):
        t, fake, limit = self.t, self.fake, self.limit
        res, delta = measure(fake, self.read())
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (1, 0, 1, 0, 0)), "a first ScsiRead: one READ")
        for kind in KINDS:
            fake.storm(kind, limit)
            res, delta = measure(fake, self.read())
            t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (limit + 1, limit, limit + 1, 0, 0)),
                  "%s storm of %d: ScsiRead succeeds, the target got exactly %d READs" % (kind, limit, limit + 1))
            fake.storm(kind, limit + 1)
            res, delta = measure(fake, self.read())
            t.is_((res.get("StatusName"), delta), ("ISDSC_SCSI_REQUEST_FAILED", (limit + 1, limit + 1, limit + 1, 0, 0)),
                  "%s storm of %d: ScsiRead fails after exactly %d READs" % (kind, limit + 1, limit + 1))
            fake.storm(kind, 0)
        fake.storm("ua", limit)
        res, delta = measure(fake, self.write(b"w" * 512))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (limit + 1, limit, limit + 1, 0, 0)),
              "ua storm of %d: ScsiWrite succeeds after exactly %d WRITEs" % (limit, limit + 1))
        fake.storm("ua", limit + 1)
        cdb = bytes([0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0]).hex()
        res, delta = measure(fake, lambda: self.c.call("ScsiCommand", {"UniqueSessionId": self.sid, "Lun": 0, "Cdb": cdb,
                                                                      "Direction": "read", "Length": 512}, timeout=20))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SCSI_REQUEST_FAILED", (limit + 1, limit + 1, limit + 1, 0, 0)),
              "ua storm of %d: a raw READ(10) through ScsiCommand fails after exactly %d sends" % (limit + 1, limit + 1))
        t.ok(res.get("SenseKey") == 6 and res.get("Asc") == 0x29, "... its outputs carry the last sense (6/29)", res)
        fake.storm("ua", 0)

    def test_flags(self):
        t, fake = self.t, self.fake
        res, delta = measure(fake, self.write(b"f" * 512, ForceUnitAccess=True))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (1, 0, 1, 1, 0)),
              "ScsiWrite with ForceUnitAccess: one WRITE, with the FUA bit at the target")
        res, delta = measure(fake, self.write(b"p" * 512, ForceUnitAccess=False))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (1, 0, 1, 0, 0)),
              "ScsiWrite with ForceUnitAccess false: no FUA")
        res, delta = measure(fake, self.read(DisablePageOut=True))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (1, 0, 1, 0, 1)),
              "ScsiRead with DisablePageOut: one READ with DPO")
        t.is_(len(base64.b64decode(res.get("Data", ""))), 512, "... and its 512 bytes")
        res, delta = measure(fake, self.read(ForceUnitAccess=True))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (1, 0, 1, 1, 0)),
              "ScsiRead with ForceUnitAccess: FUA on the READ")
        r = self.c.call("ScsiWrite", {"UniqueSessionId": self.sid, "Lun": 0, "Lba": 0, "Data": "AAAA",
                                      "ForceUnitAccess": 1})
        t.is_((r.get("error") or {}).get("code"), -32602, "ForceUnitAccess that is no boolean: invalid params")

    def test_flush_unmap_zeroes(self):
        t, fake, sid = self.t, self.fake, self.sid
        res, delta = measure(fake, lambda: self.c.call("ScsiSynchronizeCache", {"UniqueSessionId": sid, "Lun": 0}))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (1, 0, 0, 0, 0)),
              "ScsiSynchronizeCache of the whole LUN: one command")
        res, delta = measure(fake, lambda: self.c.call("ScsiUnmap", {"UniqueSessionId": sid, "Lun": 0, "Lba": 0,
                                                                    "Blocks": 8}))
        t.is_((res.get("StatusName"), delta), ("ISDSC_REQUEST_NOT_SUPPORTED", (0, 0, 0, 0, 0)),
              "ScsiUnmap on a LUN that offers no UNMAP: not supported, no command sent")
        self.write(b"z" * 512)()
        res, delta = measure(fake, lambda: self.c.call("ScsiWriteZeroes", {"UniqueSessionId": sid, "Lun": 0, "Lba": 16,
                                                                          "Blocks": 1}))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (2, 0, 1, 0, 0)),
              "ScsiWriteZeroes: WRITE SAME refused by the target, one WRITE of zeroes instead (the engine's choice)")
        data = m.result(self.c.call("ScsiRead", {"UniqueSessionId": sid, "Lun": 0, "Lba": 16, "Blocks": 1})).get("Data")
        t.ok(base64.b64decode(data or "") == bytes(512), "... the block reads back as zeroes")


def pattern(n, seed):
    return bytes((i * 7 + seed * 31 + (i >> 9)) % 251 for i in range(n))


MAX_BLOCKS = 8      # the Block Limits' MAXIMUM TRANSFER LENGTH of TestSplitting


class TestSplitting(FakeTargetCase):
    """ScsiRead/ScsiWrite longer than the LUN's maximum transfer length."""
    daemon_name = "iosplit"
    fake_args = ("--max-transfer-blocks", str(MAX_BLOCKS))

    def test_splitting(self):
        t, fake, sid, n = self.t, self.fake, self.sid, MAX_BLOCKS
        blocks = 4 * n + 5
        want = -(-blocks // n)
        data = pattern(blocks * 512, 3)
        res, delta = measure(fake, lambda: self.c.call("ScsiWrite", {"UniqueSessionId": sid, "Lun": 0, "Lba": 64,
                                                                     "Data": base64.b64encode(data).decode()}, timeout=20))
        after = fake.counts()
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (want, 0, want, 0, 0)),
              "ScsiWrite of %d blocks: %d WRITEs at the target" % (blocks, want))
        t.ok(after["max_rw_blocks"] <= n, "... none longer than %d blocks (largest %d)" % (n, after["max_rw_blocks"]))
        res, delta = measure(fake, lambda: self.c.call("ScsiRead", {"UniqueSessionId": sid, "Lun": 0, "Lba": 64,
                                                                    "Blocks": blocks}, timeout=20))
        after = fake.counts()
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (want, 0, want, 0, 0)),
              "ScsiRead of %d blocks: %d READs at the target" % (blocks, want))
        t.ok(after["max_rw_blocks"] <= n, "... none longer than %d blocks (largest %d)" % (n, after["max_rw_blocks"]))
        t.ok(base64.b64decode(res.get("Data", "")) == data, "... the data written reads back intact")


class TestGeometryPerLun(FakeTargetCase):
    """LUN 0 in 512-byte and LUN 1 in 4096-byte blocks on one session."""
    daemon_name = "iogeometry"
    fake_args = ("--lun1-4k",)

    def step(self, lun, lba, blocks, seed, label):
        t, fake, sid = self.t, self.fake, self.sid
        data = pattern(blocks * (4096 if lun == 1 else 512), seed)
        res, delta = measure(fake, lambda: self.c.call("ScsiWrite", {"UniqueSessionId": sid, "Lun": lun, "Lba": lba,
                                                                     "Data": base64.b64encode(data).decode()}, timeout=20))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (1, 0, 1, 0, 0)),
              "%s: ScsiWrite of %d bytes to LUN %d: one WRITE at the target" % (label, len(data), lun))
        res, delta = measure(fake, lambda: self.c.call("ScsiRead", {"UniqueSessionId": sid, "Lun": lun, "Lba": lba,
                                                                    "Blocks": blocks}, timeout=20))
        t.is_((res.get("StatusName"), delta), ("ISDSC_SUCCESS", (1, 0, 1, 0, 0)),
              "%s: ScsiRead of %d block(s) of LUN %d: one READ at the target" % (label, blocks, lun))
        t.ok(base64.b64decode(res.get("Data", "")) == data, "%s: LUN %d reads back what was written to it" % (label, lun))
        return self.fake.counts()

    def test_geometry_per_lun(self):
        t = self.t
        c = self.step(1, 5, 1, 11, "LUN 1 first")
        t.is_(c["max_rw_blocks"], 1, "LUN 1's 4096 bytes went as 1 block at the target")
        c = self.step(0, 5, 8, 12, "then LUN 0")
        t.is_(c["max_rw_blocks"], 8, "LUN 0's 4096 bytes went as 8 blocks at the target")
        # the other order on a new session, that has learned neither LUN yet
        t.status(self.c.call("LogoutFromTarget", {"UniqueSessionId": self.sid}, timeout=20), "ISDSC_SUCCESS",
                 "LogoutFromTarget of the first session")
        r = self.c.call("LoginToTarget", {"TargetName": self.fake.iqn, "TargetPortal": self.fake.portal}, timeout=20)
        t.status(r, "ISDSC_SUCCESS", "LoginToTarget: a second session")
        self.sid = m.result(r).get("UniqueSessionId")
        self.addCleanup(self.c.call, "LogoutFromTarget", {"UniqueSessionId": self.sid}, 20)
        self.step(0, 9, 8, 13, "LUN 0 first")
        self.step(1, 9, 1, 14, "then LUN 1")


if __name__ == "__main__":
    m.main()
