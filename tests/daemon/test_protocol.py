#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_protocol.py: mcsid's JSON-RPC 2.0 framing and its bounds, as any
client sees them: garbage, invalid JSON, invalid requests, batches,
unknown methods, bad params, notifications, an oversized line, a partial
line that idles, a client that never reads its notifications, too many
requests in flight, the peer check, the socket's mode, socat.

Classes: TestCommandLine (no daemon), TestProtocol (one daemon, each case with
clients of its own), TestPeerCheck (a daemon of its own: it changes its
socket's mode and group). Any case runs alone:
    python3 tests/daemon/test_protocol.py TestProtocol.test_partial_line_idle"""
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import MCSID, result, tgt_portal, env, wait_for  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
CONFIG = {"partial_timeout_ms": 1000, "output_max": 65536}


def raw(client, data, timeout=10):
    client.send_raw(data)
    return client.read_message(timeout)


def error_code(msg):
    return (msg or {}).get("error", {}).get("code")


class TestCommandLine(mcsid_test.DaemonCase):
    start_daemon = False

    def test_options(self):
        t = self.t
        # The program's command line.
        p = subprocess.run([MCSID, "--help"], capture_output=True, text=True)
        t.ok(p.returncode == 0 and "--socket" in p.stdout and "--state-dir" in p.stdout, "mcsid --help: usage, exit 0")
        p = subprocess.run([MCSID, "--version"], capture_output=True, text=True)
        t.ok(p.returncode == 0 and p.stdout.startswith("mcsid "), "mcsid --version: exit 0")
        p = subprocess.run([MCSID, "--no-such-option"], capture_output=True, text=True)
        t.is_(p.returncode, 2, "an unknown option: exit 2")


class ProtocolCase(mcsid_test.DaemonCase):
    daemon_name = "protocol"
    daemon_config = CONFIG
    log_tail = 5000

    @classmethod
    def setUpClass(cls):
        old_umask = os.umask(0)   # the socket must be 0660 whatever the umask
        try:
            super().setUpClass()
        finally:
            os.umask(old_umask)

    def setUp(self):
        super().setUp()
        self.c = self.client()

    def silent_portal(self):
        """A portal that accepts TCP (the kernel does) and never answers, closed when the case ends."""
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(128)
        return "127.0.0.1:%d" % silent.getsockname()[1]


class TestProtocol(ProtocolCase):
    def test_socket_mode(self):
        t, d = self.t, self.d
        t.is_(stat.S_IMODE(os.stat(d.socket).st_mode), 0o660, "the socket is 0660 (created under umask 0)")
        t.ok(stat.S_ISSOCK(os.stat(d.socket).st_mode), "its directory was created")

    def test_framing_errors(self):
        """Framing errors: the connection stays."""
        t, c = self.t, self.c
        r = raw(c, b"garbage\n")
        t.ok(error_code(r) == -32700 and r.get("id") is None, "garbage: parse error -32700, id null", r)
        r = raw(c, b'{"jsonrpc":"2.0","id":1,\n')
        t.is_(error_code(r), -32700, "a truncated object: parse error")
        r = raw(c, b'{"jsonrpc":"2.0","id":1,"method":"GetVersion","id":2}\n')
        t.is_(error_code(r), -32700, "duplicate keys: parse error")
        r = raw(c, b'{"jsonrpc":"1.0","id":5,"method":"GetVersion"}\n')
        t.ok(error_code(r) == -32600 and r.get("id") == 5, "jsonrpc 1.0: invalid request -32600 with its id", r)
        r = raw(c, b'{"jsonrpc":"2.0","id":6}\n')
        t.is_(error_code(r), -32600, "no method: invalid request")
        r = raw(c, b'{"jsonrpc":"2.0","id":{"a":1},"method":"GetVersion"}\n')
        t.ok(error_code(r) == -32600 and r.get("id") is None, "an object as id: invalid request, id null", r)
        r = raw(c, b'{"jsonrpc":"2.0","id":7,"method":"GetVersion","extra":1}\n')
        t.is_(error_code(r), -32600, "an unknown member: invalid request")
        r = raw(c, b'"just a string"\n')
        t.is_(error_code(r), -32600, "a string: invalid request")
        r = raw(c, b'[{"jsonrpc":"2.0","id":1,"method":"GetVersion"}]\n')
        t.ok(error_code(r) == -32600 and "batch" in r["error"]["message"], "a batch: rejected with -32600", r)
        r = raw(c, b'{"jsonrpc":"2.0","id":"x","method":"NoSuchMethod"}\n')
        t.ok(error_code(r) == -32601 and r.get("id") == "x", "unknown method: -32601 with its id", r)
        r = c.call("GetVersion", [])
        t.is_(error_code(r), -32602, "params as an array: invalid params")
        r = c.call("LogoutFromTarget", {})
        t.ok(error_code(r) == -32602 and "UniqueSessionId" in r["error"]["message"], "a missing parameter: -32602", r)
        r = c.call("LogoutFromTarget", {"UniqueSessionId": True})
        t.is_(error_code(r), -32602, "a parameter of the wrong type: -32602")
        r = c.call("LogoutFromTarget", {"UniqueSessionId": "12abc"})
        t.is_(error_code(r), -32602, "an id string that is no number: -32602")
        r = c.call("LogoutFromTarget", {"UniqueSessionId": 1, "Bogus": 2})
        t.is_(error_code(r), -32602, "an unknown parameter: -32602")
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": {"Address": "127.0.0.1", "Port": 70000}})
        t.is_(error_code(r), -32602, "a portal with port 70000: -32602")
        r = c.call("LogoutFromTarget", {"UniqueSessionId": 999999})
        t.ok(r.get("result", {}).get("StatusName") == "ISDSC_INVALID_SESSION_ID" and "error" not in r,
             "a failing operation is a result, not an error", r)

    def test_notifications(self):
        """Notifications get no answer; blank lines and CRLF are fine."""
        t, c = self.t, self.c
        c.send("GetVersion", notification=True)
        c.send("NoSuchMethod", notification=True)
        c.send_raw(b"\n   \n")
        c.send_raw(b'{"jsonrpc":"2.0","id":"crlf","method":"GetVersion"}\r\n')
        r = c.read_message(10)
        t.ok(r and r.get("id") == "crlf", "notifications are not answered; the next answer is the CRLF request's", r)
        r = c.call("GetVersion")
        t.status(r, "ISDSC_SUCCESS", "the connection serves on after every error")

    def test_line_limits(self):
        """A line just under 1 MiB is parsed; one over it is refused and closed."""
        t, c, d = self.t, self.c, self.d
        big = b'{"jsonrpc":"2.0","id":9,"method":"GetVersion","params":{"Pad":"' + b"a" * ((1 << 20) - 100) + b'"}}\n'
        r = raw(c, big)
        t.ok(error_code(r) == -32602 and r.get("id") == 9, "a line of %d bytes is parsed (-32602 for Pad)" % (len(big) - 1), r)
        c2 = d.client()
        try:
            c2.send_raw(b'{"jsonrpc":"2.0","id":10,"method":"GetVersion","params":{"Pad":"' + b"a" * (1 << 20) + b'"}}\n')
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c2.read_message(10)
        t.ok(error_code(r) == -32600 and "longer than 1048576" in r["error"]["message"],
             "a line over 1 MiB: invalid request -32600", r)
        t.ok(c2.read_line(10) is None, "... then the connection is closed")
        c3 = d.client()
        try:
            c3.send_raw(b"x" * (3 << 20))  # no newline at all; the daemon may close before the end
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c3.read_message(10)
        t.ok(error_code(r) == -32600 and c3.read_line(10) is None, "3 MiB without a newline: the same", r)

    def test_partial_line_idle(self):
        """A partial line that idles is closed (partial_timeout_ms = 1000)."""
        t, c, d = self.t, self.c, self.d
        c4 = d.client()
        c4.send_raw(b'{"jsonrpc":"2.0","id":1,')
        start = time.time()
        eof = c4.read_line(10) is None
        idle = time.time() - start
        t.ok(eof and 0.9 < idle < 8, "a partial line idle for 1 s: closed (after %.2f s)" % idle)
        t.ok("partial request idle" in d.log_text(), "... with a log line")
        t.status(c.call("GetVersion"), "ISDSC_SUCCESS", "the other clients are served meanwhile")

    def test_socat(self):
        """The raw line through socat, a client nobody here wrote."""
        t, d = self.t, self.d
        p = subprocess.run(["socat", "-t", "5", "-", "UNIX-CONNECT:" + d.socket],
                           input='{"jsonrpc":"2.0","id":"socat","method":"GetVersion"}\n', capture_output=True, text=True,
                           timeout=20)
        lines = p.stdout.splitlines()
        t.ok(p.returncode == 0 and len(lines) == 1 and json.loads(lines[0])["result"]["StatusName"] == "ISDSC_SUCCESS"
             and json.loads(lines[0])["id"] == "socat", "socat: one raw line in, one result line out", p.stdout + p.stderr)

    def test_too_many_in_flight(self):
        """Too many requests in flight: 70 logins to a portal that accepts TCP and never answers."""
        t, c, d = self.t, self.c, self.d
        portal = self.silent_portal()
        c5 = d.client()
        ids = [c5.send("LoginToTarget", {"TargetName": plain, "TargetPortal": portal, "LoginTimeoutMs": 1500})
               for _ in range(70)]
        t0 = time.time()
        r = c.call("GetVersion")
        t.ok(r and time.time() - t0 < 1.0, "GetVersion on another client answers while 64 logins hang (%.1f ms)"
             % ((time.time() - t0) * 1000))
        answers = [c5.wait_id(i, 30) for i in ids]
        busy = [a for a in answers if error_code(a) == -32000]
        failed = [a for a in answers if a.get("result", {}).get("StatusName") in ("ISDSC_LOGIN_FAILED",
                                                                                  "ISDSC_CONNECTION_FAILED")]
        t.is_((len(busy), len(failed)), (6, 64), "70 at once: 64 in flight end with a failing Status, 6 get -32000")
        t.status(c5.call("GetVersion"), "ISDSC_SUCCESS", "once they ended the client sends again")

    def test_hang_up_with_request_in_flight(self):
        """A client that hangs up with a request in flight costs nothing while it waits."""
        t, d = self.t, self.d
        def cpu_seconds():
            with open("/proc/%d/stat" % d.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        portal = self.silent_portal()
        gone = d.client()
        gone.send("LoginToTarget", {"TargetName": plain, "TargetPortal": portal, "LoginTimeoutMs": 3000})
        time.sleep(0.1)
        closed = d.log_text().count("closed (hang-up)")   # earlier cases' clients closed too
        gone.close()
        cpu0 = cpu_seconds()
        time.sleep(2)
        used = cpu_seconds() - cpu0
        t.ok(used < 1.0, "a client gone with a login in flight: the daemon idles (%.2f s CPU in 2 s)" % used)
        t.ok(wait_for(lambda: d.log_text().count("closed (hang-up)") > closed, 5), "... and closes it at once (hang-up)")

    def test_non_reader_dropped(self):
        """A client that does not read its notifications is dropped (output_max = 65536)."""
        t, c, d = self.t, self.c, self.d
        lazy = d.client()
        t.status(lazy.call("Subscribe"), "ISDSC_SUCCESS", "a client subscribes and then never reads")
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        sid = result(r).get("UniqueSessionId")
        cycles = 0
        while "does not read: dropped" not in d.log_text() and cycles < 600:
            cid = result(c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal()}))\
                .get("UniqueConnectionId")
            c.call("RemoveConnectionFromSession", {"UniqueSessionId": sid, "UniqueConnectionId": cid})
            cycles += 1
        t.ok("does not read: dropped" in d.log_text(), "the non-reader is dropped after %d add/remove cycles" % cycles)
        t.status(c.call("GetVersion"), "ISDSC_SUCCESS", "the daemon and the busy client go on")
        lazy.sock.settimeout(10)
        got = b""
        try:
            while True:
                chunk = lazy.sock.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        t.ok(len(got) < (4 << 20), "the dropped client had %d bytes queued at most (bounded)" % len(got))
        c.call("LogoutFromTarget", {"UniqueSessionId": sid})

    def test_second_daemon_and_bad_configuration(self):
        """A second daemon on a live socket refuses to start; a bad configuration too."""
        t, d = self.t, self.d
        p = subprocess.run([MCSID, "--socket", d.socket, "--state-dir", d.state + "2", "--config", d.conf],
                           capture_output=True, text=True, timeout=20)
        t.ok(p.returncode == 1 and "another mcsid" in p.stderr, "a second mcsid on the same socket: exit 1", p.stderr)
        bad = os.path.join(d.dir, "bad.conf")
        with open(bad, "w") as f:
            f.write("max_pending = lots\n")
        p = subprocess.run([MCSID, "--socket", d.socket + "3", "--state-dir", d.state + "3", "--config", bad],
                           capture_output=True, text=True, timeout=20)
        t.ok(p.returncode == 1 and "bad value for max_pending" in p.stderr, "a bad configuration: exit 1", p.stderr)
        t.ok(d.proc.poll() is None, "the daemon is alive after all of it")


class TestPeerCheck(ProtocolCase):
    daemon_name = "protocol-peer"

    def test_peer_check(self):
        """The peer check: a uid that is neither root nor ours nor in socket_group."""
        t, d = self.t, self.d
        os.chmod(d.dir, 0o755)
        os.chmod(d.socket, 0o666)

        def as_nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)

        def probe():
            """GetVersion through socat as uid/gid 65534: what came back."""
            return subprocess.run(["socat", "-t", "3", "-", "UNIX-CONNECT:" + d.socket], preexec_fn=as_nobody,
                                  input='{"jsonrpc":"2.0","id":1,"method":"GetVersion"}\n', capture_output=True,
                                  text=True, timeout=20)

        p = probe()
        t.is_(p.stdout, "", "uid 65534: closed without an answer")
        t.ok(wait_for(lambda: "uid 65534 gid 65534 refused" in d.log_text(), 5), "... with a log line")
        grp = subprocess.run(["getent", "group", "65534"], capture_output=True, text=True).stdout.split(":")[0]
        d.write_config({"initiator_name": d.iqn, "log_level": "debug", "partial_timeout_ms": 1000,
                        "output_max": 65536, "socket_group": grp})
        d.signal(signal.SIGHUP)
        t.ok(wait_for(lambda: "reloaded" in d.log_text(), 5), "SIGHUP reloads the configuration")
        os.chmod(d.socket, 0o666)
        p = probe()
        t.ok("ISDSC_SUCCESS" in p.stdout, "after socket_group = %s and SIGHUP, that group's member is served" % grp,
             p.stdout + p.stderr)
        t.is_(os.stat(d.socket).st_gid, 65534, "the socket's group follows socket_group")


if __name__ == "__main__":
    mcsid_test.main()
