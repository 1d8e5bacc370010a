# SPDX-License-Identifier: LGPL-2.1-or-later
"""mcsid_test.py: what the tests/daemon/test_*.py files share.

TAP output (ok/not ok lines, a plan, exit status), a real mcsid started on a
temporary socket, state directory and configuration (MCSI_BUILD_DIR/mcsid),
and a JSON-RPC client written with nothing but json + socket. The targets are
those of tests/harness/with-targets (its MCSI_* variables).

A test file is a set of unittest cases (stdlib only) run by main():

    class TestThing(mcsid_test.DaemonCase):      # one mcsid per class (setUpClass)
        daemon_name = "thing"
        def test_something(self):
            t = self.t                           # this case's checks
            t.ok(cond, "a check: one TAP line")
            t.is_(got, want, "another")

    if __name__ == "__main__":
        mcsid_test.main()

`python3 tests/daemon/test_thing.py` runs every case in the order of the
source and prints TAP (one line per check, "1..N" at the end) for
tests/run-tests.sh; `python3 tests/daemon/test_thing.py TestThing.test_something`
runs one case alone (its class's daemon and setup included; a bare method
name finds its class); `--list` names the cases. A failing check does not stop its case (as in a TAP script); the
case then fails. An exception, a skipTest or an error in a class's setup is
one TAP line of its own ("not ok", "ok N - # SKIP why").
"""
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MCSI_BUILD_DIR", os.path.join(ROOT, "build"))
MCSID = os.path.join(BUILD, "mcsid")


