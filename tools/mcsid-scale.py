#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""mcsid-scale.py: one mcsid holding many sessions of several connections on
tgt; its idle CPU and its RSS per connection (issue 9: 250 sessions x 4
connections, idle CPU near 0, at most 64 KiB per connection).

Run it inside the harness (it uses tgtd "main", tid 1):
    tests/harness/with-targets python3 tools/mcsid-scale.py [options]

What it does, logging every step on stderr:
  1. raises its RLIMIT_NOFILE soft limit to the hard one (mcsid inherits it:
     SESSIONS x CONNECTIONS sockets plus the clients) and starts a real mcsid
     on a temporary socket, state directory and configuration
     (tests/daemon/mcsid_test.py's Daemon; max_pending raised to WINDOW);
  2. RSS before: VmRSS of the daemon once it answers, idle, no session;
  3. SESSIONS LoginToTarget, then CONNECTIONS-1 AddConnectionToSession per
     session (alternating 127.0.0.2 and 127.0.0.1), WINDOW requests in flight
     at once on one client; checks with SessionList that every session is
     active with CONNECTIONS active connections, and counts the connections
     tgtd shows for our initiator name;
  4. settles SETTLE s, then idle CPU over IDLE s: utime+stime of
     /proc/PID/stat, and the context switches of /proc/PID/status; the PDUs
     the connections sent meanwhile (SessionList's statistics, read just
     before and after): the engine's keep-alive NOP-Outs (nop_interval_ms,
     1 s by default), which is what an idle daemon spends its CPU on;
  5. RSS after; per connection = (after - before) / connections;
  6. logs every session out (WINDOW in flight) and stops the daemon.
