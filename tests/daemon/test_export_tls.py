#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_export_tls.py: mcsid's NBD exports over TCP with TLS.

A root mcsid whose configuration names TLS files (an X.509 server
certificate and key, a CA its clients' certificates must be signed by, a
PSK file) in a directory only root can read; a non-root member of
socket_group exports a LUN over TCP without saying anything about TLS: the
export requires it. Clients nobody here wrote: nbdinfo, nbdcopy (4 MiB of
random data in and out), qemu-img and qemu-io over nbds:// with
certificates and with PSK. Refused: a plain nbd:// client (its write never
lands), a client trusting another CA, a client without a certificate, a
certificate of another CA, a wrong PSK; the data stays as written. A
client cannot name TLS files, nor ask for plain TCP unless the
configuration allows it (nbd_plain_tcp); a daemon without TLS files
refuses TCP exports; one that allows plain TCP serves "Tls": "off" exports
to a plain client. Writes stay in the first 4 MiB of tgt's file LUN.

Classes: TestTlsExports (the root mcsid with TLS files; the test user made
before it starts; each case logs in and exports itself), TestNoTlsFiles,
TestPlainTcpAllowed, TestBadConfiguration (a daemon each). Any case runs
alone:
    python3 tests/daemon/test_export_tls.py TestPlainTcpAllowed"""
import atexit
import base64
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import Daemon, result, tgt_portal, env, test_user, TEST_GROUP  # noqa: E402

plain = env("MCSI_TGT_IQN_PLAIN")
LUN = int(env("MCSI_TGT_FILE_LUN"))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 4 << 20

if os.geteuid() != 0:
    print("1..0 # SKIP needs root (a root mcsid and a non-root test user it creates)")
    sys.exit(0)
for prog in ("nbdinfo", "nbdcopy", "qemu-img", "qemu-io", "certtool", "psktool"):
    if not shutil.which(prog):
        print("1..0 # SKIP %s missing (bash tools/deps.sh)" % prog)
        sys.exit(0)

KEYS = []


def tls_keys():
    """The TLS material (tests/nbd/make-tls-keys.sh), made once, in a 0700 root
    directory no test user reads, removed at exit."""
    if not KEYS:
        keys = tempfile.mkdtemp(prefix="mcsi-tls.")
        atexit.register(shutil.rmtree, keys, True)
        subprocess.run(["bash", os.path.join(ROOT, "tests", "nbd", "make-tls-keys.sh"), keys], check=True)
        KEYS.append(keys)
    return KEYS[0]


def K(*p):
    return os.path.join(tls_keys(), *p)


def tool(*argv, timeout=120, shell=False):
    """(exit code, stdout + stderr) of a client program."""
    try:
        p = subprocess.run(argv[0] if shell else list(argv), capture_output=True, text=True, timeout=timeout,
                           shell=shell)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return 124, "timed out: %s" % (e,)


def qemu_tls(port, kind):
    """qemu's --object and --image-opts for a TLS client of 127.0.0.1:port."""
    obj = ("tls-creds-psk,id=tls0,endpoint=client,username=alice,dir=" + K("psk")) if kind == "psk" else \
        ("tls-creds-x509,id=tls0,endpoint=client,dir=" + K(kind))
    return ["--object", obj, "--image-opts", "driver=nbd,host=127.0.0.1,port=%d,tls-creds=tls0" % port]


def qemu_io(head, *cmds):
    argv = ["qemu-io"] + head
    for c in cmds:
        argv += ["-c", c]
    rc, out = tool(*argv)
    return rc == 0 and "failed" not in out.lower() and "error" not in out.lower(), out


def same_as(src, uri):
    """The first bytes of the export, copied out by nbdcopy, equal src."""
    return tool("nbdcopy '%s' - 2>/dev/null | cmp -n %d '%s' -" % (uri, SIZE, src), shell=True)


