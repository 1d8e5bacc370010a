#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_framework.py: the unittest framework of tests/daemon (mcsid_test.py)
as tests/run-tests.sh and a contributor see it. A sample test file, written
here into a temporary directory, runs as a child:

- whole: one TAP line per check in the order of the source, the plan at the
  end, exit 0; a failing check is "not ok", its case goes on, exit 1;
- an exception, a skipTest, an error in setUpClass: one TAP line each, the
  traceback as comments, skips in the "# SKIP" form; each failed case named
  at the end with the command that runs it alone;
- argv Class.method (or the method's name alone) runs that case alone (with
  its class's fixture), Class runs a class, --list names the cases, an
  unknown name fails;
- a DaemonCase class starts one real mcsid for all its cases and stops it
  after the last, checking that it exits 0 on SIGTERM.
Needs no target: only MCSI_BUILD_DIR/mcsid."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = '''
import os, sys
sys.path.insert(0, %(here)r)
import mcsid_test


class TestSecond(mcsid_test.DaemonCase):
    start_daemon = False

    def test_z_runs_first(self):
        self.t.ok(True, "z one")
        self.t.is_(1, 1, "z two")

    def test_a_runs_second(self):
        self.t.ok(os.environ.get("SAMPLE_FAIL") is None, "a may fail")
        self.t.ok(True, "a goes on after a failing check")

    def test_raises(self):
        self.t.ok(True, "before the exception")
        if os.environ.get("SAMPLE_RAISE"):
            raise ValueError("sample boom")

    def test_skipped(self):
        self.skipTest("sample reason")

    def test_skipped_check(self):
        self.t.skip("one check skipped")
        self.t.ok(True, "the check after it")


class TestFixture(mcsid_test.DaemonCase):
    start_daemon = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if os.environ.get("SAMPLE_SETUP_FAIL"):
            raise RuntimeError("sample setup failed")
        cls.tap.ok(True, "a check of the class's setup")

    def test_no_checks(self):
        pass


class TestDaemon(mcsid_test.DaemonCase):
    daemon_name = "framework"

    def test_one(self):
        self.t.status(self.client().call("GetVersion"), "ISDSC_SUCCESS", "daemon pid %%d answers" %% self.d.proc.pid)

    def test_two(self):
        self.t.status(self.client().call("GetVersion"), "ISDSC_SUCCESS", "daemon pid %%d answers" %% self.d.proc.pid)


if __name__ == "__main__":
    mcsid_test.main()
'''


def tap_lines(out):
    return [x for x in out.splitlines() if re.match(r"(not )?ok \d+ ", x) or re.match(r"1\.\.\d+$", x)]


def names(lines):
    """The lines without their numbers: 'ok - name', 'not ok - name', '1..N'."""
    return [re.sub(r"^(not ok|ok) \d+ ", r"\1 ", x) for x in lines]


def numbered(lines):
    """Every test line numbered 1..N in order, then the plan 1..N."""
    tests = [x for x in lines if not x.startswith("1..")]
    return (all(re.match(r"(not )?ok %d " % (i + 1), x) for i, x in enumerate(tests))
            and lines[-1:] == ["1..%d" % len(tests)])


class TestFramework(mcsid_test.DaemonCase):
    start_daemon = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="mcsid-framework.")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.sample = os.path.join(cls.dir, "test_sample.py")
        with open(cls.sample, "w") as f:
            f.write(SAMPLE % {"here": HERE})

    def run_sample(self, *args, **env):
        p = subprocess.run([sys.executable, self.sample] + list(args), capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, **env))
        return p.returncode, p.stdout

    def test_whole_file(self):
        t = self.t
        rc, out = self.run_sample()
        lines = tap_lines(out)
        t.is_(rc, 0, "the sample passes: exit 0", )
        t.is_(names(lines)[:9], ["ok - z one", "ok - z two", "ok - a may fail", "ok - a goes on after a failing check",
                                 "ok - before the exception", "ok - # SKIP TestSecond.test_skipped: sample reason",
                                 "ok - # SKIP one check skipped", "ok - the check after it",
                                 "ok - a check of the class's setup"],
              "one line per check, in the order of the source (not sorted by name), a skipped case in the SKIP form")
        t.is_(names(lines)[9:10], ["ok - TestFixture.test_no_checks"], "a case without checks: one line of its own")
        pids = set(re.findall(r"daemon pid (\d+) answers", out))
        t.ok(len(pids) == 1 and len(re.findall(r"^ok \d+ - daemon pid", out, re.M)) == 2,
             "two cases of a DaemonCase class: one mcsid for both", out)
        t.ok(names(lines)[12:13] == ["ok - mcsid exits 0 on SIGTERM"], "the daemon stops after the class's last case",
             lines)
        t.ok(pids and not os.path.exists("/proc/%s" % pids.pop()), "... and is gone")
        t.ok(numbered(lines) and len(lines) == 14, "numbered 1..13, then the plan 1..13", out)

    def test_failures(self):
        t = self.t
        rc, out = self.run_sample("TestSecond", "TestFixture", SAMPLE_FAIL="1", SAMPLE_RAISE="1", SAMPLE_SETUP_FAIL="1")
        lines = names(tap_lines(out))
        t.is_(rc, 1, "a failing check, an exception, a failing setUpClass: exit 1")
        t.ok("not ok - a may fail" in lines and "ok - a goes on after a failing check" in lines,
             "a failing check is 'not ok' and its case goes on", out)
        t.ok("not ok - TestSecond.test_raises: ValueError: sample boom" in lines
             and "#   ValueError: sample boom" in out, "an exception: one 'not ok' line, its traceback as comments", out)
        t.ok([x for x in lines if x.startswith("not ok - setUpClass (") and "sample setup failed" in x],
             "an error in setUpClass: one 'not ok' line", out)
        t.ok("ok - TestFixture.test_no_checks" not in lines, "... and its class's cases do not run", out)
        t.ok(numbered(tap_lines(out)), "numbered, with the plan", out)
        hints = re.findall(r"^# failed: (\S+) \(alone: python3 \S*test_sample.py (\S+)\)$", out, re.M)
        t.is_(hints, [("TestSecond.test_a_runs_second",) * 2, ("TestSecond.test_raises",) * 2, ("TestFixture",) * 2],
              "each failed case (or class whose setup failed) is named with how to run it alone")

    def test_one_case_alone(self):
        t = self.t
        rc, out = self.run_sample("TestSecond.test_a_runs_second")
        t.is_((rc, names(tap_lines(out))), (0, ["ok - a may fail", "ok - a goes on after a failing check", "1..2"]),
              "Class.method runs that case alone")
        rc, out = self.run_sample("TestDaemon.test_two")
        t.ok(rc == 0 and names(tap_lines(out))[1:] == ["ok - mcsid exits 0 on SIGTERM", "1..2"],
             "a DaemonCase's case alone starts and stops its class's daemon", out)
        rc, out = self.run_sample("TestFixture")
        t.is_((rc, names(tap_lines(out))),
              (0, ["ok - a check of the class's setup", "ok - TestFixture.test_no_checks", "1..2"]),
              "Class runs the cases of a class")
        rc, out = self.run_sample("test_a_runs_second")
        t.is_((rc, names(tap_lines(out))), (0, ["ok - a may fail", "ok - a goes on after a failing check", "1..2"]),
              "a bare method name finds its class")
        rc, out = self.run_sample("TestSecond.test_nothing_here")
        t.ok(rc == 1 and "not ok 1 " in out and "test_nothing_here" in out, "an unknown case: 'not ok', exit 1", out)

    def test_list(self):
        t = self.t
        rc, out = self.run_sample("--list")
        t.is_((rc, out.split()), (0, ["TestSecond.test_z_runs_first", "TestSecond.test_a_runs_second",
                                      "TestSecond.test_raises", "TestSecond.test_skipped",
                                      "TestSecond.test_skipped_check", "TestFixture.test_no_checks",
                                      "TestDaemon.test_one", "TestDaemon.test_two"]),
              "--list: every case as Class.method, in the order of the source")


if __name__ == "__main__":
    mcsid_test.main()
