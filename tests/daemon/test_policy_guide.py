#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_policy_guide.py: the worked example of doc/policies.md runs.

The Lua block after "<!-- example: scripts/examples/health.lua -->" in
doc/policies.md is the shipped example byte for byte; it is written into a
policy_dir of the test's own and attached to a real session on the
harness's tgt with Options: it sets the load-balance policy (GetSessionInfo
shows 4, least-queue-depth), probes the LUN (log lines with ISDSC_SUCCESS),
runs beside failover on the same session (two policies, both running), and
its stop runs on DetachPolicy. Also: the guide names every session_info
field the Lua API gives (bindings/mcsi/remote.lua's session_info)."""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import env, result, tgt_portal, wait_for  # noqa: E402

IQN = env("MCSI_TGT_IQN_PLAIN")
T1 = tgt_portal("127.0.0.1")
GUIDE = os.path.join(mcsid_test.ROOT, "doc", "policies.md")
EXAMPLE = os.path.join(mcsid_test.ROOT, "scripts", "examples", "health.lua")
REMOTE = os.path.join(mcsid_test.ROOT, "bindings", "mcsi", "remote.lua")


def example_from_guide():
    text = open(GUIDE).read()
    mt = re.search(r"<!-- example: scripts/examples/health\.lua -->\n```lua\n(.*?)```\n", text, re.S)
    return mt.group(1) if mt else None


class TestPolicyGuide(mcsid_test.DaemonCase):
    daemon_name = "guide"

    @classmethod
    def setUpClass(cls):
        policy_dir = tempfile.mkdtemp(prefix="mcsid-guide.")
        cls.addClassCleanup(shutil.rmtree, policy_dir, True)
        code = example_from_guide()
        if code is not None:
            with open(os.path.join(policy_dir, "health.lua"), "w") as f:
                f.write(code)
        cls.daemon_config = {"policy_dir": policy_dir}
        super().setUpClass()

    def test_the_example_is_the_shipped_file(self):
        code = example_from_guide()
        self.t.ok(code is not None, "doc/policies.md has the example block")
        shipped = open(EXAMPLE).read()
        if shipped.startswith("-- SPDX-License-Identifier:"):   # the file's license line is not the guide's
            shipped = shipped.split("\n", 1)[1]
        self.t.ok(code == shipped, "it is scripts/examples/health.lua (after its SPDX line), byte for byte")

    def test_session_info_fields_documented(self):
        src = open(REMOTE).read()
        body = src[src.index("local function session_info(s)"):]
        body = body[:body.index("\nend\n")]
        fields = set(re.findall(r"\b([a-z_]+) = ", body)) - {"info", "n", "local"}
        conn = src[src.index("local function conn_info(c)"):]
        conn = conn[:conn.index("\nend\n")]
        fields |= set(re.findall(r"\b([a-z_]+) = ", conn)) - {"s"}
        guide = open(GUIDE).read()
        missing = sorted(f for f in fields if "`%s`" % f not in guide)
        self.t.ok(len(fields) > 40, "session_info and connection fields found (%d)" % len(fields))
        self.t.is_(missing, [], "doc/policies.md names every session_info / connection field")

    def test_the_example_runs_on_a_session(self):
        t, d = self.t, self.d
        c = self.client()
        sid = result(c.call("LoginToTarget", {"TargetName": IQN, "TargetPortal": T1})).get("UniqueSessionId")
        if not t.ok(sid, "login to tgt"):
            return
        self.addCleanup(c.call, "LogoutFromTarget", {"UniqueSessionId": sid})
        r = c.call("AttachPolicy", {"UniqueSessionId": sid, "PolicyScript": "health",
                                    "Options": {"interval_ms": 100, "lun": 1}})
        t.status(r, "ISDSC_SUCCESS", "AttachPolicy health")
        hid = result(r).get("PolicyId")
        r = c.call("AttachPolicy", {"UniqueSessionId": sid, "PolicyScript": "failover",
                                    "Options": {"connections": 1, "portals": [T1]}})
        t.status(r, "ISDSC_SUCCESS", "AttachPolicy failover on the same session")
        fid = result(r).get("PolicyId")
        t.ok(wait_for(lambda: "(health): health: probe 3: ISDSC_SUCCESS" in d.log_text(), 15),
             "the example probes the LUN (three probes logged)", d.log_text()[-2000:])
        t.ok("(health): health: load-balance least-queue-depth: ISDSC_SUCCESS" in d.log_text(),
             "it set the load-balance policy")
        t.ok("health: watching %s (1 connection(s))" % IQN in d.log_text(), "it read session_info")
        info = result(c.call("GetSessionInfo", {"UniqueSessionId": sid})).get("Session", {})
        t.is_(info.get("LoadBalancePolicyName"), "least-queue-depth", "GetSessionInfo shows it")
        states = {p["PolicyId"]: p["State"] for p in result(c.call("ListPolicies")).get("Policies", [])}
        t.is_((states.get(hid), states.get(fid)), ("running", "running"), "two policies run on one session")
        t.status(c.call("DetachPolicy", {"PolicyId": hid}), "ISDSC_SUCCESS", "DetachPolicy health")
        t.ok(wait_for(lambda: re.search(r"health: stopped after \d+ probe", d.log_text()), 10),
             "its stop ran (logged)")
        c.call("DetachPolicy", {"PolicyId": fid})


if __name__ == "__main__":
    mcsid_test.main()
