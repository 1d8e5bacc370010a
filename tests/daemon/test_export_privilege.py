#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_export_privilege.py: a permitted non-root client of a root mcsid gets
nothing root has through the NBD exports' Unix sockets.

Two users the test creates: a member of socket_group (a permitted client)
and one that is not. The member, through ExportLun and UnexportLun:
cannot make a socket outside export_dir (a root-only directory, its own
directory, a path through its own symlink to export_dir); cannot make the
daemon unlink a root-only file by swapping a directory for a symlink after
an export; cannot replace a live socket of any type (stream, datagram,
seqpacket) nor a file nor a symlink in export_dir, while a dead socket of
the daemon's is replaced. export_dir is made 0750 root:socket_group; the
export's socket 0660 root:socket_group; a socket whose name was taken by
another file is not removed by UnexportLun. The user outside socket_group,
given a way to the socket (directory and socket opened to all), gets no
NBD greeting (nbdinfo fails, ClientsRefused counts it), the member does.
Root gives names too. Stored exports: export_dir/name becomes a name at
start, a socket elsewhere never starts. An export_dir in a directory a
user can write, or reached through a symlink, is refused (no socket made);
export_dir is made by the first export, not before.

Classes: TestExportPrivilege (one daemon; each case logs the member in and
makes the directories and exports it needs, in directories of its own; the
first-export case has a daemon of its own, as it looks at a fresh
export_dir) and TestRefusedExportDir (a daemon per case). Any case runs alone:
    python3 tests/daemon/test_export_privilege.py TestExportPrivilege.test_peer_check
"""
import grp
import json
import os
import socket
import stat
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import Daemon, result, tgt_portal, env, wait_for, connect_as  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
LUN = int(env("MCSI_TGT_FILE_LUN"))
if os.geteuid() != 0:
    print("1..0 # SKIP needs root (a root mcsid, test users)")
    sys.exit(0)
member = mcsid_test.test_user(0, member=True)
# The other test users may be members (other tests make them so): "nobody" is not.
outsider = mcsid_test.TestUser("nobody", member=False)
GID = grp.getgrnam(mcsid_test.TEST_GROUP).gr_gid
if GID in outsider.groups:
    print("1..0 # SKIP nobody is in %s" % mcsid_test.TEST_GROUP)
    sys.exit(0)
CONFIG = {"socket_group": mcsid_test.TEST_GROUP}


def invalid(r):
    return (r or {}).get("error", {}).get("code") == -32602


def failed(r):
    return invalid(r) or result(r).get("Status", 0) != 0


def as_member(fn, *args):
    """fn(*args) in a child process running as the member: True if it did not raise."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            member.become()
            fn(*args)
            code = 0
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1] == 0


