# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_top.py: `mcsi top --connect` against a real mcsid, in a real terminal.

A tmux server of the test's own (-L, its own socket, no configuration) runs
`mcsi top --connect=SOCKET` in a 160x50 pane while a Lua writer (the mcsi
program through the same daemon) keeps writing to a tgt session of two
connections. The test reads the pane with capture-pane -p, polling with a
deadline: the session and its two connections with non-zero IOPS and a
latency, then the second connection dropped at the TCP level (ss -K, as a
target or network failure looks) shown as an event line and the
connection count going from 2 to 1, then every connection dropped at
tgt (tests/harness/tgt-drop-conn): the failover (reinstatement) as event
lines and in the FAILOVERS column, I/O going on; the keys: i / n change the sort, 1 and
Down pick one session of two (the other one, on istgt, leaves the pane), a
shows both again, q quits (the terminal is given back: the shell after it
prints top's exit status). Then --once (plain text, no escape codes) and
--json (one object per interval, parsed here), and GetSessionInfo's
LatencyHistogram itself.
"""
import json
import os
import re
import shutil
import subprocess
import time

import mcsid_test
from mcsid_test import BUILD, ROOT, env, result, tgt_portal, istgt_portal, wait_for

MCSI = os.path.join(BUILD, "mcsi")
WRITER = """
local sid, lun = tonumber(os.getenv("SID")), tonumber(os.getenv("LUN"))
local data, t0, n = string.rep("t", 4096), mcsi.now(), 0
while mcsi.now() - t0 < 120000 do          -- the test stops it long before
  mcsi.write(sid, lun, (n % 1024) * 8, data)
  n = n + 1
end
"""


class Tmux:
    """A tmux server of our own with one session running cmd."""

    def __init__(self, cmd, width=160, height=50, session="top"):
        self.name = "mcsi-top-test-%d-%s" % (os.getpid(), session)
        self.session = session
        self.base = ["tmux", "-L", self.name, "-f", "/dev/null"]
        subprocess.run(self.base + ["new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), cmd],
                       check=True, timeout=10)

    def capture(self):
        r = subprocess.run(self.base + ["capture-pane", "-p", "-t", self.session], capture_output=True, text=True,
                           timeout=10)
        return r.stdout

    def keys(self, *keys):
        subprocess.run(self.base + ["send-keys", "-t", self.session] + list(keys), check=True, timeout=10)

    def wait(self, pred, timeout=20):
        """The pane's text once pred(text) holds, or None at the deadline (the last text in self.last)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.last = self.capture()
            if pred(self.last):
                return self.last
            time.sleep(0.1)
        return None

    def kill(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True, timeout=10)


def conn_rows(text):
    """{connection id: (iops, p50 text)} of the pane's connection lines."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\s+0x([0-9a-f]{16}) cid \d+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if m:
            iops = m.group(5)
            rows[int(m.group(1), 16)] = (float(iops) if iops != "-" else 0.0, m.group(8))
    return rows


def restored(text):
    """After top: its exit status, then `stty -a` shows canonical mode and echo on again."""
    tail = text.split("top-exited-0", 1)[1] if "top-exited-0" in text else ""
    return (re.search(r"(?<![-\w])icanon\b", tail) is not None and re.search(r"(?<![-\w])echo\b", tail) is not None)


def session_counters(text, sid):
    """(re-issued, failovers) of session sid's line in the pane, or None."""
    for line in text.splitlines():
        f = line.split()
        if len(f) > 3 and re.match(r"^>?\d+$", f[0]) and f[1] == "0x%016x" % sid:
            return int(f[-2]), int(f[-1])
    return None


def session_ids(text):
    """The ids of the session lines of the pane ("1   6 iqn..." / ">1  6 iqn..."), in order."""
    return [int(m.group(1), 16) for m in re.finditer(r"(?m)^>?\d+\s+0x([0-9a-f]{16}) ", text)]


class TestTop(mcsid_test.DaemonCase):
    daemon_name = "top"

    def login(self, c, target, portal):
        raw = c.call("LoginToTarget", {"TargetName": target, "TargetPortal": portal})
        self.t.status(raw, "ISDSC_SUCCESS", "LoginToTarget %s" % target)
        r = result(raw)
        return r.get("UniqueSessionId"), r.get("UniqueConnectionId")

    def test_top_in_tmux(self):
        t = self.t
        if not shutil.which("tmux"):
            self.skipTest("tmux is not installed (tools/deps.sh installs it)")
        c = self.d.client()
        sid, lead = self.login(c, env("MCSI_TGT_IQN_PLAIN"), tgt_portal())
        raw = c.call("AddConnectionToSession", {"UniqueSessionId": sid, "TargetPortal": tgt_portal("127.0.0.2")})
        t.status(raw, "ISDSC_SUCCESS", "AddConnectionToSession 127.0.0.2")
        second = result(raw).get("UniqueConnectionId")
        sid2, _ = self.login(c, env("MCSI_ISTGT_IQN"), istgt_portal())
        writer = subprocess.Popen([MCSI, "--connect", self.d.socket, "-e", WRITER], stdin=subprocess.DEVNULL,
                                  env=dict(os.environ, SID=str(sid), LUN=env("MCSI_TGT_FILE_LUN")))
        self.addCleanup(writer.kill)
        # top in the pane; when it ends the shell shows its exit status (the pane stays)
        cmd = "%s top --connect=%s; echo top-exited-$?; stty -a; sleep 60" % (MCSI, self.d.socket)
        tm = Tmux(cmd)
        self.addCleanup(tm.kill)

        def busy(text):
            rows = conn_rows(text)
            return ("2 conns of 4" in text and lead in rows and second in rows and
                    rows[lead][0] > 0 and rows[second][0] > 0 and rows[lead][1] != "-")
        text = tm.wait(busy)
        t.ok(text is not None, "the pane shows the session with two connections, both with IOPS and a latency",
             tm.last)
        t.ok(text is not None and "\x1b" not in (text or ""), "capture-pane gives the text the terminal shows")
        t.ok(text is not None and ("%d " % sid) in text and "leading/active" in text,
             "the session's id and the leading connection's role")

        # the second connection dropped under it: an event line, then one connection
        port = None
        info = result(c.call("GetSessionInfo", {"UniqueSessionId": sid})).get("Session", {})
        for conn in info.get("Connections", []):
            if conn["UniqueConnectionId"] == second:
                port = conn["InitiatorPort"]
        rc = subprocess.run(["ss", "-K", "-tn", "sport = :%s and dport = :%d" % (env("MCSI_TGT_PORT"), port)],
                            capture_output=True, timeout=10).returncode
        t.is_(rc, 0, "ss -K dropped connection %s" % second)
        text = tm.wait(lambda x: re.search(r"conn-failed\s+session 0x%016x conn 0x%016x" % (sid, second), x) is not None)
        t.ok(text is not None, "the drop shows as an event line", tm.last)
        text = tm.wait(lambda x: "1 conn of 4" in x and second not in conn_rows(x) and conn_rows(x).get(lead, (0,))[0] > 0)
        t.ok(text is not None, "the session has one connection left, still busy", tm.last)

        # every connection of the session dropped at the target: it fails over (reinstatement)
        drop = subprocess.run([os.path.join(ROOT, "tests", "harness", "tgt-drop-conn"), "1"], capture_output=True,
                              text=True, timeout=30)
        t.ok(drop.returncode == 0 and "dropped" in drop.stdout, "tgt-drop-conn 1: every connection dropped",
             drop.stdout + drop.stderr)
        text = tm.wait(lambda x: re.search(r"session-recovered\s+session 0x%016x" % sid, x) is not None and
                       (session_counters(x, sid) or (0, 0))[1] >= 1 and
                       any(iops > 0 for iops, _ in conn_rows(x).values()), 30)
        t.ok(text is not None, "the failover: an event line, FAILOVERS counts it, I/O goes on", tm.last)
        info = result(c.call("GetSessionInfo", {"UniqueSessionId": sid})).get("Session", {})
        t.is_(info.get("Recoveries"), 1, "GetSessionInfo counts the one failover too")
        lead = ([x["UniqueConnectionId"] for x in info.get("Connections", []) if x.get("Leading")] or [None])[0]

        # keys: sort, pick, all, quit
        # by name the istgt target ("...test.istgt:disk1") comes before tgt's ("...test:plain");
        # by IOPS the busy tgt session does
        tm.keys("i")
        t.ok(tm.wait(lambda x: "sort: iops" in x and session_ids(x) == [sid, sid2]) is not None,
             "i: sorted by IOPS, the busy session first", tm.last)
        tm.keys("n")
        t.ok(tm.wait(lambda x: "sort: name" in x and session_ids(x) == [sid2, sid]) is not None,
             "n: sorted by name", tm.last)
        both = tm.wait(lambda x: env("MCSI_ISTGT_IQN")[-20:] in x and "plain" in x)
        t.ok(both is not None, "both sessions are shown", tm.last)
        first_line = [l for l in (both or "").splitlines() if re.match(r"^1\s", l)]
        first_id = int(first_line[0].split()[1], 16) if first_line else None
        other = sid2 if first_id == sid else sid
        tm.keys("1")
        text = tm.wait(lambda x: "showing session 0x%016x" % first_id in x)
        t.ok(text is not None and session_ids(text) == [first_id], "1: only the first session", tm.last)
        tm.keys("Down")
        text = tm.wait(lambda x: "showing session 0x%016x" % other in x)
        t.ok(text is not None and session_ids(text) == [other], "Down: the next session alone", tm.last)
        tm.keys("a")
        text = tm.wait(lambda x: "showing session" not in x and len(session_ids(x)) == 2)
        t.ok(text is not None and sorted(session_ids(text)) == sorted([sid, sid2]), "a: all again", tm.last)
        tm.keys("q")
        text = tm.wait(restored)
        t.ok(text is not None, "q: top exits 0 and gives the terminal back (icanon, echo)", tm.last)
        # Ctrl-C ends it the same way
        tm2 = Tmux(cmd, session="ctrlc")
        self.addCleanup(tm2.kill)
        t.ok(tm2.wait(lambda x: "1 conn of 4" in x) is not None, "another top", tm2.last)
        tm2.keys("C-c")
        t.ok(tm2.wait(restored) is not None, "Ctrl-C: top exits 0 and gives the terminal back", tm2.last)

        # --once: one plain frame; --json: objects a line
        # (the program's own --connect before "top" works as top's; --session shows one)
        once = subprocess.run([MCSI, "--connect=" + self.d.socket, "top", "--once", "--session", str(sid)],
                              capture_output=True, text=True, timeout=30)
        t.is_(once.returncode, 0, "--once exits 0")
        t.is_(session_ids(once.stdout), [sid], "--session: that session alone")
        t.ok("\x1b" not in once.stdout and "SESSION / CONNECTION" in once.stdout and
             once.stdout.count("EVENTS") == 1, "--once: one frame of plain text", once.stdout + once.stderr)
        rows = conn_rows(once.stdout)
        t.ok(rows.get(lead, (0,))[0] > 0, "--once: the busy connection's IOPS", once.stdout)
        # without --connect: the daemon at $MCSI_SOCKET (else the default socket)
        js = subprocess.run([MCSI, "top", "--once", "--json"], capture_output=True, text=True, timeout=30,
                            env=dict(os.environ, MCSI_SOCKET=self.d.socket))
        lines = js.stdout.splitlines()
        t.is_(len(lines), 1, "--once --json: one line")
        try:
            snap = json.loads(lines[0]) if lines else {}
        except ValueError as e:
            snap = {}
            t.note("not JSON: %s" % e)
        sess = {s["id"]: s for s in snap.get("sessions", [])}
        t.ok(set(sess) == {sid, sid2}, "--json: both sessions", js.stdout)
        s = sess.get(sid, {})
        conns = s.get("connections", [])
        t.ok(s.get("connection_count") == 1 and len(conns) == 1 and conns[0]["id"] == lead and conns[0]["iops"] > 0
             and conns[0]["p50_us"] > 0 and conns[0]["p99_us"] >= conns[0]["p50_us"]
             and conns[0]["role"] == "leading/active", "--json: the connection's IOPS, role and latency", s)
        t.ok(isinstance(s.get("commands_retried"), int) and isinstance(s.get("recoveries"), int),
             "--json: re-issued commands and failovers", s)
        p = subprocess.Popen([MCSI, "top", "--connect=" + self.d.socket, "--json", "--interval", "0.5"],
                             stdout=subprocess.PIPE, text=True)
        got = []
        try:
            deadline = time.time() + 20
            while len(got) < 2 and time.time() < deadline:
                line = p.stdout.readline()
                if not line:
                    break
                got.append(json.loads(line))
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
        t.is_(len(got), 2, "--json: one object per interval")

        gone = os.path.join(self.d.dir, "no-such.sock")
        nod = subprocess.run([MCSI, "top", "--once"], capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, MCSI_SOCKET=gone))
        t.ok(nod.returncode == 1 and "mcsi top: cannot reach mcsid" in nod.stderr and gone in nod.stderr
             and nod.stdout == "", "no daemon: exit 1 and why, nothing on stdout", nod.stdout + nod.stderr)

        # the histogram itself, as GetSessionInfo gives it
        info = result(c.call("GetSessionInfo", {"UniqueSessionId": sid})).get("Session", {})
        st = info.get("Connections", [{}])[0].get("Statistics", {})
        h = st.get("LatencyHistogram", [])
        t.ok(len(h) == 24 and sum(h) > 0 and sum(h) <= st.get("Commands", 0) and st.get("LatencySumMicroseconds", 0) > 0,
             "GetSessionInfo: LatencyHistogram (24 log2 buckets of us) and LatencySumMicroseconds", st)
        writer.kill()
        writer.wait()
        for s_ in (sid, sid2):
            t.status(c.call("LogoutFromTarget", {"UniqueSessionId": s_}), "ISDSC_SUCCESS", "logout %s" % s_)
        c.close()


if __name__ == "__main__":
    mcsid_test.main()