def start_session(case, c, what):
    """A session (a check named what), logged out when the case ends."""
    r = c.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
    case.t.status(r, "ISDSC_SUCCESS", what)
    sid = result(r).get("UniqueSessionId")
    if sid:
        case.addCleanup(c.call, "LogoutFromTarget", {"UniqueSessionId": sid})
    return sid


def write_through_daemon(case, c, sid, src):
    """src's bytes at the start of the file LUN, through ScsiWrite (setup; 256 KiB a request)."""
    with open(src, "rb") as f:
        data = f.read()
    for at in range(0, len(data), 256 << 10):
        r = c.call("ScsiWrite", {"UniqueSessionId": sid, "Lun": LUN, "Lba": at // 512,
                                 "Data": base64.b64encode(data[at:at + (256 << 10)]).decode()}, timeout=60)
        case.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: ScsiWrite: %r" % (r,))


def stats(c, export_id):
    ex = result(c.call("ListExports")).get("Exports", [])
    return next((e for e in ex if e["ExportId"] == export_id), {})


class TestTlsExports(mcsid_test.DaemonCase):
    daemon_name = "tls"

    @classmethod
    def setUpClass(cls):
        cls.user = test_user(0, member=True)        # before the daemon starts (it resolves socket_group then)
        cls.daemon_config = {"socket_group": TEST_GROUP, "nbd_tls_cert": K("server-cert.pem"),
                             "nbd_tls_key": K("server-key.pem"), "nbd_tls_ca": K("ca-cert.pem"),
                             "nbd_tls_psk_file": K("keys.psk")}
        super().setUpClass()
        cls.d.open_to_test_users()

    def user_client(self):
        c = self.d.client_as(self.user)
        self.addCleanup(c.close)
        return c

    def tls_export(self, checked=False):
        """The test user's session and its TCP export that says nothing about TLS:
        (client, session, ExportId, port)."""
        t, uc = self.t, self.user_client()
        if checked:
            sid = start_session(self, uc, "a non-root member logs in")
        else:
            r = uc.call("LoginToTarget", {"TargetName": plain, "TargetPortal": tgt_portal()})
            self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: login: %r" % (r,))
            sid = result(r)["UniqueSessionId"]
            self.addCleanup(uc.call, "LogoutFromTarget", {"UniqueSessionId": sid})
        r = uc.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Tcp": "127.0.0.1:0"})
        if checked:
            t.status(r, "ISDSC_SUCCESS", "... and exports the LUN over TCP, saying nothing about TLS")
        else:
            self.assertEqual(result(r).get("StatusName"), "ISDSC_SUCCESS", "setup: ExportLun: %r" % (r,))
        ex = result(r).get("Export", {})
        return uc, sid, result(r).get("ExportId"), ex.get("TcpPort", 0), ex

    def test_user_cannot_read_keys(self):
        t, user = self.t, self.user
        p = user.run(["cat", K("keys.psk")], capture_output=True)
        t.ok(p.returncode != 0, "the test user cannot read the daemon's PSK file (root's, 0700 directory)")

    def test_export_requires_tls(self):
        t = self.t
        uc, sid, xid, port, ex = self.tls_export(checked=True)
        t.ok(ex.get("Tls") == "require" and sorted(ex.get("TlsCredentials", [])) == ["psk", "x509"] and
             ex.get("TlsClientCertificates") is True and "nbds://127.0.0.1:%d/" % port in ex.get("Uris", []),
             "the export requires TLS (X.509 with client certificates, PSK): nbds:// URI", ex)

    def test_tls_clients_and_refusals(self):
        """nbdinfo, nbdcopy, qemu-img and qemu-io over nbds:// with certificates and with PSK;
        then the refused ones (one case: ListExports counts the sessions of both)."""
        t = self.t
        uc, sid, xid, port, ex = self.tls_export()
        x509 = "nbds://127.0.0.1:%d/?tls-certificates=%s" % (port, K("client"))
        psk = "nbds://alice@127.0.0.1:%d/?tls-psk-file=%s" % (port, K("keys.psk"))
        rc, out = tool("nbdinfo", x509)
        t.ok(rc == 0 and "with TLS" in out, "nbdinfo over TLS with a client certificate", out)
        rc, out = tool("nbdinfo", psk)
        t.ok(rc == 0 and "with TLS" in out, "nbdinfo over TLS with PSK", out)
        rc, out = tool("qemu-img", "info", *qemu_tls(port, "client"))
        t.ok(rc == 0 and "2147483648 bytes" in out, "qemu-img info over TLS (X.509)", out)
        rc, out = tool("qemu-img", "info", *qemu_tls(port, "psk"))
        t.ok(rc == 0 and "2147483648 bytes" in out, "qemu-img info over TLS (PSK)", out)

        src = os.path.join(tls_keys(), "src.img")
        with open(src, "wb") as f:
            f.write(os.urandom(SIZE))
        rc, out = tool("nbdcopy", src, psk)
        t.ok(rc == 0, "nbdcopy of 4 MiB of random data into the export over TLS (PSK)", out)
        rc, out = same_as(src, x509)
        t.ok(rc == 0, "nbdcopy out over TLS (X.509): identical", out)
        # The LUN is shared with the tests before this one: write the pattern read back.
        ok, out = qemu_io(qemu_tls(port, "client"), "write -P 0x5c %d 64k" % (8 << 20), "read -P 0x5c %d 64k" % (8 << 20))
        t.ok(ok, "qemu-io over TLS writes and reads back", out)

        # ---- refused ---------------------------------------------------------------------------------------------
        rc, out = tool("nbdinfo", "nbd://127.0.0.1:%d/" % port)
        t.ok(rc != 0, "a plain nbd:// client is refused", out)
        ok, out = qemu_io(["-f", "raw", "nbd://127.0.0.1:%d/" % port], "write -P 0x11 0 64k")
        t.ok(not ok and "TLS" in out, "a plain qemu-io write is refused (TLS required)", out)
        rc, out = tool("nbdcopy", src, "nbd://127.0.0.1:%d/" % port)
        t.ok(rc != 0, "a plain nbdcopy is refused", out)
        rc, out = tool("nbdinfo", "nbds://127.0.0.1:%d/?tls-certificates=%s" % (port, K("other")))
        t.ok(rc != 0, "a client trusting another CA fails", out)
        rc, out = tool("nbdinfo", "nbds://127.0.0.1:%d/?tls-certificates=%s" % (port, K("nocert")))
        t.ok(rc != 0, "a client without a certificate is refused", out)
        ok, out = qemu_io(qemu_tls(port, "other"), "write -P 0x12 0 64k")
        t.ok(not ok, "a certificate of another CA is refused", out)
        rc, out = tool("nbdinfo", "nbds://alice@127.0.0.1:%d/?tls-psk-file=%s" % (port, K("wrong.psk")))
        t.ok(rc != 0, "a wrong PSK fails", out)
        rc, out = same_as(src, psk)
        t.ok(rc == 0, "the data is untouched by the refused clients", out)
        st = stats(uc, xid).get("Statistics", {})
        t.ok(st.get("TlsSessions", 0) >= 6 and st.get("TlsFailed", 0) >= 3 and st.get("TlsRefused", 0) >= 2,
             "ListExports counts TLS sessions, failed handshakes and refusals", st)

    def test_what_a_client_may_not_ask(self):
        t = self.t
        uc, sid, xid, port, ex = self.tls_export()
        r = uc.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Tcp": "127.0.0.1:0", "TlsCert": "/etc/shadow"})
        t.is_((r.get("error") or {}).get("code"), -32602, "a client cannot name a TLS file (invalid params)")
        r = uc.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Tcp": "127.0.0.1:0", "Tls": "maybe"})
        t.is_((r.get("error") or {}).get("code"), -32602, "Tls must be require or off (invalid params)")
        r = uc.call("ExportLun", {"UniqueSessionId": sid, "Lun": LUN, "Tcp": "127.0.0.1:0", "Tls": "off"})
        t.ok(result(r).get("StatusName") == "ISDSC_INVALID_PARAMETER" and
             "nbd_plain_tcp" in result(r).get("StatusMessage", ""),
             "plain TCP is refused when the configuration does not allow it", r)
        r = uc.call("LogoutFromTarget", {"UniqueSessionId": sid})
        t.status(r, "ISDSC_SUCCESS", "logout stops the export")