def sanitized():
    """The daemon is built with AddressSanitizer (make asan): its quarantine
    and shadow memory make its RSS say nothing about ours."""
    try:
        with open(MCSID, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False
SUCCESS = 0


def env(name):
    value = os.environ.get(name)
    if not value:
        print("1..0 # SKIP %s not set: run inside tests/harness/with-targets" % name)
        sys.exit(0)
    return value


class TAP:
    """Checks that print TAP lines. The root (no parent) numbers the lines
    and prints the plan (done()); a child (a class's or a case's checks)
    numbers through its root and counts its own failures, which also count
    in every parent."""

    def __init__(self, parent=None):
        self.parent = parent
        self.n = 0          # lines numbered by this root (a child's stays 0)
        self.checks = 0     # checks made through this object
        self.failed = 0

    def _number(self):
        root = self
        while root.parent is not None:
            root = root.parent
        root.n += 1
        return root.n

    def _count(self, failed):
        node = self
        while node is not None:
            node.checks += 1
            node.failed += 1 if failed else 0
            node = node.parent

    def ok(self, cond, name, detail=None):
        n = self._number()
        self._count(not cond)
        print("%s %d - %s" % ("ok" if cond else "not ok", n, name), flush=True)
        if not cond:
            if detail is not None:
                for line in str(detail).splitlines()[:40]:
                    print("#   " + line)
        return bool(cond)

    def is_(self, got, want, name):
        return self.ok(got == want, name, "got:  %r\nwant: %r" % (got, want))

    def status(self, result, want, name):
        """A method result (or an error) whose Status is want."""
        got = result.get("result", {}).get("StatusName") if isinstance(result, dict) else None
        return self.ok(got == want, name, "got: %r" % (result,))

    def skip(self, why):
        n = self._number()
        self._count(False)
        print("ok %d - # SKIP %s" % (n, why), flush=True)

    def note(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


class Daemon:
    """One mcsid on a temporary socket and state directory."""

    def __init__(self, config=None, workdir=None, name="mcsid"):
        self.dir = workdir or tempfile.mkdtemp(prefix="mcsid-test.")
        self.socket = os.path.join(self.dir, "run", "mcsid.sock")
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "mcsid.conf")
        self.log = os.path.join(self.dir, "mcsid.log")
        self.export_dir = os.path.join(self.dir, "exports")   # the NBD exports' sockets (export_dir)
        self.iqn = "iqn.2026-11.org.mcsi:%s-%d" % (name, os.getpid())
        lines = {"initiator_name": self.iqn, "log_level": "debug", "retry_initial_ms": "200",
                 "retry_max_ms": "2000", "export_dir": self.export_dir}
        lines.update(config or {})
        self.write_config(lines)
        self.proc = None

    def write_config(self, lines):
        self.config = dict(lines)    # what the file says now (DaemonCase.reconfigure starts from it)
        with open(self.conf, "w") as f:
            f.write("# written by tests/daemon\n")
            for k, v in lines.items():
                f.write("%s = %s\n" % (k, v))

    def start(self, wait=True):
        logf = open(self.log, "a")
        # MCSI_MCSID_WRAPPER="valgrind --error-exitcode=99 ..." runs the daemon under a tool.
        wrapper = os.environ.get("MCSI_MCSID_WRAPPER", "").split()
        self.proc = subprocess.Popen(wrapper + [MCSID, "--socket", self.socket, "--state-dir", self.state,
                                      "--config", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf)
        logf.close()
        if wait:
            deadline = time.time() + (60 if os.environ.get("MCSI_MCSID_WRAPPER") else 10)
            while time.time() < deadline:
                try:
                    self.client().close()
                    return self
                except OSError:
                    if self.proc.poll() is not None:
                        raise RuntimeError("mcsid exited %s:\n%s" % (self.proc.returncode, self.log_text()))
                    time.sleep(0.02)
            raise RuntimeError("mcsid did not listen:\n" + self.log_text())
        return self

    def client(self, timeout=30):
        return Client(self.socket, timeout)

    def client_as(self, user, timeout=30):
        """A client whose socket was connected by a process running as user
        (a TestUser): the daemon sees that user's uid and groups (SO_PEERCRED)."""
        return Client(self.socket, timeout, user=user)

    def open_to_test_users(self):
        """The daemon's directories become traversable, so that a TestUser
        reaches the socket (the socket's own mode and group still decide)."""
        for path in (self.dir, os.path.dirname(self.socket)):
            os.chmod(path, 0o755)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def children(self):
        """The daemon's child processes (policy runners, secret readers): one
        that exited counts until the daemon reaped it."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                        found.append(pid)
            except (OSError, ValueError, IndexError):
                pass
        return found

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(20) is None:
                self.kill9()
        return self.proc.returncode if self.proc else None

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    """JSON-RPC 2.0 over the Unix socket, one object per line."""

    def __init__(self, path, timeout=30, user=None):
        self.sock = connect_as(path, user) if user else socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if not user:
            self.sock.connect(path)
        self.buf = b""
        self.next_id = 1
        self.events = []
        self.replies = {}
        self.lines = []          # every line received, as text (the secret tests grep them)

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, method, params=None, id_=None, notification=False):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        if not notification:
            if id_ is None:
                id_ = self.next_id
                self.next_id += 1
            msg["id"] = id_
        self.send_raw((json.dumps(msg) + "\n").encode())
        return id_

    def read_line(self, timeout=None):
        """One line (text) or None at EOF; socket.timeout if nothing comes."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:   # closed with our unread bytes in its queue
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.decode()
        self.lines.append(text)
        return text

    def read_message(self, timeout=None):
        line = self.read_line(timeout)
        return None if line is None else json.loads(line)

    def wait_id(self, id_, timeout=None):
        """The answer to request id_; answers to others are kept for their turn."""
        key = json.dumps(id_)
        while key not in self.replies:
            msg = self.read_message(timeout)
            if msg is None:
                return None
            if "id" not in msg:
                self.events.append(msg)
                continue
            self.replies[json.dumps(msg["id"])] = msg
        return self.replies.pop(key)

    def call(self, method, params=None, timeout=None):
        return self.wait_id(self.send(method, params), timeout)

    def wait_event(self, pred, timeout=10):
        deadline = time.time() + timeout
        for e in self.events:
            if pred(e["params"]):
                self.events.remove(e)
                return e["params"]
        while time.time() < deadline:
            try:
                msg = self.read_message(max(0.01, deadline - time.time()))
            except socket.timeout:
                break
            if msg is None:
                break
            if "id" in msg:
                continue
            if pred(msg["params"]):
                return msg["params"]
            self.events.append(msg)
        return None


# Tests of privilege run as users they create: a permitted client is a member
# of TEST_GROUP (the daemon's socket_group in those tests), never root.
TEST_GROUP = "mcsi-test"
TEST_USERS = ("mcsi-test-a", "mcsi-test-b")


class TestUser:
    """A non-root system user the tests create (once per machine), in
    TEST_GROUP as a supplementary group when member is true and not in it
    when member is false (whatever an earlier test made of it). Create the
    users before starting a daemon whose socket_group is TEST_GROUP: mcsid
    resolves the group when it starts."""

    def __init__(self, name, member=True):
        if os.geteuid() != 0:
            raise RuntimeError("creating test users needs root")
        try:
            grp.getgrnam(TEST_GROUP)
        except KeyError:
            subprocess.run(["groupadd", "--system", TEST_GROUP], check=True)
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", name], check=True)
        in_group = name in grp.getgrnam(TEST_GROUP).gr_mem
        if member and not in_group:
            subprocess.run(["usermod", "-a", "-G", TEST_GROUP, name], check=True)
        elif not member and in_group:
            subprocess.run(["gpasswd", "-d", name, TEST_GROUP], check=True, stdout=subprocess.DEVNULL)
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, pw.pw_uid, pw.pw_gid
        self.groups = os.getgrouplist(name, pw.pw_gid)

    def become(self):
        """In a child process: drop to this user for good (preexec_fn)."""
        os.setgroups(self.groups)
        os.setgid(self.gid)
        os.setuid(self.uid)

    def run(self, argv, **kw):
        """subprocess.run as this user."""
        return subprocess.run(argv, preexec_fn=self.become, **kw)


def test_user(index=0, member=True):
    return TestUser(TEST_USERS[index], member)


def connect_as(path, user):
    """A Unix socket connected to path by a child process running as user,
    handed back over a socketpair (SCM_RIGHTS). The peer credentials the
    server reads are the child's: the connect happened as user."""
    return connect_many_as(path, user, 1)[0]


def connect_many_as(path, user, n):
    """n sockets connected to path by one child running as user, handed back
    over a socketpair (SCM_RIGHTS, in batches of 200). The child gives up
    after 30 s (a full backlog blocks a connect); a child that never answers
    is killed, never waited on for ever."""
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            parent.close()
            signal.alarm(30)
            user.become()
            socks = []
            for _ in range(n):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                socks.append(s)
            for i in range(0, n, 200):
                socket.send_fds(child, [b"s"], [s.fileno() for s in socks[i:i + 200]])
            code = 0
        except BaseException as e:   # noqa: the child must never return into the test
            try:
                child.sendall(b"e" + str(e).encode()[:200])
            except OSError:
                pass
        os._exit(code)
    child.close()
    got = []
    try:
        parent.settimeout(30)
        while len(got) < n:
            try:
                msg, fds, _, _ = socket.recv_fds(parent, 256, 200)
            except socket.timeout:
                msg, fds = b"etimed out", []
            if not fds:
                raise PermissionError("connect as %s: %s" % (user.name, msg[1:].decode(errors="replace")))
            got += [socket.socket(fileno=fd) for fd in fds]
    finally:
        parent.close()
        # The child's work is done once its sockets are here (or we gave up on them): one was
        # once found stopped (state T) before it sent, so it is killed rather than waited for
        # past 0.2 s. It is looked at every 2 ms: a fixed 0.2 s sleep cost every client_as that.
        deadline = time.time() + 0.2
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.002)
    return got


def result(msg):
    return (msg or {}).get("result", {})


def tgt_portal(addr="127.0.0.1"):
    return "%s:%s" % (addr, env("MCSI_TGT_PORT"))


def istgt_portal(addr="127.0.0.1"):
    return "%s:%s" % (addr, env("MCSI_ISTGT_PORT"))


def tgt_connections(initiator, tids=(1, 2, 3)):
    """The connections tgtd (main) shows for an initiator name on those targets (tgtadm --mode conn)."""
    count = 0
    for tid in tids:
        out = subprocess.run(["tgtadm", "-C", "0", "--lld", "iscsi", "--op", "show", "--mode", "conn", "--tid",
                              str(tid)], env=dict(os.environ, TGT_IPC_SOCKET=env("MCSI_TGT_IPC")),
                             capture_output=True, text=True).stdout
        for block in out.split("Session:")[1:]:
            if ("Initiator: " + initiator) in [line.strip() for line in block.split("\n")]:
                count += block.count("Connection:")
    return count


def wait_for(pred, timeout=10, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def finish(t, d, log_tail=4000):
    """The end of a test with one daemon: it exits 0 on SIGTERM (a check),
    its log's tail when anything failed, its directory removed."""
    rc = d.stop()
    t.is_(rc, 0, "mcsid exits 0 on SIGTERM")
    if t.failed:
        t.note(d.log_text()[-log_tail:])
    d.cleanup()


# ---------------------------------------------------------------------------
# unittest: cases that can run alone, TAP for tests/run-tests.sh.

ROOT_TAP = TAP()   # numbers every line of a unittest run (main())


class CheckFailed(AssertionError):
    """Raised after a case whose checks failed (their "not ok" lines are out)."""


class DaemonCase(unittest.TestCase):
    """Cases sharing one mcsid per class: setUpClass starts it (daemon_name,
    daemon_config), the class's cleanup stops it with the check "mcsid exits 0
    on SIGTERM" and shows its log's tail if any check of the class failed.
    cls.tap: the class's checks (in setUpClass and its cleanups); self.t: the
    case's. A case sets up the state it needs (its own login, its own
    subscriber...) and leaves the daemon as it found it, so that any case
    runs alone or in any order. Set start_daemon = False for a class that
    manages daemons itself (cls.d is then None)."""

    daemon_name = "mcsid"
    daemon_config = None
    start_daemon = True
    log_tail = 4000
    d = None

    @classmethod
    def setUpClass(cls):
        cls.tap = TAP(parent=ROOT_TAP)
        if not cls.start_daemon:
            return
        cls.d = Daemon(config=cls.daemon_config, name=cls.daemon_name)
        cls.addClassCleanup(cls.finish_daemon, cls.d)
        cls.d.start()

    @classmethod
    def finish_daemon(cls, d):
        started = time.monotonic()
        rc = d.stop()
        cls.tap.note("%s: mcsid stopped in %.2f s" % (cls.__name__, time.monotonic() - started))
        cls.tap.is_(rc, 0, "mcsid exits 0 on SIGTERM")
        if cls.tap.failed:
            cls.tap.note(d.log_text()[-cls.log_tail:])
        d.cleanup()

    def setUp(self):
        self.t = TAP(parent=self.tap)
        self.addCleanup(self._checks_passed)

    def _checks_passed(self):
        if self.t.failed:
            raise CheckFailed("%d of %d checks failed" % (self.t.failed, self.t.checks))

    def new_daemon(self, config=None, name=None):
        """A daemon of the case's own (not started: start() it), stopped when the case
        ends with the check "mcsid exits 0 on SIGTERM" (for a file whose cases each need a
        fresh state directory; set start_daemon = False for its class)."""
        d = Daemon(config=self.daemon_config if config is None else config, name=name or self.daemon_name)
        self.addCleanup(self._finish_case_daemon, d)
        return d

    def _finish_case_daemon(self, d):
        if d.proc is None:        # never started (the case skipped or failed before): nothing to check
            d.cleanup()
            return
        rc = d.stop()
        self.t.is_(rc, 0, "mcsid exits 0 on SIGTERM")
        if self.t.failed:
            self.t.note(d.log_text()[-self.log_tail:])
        d.cleanup()

    def reconfigure(self, changes):
        """The class's daemon's configuration with changes, through SIGHUP; the one it had
        is back (SIGHUP again) when the case ends. True once the daemon logged the reload."""
        d = self.d
        before = dict(d.config)
        self.addCleanup(self._reload, d, before)
        return self._reload(d, dict(before, **changes))

    @staticmethod
    def _reload(d, lines):
        if d.proc is None or d.proc.poll() is not None:
            return False
        n = d.log_text().count("reloaded")
        d.write_config(lines)
        d.signal(signal.SIGHUP)
        return bool(wait_for(lambda: d.log_text().count("reloaded") > n, 5))

    def client(self, timeout=30):
        """A client of the class's daemon, closed when the case ends."""
        c = self.d.client(timeout)
        self.addCleanup(c.close)
        return c


class TAPResult(unittest.TestResult):
    """One TAP line per check (printed by the checks themselves) and one for
    what is not a check: a case that made none ("ok"), an exception or an
    error in a setup or cleanup ("not ok", its traceback as comments), a skip
    ("ok N - # SKIP why")."""

    def startTest(self, test):
        super().startTest(test)
        self.started = time.monotonic()
        print("# %s" % case_name(test), flush=True)

    def stopTest(self, test):
        super().stopTest(test)
        print("# %s: %.2f s" % (case_name(test), time.monotonic() - self.started), flush=True)

    def _line(self, ok, text, detail=None):
        n = ROOT_TAP._number()
        print("%s %d - %s" % ("ok" if ok else "not ok", n, text), flush=True)
        for line in (detail or "").rstrip().splitlines()[-60:]:
            print("#   " + line, flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        if not getattr(getattr(test, "t", None), "checks", 0):
            self._line(True, case_name(test))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        if err[0] is not CheckFailed:
            self._line(False, "%s: %s" % (case_name(test), err[1]), self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._line(False, "%s: %s: %s" % (case_name(test), err[0].__name__, err[1]),
                   self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        n = ROOT_TAP._number()
        print("ok %d - # SKIP %s: %s" % (n, case_name(test), reason), flush=True)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._line(False, "%s: %s" % (subtest.id(), err[1]), self._exc_info_to_string(err, test))

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(False, "%s: unexpected success" % case_name(test))


def case_name(test):
    """Class.method of a case (what argv names), or the description of a
    class or module fixture's error."""
    if isinstance(test, unittest.TestCase):
        return "%s.%s" % (type(test).__name__, test._testMethodName)
    return str(test)


def rerun_name(test):
    """What argv names to run a failed case again: Class.method, or the class
    of a class fixture's error ("setUpClass (module.Class)")."""
    if isinstance(test, unittest.TestCase) and not type(test).__name__.startswith("_"):
        return case_name(test)
    m = re.search(r"\((?:[\w.]*\.)?(\w+)\)", str(test))
    return m.group(1) if m else str(test)


class SourceOrderLoader(unittest.TestLoader):
    """Cases in the order of the source: classes as the module defines them,
    methods as each class (then its bases) defines them."""

    def getTestCaseNames(self, cls):
        names = []
        for klass in cls.__mro__:
            for name, value in vars(klass).items():
                if name.startswith(self.testMethodPrefix) and callable(value) and name not in names:
                    names.append(name)
        return names

    def loadTestsFromModule(self, module, *args, **kw):
        classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, unittest.TestCase)
                   and v.__module__ == module.__name__]
        return self.suiteClass([self.loadTestsFromTestCase(c) for c in classes])


def main(argv=None):
    """Runs the cases of the __main__ module (all, or those argv names as
    Class, Class.method or method) with TAP output; exit 1 if anything failed.
    --list prints every case's Class.method."""
    argv = sys.argv[1:] if argv is None else argv
    module = sys.modules["__main__"]
    loader = SourceOrderLoader()
    if "--list" in argv:
        for test in iterate(loader.loadTestsFromModule(module)):
            print(case_name(test))
        sys.exit(0)
    unknown = [a for a in argv if a.startswith("-")]
    if unknown:
        print("usage: %s [--list] [Class[.method] | method ...]" % os.path.basename(sys.argv[0]), file=sys.stderr)
        sys.exit(2)
    names = [n for arg in argv for n in qualified(module, arg)]
    suite = loader.loadTestsFromNames(names, module) if argv else loader.loadTestsFromModule(module)
    result = TAPResult()
    unittest.registerResult(result)
    suite.run(result)
    for name in dict.fromkeys(rerun_name(test) for test, _ in result.failures + result.errors):
        print("# failed: %s (alone: python3 %s %s)" % (name, os.path.relpath(sys.argv[0]), name), flush=True)
    print("1..%d" % ROOT_TAP.n, flush=True)
    sys.exit(0 if result.wasSuccessful() and not ROOT_TAP.failed else 1)


def qualified(module, name):
    """Class, Class.method as given; a bare method name as Class.method of every
    class of the module that has it (as given when none has: unittest says so)."""
    if "." in name or hasattr(module, name):
        return [name]
    found = ["%s.%s" % (k, name) for k, v in vars(module).items() if isinstance(v, type)
             and issubclass(v, unittest.TestCase) and v.__module__ == module.__name__ and hasattr(v, name)]
    return found or [name]


def iterate(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iterate(item)
        else:
            yield item
