#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/sh/service_job_live.py BUILD_DIR: the cases of tests/sh/test_service_job.sh,
run in its mount namespace (/run a tmpfs of its own). One "STATUS message" line
per check on stdout (0: passed), notes as "# text".

A fake service manager: a $NOTIFY_SOCKET datagram socket (READY=1, FDSTORE=1
with the fds, as systemd's) and systemd's private bus, unix:path=
/run/systemd/private, speaking the D-Bus wire protocol (SASL EXTERNAL, then
little-endian messages) for the three calls mcsid makes at SIGTERM, with the
names org.freedesktop.systemd1(5) documents: Manager.GetUnitByPID(u) -> o,
Properties.Get("...Unit", "Job") -> v (uo), Properties.Get("...Job",
"JobType") -> v s. Each case sets the job the "manager" runs on the unit
(restart, stop, none: id 0) or makes the bus silent (accepts, never answers).
The real systemd (252) is tests/sh/test_systemd.sh's."""
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

BUILD = sys.argv[1]
MCSID = os.path.join(BUILD, "mcsid")
BUS = "/run/systemd/private"
UNIT_PATH = "/org/freedesktop/systemd1/unit/mcsid_2eservice"
JOB_PATH = "/org/freedesktop/systemd1/job/42"
SYSTEMD = "org.freedesktop.systemd1"


def res(ok, msg):
    print("%d %s" % (0 if ok else 1, msg.replace("\n", " ")), flush=True)
    return ok


def note(text):
    for line in text.rstrip("\n").splitlines():
        print("# " + line, flush=True)


# ---- the D-Bus wire format (little-endian), as much as these calls need ----------------------------
def pad(buf, n):
    return buf + b"\0" * (-len(buf) % n)


def put_str(buf, s, sig=False):
    b = s.encode()
    if sig:
        return buf + bytes([len(b)]) + b + b"\0"
    return pad(buf, 4) + struct.pack("<I", len(b)) + b + b"\0"


def get_str(buf, off, sig=False):
    if sig:
        n = buf[off]
        return buf[off + 1:off + 1 + n].decode(), off + 2 + n
    off += -off % 4
    n = struct.unpack_from("<I", buf, off)[0]
    return buf[off + 4:off + 4 + n].decode(), off + 5 + n


def parse(msg):
    """(type, serial, {field code: value}, body) of one whole message."""
    mtype, _, _, blen, serial, flen = msg[1], msg[2], msg[3], *struct.unpack_from("<III", msg, 4)
    fields, off, end = {}, 16, 16 + flen
    while off < end:
        off += -off % 8
        code = msg[off]
        sig, off = get_str(msg, off + 1, sig=True)
        if sig in ("s", "o"):
            fields[code], off = get_str(msg, off)
        elif sig == "g":
            fields[code], off = get_str(msg, off, sig=True)
        elif sig == "u":
            off += -off % 4
            fields[code] = struct.unpack_from("<I", msg, off)[0]
            off += 4
        else:
            raise ValueError("header field of signature %r" % sig)
    body_at = end + (-end % 8)
    return mtype, serial, fields, msg[body_at:body_at + blen]


def message_length(head):
    blen, _, flen = struct.unpack_from("<III", head, 4)
    hlen = 16 + flen
    return hlen + (-hlen % 8) + blen


def reply(to_serial, serial, sig, body):
    fields = bytes([5]) + b"\x01u\0" + struct.pack("<I", to_serial)
    fields = pad(fields, 8) + bytes([8]) + b"\x01g\0"
    fields = put_str(fields, sig, sig=True)
    head = struct.pack("<BBBBIII", ord("l"), 2, 1, 1, len(body), serial, len(fields)) + fields
    return pad(head, 8) + body


def body_o(path):
    return put_str(b"", path)


def body_v_job(job_id, path):
    b = put_str(b"", "(uo)", sig=True)     # the variant's signature, then the struct at 8
    b = pad(b, 8) + struct.pack("<I", job_id)
    return put_str(b, path)


def body_v_s(text):
    return put_str(put_str(b"", "s", sig=True), text)


class FakeBus:
    """systemd's private bus for one case: the job on the unit ("restart", "stop", "none") or "silent"."""

    def __init__(self, job):
        self.job, self.calls, self.connections = job, [], 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(BUS):
            os.unlink(BUS)
        self.sock.bind(BUS)
        self.sock.listen(8)
        self.held = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.held.append(c)
            if self.job != "silent":
                threading.Thread(target=self.talk, args=(c,), daemon=True).start()

    def talk(self, c):
        f = c.makefile("rb")
        try:
            if f.read(1) != b"\0":
                return
            while True:             # SASL: AUTH EXTERNAL, DATA (the uid: the socket's), NEGOTIATE_UNIX_FD, BEGIN
                line = f.readline().strip()
                if line == b"AUTH EXTERNAL":
                    c.sendall(b"DATA\r\n")
                elif line.startswith(b"AUTH EXTERNAL ") or line.startswith(b"DATA"):
                    c.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
                elif line == b"NEGOTIATE_UNIX_FD":
                    c.sendall(b"AGREE_UNIX_FD\r\n")
                elif line == b"BEGIN":
                    break
                else:
                    c.sendall(b"ERROR\r\n")
            serial = 1
            while True:
                head = f.read(16)
                if len(head) < 16:
                    return
                msg = head + f.read(message_length(head) - 16)
                mtype, mserial, fields, body = parse(msg)
                if mtype != 1:
                    continue
                member, path = fields.get(3), fields.get(1)
                if member == "GetUnitByPID":
                    pid = struct.unpack_from("<I", body, 0)[0]
                    self.calls.append(("GetUnitByPID", pid))
                    c.sendall(reply(mserial, serial, "o", body_o(UNIT_PATH)))
                elif member == "Get":
                    iface, off = get_str(body, 0)
                    prop, _ = get_str(body, off)
                    self.calls.append(("Get", path, iface, prop))
                    if (iface, prop) == (SYSTEMD + ".Unit", "Job"):
                        c.sendall(reply(mserial, serial, "v", body_v_job(0, "/") if self.job == "none"
                                        else body_v_job(42, JOB_PATH)))
                    elif (iface, prop) == (SYSTEMD + ".Job", "JobType"):
                        c.sendall(reply(mserial, serial, "v", body_v_s(self.job)))
                    else:
                        return
                else:
                    self.calls.append((member,))
                    return
                serial += 1
        except (OSError, ValueError, struct.error):
            return
        finally:
            c.close()

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


class FakeManager:
    """$NOTIFY_SOCKET: every datagram's text, the fds it carried closed."""

    def __init__(self, path):
        self.path, self.texts, self.fds = path, [], 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(4 * 16))
            except OSError:
                return
            for level, kind, fdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    for fd in struct.unpack("%di" % (len(fdata) // 4), fdata[:len(fdata) - len(fdata) % 4]):
                        os.close(fd)
                        self.fds += 1
            self.texts.append(data.decode(errors="replace"))

    def close(self):
        self.sock.close()


def case(job, tmp, invocation=True):
    """mcsid under the fake manager, SIGTERM: (exit code, ms from SIGTERM to exit, log, bus, manager)."""
    d = tempfile.mkdtemp(dir=tmp)
    with open(os.path.join(d, "conf"), "w") as f:
        f.write("initiator_name = iqn.2026-01.test:service-job\n")
    bus, fm = FakeBus(job), FakeManager(os.path.join(d, "notify"))
    env = dict(os.environ, NOTIFY_SOCKET=fm.path)
    env.pop("INVOCATION_ID", None)
    if invocation:
        env["INVOCATION_ID"] = "0123456789abcdef0123456789abcdef"
    log = open(os.path.join(d, "log"), "w+")
    p = subprocess.Popen([MCSID, "--config", os.path.join(d, "conf"), "--socket", os.path.join(d, "s.sock"),
                          "--state-dir", os.path.join(d, "state")], env=env, stdout=log, stderr=log)
    end = time.monotonic() + 20
    while not any("READY=1" in t for t in fm.texts) and time.monotonic() < end and p.poll() is None:
        time.sleep(0.02)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    ms = (time.monotonic() - t0) * 1000
    time.sleep(0.1)                                # the last datagrams
    log.seek(0)
    text = log.read()
    bus.close()
    fm.close()
    return rc, ms, text, bus, fm, p.pid


def stored(fm):
    return any("FDSTORE=1" in t and "FDNAME=mcsid-state" in t for t in fm.texts)


def main():
    tmp = tempfile.mkdtemp(prefix="mcsi-service-job.")
    os.chmod(tmp, 0o755)
    # restart: the three calls, then the fd store, no logout
    rc, ms, text, bus, fm, pid = case("restart", tmp)
    want = [("GetUnitByPID", pid), ("Get", UNIT_PATH, SYSTEMD + ".Unit", "Job"),
            ("Get", JOB_PATH, SYSTEMD + ".Job", "JobType")]
    res(bus.calls == want, "restart: mcsid asks GetUnitByPID(its pid), the unit's Job, the job's JobType (%s)"
        % bus.calls)
    res(rc == 0 and stored(fm) and "logging out" not in text,
        "restart: a restart job: the state and sockets go to the fd store (FDSTORE=1, mcsid-state; %d fds), "
        "exit %d, no logout (%.0f ms)" % (fm.fds, rc, ms))
    res("job on %s: restart" % UNIT_PATH in text, "restart: the log says the job it heard")
    if not stored(fm) or rc:
        note(text)
    # stop, none: the logout, as always
    for job in ("stop", "none"):
        rc, ms, text, bus, fm, _ = case(job, tmp)
        asked = len(bus.calls) == (3 if job == "stop" else 2)
        res(rc == 0 and asked and not stored(fm) and "logging out" in text,
            "%s: %s: every session logs out, nothing in the fd store (exit %d, %d calls, %.0f ms)"
            % (job, "a stop job" if job == "stop" else "no job on the unit (Job id 0)", rc, len(bus.calls), ms))
        if stored(fm) or "logging out" not in text:
            note(text)
    # silent: the question is bounded
    rc, ms, text, bus, fm, _ = case("silent", tmp)
    res(rc == 0 and not stored(fm) and "logging out" in text and "no answer within the deadline" in text,
        "silent bus: no answer within the deadline: a stop, every session logs out (exit %d)" % rc)
    res(400 <= ms < 2500, "silent bus: SIGTERM to exit in %.0f ms (the question: 500 ms at most)" % ms)
    # not under systemd (no $INVOCATION_ID): nobody is asked
    rc, ms, text, bus, fm, _ = case("restart", tmp, invocation=False)
    res(rc == 0 and bus.connections == 0 and not stored(fm) and "logging out" in text,
        "without $INVOCATION_ID (not a systemd unit): the bus is not asked, a stop (%d connections)"
        % bus.connections)
    subprocess.run(["rm", "-rf", tmp])


main()