def nbd_size(user, path):
    """nbdinfo --size run as user: (exit code, output)."""
    p = user.run(["nbdinfo", "--size", "nbd+unix:///?socket=" + path], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def greeting_as(user, path):
    """The first bytes a connection user made gets (b"" when closed at once)."""
    s = connect_as(path, user)
    s.settimeout(10)
    try:
        return s.recv(18)
    except OSError:
        return b""
    finally:
        s.close()


def secret_file(path):
    with open(path, "w") as f:
        f.write("root only\n")
    os.chmod(path, 0o600)


def untouched(path):
    """The root-only file secret_file made is there as it was."""
    try:
        st = os.lstat(path)
        with open(path) as f:
            return stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == 0o600 and st.st_uid == 0 and \
                st.st_gid == 0 and f.read() == "root only\n"
    except OSError:
        return False


def export(c, sid, sock, **kw):
    params = {"UniqueSessionId": sid, "Lun": LUN, "Socket": sock}
    params.update(kw)
    return c.call("ExportLun", params)


def refused_dir(case, config_dir, prepare, label):
    """A second daemon whose export_dir is config_dir (prepare() sets it up
    once the daemon's directory exists): a Unix export fails naming
    export_dir, and no socket appears there."""
    o = Daemon(config={"socket_group": mcsid_test.TEST_GROUP, "export_dir": config_dir(None)}, name="xpriv-dir")
    case.addCleanup(o.cleanup)
    real = prepare(o)
    o.write_config({"initiator_name": o.iqn, "log_level": "debug", "socket_group": mcsid_test.TEST_GROUP,
                    "export_dir": config_dir(o)})
    o.start()
    oc = o.client()
    r = oc.call("ExportLun", {"UniqueSessionId": 1, "Lun": LUN, "Socket": "z.sock"})
    case.t.ok(result(r).get("StatusName") == "ISDSC_INVALID_PARAMETER" and
         "export_dir" in result(r).get("StatusMessage", "") and not os.path.exists(os.path.join(real, "z.sock")),
         "%s: refused (a Unix export fails naming export_dir, no socket made)" % label, r)
    case.t.ok("export_dir" in o.log_text() and "no Unix export can start" in o.log_text(), "... and the log says why",
         o.log_text()[-1500:])
    oc.close()
    case.t.is_(o.stop(), 0, "... that daemon exits 0 on SIGTERM")



def quietly(fn, *args):
    """fn(*args) for a case's cleanup, when the daemon may have been restarted meanwhile."""
    try:
        fn(*args)
    except OSError:
        pass


class PrivilegeCase(mcsid_test.DaemonCase):
    daemon_name = "xpriv"
    daemon_config = CONFIG

    def start_member(self, d):
        """The daemon d open to the test users, a root client and the member's, the member
        logged in (setup): (c, m, sid)."""
        d.open_to_test_users()
        c = self.client_of(d)
        m = d.client_as(member)
        self.addCleanup(m.close)
        r = m.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: the member logs in: %r" % (r,))
        sid = result(r)["UniqueSessionId"]
        self.addCleanup(quietly, m.call, "LogoutFromTarget", {"UniqueSessionId": sid})   # stops its exports
        return c, m, sid

    def forget_sessions(self):
        """No persistent target, no session left (a client of its own)."""
        c = self.d.client()
        try:
            c.call("RemovePersistentTarget", {"TargetName": plain})
            for x in result(c.call("SessionList")).get("Sessions", []):
                c.call("LogoutFromTarget", {"UniqueSessionId": x["UniqueSessionId"]})
        finally:
            c.close()

    def client_of(self, d):
        c = d.client()
        self.addCleanup(c.close)
        return c

    def member_session(self):
        """The class's daemon with export_dir made (an export made and removed) and the
        member logged in (setup): (c, m, sid)."""
        c, m, sid = self.start_member(self.d)
        if not os.path.isdir(self.d.export_dir):
            r = m.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": "first.sock"})
            m.call("UnexportLun", {"ExportId": result(r).get("ExportId", 0)})
            self.assertTrue(os.path.isdir(self.d.export_dir), "setup: export_dir made")
        return c, m, sid

    def dirs(self):
        """A root-only directory and one the member owns, of the case's own (setup)."""
        rootonly = tempfile.mkdtemp(prefix="rootonly.", dir=self.d.dir)
        os.chmod(rootonly, 0o700)
        att = tempfile.mkdtemp(prefix="att.", dir=self.d.dir)
        os.chmod(att, 0o755)
        os.chown(att, member.uid, member.gid)
        return rootonly, att


class TestExportPrivilege(PrivilegeCase):
    def test_export_dir_made_by_first_export(self):
        """On a daemon of its own: export_dir is made by the first export, 0750 root:socket_group."""
        t = self.t
        d = self.new_daemon()
        d.start()
        d.open_to_test_users()
        t.ok(not os.path.exists(d.export_dir), "export_dir is not made before an export needs it")
        m = d.client_as(member)
        self.addCleanup(m.close)
        r = m.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        t.status(r, "ISDSC_SUCCESS", "the member logs in (a permitted non-root client)")
        sid = result(r).get("UniqueSessionId")
        self.addCleanup(m.call, "LogoutFromTarget", {"UniqueSessionId": sid})
        r = m.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Socket": "first.sock"})
        m.call("UnexportLun", {"ExportId": result(r).get("ExportId", 0)})
        st = os.stat(d.export_dir) if os.path.isdir(d.export_dir) else None
        t.ok(st and st.st_mode & 0o7777 == 0o750 and st.st_uid == 0 and st.st_gid == GID,
             "the first export makes export_dir 0750 root:socket_group", st and (oct(st.st_mode), st.st_uid, st.st_gid))

    def test_no_socket_outside_export_dir(self):
        t, d = self.t, self.d
        c, m, sid = self.member_session()
        rootonly, att = self.dirs()
        for path, what in ((os.path.join(rootonly, "r.sock"), "a root-only directory"),
                           (os.path.join(att, "own.sock"), "its own directory"),
                           ("/run/mcsi-test-%d.sock" % os.getpid(), "/run")):
            r = export(m, sid, path)
            t.ok(invalid(r) and not os.path.lexists(path), "the member's ExportLun at %s: invalid params, no socket" % what, r)
        as_member(os.symlink, d.export_dir, os.path.join(att, "link"))
        r = export(m, sid, os.path.join(att, "link", "via.sock"))
        t.ok(invalid(r) and not os.path.lexists(os.path.join(d.export_dir, "via.sock")),
             "... through its own symlink to export_dir: invalid params", r)
        r = export(c, sid, os.path.join(rootonly, "r.sock"))
        t.ok(invalid(r) and not os.path.lexists(os.path.join(rootonly, "r.sock")),
             "root's ExportLun at a path outside export_dir: invalid params too (everyone names a socket)", r)

    def test_unexport_through_swapped_directory(self):
        """UnexportLun through a directory swapped for a symlink."""
        t = self.t
        c, m, sid = self.member_session()
        rootonly, att = self.dirs()
        secret_file(os.path.join(rootonly, "x.sock"))
        os.mkdir(os.path.join(att, "d"))
        os.chown(os.path.join(att, "d"), member.uid, member.gid)
        r = export(m, sid, os.path.join(att, "d", "x.sock"))
        swapped = as_member(os.rename, os.path.join(att, "d"), os.path.join(att, "d.old")) and \
            as_member(os.symlink, rootonly, os.path.join(att, "d"))
        r2 = m.call("UnexportLun", {"Socket": os.path.join(att, "d", "x.sock")})
        t.ok(swapped and failed(r) and failed(r2) and untouched(os.path.join(rootonly, "x.sock")),
             "export in its directory, directory swapped for a symlink to a root-only one, UnexportLun: the root file "
             "stays", (r, r2))

    def test_names_in_export_dir(self):
        """export_dir: what is there already (live sockets, a file, a symlink, a dead socket)."""
        t, d = self.t, self.d
        c, m, sid = self.member_session()
        rootonly, att = self.dirs()
        live = {}
        for kind, typ in (("stream", socket.SOCK_STREAM), ("dgram", socket.SOCK_DGRAM), ("seqpacket", socket.SOCK_SEQPACKET)):
            s = socket.socket(socket.AF_UNIX, typ)
            s.bind(os.path.join(d.export_dir, kind + ".sock"))
            if typ != socket.SOCK_DGRAM:
                s.listen(1)
            live[kind] = s
            ino = os.stat(os.path.join(d.export_dir, kind + ".sock")).st_ino
            r = export(m, sid, os.path.join(d.export_dir, kind + ".sock"))
            still = os.stat(os.path.join(d.export_dir, kind + ".sock")).st_ino == ino
            t.ok(result(r).get("StatusName") == "ISDSC_INVALID_PARAMETER" and "in use" in result(r).get("StatusMessage", "")
                 and still, "a live %s socket in export_dir is not replaced (in use)" % kind, r)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        live["dgram"].settimeout(5)
        try:
            probe.sendto(b"still mine", os.path.join(d.export_dir, "dgram.sock"))
            got = live["dgram"].recv(64)
        except OSError as e:
            got = e
        t.is_(got, b"still mine", "... the datagram socket still gets its datagrams")
        probe.close()
        for s in live.values():
            s.close()

        secret_file(os.path.join(d.export_dir, "file.sock"))
        r = export(m, sid, "file.sock")
        t.ok(failed(r) and "not a socket" in result(r).get("StatusMessage", "") and
             untouched(os.path.join(d.export_dir, "file.sock")), "a file under the name: refused, left as it was", r)
        secret_file(os.path.join(rootonly, "target"))
        os.symlink(os.path.join(rootonly, "target"), os.path.join(d.export_dir, "lnk.sock"))
        r = export(m, sid, "lnk.sock")
        t.ok(failed(r) and os.path.islink(os.path.join(d.export_dir, "lnk.sock")) and
             untouched(os.path.join(rootonly, "target")),
             "a symlink under the name (to a root-only 0600 file): refused, the file keeps its mode and group", r)

        dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        dead.bind(os.path.join(d.export_dir, "stale.sock"))
        dead.close()
        r = export(m, sid, "stale.sock")
        t.status(r, "ISDSC_SUCCESS", "a dead socket of root's under the name is replaced")
        rc, out = nbd_size(member, os.path.join(d.export_dir, "stale.sock"))
        t.ok(rc == 0, "... and serves (nbdinfo as the member)", out)

    def test_peer_check(self):
        """The socket itself; the peer check: the user outside socket_group."""
        t, d = self.t, self.d
        c, m, sid = self.member_session()
        r = export(m, sid, "m.sock", ExportName="m")
        t.status(r, "ISDSC_SUCCESS", "the member exports a LUN under a name")
        mid = result(r).get("ExportId")
        mpath = os.path.join(d.export_dir, "m.sock")
        t.ok(result(r).get("Export", {}).get("Socket") == mpath, "... its socket is export_dir/name", r)
        st = os.lstat(mpath)
        t.ok(stat.S_ISSOCK(st.st_mode) and st.st_mode & 0o777 == 0o660 and st.st_uid == 0 and st.st_gid == GID,
             "... mode 0660 root:socket_group", (oct(st.st_mode), st.st_uid, st.st_gid))
        rc, out = nbd_size(member, mpath)
        t.ok(rc == 0 and int(out.strip() or 0) > 0, "nbdinfo as the member reads its size", out)

        # ---- the peer check: the user outside socket_group ---------------------------------------------------------
        os.chmod(d.export_dir, 0o755)   # as if an administrator opened the directory and the socket to all
        os.chmod(mpath, 0o666)
        before = next(x for x in result(c.call("ListExports")).get("Exports", []) if x["ExportId"] == mid)
        g = greeting_as(outsider, mpath)
        t.is_(g, b"", "a user outside socket_group reaching the socket gets no NBD greeting (closed)")
        rc, out = nbd_size(outsider, mpath)
        t.ok(rc != 0, "... nbdinfo as that user fails", out)
        t.ok(greeting_as(member, mpath)[:8] == b"NBDMAGIC", "the member still gets the greeting")
        after = next(x for x in result(c.call("ListExports")).get("Exports", []) if x["ExportId"] == mid)
        t.ok(after["Statistics"]["ClientsRefused"] >= before["Statistics"]["ClientsRefused"] + 2,
             "ClientsRefused counts the refused connections", (before["Statistics"], after["Statistics"]))
        t.ok("NBD client" in d.log_text() and "uid %d" % outsider.uid in d.log_text(), "the log names the refused uid")
        os.chmod(d.export_dir, 0o750)

    def test_unexport_removes_only_its_inode(self):
        t, d = self.t, self.d
        c, m, sid = self.member_session()
        rootonly, att = self.dirs()
        r = export(m, sid, "taken.sock")
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: an export: %r" % (r,))
        stale_id = result(r).get("ExportId")
        r = export(m, sid, "m.sock", ExportName="m")
        self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: an export: %r" % (r,))
        mpath = os.path.join(d.export_dir, "m.sock")
        spath = os.path.join(d.export_dir, "taken.sock")
        os.rename(spath, os.path.join(d.export_dir, "moved.sock"))
        secret_file(spath)
        r = m.call("UnexportLun", {"ExportId": stale_id})
        t.ok(result(r).get("StatusName") == "ISDSC_SUCCESS" and untouched(spath),
             "a file that took the export's name is not removed by UnexportLun", r)
        r = m.call("UnexportLun", {"Socket": "m.sock"})
        t.ok(result(r).get("StatusName") == "ISDSC_SUCCESS" and not os.path.lexists(mpath),
             "UnexportLun by name removes the socket it bound", r)
        for bad in ("../x", "a/b", "x" * 65):
            r = m.call("UnexportLun", {"Socket": bad})
            t.ok(invalid(r), "UnexportLun Socket %r: invalid params" % bad[:20], r)

        r = m.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(),
                                             "Exports": [{"Lun": LUN, "Socket": os.path.join(att, "p.sock")}]})
        t.ok(invalid(r) and not os.path.lexists(os.path.join(att, "p.sock")),
             "PersistentLoginTarget with an export's socket outside export_dir: invalid params", r)

    def test_stored_exports_named_at_start(self):
        t, d = self.t, self.d
        self.addCleanup(self.forget_sessions)
        c, m, sid = self.member_session()
        rootonly, att = self.dirs()
        r = c.call("PersistentLoginTarget", {"TargetName": plain, "TargetPortal": tgt_portal(),
                                             "Exports": [{"Lun": LUN, "Socket": "keep.sock"}]})
        t.status(r, "ISDSC_SUCCESS", "a persistent target with an export")
        wait_for(lambda: any(x.get("SocketName") == "keep.sock" and x["State"] == "up"
                             for x in result(c.call("ListExports")).get("Exports", [])), 20)
        t.is_(d.stop(), 0, "SIGTERM: exit 0")
        spath = os.path.join(d.state, "state.json")
        with open(spath) as f:
            state = json.load(f)
        entry = next(e for e in state["PersistentTargets"] if e["TargetName"] == plain)
        out_path = os.path.join(rootonly, "out.sock")
        entry["Exports"] = [{"Lun": LUN, "Socket": os.path.join(d.export_dir, "old.sock")},
                            {"Lun": LUN, "Socket": out_path}]
        with open(spath, "w") as f:
            json.dump(state, f)
        d.start()
        c = self.client()
        up = wait_for(lambda: [x for x in result(c.call("ListExports")).get("Exports", []) if x["State"] == "up"], 20)
        t.ok(up and [x.get("SocketName") for x in up] == ["old.sock"] and
             stat.S_ISSOCK(os.lstat(os.path.join(d.export_dir, "old.sock")).st_mode),
             "a stored export at export_dir/old.sock starts as old.sock", up)
        with open(spath) as f:
            stored = next(e for e in json.load(f)["PersistentTargets"] if e["TargetName"] == plain)["Exports"]
        t.is_(stored[0], {"Lun": LUN, "Socket": "old.sock"}, "... and is stored by its name from now on")
        t.ok(not os.path.lexists(out_path) and "will not start" in d.log_text(),
             "a stored export with a socket outside export_dir never starts (logged), nothing made there",
             d.log_text()[-1500:])
        c.call("RemovePersistentTarget", {"TargetName": plain})

    def test_socket_group_follows_sighup(self):
        """socket_group changed by SIGHUP: the next export follows it (the old one is back
        when the case ends)."""
        t, d = self.t, self.d
        c = self.client_of(d)
        other = grp.getgrgid(65534).gr_name
        self.reconfigure({"socket_group": other})
        r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
        self.addCleanup(c.call, "LogoutFromTarget", {"UniqueSessionId": result(r).get("UniqueSessionId")})
        r = export(c, result(r).get("UniqueSessionId"), "g.sock")
        gpath = os.path.join(d.export_dir, "g.sock")
        t.ok(result(r).get("StatusName") == "ISDSC_SUCCESS" and os.stat(d.export_dir).st_gid == 65534 and
             os.lstat(gpath).st_gid == 65534, "socket_group changed (SIGHUP): export_dir and the next socket follow it",
             (r, os.stat(d.export_dir).st_gid))


class TestRefusedExportDir(PrivilegeCase):
    """An export_dir others could change is refused."""
    start_daemon = False

    def test_inside_a_directory_the_member_owns(self):
        def under_member_dir(o):
            if o is None:
                return "/nonexistent/exports"
            return os.path.join(o.dir, "userdir", "exports")

        def make_member_dir(o):
            os.mkdir(os.path.join(o.dir, "userdir"), 0o755)
            os.chown(os.path.join(o.dir, "userdir"), member.uid, member.gid)
            return os.path.join(o.dir, "userdir", "exports")

        refused_dir(self, under_member_dir, make_member_dir, "export_dir inside a directory the member owns")

    def test_reached_through_a_symlink(self):

        def via_link(o):
            return "/nonexistent/exports" if o is None else os.path.join(o.dir, "link")

        def make_link(o):
            os.mkdir(os.path.join(o.dir, "real"), 0o750)
            os.symlink(os.path.join(o.dir, "real"), os.path.join(o.dir, "link"))
            return os.path.join(o.dir, "real")

        refused_dir(self, via_link, make_link, "export_dir reached through a symlink")


if __name__ == "__main__":
    mcsid_test.main()
