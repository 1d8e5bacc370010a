#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_resolver.py: mcsid resolves a portal's host name off its loop.

mcsid runs with build/tests/slow_resolver.so preloaded: getaddrinfo takes
5 s for "slow.mcsi.test" (then answers 127.0.0.1). While one client's
LoginToTarget through that name waits for the resolver, another client's
GetVersion and ScsiRead on an established session are answered with no pause
over 200 ms, and the slow login then succeeds; with LoginTimeoutMs 1000 it
answers ISDSC_DNS_NAME_UNRESOLVED at its timeout. (Before, the daemon's
loop stood still for the 5 s: every client waited.)

One daemon (the shim preloaded) for the class; each case has its own
session through 127.0.0.1, so that either runs alone:
    python3 tests/daemon/test_resolver.py TestResolver.test_login_timeout_while_resolving"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import BUILD, result, env, sanitized  # noqa: E402

SLOW_S = 5
MAX_PAUSE = 0.2
plain = env("MCSI_TGT_IQN_PLAIN")
port = env("MCSI_TGT_PORT")
LUN = int(env("MCSI_TGT_FILE_LUN"))
shim = os.path.join(BUILD, "tests", "slow_resolver.so")
if not os.path.exists(shim):
    print("1..0 # SKIP %s not built (make)" % shim)
    sys.exit(0)
if os.environ.get("MCSI_MCSID_WRAPPER"):
    MAX_PAUSE *= 5


def busy_meanwhile(c, sid, slow, slow_id, seconds):
    """GetVersion and ScsiRead in turn until the slow answer comes (or
    seconds pass): the longest round trip, how many, and the slow answer."""
    longest, n, answer = 0.0, 0, None
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.time()
        ok = result(c.call("GetVersion")).get("Status") == 0
        ok &= result(c.call("ScsiRead", {"UniqueSessionId": sid, "Lun": LUN, "Lba": n % 64, "Blocks": 8})
                      ).get("Status") == 0
        longest = max(longest, time.time() - t0)
        n += ok
        slow.sock.settimeout(0)
        try:
            answer = slow.wait_id(slow_id)
        except OSError:             # nothing yet
            answer = None
        slow.sock.settimeout(30)
        if answer:
            break
        time.sleep(0.01)
    return longest, n, answer


class TestResolver(mcsid_test.DaemonCase):
    daemon_name = "resolver"

    @classmethod
    def setUpClass(cls):
        saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "ASAN_OPTIONS", "MCSI_SLOW_RESOLVER_MS")}
        os.environ["LD_PRELOAD"] = shim
        os.environ["MCSI_SLOW_RESOLVER_MS"] = str(SLOW_S * 1000)
        if sanitized():   # the shim is not instrumented: ASan's runtime comes second
            os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [saved["ASAN_OPTIONS"], "verify_asan_link_order=0"]))
        try:
            super().setUpClass()
        finally:
            for k, v in saved.items():          # only mcsid preloads the shim
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def session(self, c):
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": "127.0.0.1:" + port})
        return r, result(r).get("UniqueSessionId")

    def test_slow_name_resolves_off_the_loop(self):
        t, c, slow = self.t, self.client(), self.client()
        r, sid = self.session(c)
        t.ok(sid, "a session through 127.0.0.1", r)
        self.addCleanup(c.call, "LogoutFromTarget", {"UniqueSessionId": sid})

        t0 = time.time()
        slow_id = slow.send("LoginToTarget", {"TargetName": plain, "TargetPortal": "slow.mcsi.test:" + port})
        longest, n, answer = busy_meanwhile(c, sid, slow, slow_id, SLOW_S + 5)
        took = time.time() - t0
        t.note("while the name resolved: %d GetVersion + ScsiRead pairs, the longest %.0f ms" % (n, longest * 1000))
        t.ok(n > 20, "other requests were answered while the name resolved (%d pairs)" % n)
        t.ok(longest < MAX_PAUSE, "none waited %.0f ms or more (the longest %.0f ms)" % (MAX_PAUSE * 1000, longest * 1000))
        t.status(answer or {}, "ISDSC_SUCCESS", "the login through slow.mcsi.test succeeded")
        t.ok(SLOW_S - 0.2 <= took < SLOW_S + 3, "after the resolver's %d s (%.2f s)" % (SLOW_S, took))
        slow_sid = result(answer).get("UniqueSessionId")
        if slow_sid:
            t.status(c.call("LogoutFromTarget", {"UniqueSessionId": slow_sid}), "ISDSC_SUCCESS", "its logout")

    def test_login_timeout_while_resolving(self):
        t, c, slow = self.t, self.client(), self.client()
        r, sid = self.session(c)
        self.assertTrue(sid, "setup: a session through 127.0.0.1: %r" % (r,))
        t0 = time.time()
        slow_id = slow.send("LoginToTarget", {"TargetName": plain, "TargetPortal": "slow.mcsi.test:" + port,
                                              "LoginTimeoutMs": 1000})
        longest, n, answer = busy_meanwhile(c, sid, slow, slow_id, SLOW_S + 5)
        took = time.time() - t0
        t.status(answer or {}, "ISDSC_DNS_NAME_UNRESOLVED", "LoginTimeoutMs 1000: the name unresolved at the timeout")
        t.ok("slow.mcsi.test" in result(answer).get("StatusMessage", ""), "the message names the host", answer)
        t.ok(0.9 <= took < 2.5, "at its timeout (%.2f s)" % took)
        t.ok(longest < MAX_PAUSE, "meanwhile no request waited (the longest %.0f ms)" % (longest * 1000))
        time.sleep(SLOW_S - 1)              # the late answer comes and is dropped
        t.status(c.call("LogoutFromTarget", {"UniqueSessionId": sid}), "ISDSC_SUCCESS", "logout of the first session")
        r = c.call("SessionList")
        t.is_(result(r).get("Sessions"), [], "no session left (the late answer made none)")


if __name__ == "__main__":
    mcsid_test.main()
