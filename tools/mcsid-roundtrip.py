#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""mcsid-roundtrip.py: round trips through mcsid's socket, p50 and p99 (issue 9,
make bench). A report, not a test: no figure decides the exit status.

Run it inside the harness (tgtd "main", tid 1):
    tests/harness/with-targets python3 tools/mcsid-roundtrip.py [options]

Starts a real mcsid on a temporary socket and state directory
(tests/daemon/mcsid_test.py's Daemon), one client (Python's socket + json,
one request at a time: the time from the first byte sent to the answer's
newline parsed), then measures:
  * a Status-only call: RemoveConnectionFromSession of a session that does not
    exist (ISDSC_INVALID_SESSION_ID), CALLS times;
  * GetVersion (a larger answer), CALLS times;
  * on a real session on tgt: ROUNDS times AddConnectionToSession (timed
    too) then RemoveConnectionFromSession of that connection (end to end: the
    Logout on the wire and tgt's answer are inside the round trip).
Every answer is checked (a wrong one stops the run with exit status 1).
Prints a Markdown table (--markdown) or lines."""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True     # no __pycache__ in tests/daemon
sys.path.insert(0, os.path.join(ROOT, "tests", "daemon"))
from mcsid_test import Daemon, env, result  # noqa: E402


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def timed(c, method, params, want="ISDSC_SUCCESS"):
    t = time.perf_counter()
    answer = c.call(method, params, 60)
    us = (time.perf_counter() - t) * 1e6
    got = result(answer).get("StatusName")
    if got != want:
        raise RuntimeError("%s answered %r, want %s" % (method, answer, want))
    return us, result(answer)


def status_only(c, calls):
    params = {"UniqueSessionId": 0x7fffffff01, "UniqueConnectionId": 1}
    for _ in range(min(100, calls)):         # warm-up, not counted
        timed(c, "RemoveConnectionFromSession", params, "ISDSC_INVALID_SESSION_ID")
    return [timed(c, "RemoveConnectionFromSession", params, "ISDSC_INVALID_SESSION_ID")[0] for _ in range(calls)]


def get_version(c, calls):
    return [timed(c, "GetVersion", None)[0] for _ in range(calls)]


def add_remove(c, rounds, plain, port):
    _, login = timed(c, "LoginToTarget", {"TargetName": plain, "TargetPortal": "127.0.0.1:%s" % port})
    sid = login["UniqueSessionId"]
    adds, removes = [], []
    try:
        for _ in range(rounds):
            us, added = timed(c, "AddConnectionToSession",
                              {"UniqueSessionId": sid, "TargetPortal": "127.0.0.2:%s" % port})
            adds.append(us)
            us, _ = timed(c, "RemoveConnectionFromSession",
                          {"UniqueSessionId": sid, "UniqueConnectionId": added["UniqueConnectionId"]})
            removes.append(us)
        left = result(c.call("GetSessionInfo", {"UniqueSessionId": sid}, 60)).get("Session", {})
        if left.get("ConnectionCount") != 1:
            raise RuntimeError("after %d add/remove rounds the session has %r connections"
                               % (rounds, left.get("ConnectionCount")))
    finally:
        c.call("LogoutFromTarget", {"UniqueSessionId": sid}, 60)
    return adds, removes


def report(rows, markdown):
    if markdown:
        print("| Through mcsid's socket (one client, one call at a time) | calls | p50 | p99 |")
        print("|---|---:|---:|---:|")
    for name, us in rows:
        p50, p99 = percentile(us, 50), percentile(us, 99)
        if markdown:
            print("| %s | %d | %.0f µs | %.0f µs |" % (name, len(us), p50, p99))
        else:
            print("%s: %d calls, p50 %.0f us, p99 %.0f us" % (name, len(us), p50, p99))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000, help="Status-only and GetVersion calls")
    ap.add_argument("--rounds", type=int, default=50, help="add + remove rounds on a real session")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    plain, port = env("MCSI_TGT_IQN_PLAIN"), env("MCSI_TGT_PORT")
    d = Daemon(name="roundtrip", config={"log_level": "info"}).start()
    try:
        c = d.client(timeout=60)
        rows = [("Status-only call (RemoveConnectionFromSession, no such session)", status_only(c, args.calls)),
                ("GetVersion", get_version(c, args.calls))]
        adds, removes = add_remove(c, args.rounds, plain, port)
        rows += [("RemoveConnectionFromSession, real connection on tgt (end to end)", removes),
                 ("AddConnectionToSession on tgt (login of the connection)", adds)]
        report(rows, args.markdown)
        return 0
    except (RuntimeError, OSError) as e:
        print("mcsid-roundtrip: %s" % e, file=sys.stderr)
        return 1
    finally:
        d.stop()
        d.cleanup()


if __name__ == "__main__":
    sys.exit(main())
