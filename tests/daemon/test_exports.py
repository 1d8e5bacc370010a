#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_exports.py: mcsid's NBD exports (ExportLun, UnexportLun, ListExports).

Driven by clients nobody here wrote: nbdinfo (libnbd-bin) and qemu-io
(qemu-utils). An export over a Unix socket and over TCP (the bound port of
":0"), the size and block sizes nbdinfo reports, a qemu-io pattern written
and read back through both, a connected client in ListExports, UnexportLun
closing its clients, read-only; bad parameters answer a failing Status (or
invalid params) and the daemon goes on; LogoutFromTarget stops the session's
exports; persistent exports (PersistentLoginTarget's Exports, ExportLun with
IsPersistent) in the state file, back after kill -9 with their data; qemu-io
reads through an export while tgt drops the session's connections; a
session that fails for good (tgt refuses logins, recovery timeout 3 s): an
interactive qemu-io's read gets EIO, its connection stays, and reads again
once the keeper's new session took the export; nbdcopy of 64 MiB of random
data in and qemu-img dd out while tgt drops connections, qemu-img compare;
SIGTERM stops the exports before the logouts. Writes stay in the first
64 MiB of tgt's file LUN.

Two classes: TestExports (one daemon; each case makes its own session or
persistent target with its exports, and writes the patterns it reads back
through the daemon's ScsiWrite) and TestShutdown (a daemon of its own, which
the case stops). Any case runs alone:
    python3 tests/daemon/test_exports.py TestExports.test_read_only"""
import base64
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import result, tgt_portal, env, wait_for  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
LUN = int(env("MCSI_TGT_FILE_LUN"))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DROP = os.path.join(ROOT, "tests", "harness", "tgt-drop-conn")


def tool(*argv, timeout=60):
    """(exit code, stdout + stderr) of a client program."""
    try:
        p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return 124, "timed out: %s" % (e,)


def unix_uri(path):
    return "nbd+unix:///?socket=" + path


def qemu_io(uri, *cmds, read_only=False):
    argv = ["qemu-io", "-f", "raw"] + (["-r"] if read_only else [])
    for c in cmds:
        argv += ["-c", c]
    rc, out = tool(*(argv + [uri]))
    bad = "failed" in out.lower() or "error" in out.lower()
    return rc == 0 and not bad, out


def exports(c, sid=None):
    return result(c.call("ListExports", {"UniqueSessionId": sid} if sid else None)).get("Exports", [])


def export_of(c, export_id):
    return next((e for e in exports(c) if e["ExportId"] == export_id), None)


def alive(c):
    return result(c.call("GetVersion")).get("StatusName") == "ISDSC_SUCCESS"


def tgtadm(*args):
    return tool("tgtadm", "-C", "0", "--lld", "iscsi", *args, timeout=10) if os.environ.get("MCSI_TGT_IPC") else (1, "")


acl_state = {"unbound": False}


def acl(op):
    """Allows (bind) or refuses (unbind) every initiator's logins to tgt's tid 1."""
    os.environ["TGT_IPC_SOCKET"] = env("MCSI_TGT_IPC")
    acl_state["unbound"] = op == "unbind"
    return tgtadm("--op", op, "--mode", "target", "--tid", "1", "--initiator-address", "ALL")


class QemuIO:
    """An interactive qemu-io: one NBD connection kept open, commands one at a time."""

    def __init__(self, uri):
        self.p = subprocess.Popen(["qemu-io", "-f", "raw", uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)

    def cmd(self, line, timeout=60):
        """(answered, output) of one command."""
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()
        out, deadline = b"", time.time() + timeout
        while time.time() < deadline and b"ops/sec" not in out and b"failed" not in out:
            ready, _, _ = select.select([self.p.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        text = out.decode(errors="replace")
        return "ops/sec" in text or "failed" in text, text

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def listening_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    return s




def restore_acl():
    if acl_state["unbound"]:
        acl("bind")


class ExportCase(mcsid_test.DaemonCase):
    daemon_name = "exports"
    daemon_config = {"nbd_plain_tcp": "yes"}   # its TCP exports are plain, said explicitly

    def setUp(self):
        super().setUp()
        self.c = self.client()

    def session(self):
        """A session on the plain target (setup, not a check), logged out (its exports
        stopped) when the case ends."""
        r = self.c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: LoginToTarget: %r" % (r,))
        sid = result(r)["UniqueSessionId"]
        self.addCleanup(self.c.call, "LogoutFromTarget", {"UniqueSessionId": sid})
        return sid

    def write_pattern(self, sid, byte, offset, length):
        """length bytes of byte at offset of the file LUN, written through the daemon (setup;
        in pieces of 256 KiB: a request line is at most 1 MiB)."""
        piece = 256 << 10
        for at in range(offset, offset + length, piece):
            n = min(piece, offset + length - at)
            r = self.c.call("ScsiWrite", {"UniqueSessionId": sid, "Lun": LUN, "Lba": at // 512,
                                          "Data": base64.b64encode(bytes([byte]) * n).decode()}, timeout=60)
            self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: ScsiWrite: %r" % (r,))

    def tcp_export(self, sid):
        """A TCP export of the session on port 0 (setup): its ExportId and port."""
        r = self.c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Tcp": "127.0.0.1:0", "Tls": "off"})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: ExportLun over TCP: %r" % (r,))
        return result(r)["ExportId"], result(r)["Export"]["TcpPort"]

    def size_of(self, sock):
        return next((e.get("Size") for e in exports(self.c) if e.get("Socket") == sock), None)

    def persistent_target(self):
        """The persistent target of the plain target (2 connections, recovery timeout 3 s)
        with a persistent export on p.sock (name p) and one over TCP (setup): its session,
        the TCP port and the socket's path. Forgotten when the case ends."""
        c = self.c
        self.addCleanup(self.forget_persistent)
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Connections": 2,
                                             "RecoveryTimeoutMs": 3000,
                                             "Exports": [{"Lun": LUN, "Socket": "p.sock", "ExportName": "p"}]})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: PersistentLoginTarget: %r" % (r,))
        psid = result(r)["UniqueSessionId"]
        self.assertTrue(wait_for(lambda: [x for x in exports(c) if x["State"] == "up"], 20), "setup: p.sock up")
        r = c.call("ExportLun", {"UniqueSessionId": psid, "Lun": LUN, "Tcp": "127.0.0.1:0", "Tls": "off",
                                 "IsPersistent": True})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: persistent TCP export: %r" % (r,))
        return psid, result(r)["Export"]["TcpPort"], os.path.join(self.d.export_dir, "p.sock")

    def forget_persistent(self):
        """No persistent target, export or session left (a client of its own: the case may
        have restarted the daemon; nothing to do if it stopped it)."""
        if self.d.proc.poll() is not None:
            return
        c = self.d.client()
        try:
            c.call("RemovePersistentTarget", {"TargetName": plain})
            for e in exports(c):
                c.call("UnexportLun", {"ExportId": e["ExportId"]})
            for s in result(c.call("SessionList")).get("Sessions", []):
                c.call("LogoutFromTarget", {"UniqueSessionId": s["UniqueSessionId"]})
        finally:
            c.close()