class TestNoTlsFiles(mcsid_test.DaemonCase):
    daemon_name = "tls-bare"             # no TLS files, plain TCP not allowed

    def test_tcp_export_refused(self):
        t, bc, keys = self.t, self.client(), tls_keys()
        bsid = start_session(self, bc, "a daemon without TLS files: login")
        r = bc.call("ExportLun", {"UniqueSessionId": bsid, "Lun": LUN, "Tcp": "127.0.0.1:0"})
        msg = result(r).get("StatusMessage", "")
        t.ok(result(r).get("StatusName") == "ISDSC_INVALID_PARAMETER" and "needs TLS" in msg and keys not in msg,
             "... refuses a TCP export (no credentials; no path in the message)", r)
        r = bc.call("ExportLun", {"UniqueSessionId": bsid, "Lun": LUN, "Tcp": "127.0.0.1:0", "Tls": "off"})
        t.ok(result(r).get("StatusName") == "ISDSC_INVALID_PARAMETER", "... and plain TCP (not allowed)", r)
        t.is_(result(bc.call("ListExports")).get("Exports"), [], "... nothing listens")


class TestPlainTcpAllowed(mcsid_test.DaemonCase):
    daemon_name = "tls-plain"
    daemon_config = {"nbd_plain_tcp": "yes"}

    def test_plain_export(self):
        t, oc = self.t, self.client()
        src = os.path.join(tls_keys(), "plain-src.img")
        with open(src, "wb") as f:
            f.write(os.urandom(SIZE))
        osid = start_session(self, oc, "a daemon with nbd_plain_tcp = yes: login")
        r = oc.call("ExportLun", {"UniqueSessionId": osid, "Lun": LUN, "Tcp": "127.0.0.1:0"})
        t.ok(result(r).get("StatusName") == "ISDSC_INVALID_PARAMETER", "... a TCP export not saying Tls off still needs TLS",
             r)
        r = oc.call("ExportLun", {"UniqueSessionId": osid, "Lun": LUN, "Tcp": "127.0.0.1:0", "Tls": "off"})
        t.status(r, "ISDSC_SUCCESS", "... \"Tls\": \"off\" exports plain TCP")
        ex = result(r).get("Export", {})
        oport = ex.get("TcpPort", 0)
        t.ok(ex.get("Tls") == "off" and "nbd://127.0.0.1:%d/" % oport in ex.get("Uris", []), "... nbd:// URI", ex)
        write_through_daemon(self, oc, osid, src)
        rc, out = same_as(src, "nbd://127.0.0.1:%d/" % oport)
        t.ok(rc == 0, "a plain client reads it (the data written through ScsiWrite)", out)


class TestBadConfiguration(mcsid_test.DaemonCase):
    start_daemon = False

    def test_plain_tcp_maybe(self):
        t = self.t
        bad = Daemon(name="tls-badconf", config={"nbd_plain_tcp": "maybe"})
        self.addCleanup(bad.cleanup)
        try:
            bad.start()
            started = True
        except RuntimeError:
            started = False
        t.ok(not started, "nbd_plain_tcp = maybe: the configuration is refused")


if __name__ == "__main__":
    mcsid_test.main()
