#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_secrets_privilege.py: a non-root client gets no secret root has.

Two non-root users (TestUser A and B, members of the daemon's socket_group)
against a root mcsid, on tgt's CHAP target:
- a SecretFile only root can read is refused, with the same Status and text
  as a file that does not exist (the daemon reads a client's file with the
  client's credentials, in a child, never as root); so is a symbolic link,
  fixed or swapped in while the daemon takes the path;
- a SecretFile the user can read, and a secret given inline (Secret), log in;
- a CHAP account stored by A is usable by A and by root (as NAME@UID), not
  by B, who hears exactly what a missing account answers; B cannot store
  over it either;
- the secret is in no answer, no event, no line received and no log line
  (the daemon runs with log_level debug).

One daemon for the class, the users and files made before it starts, and a
root client that hears every event; each case makes its own clients and
logins (kept for the last case, which greps every line they received), so
that any case runs alone:
    python3 tests/daemon/test_secrets_privilege.py TestSecretsPrivilege.test_inline_secrets"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import result, tgt_portal, env  # noqa: E402

chap_iqn = env("MCSI_TGT_IQN_CHAP")
user, secret = env("MCSI_CHAP_USER"), env("MCSI_CHAP_SECRET")
WRONG = "wrong-secret-7Qz"
KEPT = "kept"   # the accounts store_accounts makes: not 'acct', which test_stored_accounts_belong_to_their_uid
                # needs B not to have, whatever ran before it
a, b = mcsid_test.test_user(0), mcsid_test.test_user(1)
files = tempfile.mkdtemp(prefix="mcsid-secrets.")
atexit.register(shutil.rmtree, files, True)   # also when no case ran (--list)
policies = os.path.join(files, "policies")


def write(path, text, mode, owner=None):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    if owner:
        os.chown(path, owner.uid, owner.gid)


root_only = os.path.join(files, "root-only.secret")          # root:root 0600, the right secret
a_dir = os.path.join(files, "a")                               # A's own directory
a_file = os.path.join(a_dir, "chap.secret")
a_wrong = os.path.join(a_dir, "wrong.secret")
b_dir = os.path.join(files, "b")                               # B's
b_wrong = os.path.join(b_dir, "wrong.secret")
missing = os.path.join(files, "no-such.secret")


def make_files():
    os.mkdir(policies)
    with open(os.path.join(policies, "probe.lua"), "w") as f:   # what the client-side secret reader looks like to a policy
        f.write('return function(sid) print("probe", type(mcsi._chap_secrets), type(mcsi._unix and mcsi._unix.chap_secrets or nil)) '
                'end\n')
    os.chmod(files, 0o755)
    write(root_only, secret + "\n", 0o600)
    os.mkdir(a_dir, 0o700)
    os.chown(a_dir, a.uid, a.gid)
    write(a_file, secret + "\n", 0o600, a)
    write(a_wrong, WRONG + "\n", 0o600, a)
    os.mkdir(b_dir, 0o700)
    os.chown(b_dir, b.uid, b.gid)
    write(b_wrong, WRONG + "\n", 0o600, b)


def login(c, **chap):
    params = {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "LoginTimeoutMs": 5000}
    params.update(chap)
    return c.call("LoginToTarget", params)


def logout_if_in(c, r):
    sid = result(r).get("UniqueSessionId")
    if sid:
        c.call("LogoutFromTarget", {"UniqueSessionId": sid})


def status_and_text(r):
    x = result(r)
    return (x.get("StatusName"), x.get("StatusMessage"))


def flush_and_close(c):
    """What the client heard so far is read (SessionList's answer comes after it), then closed."""
    try:
        c.call("SessionList", timeout=10)
    except OSError:
        pass
    c.close()


class TestSecretsPrivilege(mcsid_test.DaemonCase):
    daemon_name = "secrets"
    daemon_config = {"socket_group": mcsid_test.TEST_GROUP, "policy_dir": policies}
    clients = []          # every client of the class: the last case greps what they received

    @classmethod
    def setUpClass(cls):
        cls.addClassCleanup(shutil.rmtree, files, True)
        make_files()
        super().setUpClass()
        cls.d.open_to_test_users()
        cls.watcher = cls.d.client()
        cls.clients.append(cls.watcher)
        cls.addClassCleanup(lambda: cls.watcher.close())
        cls.tap.status(cls.watcher.call("Subscribe"), "ISDSC_SUCCESS",
                       "a root client hears every event (grepped at the end)")

    def keep(self, c):
        self.clients.append(c)
        self.addCleanup(flush_and_close, c)
        return c

    def client_as(self, u):
        return self.keep(self.d.client_as(u))

    def root_client(self):
        return self.keep(self.d.client())

    def store_accounts(self):
        """A's account KEPT and B's (its wrong secret) under the same name (setup)."""
        ca, cb = self.client_as(a), self.client_as(b)
        r = ca.call("LoginToTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "IsPersistent": True,
                                      "Username": user, "SecretFile": a_file, "ChapAccount": KEPT})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: A stores %s: %r" % (KEPT, r))
        logout_if_in(ca, r)
        ca.call("RemovePersistentTarget", {"TargetName": chap_iqn})
        r = login(cb, Username=user, SecretFile=b_wrong, IsPersistent=True, ChapAccount=KEPT)
        logout_if_in(cb, r)
        cb.call("RemovePersistentTarget", {"TargetName": chap_iqn})

    def test_root_only_secret_file(self):
        """Secret files, read with the client's credentials: root's, /proc, symbolic links."""
        t, ca = self.t, self.client_as(a)
        r = login(ca, Username=user, SecretFile=root_only)
        logout_if_in(ca, r)
        t.ok(result(r).get("StatusName") != "ISDSC_SUCCESS",
             "A names a root-only SecretFile: refused (the daemon does not read it for A)", r)
        refused = status_and_text(r)
        gone = status_and_text(login(ca, Username=user, SecretFile=missing))
        t.is_(refused, gone, "... with the same Status and text as a file that does not exist")
        t.is_(refused[0], "ISDSC_INVALID_PARAMETER", "... ISDSC_INVALID_PARAMETER")
        t.ok(root_only not in (refused[1] or "") and "ermission" not in (refused[1] or ""),
             "... and the text names neither the path nor a permission", refused)

        for proc in ("/proc/self/maps", "/proc/self/status"):   # the reader itself: a copy of the daemon
            t.is_(status_and_text(login(ca, Username=user, SecretFile=proc)), gone,
                  "%s (the reader's own, a copy of mcsid's): refused, the same text" % proc)

        link = os.path.join(a_dir, "link.secret")
        os.symlink(root_only, link)
        os.lchown(link, a.uid, a.gid)
        t.is_(status_and_text(login(ca, Username=user, SecretFile=link)), gone,
              "a symbolic link to the root-only file: refused, the same text")
        os.unlink(link)
        os.symlink(a_file, link)
        t.is_(status_and_text(login(ca, Username=user, SecretFile=link)), gone,
              "a symbolic link even to A's own file: refused (no link is followed), the same text")
        os.unlink(link)

    def test_swapped_path(self):
        """A path swapped between A's file (wrong secret) and a link to the root-only
        file while the daemon takes it: never a login with root's secret."""
        t, ca = self.t, self.client_as(a)
        swap = os.path.join(a_dir, "swap.secret")
        stop = threading.Event()

        def swapper():
            tmp_link, tmp_file = swap + ".l", swap + ".f"
            while not stop.is_set():
                for src in ("link", "file"):
                    try:
                        if src == "link":
                            os.symlink(root_only, tmp_link)
                            os.rename(tmp_link, swap)
                        else:
                            shutil.copy(a_wrong, tmp_file)
                            os.chown(tmp_file, a.uid, a.gid)
                            os.rename(tmp_file, swap)
                    except OSError:
                        pass
        shutil.copy(a_wrong, swap)
        os.chown(swap, a.uid, a.gid)
        th = threading.Thread(target=swapper)
        th.start()
        names = {}
        try:
            for _ in range(30):
                r = login(ca, Username=user, SecretFile=swap)
                logout_if_in(ca, r)
                names[result(r).get("StatusName")] = names.get(result(r).get("StatusName"), 0) + 1
        finally:
            stop.set()
            th.join()
        t.ok("ISDSC_SUCCESS" not in names, "a path swapped for a link to the root-only file: never a login with it",
             names)

    def test_own_secret_file(self):
        t, ca = self.t, self.client_as(a)
        r = login(ca, Username=user, SecretFile=a_file)
        t.status(r, "ISDSC_SUCCESS", "A's own SecretFile (0600, A's): logged in")
        logout_if_in(ca, r)
        r = login(ca, Username=user, SecretFile=a_wrong)
        t.status(r, "ISDSC_AUTHENTICATION_FAILURE", "A's own file with a wrong secret: ISDSC_AUTHENTICATION_FAILURE")
        logout_if_in(ca, r)

    def test_stopping_reader_child(self):
        """A hostile A stops the reader child (it runs as A) again and again: the daemon
        keeps serving others, answers every request by its deadline (3 s: the child is
        killed) and leaves no child behind."""
        t, ca, root = self.t, self.client_as(a), self.root_client()
        spinner = subprocess.Popen(["python3", "-c", "import os, signal, sys, time\nend = time.time() + 12\n"
                                    "print('spinning', flush=True)\n"
                                    "while time.time() < end:\n  try: os.kill(-1, signal.SIGSTOP)\n"
                                    "  except OSError: pass\n"], preexec_fn=a.become, stdout=subprocess.PIPE, text=True)
        spinner.stdout.readline()
        slowest, version_slowest, outcomes, caught = 0.0, 0.0, {}, 0
        started = time.time()
        try:
            # A request that ends right after the read (a bad HeaderDigest): many tries, until two were stopped.
            while caught < 2 and time.time() - started < 11:
                t0 = time.time()
                rid = ca.send("LoginToTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(),
                                                "HeaderDigest": "bogus", "Username": user, "SecretFile": a_file})
                t1 = time.time()
                v = root.call("GetVersion")
                version_slowest = max(version_slowest, time.time() - t1)
                r = ca.wait_id(rid, 10)
                slowest = max(slowest, time.time() - t0)
                key = "%s %s" % status_and_text(r)
                outcomes[key] = outcomes.get(key, 0) + 1
                caught += "within 3000 ms" in key
        finally:
            spinner.kill()
            spinner.wait()
        t.note("outcomes with a stopping user: %r" % outcomes)
        t.ok(caught >= 1, "A stopped its reader child at least once (%d times)" % caught, outcomes)
        t.ok(result(v).get("StatusName") == "ISDSC_SUCCESS" and version_slowest < 1.0,
             "others are served meanwhile (slowest GetVersion %.3f s)" % version_slowest)
        t.ok(slowest < 5.5 and all("HeaderDigest" in k or "within 3000 ms" in k for k in outcomes),
             "every request of A is answered by the deadline (slowest %.2f s)" % slowest, outcomes)

    def test_readers_per_user_bounded(self):
        """12 requests in one write find at most 4 of A's readers alive at once; the others
        are answered at once ("try again"), every one is answered."""
        t, d, ca = self.t, self.d, self.client_as(a)
        batch = b"".join((json.dumps({"jsonrpc": "2.0", "id": 1000 + i, "method": "LoginToTarget", "params": {
            "TargetName": chap_iqn, "TargetPortal": tgt_portal(), "HeaderDigest": "bogus", "Username": user,
            "SecretFile": a_file}}) + "\n").encode() for i in range(12))
        ca.send_raw(batch)
        answers = [status_and_text(ca.wait_id(1000 + i, 10)) for i in range(12)]
        busy = sum(1 for _, text in answers if "too many secret files" in (text or ""))
        read = sum(1 for _, text in answers if "HeaderDigest" in (text or ""))
        t.ok(busy >= 1 and read >= 4 and busy + read == 12,
             "12 pipelined SecretFile requests: %d read, %d refused (at most 4 readers per user)" % (read, busy), answers)

        t.ok(mcsid_test.wait_for(lambda: not d.children(), 5), "no reader child is left (all reaped)", d.children())

    def test_inline_secrets(self):
        t, ca = self.t, self.client_as(a)
        r = login(ca, Username=user, Secret=secret)
        t.status(r, "ISDSC_SUCCESS", "an inline Secret: logged in")
        logout_if_in(ca, r)
        r = login(ca, Username=user, Secret=secret, SecretFile=a_file)
        t.status(r, "ISDSC_INVALID_PARAMETER", "Secret and SecretFile together: ISDSC_INVALID_PARAMETER")
        r = login(ca, Username=user, Secret="")
        t.status(r, "ISDSC_INVALID_CHAP_SECRET", "an empty inline Secret: ISDSC_INVALID_CHAP_SECRET")

    def test_stored_accounts_belong_to_their_uid(self):
        t, ca, cb, root = self.t, self.client_as(a), self.client_as(b), self.root_client()
        r = ca.call("LoginToTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(), "IsPersistent": True,
                                      "Username": user, "SecretFile": a_file, "ChapAccount": "acct"})
        t.status(r, "ISDSC_SUCCESS", "A stores the account 'acct' (a persistent login with its SecretFile)")
        logout_if_in(ca, r)
        rm = ca.call("RemovePersistentTarget", {"TargetName": chap_iqn})
        t.status(rm, "ISDSC_SUCCESS", "... and removes the persistent entry (the account stays)")
        r = login(ca, ChapAccount="acct")
        t.status(r, "ISDSC_SUCCESS", "A logs in through its account 'acct'")
        logout_if_in(ca, r)
        rb = login(cb, ChapAccount="acct")
        logout_if_in(cb, rb)
        rn = login(cb, ChapAccount="no-such-account")
        t.ok(result(rb).get("StatusName") != "ISDSC_SUCCESS", "B names A's account 'acct': refused", rb)
        t.is_(status_and_text(rb), status_and_text(rn), "... with the answer to an account that does not exist")
        rb = login(cb, ChapAccount="acct@%d" % a.uid)
        logout_if_in(cb, rb)
        t.is_(status_and_text(rb), status_and_text(rn), "B names it as acct@%d: the same answer" % a.uid)
        rb = cb.call("PersistentLoginTarget", {"TargetName": chap_iqn, "TargetPortal": tgt_portal(),
                                               "ChapAccount": "acct@%d" % a.uid})
        t.is_(status_and_text(rb), status_and_text(rn), "B's PersistentLoginTarget naming it: the same answer")
        cb.call("RemovePersistentTarget", {"TargetName": chap_iqn})
        r = login(root, ChapAccount="acct@%d" % a.uid)
        t.status(r, "ISDSC_SUCCESS", "root logs in through A's account (acct@%d)" % a.uid)
        logout_if_in(root, r)
        for name in ("acct", "acct@%d" % a.uid):
            r = login(cb, Username=user, SecretFile=b_wrong, IsPersistent=True, ChapAccount=name)
            logout_if_in(cb, r)
            cb.call("RemovePersistentTarget", {"TargetName": chap_iqn})
        r = login(ca, ChapAccount="acct")
        t.status(r, "ISDSC_SUCCESS", "B storing (its wrong secret) as 'acct' and as 'acct@%d' changed nothing of A's" % a.uid)
        logout_if_in(ca, r)

    def test_owner_kept_across_restart(self):
        """The owner is kept across a restart (secrets.json "Owner", checked at start)."""
        t, d = self.t, self.d
        self.store_accounts()
        for c in self.clients:
            try:
                c.call("SessionList")                  # reads what each heard so far (grepped at the end)
            except OSError:
                pass
        t.is_(d.stop(), 0, "mcsid stops (SIGTERM) for a restart")
        d.start()
        ca = self.client_as(a)
        type(self).watcher = watcher = d.client()   # the class's (closed at its end)
        self.clients.append(watcher)
        self.watcher.call("Subscribe")          # every event after the restart too (grepped at the end)
        r = login(ca, ChapAccount=KEPT)
        t.status(r, "ISDSC_SUCCESS", "after a restart A still logs in through '%s'" % KEPT)
        logout_if_in(ca, r)
        with open(os.path.join(d.state, "secrets.json")) as f:
            store = json.load(f)
        owners = {k: v.get("Owner") for k, v in store.get("ChapAccounts", {}).items()}
        t.ok(owners.get("%s@%d" % (KEPT, a.uid)) == a.uid and owners.get("%s@%d" % (KEPT, b.uid)) == b.uid and
             not store.get("Rejected"), "secrets.json: %s@%d owned by A, %s@%d by B, none set aside" % (KEPT, a.uid, KEPT, b.uid),
             owners)

    def test_lua_client(self):
        """The Lua client (mcsi --connect) as A: it reads secret_file itself, sends it inline."""
        t, d = self.t, self.d
        mcsi = os.path.join(mcsid_test.BUILD, "mcsi")
        lua_env = dict(os.environ, LUA_PATH=os.path.join(mcsid_test.ROOT, "bindings", "?.lua") + ";;",
                       LUA_CPATH=os.path.join(mcsid_test.BUILD, "?.so") + ";;", HOME="/nonexistent")
        code = """
          local function try(chap)
            local ok, sid, _, st = pcall(mcsi.login_to_target, { portal = %r, target = %r, chap = chap })
            if not ok then print("raised", sid) return end
            print("status", st.name)
            if sid then mcsi.logout_from_target(sid) end
          end
          try{ username = %r, secret_file = %r }
          try{ username = %r, secret_file = %r }
        """ % (tgt_portal(), chap_iqn, user, a_file, user, root_only)
        out = a.run([mcsi, "--connect", d.socket, "-e", code], env=lua_env, capture_output=True, text=True,
                    timeout=60)
        lines = out.stdout.splitlines()
        t.ok(out.returncode == 0 and len(lines) == 2 and lines[0] == "status\tISDSC_SUCCESS",
             "mcsi --connect as A: secret_file of A's own file logs in", out.stdout + out.stderr)
        t.ok(len(lines) == 2 and lines[1].startswith("raised") and "Permission denied" in lines[1],
             "... a root-only secret_file fails in the client itself (A cannot read it), never reaches mcsid",
             out.stdout + out.stderr)
        t.ok(secret not in out.stdout + out.stderr, "... and prints no secret")

    def test_policy_cannot_read_files(self):
        """A policy (root, in mcsid) gets no way to read a file into a string."""
        t, d, root = self.t, self.d, self.root_client()
        plain = env("MCSI_TGT_IQN_PLAIN")
        r = root.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        sid = result(r).get("UniqueSessionId")
        p = root.call("AttachPolicy", {"UniqueSessionId": sid, "PolicyScript": "probe"})
        t.ok(result(p).get("StatusName") == "ISDSC_SUCCESS" and
             mcsid_test.wait_for(lambda: "probe\tnil\tnil" in d.log_text(), 5),
             "a policy cannot reach the client-side CHAP reader (it would read files as root)", p)
        logout_if_in(root, r)

    def test_secret_nowhere(self):
        """The secret is in no answer, no event, no line received by any client of the
        class's cases, no log line, not in state.json."""
        t, d, ca = self.t, self.d, self.client_as(a)
        self.store_accounts()   # a persistent login through a SecretFile: state.json and secrets.json written
        for kw in ({"Username": user, "SecretFile": a_file}, {"Username": user, "Secret": secret},
                   {"Username": user, "SecretFile": a_wrong}, {"Username": user, "Secret": WRONG}):
            for _ in range(2):   # logins through each kind of secret: events and log lines to grep
                logout_if_in(ca, login(ca, **kw))
        clients = self.clients
        for c in clients:
            try:
                c.call("SessionList")
            except OSError:
                pass   # a client closed, or of the daemon before a restart
        events = [line for c in clients for line in c.lines if '"method":"Event"' in line.replace(" ", "")]
        t.ok(len(events) >= 20, "the events were heard (%d lines)" % len(events))
        received = "\n".join(line for c in clients for line in c.lines)
        t.ok(len(received) > 1000 and secret not in received and WRONG not in received,
             "no line any client received holds a secret (%d bytes)" % len(received))
        log = d.log_text()
        t.ok("LoginToTarget" in log and secret not in log and WRONG not in log,
             "the daemon's debug log holds no secret (%d bytes)" % len(log))
        state = os.path.join(d.state, "state.json")
        t.ok(os.path.exists(state) and secret not in open(state).read(), "state.json is there and holds no secret")


if __name__ == "__main__":
    mcsid_test.main()
