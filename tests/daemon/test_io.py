#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_io.py: SCSI I/O through mcsid (ScsiRead, ScsiWrite, ScsiCommand,
ScsiTestUnitReady, LunReset, AbortTask) and kill -9 during I/O.

- write then read back (base64), by Blocks and by Length, the block size
  learnt by the daemon's own READ CAPACITY; a 16 MiB read (the bound) works,
  one byte or one block more is invalid params; bad parameters of every
  method are -32602 and failing operations failing Statuses;
- ScsiCommand: INQUIRY (the same bytes as ScsiInquiry), WRITE(10) read back
  with ScsiRead, an unsupported opcode gives CHECK CONDITION with its sense;
- LUN reset, after which reads still answer (the UNIT ATTENTION is retried);
- clients that disconnect with reads and writes in flight: the daemon lives
  on, the writes land, other clients are answered;
- a persistent login with a client writing and reading in a loop, kill -9 in
  the middle: after the restart the persistent login is back, state.json
  parses and holds it, and every acknowledged write reads back.

One daemon (output_max 32 MiB) for the class; each case logs in (and writes
the 8 blocks it reads back) itself, so that any case runs alone:
    python3 tests/daemon/test_io.py TestIo.test_write_read_back"""
import base64
import json
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import Daemon, result, tgt_portal, env, wait_for  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
LUN = int(env("MCSI_TGT_FILE_LUN"))
NULL_LUN = int(env("MCSI_TGT_NULL_LUN"))
IO_MAX = 16 << 20
rng = random.Random(os.getpid())
BASE = rng.randrange(0, 3000) * 1024        # a region of the 2 GiB LUN of its own (LBAs of 512 bytes)


def b64(data):
    return base64.b64encode(data).decode()


def error_code(msg):
    return (msg or {}).get("error", {}).get("code")


def read(c, sid, lba, blocks, lun=LUN):
    r = c.call("ScsiRead", {"UniqueSessionId": sid, "Lun": lun, "Lba": lba, "Blocks": blocks})
    return r, base64.b64decode(result(r).get("Data", ""))


def login(c):
    r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
    return result(r).get("UniqueSessionId")


class TestIo(mcsid_test.DaemonCase):
    daemon_name = "io"
    daemon_config = {"output_max": str(32 << 20)}   # room for a 16 MiB read

    def setUp(self):
        super().setUp()
        self.c = self.client()

    def invalid(self, c, method, params, name):
        r = c.call(method, params)
        self.t.ok(error_code(r) == -32602, name, r)

    def session(self, c=None):
        """A session on the plain target for the case (setup, not a check), logged out at its end."""
        c = c or self.c
        sid = login(c)
        self.assertTrue(sid, "setup: LoginToTarget")
        self.addCleanup(c.call, "LogoutFromTarget", {"UniqueSessionId": sid})
        return sid

    def written(self, sid):
        """8 blocks of random data written at BASE (setup): the data."""
        data = bytes(rng.randrange(256) for _ in range(8 * 512))
        r = self.c.call("ScsiWrite", {"UniqueSessionId": sid, "Lun": LUN, "Lba": BASE, "Data": b64(data)})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: ScsiWrite of 8 blocks: %r" % (r,))
        return data

    def test_methods_listed(self):
        t, c = self.t, self.c
        names = result(c.call("GetVersion")).get("Methods", [])
        t.ok(all(m in names for m in ("ScsiRead", "ScsiWrite", "ScsiCommand", "ScsiTestUnitReady", "LunReset",
                                      "AbortTask")), "GetVersion lists the I/O methods", names)

    def test_write_read_back(self):
        t, c = self.t, self.c
        sid = login(c)
        t.ok(sid, "LoginToTarget")
        self.addCleanup(c.call, "LogoutFromTarget", {"UniqueSessionId": sid})
        data = bytes(rng.randrange(256) for _ in range(8 * 512))
        r = c.call("ScsiWrite", {"UniqueSessionId": sid, "Lun": LUN, "Lba": BASE, "Data": b64(data)})
        t.status(r, "ISDSC_SUCCESS", "ScsiWrite of 8 blocks (before any READ CAPACITY: the daemon learns the size)")
        r, got = read(c, sid, BASE, 8)
        t.status(r, "ISDSC_SUCCESS", "ScsiRead of the 8 blocks")
        t.ok(got == data, "... reads back what was written", "%d bytes" % len(got))
        t.is_((result(r).get("Length"), result(r).get("BlockSize")), (4096, 512), "... Length 4096, BlockSize 512")
        r = c.call("ScsiRead", {"UniqueSessionId": sid, "Lun": LUN, "Lba": BASE + 2, "Length": 1024})
        t.ok(base64.b64decode(result(r).get("Data", "")) == data[1024:2048], "ScsiRead by Length at another LBA", r)
        r, got = read(c, sid, BASE, 0)
        t.ok(result(r).get("StatusName") == "ISDSC_SUCCESS" and got == b"", "ScsiRead of 0 blocks: empty Data", r)
        r = c.call("ScsiRead", {"UniqueSessionId": sid, "Lun": LUN, "Lba": BASE, "Length": 100})
        t.ok("result" in r and r["result"]["Status"] != 0 and "Data" not in r["result"],
             "ScsiRead of a Length that is not whole blocks: a failing Status, no Data", r)
        r = c.call("ScsiWrite", {"UniqueSessionId": sid, "Lun": LUN, "Lba": BASE, "Data": b64(b"x" * 100)})
        t.ok("result" in r and r["result"]["Status"] != 0, "ScsiWrite of 100 bytes: a failing Status", r)
        r, got = read(c, sid, BASE, 8)
        t.ok(got == data, "... and the blocks are unchanged")

    def test_the_bound(self):
        """A 16 MiB read (the bound) works, one byte or one block more is invalid params."""
        t, c, invalid = self.t, self.c, self.invalid
        sid = self.session()
        data = self.written(sid)
        r, got = read(c, sid, BASE, IO_MAX // 512)
        t.ok(result(r).get("StatusName") == "ISDSC_SUCCESS" and len(got) == IO_MAX and got[:4096] == data,
             "ScsiRead of 16 MiB (the bound) works", {k: v for k, v in result(r).items() if k != "Data"})
        invalid(c, "ScsiRead", {"UniqueSessionId": sid, "Lun": LUN, "Lba": 0, "Blocks": IO_MAX // 512 + 1},
                "ScsiRead of 16 MiB + 1 block: invalid params")
        invalid(c, "ScsiRead", {"UniqueSessionId": sid, "Lun": LUN, "Lba": 0, "Length": IO_MAX + 1},
                "ScsiRead of 16 MiB + 1 byte: invalid params")
        invalid(c, "ScsiRead", {"UniqueSessionId": sid, "Lun": LUN, "Lba": 0, "Blocks": 1 << 40},
                "ScsiRead of 2^40 blocks: invalid params")

    def test_default_output_max(self):
        """A daemon with the default output_max (4 MiB): reads up to 3141632 bytes."""
        t = self.t
        small = Daemon(name="io-small")
        self.addCleanup(small.cleanup)
        small.start()
        sc = small.client()
        ssid = login(sc)
        r = sc.call("ScsiRead", {"UniqueSessionId": ssid, "Lun": LUN, "Lba": BASE, "Length": 3141632})
        t.ok(len(base64.b64decode(result(r).get("Data", ""))) == 3141632,
             "default output_max: a read of 3141632 bytes (its base64 fits 4 MiB) works", r.get("error"))
        r = sc.call("ScsiRead", {"UniqueSessionId": ssid, "Lun": LUN, "Lba": BASE, "Length": 3141632 + 4096})
        t.ok(error_code(r) == -32602 and "output_max" in r["error"]["message"],
             "... one 4 KiB more is invalid params, the message says why", r)
        t.ok(small.proc.poll() is None and sc.call("GetVersion"), "... and the connection stays")
        sc.call("LogoutFromTarget", {"UniqueSessionId": ssid})
        sc.close()
        t.is_(small.stop(), 0, "... SIGTERM: that daemon exits 0")

    def test_bad_parameters(self):
        t, c, invalid = self.t, self.c, self.invalid
        sid = self.session()
        invalid(c, "ScsiRead", {"UniqueSessionId": sid, "Lba": 0, "Blocks": 1, "Length": 512}, "ScsiRead with Blocks and Length")
        invalid(c, "ScsiRead", {"UniqueSessionId": sid, "Lba": 0}, "ScsiRead with neither Blocks nor Length")
        invalid(c, "ScsiRead", {"UniqueSessionId": sid, "Blocks": 1}, "ScsiRead without Lba")
        invalid(c, "ScsiRead", {"UniqueSessionId": sid, "Lba": -1, "Blocks": 1}, "ScsiRead with a negative Lba")
        invalid(c, "ScsiWrite", {"UniqueSessionId": sid, "Lba": 0, "Data": "@@@@"}, "ScsiWrite with Data not base64")
        invalid(c, "ScsiWrite", {"UniqueSessionId": sid, "Lba": 0, "Data": "QUJD\nRA=="}, "ScsiWrite with a newline in Data")
        invalid(c, "ScsiWrite", {"UniqueSessionId": sid, "Lba": 0, "Data": "QUJ"}, "ScsiWrite with unpadded base64")
        invalid(c, "ScsiWrite", {"UniqueSessionId": sid, "Lba": 0}, "ScsiWrite without Data")
        r = c.call("ScsiWrite", {"UniqueSessionId": 0x7fffffff, "Lba": 0, "Data": b64(bytes(512))})
        t.status(r, "ISDSC_INVALID_SESSION_ID", "ScsiWrite on an unknown session: ISDSC_INVALID_SESSION_ID")
        r = c.call("ScsiRead", {"UniqueSessionId": 0x7fffffff, "Lba": 0, "Blocks": 1})
        t.status(r, "ISDSC_INVALID_SESSION_ID", "ScsiRead on an unknown session: ISDSC_INVALID_SESSION_ID")

    def test_scsi_command(self):
        """INQUIRY (the same bytes as ScsiInquiry), WRITE(10) read back with ScsiRead, an
        unsupported opcode gives CHECK CONDITION with its sense."""
        t, c, invalid = self.t, self.c, self.invalid
        sid = self.session()
        r = c.call("ScsiCommand", {"UniqueSessionId": sid, "Lun": LUN, "Cdb": "120000006000", "Direction": "read",
                                   "Length": 96})
        res = result(r)
        inq = base64.b64decode(res.get("Data", ""))
        t.ok(res.get("StatusName") == "ISDSC_SUCCESS" and res.get("ScsiStatus") == 0 and len(inq) >= 36,
             "ScsiCommand INQUIRY: GOOD with data", r)
        ref = result(c.call("ScsiInquiry", {"UniqueSessionId": sid, "Lun": LUN}))
        t.ok(ref.get("Data") and inq[:36] == bytes.fromhex(ref["Data"])[:36],
             "... the same bytes as ScsiInquiry", (inq[:36], ref.get("Data")))
        t.ok(all(k in res for k in ("Response", "SenseKey", "Asc", "Ascq", "Sense", "ResidualKind", "Residual")),
             "... with every member of mcsi.scsi_command's result", res)
        wdata = bytes(rng.randrange(256) for _ in range(512))
        cdb = bytes([0x2a, 0]) + (BASE + 20).to_bytes(4, "big") + bytes([0, 0, 1, 0])
        r = c.call("ScsiCommand", {"UniqueSessionId": sid, "Lun": LUN, "Cdb": cdb.hex(), "Direction": "write",
                                   "Data": b64(wdata)})
        t.status(r, "ISDSC_SUCCESS", "ScsiCommand WRITE(10) of one block")
        t.ok(read(c, sid, BASE + 20, 1)[1] == wdata, "... ScsiRead reads it back")
        r = c.call("ScsiCommand", {"UniqueSessionId": sid, "Lun": LUN, "Cdb": "ff0000000000"})
        res = result(r)
        t.ok(res.get("StatusName") == "ISDSC_SCSI_REQUEST_FAILED" and res.get("ScsiStatus") == 2 and
             res.get("SenseKey") == 5 and res.get("Sense"),
             "ScsiCommand of an unsupported opcode: CHECK CONDITION, ILLEGAL REQUEST, the sense in hex", r)
        t.ok(res.get("StatusMessage", "") not in ("", "The SCSI request failed"),
             "... StatusMessage is the command's own (the decoded sense)", res.get("StatusMessage"))
        r = c.call("ScsiCommand", {"UniqueSessionId": sid, "Lun": LUN, "Cdb": "000000000000", "Direction": "none"})
        t.ok(result(r).get("StatusName") == "ISDSC_SUCCESS" and "Data" not in result(r),
             "ScsiCommand TEST UNIT READY: no Data member", r)
        for name, p in (("Cdb not hex", {"Cdb": "zz"}), ("Cdb empty", {"Cdb": ""}), ("Cdb of 17 bytes", {"Cdb": "00" * 17}),
                        ("Cdb of odd length", {"Cdb": "000"}),
                        ("Direction unknown", {"Cdb": "00", "Direction": "sideways"}),
                        ("read without Length", {"Cdb": "12", "Direction": "read"}),
                        ("write without Data", {"Cdb": "2a", "Direction": "write"}),
                        ("none with Length", {"Cdb": "00", "Length": 4}),
                        ("read with Data", {"Cdb": "12", "Direction": "read", "Length": 4, "Data": "AAAA"}),
                        ("read of 16 MiB + 1", {"Cdb": "12", "Direction": "read", "Length": IO_MAX + 1}),
                        ("write with bad base64", {"Cdb": "2a", "Direction": "write", "Data": "A"})):
            p.update({"UniqueSessionId": sid, "Lun": LUN})
            invalid(c, "ScsiCommand", p, "ScsiCommand, %s: invalid params" % name)

    def test_tur_lun_reset_abort_task(self):
        """LUN reset, after which reads still answer (the UNIT ATTENTION is retried)."""
        t, c, invalid = self.t, self.c, self.invalid
        sid = self.session()
        data = self.written(sid)
        t.status(c.call("ScsiTestUnitReady", {"UniqueSessionId": sid, "Lun": LUN}), "ISDSC_SUCCESS", "ScsiTestUnitReady")
        t.status(c.call("ScsiTestUnitReady", {"UniqueSessionId": 0x7fffffff, "Lun": LUN}), "ISDSC_INVALID_SESSION_ID",
                 "ScsiTestUnitReady on an unknown session")
        invalid(c, "ScsiTestUnitReady", {"Lun": LUN}, "ScsiTestUnitReady without UniqueSessionId")
        sid2 = login(c)                        # another I_T nexus: its LUN reset gives ours a UNIT ATTENTION
        t.status(c.call("LunReset", {"UniqueSessionId": sid2, "Lun": LUN}), "ISDSC_SUCCESS", "LunReset")
        r, got = read(c, sid, BASE, 8)
        t.ok(result(r).get("StatusName") == "ISDSC_SUCCESS" and got == data,
             "after another session's LunReset ScsiRead answers and the data is there", r)
        t.status(c.call("LunReset", {"UniqueSessionId": sid2, "Lun": LUN}), "ISDSC_SUCCESS", "LunReset again")
        r = c.call("ScsiCommand", {"UniqueSessionId": sid, "Lun": LUN, "Cdb": "000000000000"})
        t.ok(result(r).get("StatusName") == "ISDSC_SUCCESS", "... and a ScsiCommand after it too", r)
        c.call("LogoutFromTarget", {"UniqueSessionId": sid2})
        t.status(c.call("LunReset", {"UniqueSessionId": 0x7fffffff, "Lun": LUN}), "ISDSC_INVALID_SESSION_ID",
                 "LunReset on an unknown session")
        r = c.call("AbortTask", {"UniqueSessionId": sid, "Tag": 0x7ffffff0})
        t.ok(result(r).get("Status", 0) != 0, "AbortTask of a tag that is not outstanding: a failing Status", r)
        invalid(c, "AbortTask", {"UniqueSessionId": sid, "Tag": "nope"}, "AbortTask with a Tag that is no id")
        invalid(c, "AbortTask", {"UniqueSessionId": sid}, "AbortTask without Tag")

    def test_clients_gone_with_io_in_flight(self):
        """The daemon lives on, the writes land, other clients are answered."""
        t, c, d = self.t, self.c, self.d
        sid = login(c)
        self.assertTrue(sid, "setup: LoginToTarget")
        gone = []
        for k in range(8):
            g = d.client()
            payload = bytes([k + 1]) * (64 * 1024)
            lba = BASE + 4096 + k * 128
            g.send("ScsiWrite", {"UniqueSessionId": sid, "Lun": LUN, "Lba": lba, "Data": b64(payload)})
            for _ in range(4):
                g.send("ScsiRead", {"UniqueSessionId": sid, "Lun": LUN, "Lba": BASE, "Length": 4 << 20})
            g.send("ScsiCommand", {"UniqueSessionId": sid, "Lun": LUN, "Cdb": "120000006000", "Direction": "read",
                                   "Length": 96})
            g.sock.shutdown(socket.SHUT_RDWR)
            g.close()
            gone.append((lba, payload))
        t.status(c.call("GetVersion"), "ISDSC_SUCCESS", "8 clients closed with 48 I/Os in flight: the daemon answers")
        landed = wait_for(lambda: all(read(c, sid, lba, 128)[1] == p for lba, p in gone) or None, 20, 0.2)
        t.ok(landed, "... and the writes of the clients that went away landed")
        t.ok(d.proc.poll() is None, "... the daemon is alive")
        t.status(c.call("LogoutFromTarget", {"UniqueSessionId": sid}), "ISDSC_SUCCESS", "LogoutFromTarget")

    def test_kill9_during_io(self):
        """A persistent login with a client writing and reading in a loop, kill -9 in the
        middle: after the restart the persistent login is back, state.json parses and
        holds it, and every acknowledged write reads back."""
        t, c, d = self.t, self.c, self.d
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget")
        psid = result(r).get("UniqueSessionId")
        w = self.client()
        acked, sent, ids = {}, {}, {}
        seq = 0
        deadline = time.time() + 30
        kill_after = 40                        # acknowledged writes before the kill
        while len(acked) < kill_after and time.time() < deadline:
            while len(ids) < 8:                # 8 writes in flight, each one block of its own pattern
                seq += 1
                block = (b"%08d" % seq) * 64
                i = w.send("ScsiWrite", {"UniqueSessionId": psid, "Lun": LUN, "Lba": BASE + 8192 + seq, "Data": b64(block)})
                ids[i] = seq
                sent[seq] = block
                w.send("ScsiRead", {"UniqueSessionId": psid, "Lun": LUN, "Lba": BASE, "Blocks": 64})
            msg = w.read_message(10)
            if msg and msg.get("id") in ids:
                s = ids.pop(msg["id"])
                if result(msg).get("StatusName") == "ISDSC_SUCCESS":
                    acked[s] = sent[s]
        t.ok(len(acked) >= kill_after and ids, "a client writing and reading in a loop: %d writes acknowledged, %d in flight"
             % (len(acked), len(ids)))
        d.kill9()
        with open(os.path.join(d.state, "state.json")) as f:
            doc = json.load(f)
        t.is_([x["TargetName"] for x in doc.get("PersistentTargets", [])], [plain],
              "after kill -9 mid-I/O state.json parses and holds the persistent target")
        for x in (c, w):
            x.close()
        d.start()
        c = self.client()

        def back():
            ss = [s for s in result(c.call("SessionList")).get("Sessions", [])
                  if s["TargetName"] == plain and s.get("Persistent") and s.get("ConnectionCount", 0) >= 1 and
                  all(x.get("State") == "active" for x in s.get("Connections", []))]
            return ss[0] if ss else None
        s = wait_for(back, 30, 0.2)
        t.ok(s, "after the restart the persistent login is back", result(c.call("SessionList")))
        nsid = (s or {}).get("UniqueSessionId")
        bad = [k for k, v in sorted(acked.items()) if read(c, nsid, BASE + 8192 + k, 1)[1] != v]
        t.ok(nsid and not bad, "every one of the %d acknowledged writes reads back" % len(acked), bad[:10])
        c.call("RemovePersistentTarget", {"TargetName": plain})
        c.call("LogoutFromTarget", {"UniqueSessionId": nsid})


if __name__ == "__main__":
    mcsid_test.main()