class TestExports(ExportCase):
    def test_unix_and_tcp_exports(self):
        """An export over a Unix socket and over TCP: nbdinfo, qemu-io, a connected client, UnexportLun."""
        t, c, d = self.t, self.c, self.d
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_SUCCESS", "LoginToTarget (tgt, plain target)")
        sid = result(r)["UniqueSessionId"]
        self.addCleanup(c.call, "LogoutFromTarget", {"UniqueSessionId": sid})

        # ---- Unix socket and TCP --------------------------------------------------------------------------
        sock_a = os.path.join(d.export_dir, "a.sock")
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": "a.sock", "ExportName": "disk"})
        t.status(r, "ISDSC_SUCCESS", "ExportLun over a Unix socket (named a.sock, in export_dir)")
        ea = result(r).get("Export", {})
        ida = result(r).get("ExportId")
        t.ok(ea.get("State") == "up" and ea.get("Socket") == sock_a and ea.get("SocketName") == "a.sock" and
             ea.get("Lun") == LUN and
             ea.get("UniqueSessionId") == sid and ea.get("TargetName") == plain,
             "... answers its ExportId and the export (up, socket, session, LUN, target)", r)
        t.ok(ea.get("Size", 0) > 0 and ea.get("BlockSize") == 512 and ea.get("MultiConn") is True and
             ea.get("ReadOnly") is False, "... with its size, block size and flags", ea)
        t.is_(oct(os.stat(sock_a).st_mode & 0o777), "0o660", "the export's socket is mode 0660")

        rc, out = tool("nbdinfo", "--json", "nbd+unix:///disk?socket=" + sock_a)
        info = json.loads(out)["exports"][0] if rc == 0 else {}
        t.ok(rc == 0 and info.get("export-size") == ea.get("Size"), "nbdinfo reports the size ListExports gives", out)
        t.ok(info.get("block_size_minimum") == 1 and
             info.get("block_size_preferred") == ea.get("PreferredBlockSize") and
             info.get("block_size_maximum") == ea.get("MaxRequest"),
             "nbdinfo reports the block sizes (minimum 1: partial blocks by read-modify-write, issue 17)", out)
        t.ok(ea.get("Thin") is False and "ReadModifyWrites" in ea.get("Statistics", {}) and
             "BlockStatus" in ea.get("Statistics", {}) and "OverlapWaits" in ea.get("Statistics", {}),
             "ExportLun's export: Thin (not here), ReadModifyWrites, OverlapWaits, BlockStatus", ea)
        hop = {k: ea.get("Statistics", {}).get(k) for k in ("ReplyWrites", "RequestAllocations", "BufferAllocations")}
        t.ok(hop == {"ReplyWrites": 0, "RequestAllocations": 0, "BufferAllocations": 0},
             "... and the NBD hop's counters, ReplyWrites, RequestAllocations, BufferAllocations, at 0 before any "
             "request", ea)
        t.ok(info.get("can_multi_conn") is True and info.get("is_read_only") is False, "nbdinfo: multi-conn, writable",
             out)

        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Tcp": "127.0.0.1:0", "Tls": "off"})
        t.status(r, "ISDSC_SUCCESS", "ExportLun over TCP, port 0")
        eb = result(r).get("Export", {})
        idb = result(r).get("ExportId")
        port = eb.get("TcpPort", 0)
        t.ok(port > 0 and eb.get("Tcp") == "127.0.0.1:%d" % port and
             "nbd://127.0.0.1:%d/" % port in eb.get("Uris", []), "... answers the port it bound", eb)
        rc, out = tool("nbdinfo", "--size", "nbd://127.0.0.1:%d" % port)
        t.ok(rc == 0 and out.strip() == str(ea.get("Size")), "nbdinfo --size over TCP", out)

        ok, out = qemu_io(unix_uri(sock_a), "write -P 0x5a 0 1M", "read -P 0x5a 0 1M", "write -P 0xc3 4096k 64k")
        t.ok(ok, "qemu-io writes a pattern through the Unix socket and reads it back", out)
        ok, out = qemu_io(unix_uri(sock_a), "write -P 0x77 2000003 5", "read -P 0x77 2000003 5")
        e = export_of(c, ida) or {}
        t.ok(ok and e.get("Statistics", {}).get("ReadModifyWrites", 0) >= 1,
             "qemu-io writes 5 bytes at an odd offset; ListExports counts a read-modify-write", (out, e))
        ok, out = qemu_io("nbd://127.0.0.1:%d" % port, "read -P 0x5a 0 1M", "read -P 0xc3 4096k 64k")
        t.ok(ok, "qemu-io reads the same pattern through the TCP export", out)

        # ---- a connected client, UnexportLun ---------------------------------------------------------------------
        held = subprocess.Popen(["qemu-io", "-f", "raw", "nbd://127.0.0.1:%d" % port], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        e = wait_for(lambda: (export_of(c, idb) or {}).get("Clients", 0) >= 1 and export_of(c, idb), 20)
        t.ok(e and e["Clients"] >= 1 and e["Statistics"]["ClientsTotal"] >= 2,
             "ListExports shows qemu-io connected (Clients, ClientsTotal)", e)
        held.stdin.close()
        held.wait(20)
        e = export_of(c, ida) or {}
        st = e.get("Statistics", {})
        t.ok(st.get("BytesWritten", 0) >= (1 << 20) + (64 << 10) and st.get("BytesRead", 0) >= 1 << 20 and
             st.get("Requests", 0) > 0 and st.get("Errors") == 0, "ListExports counts the bytes and requests", e)
        t.ok(st.get("ReplyWrites", 0) > 0 and 0 < st.get("RequestAllocations", 0) <= st.get("Requests", 0),
             "... the writes of replies to the sockets (ReplyWrites) and the request structures allocated, reused "
             "(RequestAllocations: more than 0, no more than the requests)", st)
        t.ok(0 < st.get("BufferAllocations", 0) <= st.get("Requests", 0),
             "... and the data buffers allocated, kept for the next request (BufferAllocations: more than 0, "
             "no more than the requests)", st)
        t.note("after qemu-io: %s requests, %s reply writes, %s request allocations"
               % (st.get("Requests"), st.get("ReplyWrites"), st.get("RequestAllocations")))

        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.settimeout(10)
        raw.connect(sock_a)
        greeting = raw.recv(18)
        t.ok(greeting[:8] == b"NBDMAGIC", "a raw client gets the NBD greeting", greeting)
        r = c.call("UnexportLun", {"ExportId": ida})
        t.status(r, "ISDSC_SUCCESS", "UnexportLun by ExportId")
        try:
            eof = raw.recv(100) == b""
        except OSError:
            eof = True
        raw.close()
        t.ok(eof, "... closes its connected client")
        t.ok(not os.path.exists(sock_a) and export_of(c, ida) is None, "... removes its socket and its record")
        rc, out = tool("nbdinfo", unix_uri(sock_a))
        t.ok(rc != 0, "nbdinfo on the removed socket fails", out)
        r = c.call("UnexportLun", {"ExportId": ida})
        t.status(r, "ISDSC_NOT_FOUND", "UnexportLun of it again: ISDSC_NOT_FOUND")

    def test_read_only(self):
        t, c, d = self.t, self.c, self.d
        sid = self.session()
        self.write_pattern(sid, 0x5a, 0, 1 << 20)
        sock_ro = os.path.join(d.export_dir, "ro.sock")
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": "ro.sock", "ReadOnly": True,
                                 "MaxClients": 2})
        t.ok(result(r).get("Export", {}).get("ReadOnly") is True and result(r)["Export"].get("MaxClients") == 2,
             "ExportLun ReadOnly, MaxClients 2", r)
        ok, out = qemu_io(unix_uri(sock_ro), "read -P 0x5a 0 1M", read_only=True)
        t.ok(ok, "qemu-io reads the read-only export", out)
        ok, out = qemu_io(unix_uri(sock_ro), "write -P 0x11 0 4k")
        t.ok(not ok, "qemu-io cannot write it", out)
        r = c.call("UnexportLun", {"Socket": sock_ro})
        t.status(r, "ISDSC_SUCCESS", "UnexportLun by Socket (export_dir/name: the same name)")

    def test_bad_parameters(self):
        """Bad parameters answer a failing Status (or invalid params) and the daemon goes on."""
        t, c, d = self.t, self.c, self.d
        sid = self.session()
        idb, port = self.tcp_export(sid)
        sock_x = os.path.join(d.export_dir, "x.sock")
        r = c.call("ExportLun", {"UniqueSessionId": 987654321, "Lun": LUN, "Socket": "x.sock"})
        t.ok(result(r).get("Status", 0) != 0 and result(r).get("StatusName") and not os.path.exists(sock_x),
             "an unknown session: a failing Status (%s)" % result(r).get("StatusName"), r)
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": 77, "Socket": "x.sock"})
        t.ok(result(r).get("Status", 0) != 0 and not os.path.exists(sock_x),
             "a LUN that does not exist: a failing Status (%s)" % result(r).get("StatusName"), r)
        busy = listening_unix(sock_x)
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": "x.sock"})
        t.ok(result(r).get("StatusName") == "ISDSC_INVALID_PARAMETER" and "in use" in result(r).get("StatusMessage", ""),
             "a socket another server listens on: ISDSC_INVALID_PARAMETER, in use", r)
        t.ok(os.path.exists(sock_x), "... and that server's socket is left alone")
        busy.close()
        os.unlink(sock_x)
        tcp_busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp_busy.bind(("127.0.0.1", 0))
        tcp_busy.listen(1)
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Tcp": "127.0.0.1:%d" % tcp_busy.getsockname()[1], "Tls": "off"})
        t.ok(result(r).get("Status", 0) != 0 and "in use" in result(r).get("StatusMessage", "").lower(),
             "a TCP port in use: a failing Status saying so", r)
        tcp_busy.close()
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Tcp": "127.0.0.1:%d" % port, "Tls": "off"})
        t.ok(result(r).get("Status", 0) != 0, "the port of another export: a failing Status", r)
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN})
        t.is_((r.get("error") or {}).get("code"), -32602, "neither Socket nor Tcp: invalid params")
        for bad in ("sub/x.sock", "../x.sock", ".x.sock", "", "x" * 65, os.path.join(d.dir, "x.sock")):
            r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": bad})
            t.is_((r.get("error") or {}).get("code"), -32602, "Socket %r (not a name in export_dir): invalid params" % bad[:70])
        t.ok(not os.path.exists(os.path.join(d.dir, "x.sock")), "... and no socket was made for any of them")
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": "x.sock", "IsPersistent": True})
        t.status(r, "ISDSC_INVALID_PARAMETER", "IsPersistent on a session of no persistent target: a failing Status")
        r = c.call("UnexportLun", {})
        t.is_((r.get("error") or {}).get("code"), -32602, "UnexportLun without ExportId or Socket: invalid params")
        t.ok(alive(c) and [e["ExportId"] for e in exports(c)] == [idb], "the daemon answers; only the TCP export is left",
             exports(c))

    def test_logout_stops_exports(self):
        t, c, d = self.t, self.c, self.d
        sid = self.session()
        idb, port = self.tcp_export(sid)
        sock_l = os.path.join(d.export_dir, "l.sock")
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": "l.sock"})
        t.status(r, "ISDSC_SUCCESS", "a second export on the session")
        r = c.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": sock_l})
        t.ok(result(r).get("StatusName") == "ISDSC_INVALID_PARAMETER" and "export" in result(r).get("StatusMessage", ""),
             "the socket of another export: ISDSC_INVALID_PARAMETER naming it", r)
        rc, out = tool("nbdinfo", "--size", unix_uri(sock_l))
        t.ok(rc == 0, "... and that export still serves", out)
        r = c.call("LogoutFromTarget", {"UniqueSessionId": sid})
        t.status(r, "ISDSC_SUCCESS", "LogoutFromTarget")
        t.ok(exports(c) == [] and not os.path.exists(sock_l), "... stopped both exports (records and socket gone)",
             exports(c))
        rc, out = tool("nbdinfo", "--size", "nbd://127.0.0.1:%d" % port)
        t.ok(rc != 0, "nbdinfo on the TCP port fails", out)

    def test_persistent_exports(self):
        """PersistentLoginTarget's Exports, ExportLun IsPersistent: in the state file, back
        after kill -9 with their data."""
        t, c, d = self.t, self.c, self.d
        self.addCleanup(self.forget_persistent)
        sock_p = os.path.join(d.export_dir, "p.sock")
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(), "Connections": 2,
                                             "RecoveryTimeoutMs": 3000, "Exports": [{"Lun": LUN, "Socket": "p.sock", "ExportName": "p"}]})
        t.status(r, "ISDSC_SUCCESS", "PersistentLoginTarget with an Exports list")
        psid = result(r).get("UniqueSessionId")
        self.write_pattern(psid, 0x5a, 0, 1 << 20)    # what the restored TCP export reads back
        e = wait_for(lambda: next((x for x in exports(c) if x["State"] == "up"), None), 20)
        t.ok(e and e["Socket"] == sock_p and e["IsPersistent"] is True and e["UniqueSessionId"] == psid,
             "its export comes up on the persistent session", exports(c))
        size = (e or {}).get("Size")
        r = c.call("ExportLun", {"UniqueSessionId": psid, "Lun": LUN, "Tcp": "127.0.0.1:0", "Tls": "off", "IsPersistent": True})
        t.status(r, "ISDSC_SUCCESS", "ExportLun IsPersistent on the persistent session (TCP, port 0)")
        pport = result(r).get("Export", {}).get("TcpPort")
        t.ok(result(r).get("Export", {}).get("IsPersistent") is True, "... is persistent", r)
        r = c.call("PersistentLoginTarget", {"TargetName": "iqn.2026-11.org.mcsi:bad", "TargetPortal": tgt_portal(),
                                             "Exports": [{"Lun": 1}]})
        t.is_((r.get("error") or {}).get("code"), -32602, "Exports with an export of neither Socket nor Tcp: invalid params")
        with open(os.path.join(d.state, "state.json")) as f:
            stored = json.load(f)
        specs = [x.get("Exports") for x in stored["PersistentTargets"] if x["TargetName"] == plain]
        t.is_(specs, [[{"Lun": LUN, "Socket": "p.sock", "ExportName": "p"}, {"Lun": LUN, "Tcp": "127.0.0.1:%d" % pport, "Tls": "off"}]],
              "state.json holds both exports (the socket by its name, the TCP one with the port it bound)")
        ok, out = qemu_io(unix_uri(sock_p).replace("///", "///p"), "write -P 0x77 2048k 256k")
        t.ok(ok, "qemu-io writes through the persistent export", out)

        d.kill9()
        d.start()
        c = self.client()
        up = wait_for(lambda: [x for x in exports(c) if x["State"] == "up"] if len(
            [x for x in exports(c) if x["State"] == "up"]) == 2 else None, 30, 0.2)
        t.ok(up and sorted(x.get("Socket") or x.get("Tcp") for x in up) == sorted([sock_p, "127.0.0.1:%d" % pport]),
             "kill -9, restart: both persistent exports are back", exports(c))
        rc, out = tool("nbdinfo", "--size", "nbd+unix:///p?socket=" + sock_p)
        t.ok(rc == 0 and int(out.strip() or 0) == size, "nbdinfo works on the restored socket", out)
        ok, out = qemu_io("nbd://127.0.0.1:%d" % pport, "read -P 0x77 2048k 256k", "read -P 0x5a 0 1M")
        t.ok(ok, "qemu-io reads the data written before kill -9 through the restored TCP port", out)

    def test_connection_drops_under_qemu_io(self):
        """qemu-io reads through an export while tgt drops the session's connections."""
        t, c = self.t, self.c
        psid, pport, sock_p = self.persistent_target()
        self.write_pattern(psid, 0x5a, 0, 1 << 20)
        reader = subprocess.Popen(["qemu-io", "-f", "raw"] + sum((["-c", "read -P 0x5a 0 1M"] for _ in range(300)), []) +
                                  ["nbd://127.0.0.1:%d" % pport], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        drops = 0
        for _ in range(5):   # the first drop at once, while qemu-io starts or reads
            if reader.poll() is not None:
                break
            rc, out = tool("bash", DROP, "1")
            drops += out.count("dropped")
            time.sleep(0.25)
        try:
            out, _ = reader.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            reader.kill()
            out, _ = reader.communicate()
        t.note("%d connections dropped during the reads" % drops)
        t.ok(drops > 0, "tgt dropped the session's connections during the reads")
        t.ok(reader.returncode == 0 and out.count("read 1048576/1048576") == 300 and "fail" not in out.lower(),
             "qemu-io: 300 reads verified, none failed, across the drops", out[-2000:])
        e = wait_for(lambda: next((x for x in exports(c) if x.get("Tcp") == "127.0.0.1:%d" % pport), None), 5)
        t.ok(e and e["State"] == "up" and e["Statistics"]["Errors"] == 0, "the export stayed up, no request failed", e)
        def session():
            return result(c.call("GetSessionInfo", {"UniqueSessionId": psid})).get("Session", {})
        # the last drop may have come as qemu-io ended: its repair (a reinstatement) may still be under way
        t.ok(wait_for(lambda: session().get("State") == "active", 15), "the session is active again", session())

    def test_session_fails_for_good(self):
        """tgt refuses logins, recovery timeout 3 s: an interactive qemu-io's read gets EIO,
        its connection stays, and reads again once the keeper's new session took the export."""
        t, c = self.t, self.c
        psid, pport, sock_p = self.persistent_target()
        self.write_pattern(psid, 0x77, 2048 << 10, 64 << 10)
        q = QemuIO("nbd+unix:///p?socket=" + sock_p)
        self.addCleanup(q.close)
        answered, out = q.cmd("read -P 0x77 2048k 64k")
        t.ok(answered and "read 65536/65536" in out, "an interactive qemu-io reads through the persistent export", out)
        self.addCleanup(restore_acl)
        rc, out = acl("unbind")
        t.ok(rc == 0, "tgt refuses every login to the target from now on (ACL unbound)", out)
        rc, out = tool("bash", DROP, "1")
        t0 = time.time()
        answered, out = q.cmd("read -P 0x77 2048k 64k", timeout=60)
        waited = time.time() - t0
        t.ok(answered and "Input/output error" in out, "connections dropped, no login possible: the read waits, then EIO",
             out)
        t.note("the read failed after %.1f s (recovery timeout 3 s)" % waited)
        failed = wait_for(lambda: result(c.call("ListPersistentTargets"))["PersistentTargets"][0]["UniqueSessionId"] != psid,
                          20)
        e = next((x for x in exports(c) if x.get("Socket") == sock_p), {})
        t.ok(failed and e.get("State") == "up" and e.get("Clients", 0) >= 1,
             "the session failed for good; the export stays up, its client connected", e)
        rc, out = acl("bind")
        t.ok(rc == 0, "tgt accepts logins again", out)
        nsid = wait_for(lambda: result(c.call("ListPersistentTargets"))["PersistentTargets"][0]["UniqueSessionId"], 30,
                        0.2)
        t.ok(nsid and nsid != psid, "the keeper logged in again: a new session (%s, was %s)" % (nsid, psid))
        e = wait_for(lambda: next((x for x in exports(c) if x.get("Socket") == sock_p and x["UniqueSessionId"] == nsid),
                                  None), 10)
        t.ok(e and all(x["UniqueSessionId"] == nsid for x in exports(c)), "both exports moved to the new session",
             exports(c))
        answered, out = q.cmd("read -P 0x77 2048k 64k")
        t.ok(answered and "read 65536/65536" in out, "the same qemu-io connection reads again, verified", out)

    def test_nbdcopy_across_drops(self):
        """nbdcopy of 64 MiB of random data in and qemu-img dd out while tgt drops connections."""
        t, d = self.t, self.d
        psid, pport, sock_p = self.persistent_target()
        src, back = os.path.join(d.dir, "src.img"), os.path.join(d.dir, "back.img")
        with open(src, "wb") as f:
            for _ in range(64):
                f.write(os.urandom(1 << 20))
        uri = "nbd://127.0.0.1:%d" % pport
        for what, argv in (("nbdcopy in", ["nbdcopy", src, uri]),
                           ("qemu-img dd out", ["qemu-img", "dd", "-f", "raw", "-O", "raw", "bs=1M", "count=64",
                                                "if=" + uri, "of=" + back])):
            copy = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            drops = 0
            while copy.poll() is None and drops < 20:
                drops += tool("bash", DROP, "1")[1].count("dropped")
                time.sleep(0.1)
            out, _ = copy.communicate(timeout=120)
            t.note("%s: %d connections dropped while it ran" % (what, drops))
            t.ok(copy.returncode == 0 and "error" not in out.lower(),
                 "%s (64 MiB) while tgt drops connections: no error" % what, out)
        rc, out = tool("qemu-img", "compare", "-f", "raw", "-F", "raw", src, back)
        t.ok(rc == 0, "qemu-img compare: what came back is what went in", out)
        os.unlink(src)
        os.unlink(back)

    def test_logout_of_persistent_session(self):
        """LogoutFromTarget of the persistent session: its exports wait; SIGHUP brings them back."""
        t, c, d = self.t, self.c, self.d
        psid, pport, sock_p = self.persistent_target()
        r = c.call("LogoutFromTarget", {"UniqueSessionId": psid})
        t.status(r, "ISDSC_SUCCESS", "LogoutFromTarget of the persistent session")
        t.ok(sorted(x["State"] for x in exports(c)) == ["waiting", "waiting"] and not os.path.exists(sock_p),
             "its two persistent exports wait (stopped, socket removed)", exports(c))
        d.signal(signal.SIGHUP)
        up = wait_for(lambda: sorted(x["State"] for x in exports(c)) == ["up", "up"], 30, 0.2)
        t.ok(up and os.path.exists(sock_p), "SIGHUP: the target logs in again, both exports are up", exports(c))
        rc, out = tool("nbdinfo", "--size", unix_uri(sock_p))
        t.ok(rc == 0 and int(out.strip() or 0) == self.size_of(sock_p), "nbdinfo works on it again", out)

    def test_unexport_persistent(self):
        """UnexportLun of a persistent export removes it from the state file."""
        t, c, d = self.t, self.c, self.d
        psid, pport, sock_p = self.persistent_target()
        r = c.call("UnexportLun", {"Socket": "p.sock"})
        t.status(r, "ISDSC_SUCCESS", "UnexportLun of a persistent export (by its socket's name)")
        with open(os.path.join(d.state, "state.json")) as f:
            stored = json.load(f)
        specs = [x.get("Exports") for x in stored["PersistentTargets"] if x["TargetName"] == plain]
        t.is_(specs, [[{"Lun": LUN, "Tcp": "127.0.0.1:%d" % pport, "Tls": "off"}]], "... and from the state file")


class TestShutdown(ExportCase):
    daemon_name = "exports-stop"

    def test_sigterm_stops_exports_first(self):
        """SIGTERM: exports stopped, then the logouts."""
        t, c, d = self.t, self.c, self.d
        psid, pport, sock_p = self.persistent_target()
        self.c.call("UnexportLun", {"Socket": "p.sock"})   # the TCP export is the one left, as in test_unexport_persistent
        held = subprocess.Popen(["qemu-io", "-f", "raw", "nbd://127.0.0.1:%d" % pport], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: (exports(c) or [{}])[0].get("Clients", 0) >= 1, 20)
        d.signal(signal.SIGTERM)
        t.is_(d.wait(30), 0, "SIGTERM with a connected NBD client: exit 0")
        log = d.log_text()
        stop_at, logout_at = log.find("exports stopped"), log.find("logging out")
        t.ok(0 <= stop_at < logout_at and "1 clients closed" in log,
             "the export and its client stopped before the logouts began", log[-1500:])
        held.stdin.close()
        held.wait(20)


if __name__ == "__main__":
    mcsid_test.main()