The figures go to stdout as a Markdown table (--markdown) or as lines.
Exit status: 0 when every session and connection was held, 1 otherwise
(a report, not a test: no figure decides the exit status)."""
import argparse
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True     # no __pycache__ in tests/daemon
sys.path.insert(0, os.path.join(ROOT, "tests", "daemon"))
from mcsid_test import Daemon, env, result, tgt_connections  # noqa: E402

T0 = time.time()


def log(text):
    print("mcsid-scale [%6.1f s]: %s" % (time.time() - T0, text), file=sys.stderr, flush=True)


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])      # utime, stime (fields 14, 15)


def ctx_switches(pid):
    return status_kib(pid, "voluntary_ctxt_switches") + status_kib(pid, "nonvoluntary_ctxt_switches")


def pipeline(client, calls, window):
    """Sends (method, params) calls with up to window in flight; the answers in order."""
    answers, inflight, it = [], [], iter(calls)
    pending = True
    while pending or inflight:
        while pending and len(inflight) < window:
            call = next(it, None)
            if call is None:
                pending = False
                break
            inflight.append(client.send(*call))
        if inflight:
            answers.append(client.wait_id(inflight.pop(0), 120))
    return answers


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    log("RLIMIT_NOFILE %d (hard %d), need about %d" % (soft, hard, need))
    return soft


def failures(answers, what):
    bad = [a for a in answers if result(a).get("Status") != 0]
    if bad:
        log("%d %s failed, first: %r" % (len(bad), what, bad[0]))
    return len(bad)


def hold(c, args, plain, port):
    """Logs the sessions in and adds their connections; (session ids, failed calls)."""
    t = time.time()
    logins = pipeline(c, [("LoginToTarget", {"TargetName": plain, "TargetPortal": "127.0.0.1:%s" % port})
                          for _ in range(args.sessions)], args.window)
    bad = failures(logins, "LoginToTarget")
    sids = [result(a)["UniqueSessionId"] for a in logins if result(a).get("Status") == 0]
    log("%d sessions logged in in %.2f s" % (len(sids), time.time() - t))
    t = time.time()
    adds = [("AddConnectionToSession", {"UniqueSessionId": sid,
                                        "TargetPortal": "127.0.0.%d:%s" % (2 if k % 2 == 0 else 1, port)})
            for k in range(args.connections - 1) for sid in sids]
    answers = pipeline(c, adds, args.window)
    bad += failures(answers, "AddConnectionToSession")
    log("%d connections added in %.2f s" % (len(answers) - bad, time.time() - t))
    return sids, bad


def check_held(c, d, args):
    sessions = result(c.call("SessionList", None, 120)).get("Sessions", [])
    full = sum(1 for s in sessions if s.get("State") == "active" and
               sum(1 for k in s.get("Connections", []) if k.get("State") == "active") == args.connections)
    conns = sum(len(s.get("Connections", [])) for s in sessions)
    on_tgt = tgt_connections(d.iqn, tids=(1,))
    log("SessionList: %d sessions, %d connections, %d sessions active with %d active connections; "
        "tgtd shows %d connections of ours" % (len(sessions), conns, full, args.connections, on_tgt))
    return full, conns, on_tgt


def pdus_sent(c):
    """PDUs every connection has sent (SessionList's Statistics): while idle, keep-alive NOP-Outs."""
    sessions = result(c.call("SessionList", None, 120)).get("Sessions", [])
    return sum(k.get("Statistics", {}).get("PDUsSent", 0) for s in sessions for k in s.get("Connections", []))


def idle(pid, seconds):
    hz = os.sysconf("SC_CLK_TCK")
    t, ticks, sw = time.time(), cpu_ticks(pid), ctx_switches(pid)
    time.sleep(seconds)
    wall = time.time() - t
    ticks, sw = cpu_ticks(pid) - ticks, ctx_switches(pid) - sw
    log("idle %.1f s: %d ticks of %d Hz (utime+stime), %d context switches" % (wall, ticks, hz, sw))
    return ticks / hz, wall, sw


def logout(c, sids, window):
    t = time.time()
    answers = pipeline(c, [("LogoutFromTarget", {"UniqueSessionId": s}) for s in sids], window)
    bad = failures(answers, "LogoutFromTarget")
    log("%d sessions logged out in %.2f s" % (len(answers) - bad, time.time() - t))


def report(f, markdown):
    rows = [("sessions x connections held", "%d x %d (%d connections; tgtd shows %d)"
             % (f["sessions_full"], f["per_session"], f["connections"], f["on_tgt"])),
            ("login + add connections", "%.2f s (%d in flight)" % (f["setup_s"], f["window"])),
            ("idle CPU", "%.2f s of CPU in %.1f s = %.2f %% of one core, %d context switches"
             % (f["cpu_s"], f["idle_s"], 100 * f["cpu_s"] / f["idle_s"], f["switches"])),
            ("PDUs sent while idle", "%d (keep-alive NOP-Outs: %.2f per connection per second)"
             % (f["pdus"], f["pdus"] / max(1, f["connections"]) / f["idle_s"])),
            ("RSS before / with the sessions", "%d KiB / %d KiB" % (f["rss0"], f["rss1"])),
            ("RSS per connection", "%.1f KiB (goal: at most 64 KiB)" % f["per_conn"]),
            ("RLIMIT_NOFILE", "%d" % f["nofile"])]
    if markdown:
        print("| Scale (one mcsid on tgt) | |\n|---|---|")
        for k, v in rows:
            print("| %s | %s |" % (k, v))
    else:
        for k, v in rows:
            print("%s: %s" % (k, v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=250)
    ap.add_argument("--connections", type=int, default=4, help="per session, the leading one included")
    ap.add_argument("--window", type=int, default=32, help="requests in flight at once")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds before measuring")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    plain, port = env("MCSI_TGT_IQN_PLAIN"), env("MCSI_TGT_PORT")
    nofile = raise_nofile(args.sessions * args.connections + 64)
    d = Daemon(name="scale", config={"log_level": "info", "max_pending": str(max(64, args.window))}).start()
    sids = []
    try:
        pid = d.proc.pid
        c = d.client(timeout=120)
        c.call("GetVersion")
        time.sleep(args.settle)
        rss0 = status_kib(pid, "VmRSS")
        log("mcsid pid %d, RSS %d KiB before any session" % (pid, rss0))
        t = time.time()
        sids, bad = hold(c, args, plain, port)
        setup = time.time() - t
        full, conns, on_tgt = check_held(c, d, args)
        time.sleep(args.settle)
        pdus = pdus_sent(c)
        cpu, wall, switches = idle(pid, args.idle)
        pdus = pdus_sent(c) - pdus
        log("PDUs sent while idle (keep-alive NOP-Outs): %d, %.2f per connection per second"
            % (pdus, pdus / max(1, conns) / wall))
        rss1 = status_kib(pid, "VmRSS")
        per_conn = (rss1 - rss0) / max(1, conns)
        log("RSS %d KiB with %d connections: %.1f KiB per connection" % (rss1, conns, per_conn))
        report({"sessions_full": full, "per_session": args.connections, "connections": conns, "on_tgt": on_tgt,
                "setup_s": setup, "window": args.window, "cpu_s": cpu, "idle_s": wall, "switches": switches, "pdus": pdus,
                "rss0": rss0, "rss1": rss1, "per_conn": per_conn, "nofile": nofile}, args.markdown)
        logout(c, sids, args.window)
        alive = d.proc.poll() is None
        return 0 if alive and bad == 0 and full == args.sessions and on_tgt == args.sessions * args.connections else 1
    finally:
        rc = d.stop()
        log("mcsid stopped, exit %s" % rc)
        if rc != 0:
            log(d.log_text()[-3000:])
        d.cleanup()


if __name__ == "__main__":
    sys.exit(main())
