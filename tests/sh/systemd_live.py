#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/sh/systemd_live.py WORK CONTAINER_PID: the steps of
tests/sh/test_systemd.sh in its booted container (pid 1: CONTAINER_PID),
under tests/harness/with-targets (MCSI_TGT_*). Results, one "STATUS message"
line each (0: passed), to WORK/live; notes to WORK/live.notes. WORK/deb holds
the packages (in the container: /mcsi-deb), WORK/versions the version, the
bumped one and the architecture.

Commands run in the container with nsenter (its mount, PID, UTS and IPC
namespaces; the network is the host's). The host reaches the container's
sockets through /proc/CONTAINER_PID/root: the control socket (JSON-RPC) and
the export's socket, for fio and qemu-io."""
import json
import os
import socket
import subprocess
import sys
import time

WORK, CPID = sys.argv[1], int(sys.argv[2])
CROOT = "/proc/%d/root" % CPID
CONTROL = CROOT + "/run/mcsi/mcsid.sock"
EXPORT = CROOT + "/run/mcsi/exports/d.sock"
URI = "nbd+unix:///d?socket=" + EXPORT
IQN = os.environ["MCSI_TGT_IQN_PLAIN"]
PORTAL = "127.0.0.1:%s" % os.environ["MCSI_TGT_PORT"]
LUN = int(os.environ["MCSI_TGT_FILE_LUN"])
CONNECTIONS = 4
FIO_SECONDS = [int(x) for x in os.environ.get("MCSI_SYSTEMD_FIO_SECONDS", "6,8,15").split(",")]
PATTERN_OFFSET = 1 << 30         # qemu-io's pattern: 1 MiB at 1 GiB, away from fio's 32 MiB at 0
with open(os.path.join(WORK, "versions")) as f:
    VERSION, BUMPED, ARCH = f.read().split()

live = open(os.path.join(WORK, "live"), "w", buffering=1)
notes = open(os.path.join(WORK, "live.notes"), "w", buffering=1)


def res(ok, msg):
    live.write("%d %s\n" % (0 if ok else 1, msg.replace("\n", " ")))
    return ok


def note(text):
    notes.write(text.rstrip("\n") + "\n")


def ct(*argv, timeout=120):
    """argv in the container: (exit code, stdout + stderr)."""
    p = subprocess.run(["nsenter", "-t", str(CPID), "-m", "-p", "-u", "-i", "--", "env", "-i",
                        "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "TERM=dumb"] + list(argv),
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


def unit(*props):
    """The unit's properties (systemctl show)."""
    _, out = ct("systemctl", "show", "mcsid.service", "-p", ",".join(props))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def rpc(method, params=None, timeout=60):
    """A call on the container's control socket: its result (or {"error": ...})."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(CONTROL)
        s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}) + "\n").encode())
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        answer = json.loads(buf.split(b"\n")[0] or b"{}")
        return answer.get("result", {"error": answer.get("error")})
    except (OSError, ValueError) as e:
        return {"error": str(e)}
    finally:
        s.close()


def session():
    """Our session in SessionList (or {})."""
    for s in rpc("SessionList").get("Sessions", []):
        if s.get("TargetName") == IQN:
            return s
    return {}


def tgt_view():
    """tgtadm's Session/Connection blocks on tid 1, one per connection (the harness's tgtd is this test's own)."""
    out = subprocess.run(["tgtadm", "-C", "0", "--lld", "iscsi", "--op", "show", "--mode", "conn", "--tid", "1"],
                         env=dict(os.environ, TGT_IPC_SOCKET=os.environ["MCSI_TGT_IPC"]), capture_output=True,
                         text=True).stdout
    return sorted("Session:" + b for b in out.split("Session:")[1:])


def wait_for(pred, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def qemu_io(cmd):
    p = subprocess.run(["qemu-io", "-f", "raw", "-c", cmd, URI], capture_output=True, text=True, timeout=60)
    return p.returncode == 0 and "Pattern verification failed" not in p.stdout + p.stderr, (p.stdout + p.stderr)


def fio(name, seconds):
    out = os.path.join(WORK, "fio-%s.json" % name)
    p = subprocess.Popen(["fio", "--name=" + name, "--ioengine=nbd", "--uri=" + URI, "--rw=randwrite", "--bs=4k",
                          "--iodepth=32", "--size=32M", "--verify=crc32c", "--verify_backlog=64", "--time_based",
                          "--runtime=%d" % seconds, "--output-format=json", "--output=" + out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=WORK)
    return p, out


def fio_result(p, out):
    err = p.communicate(timeout=300)[1]
    try:
        with open(out) as f:
            job = json.load(f)["jobs"][0]
    except (OSError, ValueError, KeyError, IndexError):
        job = {}
    w = job.get("write", {})
    return p.returncode, job.get("error"), w.get("io_bytes", 0), w.get("clat_ns", {}).get("max", 0) / 1e6, err


# ---- install, start, log in ------------------------------------------------------------------------
# A build image's /usr/sbin/policy-rc.d (exit 101: "start no service") would stop deb-systemd-invoke
# from starting or reloading anything: an administrator's machine has none (removed in the overlay only).
if ct("test", "-e", "/usr/sbin/policy-rc.d")[0] == 0:
    ct("rm", "-f", "/usr/sbin/policy-rc.d")
    note("/usr/sbin/policy-rc.d removed in the container (this machine's is a build image's: exit 101)")
debs = ["/mcsi-deb/%s_%s_%s.deb" % (p, VERSION, ARCH) for p in ("libmcsi1", "mcsi", "mcsid")]
rc, out = ct("dpkg", "-i", *debs, timeout=300)
res(rc == 0, "dpkg -i libmcsi1 mcsi mcsid %s in the container" % VERSION)
if rc:
    note(out[-2000:])
u = wait_for(lambda: (lambda x: x if x.get("SubState") == "running" else None)(
    unit("ActiveState", "SubState", "Type", "MainPID", "UnitFileState")), 20) or \
    unit("ActiveState", "SubState", "Type", "MainPID", "UnitFileState")
res(u.get("UnitFileState") == "enabled", "postinst enabled mcsid.service (%s)" % u.get("UnitFileState"))
res((u.get("Type"), u.get("ActiveState"), u.get("SubState")) == ("notify", "active", "running"),
    "postinst started it: Type=notify, active (running): systemd had READY=1 (%s %s %s)"
    % (u.get("Type"), u.get("ActiveState"), u.get("SubState")))
r = rpc("PersistentLoginTarget", {"TargetName": IQN, "Portals": [PORTAL], "Connections": CONNECTIONS,
                                  "Exports": [{"Lun": LUN, "Socket": "d.sock", "ExportName": "d"}]})
res(r.get("StatusName") == "ISDSC_SUCCESS", "PersistentLoginTarget %s, %d connections, export d (%s)"
    % (IQN, CONNECTIONS, r.get("StatusName") or r.get("error")))
res(wait_for(lambda: session().get("ConnectionCount") == CONNECTIONS, 30),
    "the session has %d connections" % CONNECTIONS)
res(wait_for(lambda: [x for x in rpc("ListExports").get("Exports", []) if x.get("State") == "up"], 30)
    and wait_for(lambda: os.path.exists(EXPORT), 5), "the export is up: its socket reached from the host")
ok, out = qemu_io("write -P 0x5a %d 1M" % PATTERN_OFFSET)
res(ok, "qemu-io writes a pattern through the export")
if not ok:
    note(out[-600:])
base = session()
view = tgt_view()
res(len({b.split()[1] for b in view}) == 1 and len(view) == CONNECTIONS,
    "tgt shows one session with %d connections (TSIH %s)" % (CONNECTIONS, base.get("TSIH")))
note("tgtadm --mode conn before: " + " | ".join(" ".join(b.split()) for b in view))


# ---- (a) (b) (c) -----------------------------------------------------------------------------------------
def step(label, seconds, commands, extra=None):
    """commands in the container during fio; then the checks every step makes (8 results)."""
    pid_before = unit("MainPID").get("MainPID")
    p, out = fio(label.split()[0].strip("()"), seconds)
    time.sleep(1.5)
    t0 = time.monotonic()
    rc, text = 0, ""
    for argv in commands:
        rc, text = ct(*argv, timeout=180)
        if rc:
            break
    took = (time.monotonic() - t0) * 1000
    fio_on = p.poll() is None
    res(rc == 0, "%s: exits 0 (%.0f ms)" % (label, took))
    if rc:
        note("%s: %s" % (label, text[-1500:]))
    u = unit("ActiveState", "SubState", "MainPID", "NRestarts")
    res((u.get("ActiveState"), u.get("SubState")) == ("active", "running") and u.get("MainPID") not in
        (pid_before, "0", None), "%s: mcsid.service active (running) with a new MainPID (%s -> %s)"
        % (label, pid_before, u.get("MainPID")))
    s = session()
    res(s.get("TSIH") == base.get("TSIH") and s.get("ISID") == base.get("ISID") and
        s.get("ConnectionCount") == CONNECTIONS, "%s: the same TSIH %s, ISID and %d connections (%s %s %s)"
        % (label, base.get("TSIH"), CONNECTIONS, s.get("TSIH"), s.get("ISID"), s.get("ConnectionCount")))
    now = tgt_view()
    res(now == view, "%s: tgtadm shows the very same session and connections (no new login)" % label)
    if now != view:
        note("%s: tgtadm now: %s" % (label, " | ".join(" ".join(b.split()) for b in now)))
    res(fio_on, "%s: fio was still running when it ended (MCSI_SYSTEMD_FIO_SECONDS)" % label)
    frc, ferr, fbytes, fmax, ftext = fio_result(p, out)
    res(frc == 0 and ferr == 0 and fbytes > 0, "%s: fio (NBD, verify) went on through it: no error, %d MiB "
        "written and verified" % (label, fbytes >> 20))
    if frc or ferr:
        note("%s: fio: %s" % (label, ftext.strip()[-600:]))
    ok, qtext = qemu_io("read -P 0x5a %d 1M" % PATTERN_OFFSET)
    res(ok, "%s: a new NBD client (qemu-io) reads back the pattern written at the start" % label)
    if not ok:
        note("%s: qemu-io: %s" % (label, qtext[-600:]))
    note("%s: %.0f ms; fio's longest completion %.1f ms; %s" % (label, took, fmax, u))
    if extra:
        extra(u)


def upgraded(u):
    _, v = ct("dpkg-query", "-W", "-f=${Version}", "mcsid")
    res(v == BUMPED, "(c): dpkg knows mcsid %s (%s)" % (BUMPED, v))
    _, exe = ct("readlink", "/proc/%s/exe" % u.get("MainPID"))
    exe = exe.strip()
    res(exe == "/usr/sbin/mcsid", "(c): the new main process runs the file dpkg installed (%s)" % exe)


step("(a) systemctl reload mcsid", FIO_SECONDS[0], [["systemctl", "reload", "mcsid"]])
# A reload the successor refuses (a configuration it cannot read): the reload fails and says why, the
# running mcsid goes on (same main pid, same session).
ct("cp", "/etc/mcsi/mcsid.conf", "/etc/mcsi/mcsid.conf.good")
ct("sh", "-c", "echo 'a line without an equals sign' >>/etc/mcsi/mcsid.conf")
pid_before = unit("MainPID").get("MainPID")
rc, text = ct("systemctl", "reload", "mcsid")
_, journal = ct("journalctl", "-u", "mcsid", "--no-pager", "-o", "cat", "-n", "30")
ct("mv", "/etc/mcsi/mcsid.conf.good", "/etc/mcsi/mcsid.conf")
res(rc != 0 and "goes on serving" in journal, "a reload with a configuration the successor refuses fails "
    "(exit %d), the journal says why: %s" % (rc, [x for x in journal.splitlines() if "upgrade:" in x][-1:]))
u = unit("ActiveState", "SubState", "MainPID")
res((u.get("ActiveState"), u.get("SubState"), u.get("MainPID")) == ("active", "running", pid_before) and
    session().get("TSIH") == base.get("TSIH") and tgt_view() == view,
    "... and the running mcsid goes on: active (running), the same MainPID %s, TSIH and connections" % pid_before)

def job_lines(kind):
    """mcsid's journal lines saying which job the service manager ran on it when SIGTERM came (service_job.c)."""
    _, journal = ct("journalctl", "-u", "mcsid", "--no-pager", "-o", "cat")
    return [x for x in journal.splitlines() if "SIGTERM: the service manager's job on" in x and kind in x]


def restarted(u):
    said = job_lines("a restart, the sessions wait in the fd store")
    res(len(said) == 1, "(b): the old mcsid asked systemd over D-Bus and heard its job was a restart (%s)"
        % (said[-1:] or job_lines("") or "no such journal line"))


# A plain restart, nothing armed: mcsid asks systemd which job runs on its unit (D-Bus) and hands over.
step("(b) systemctl restart mcsid", FIO_SECONDS[1], [["systemctl", "restart", "mcsid"]], restarted)
step("(c) dpkg -i mcsid %s" % BUMPED, FIO_SECONDS[2],
     [["dpkg", "-i", "/mcsi-deb/bumped/mcsid_%s_%s.deb" % (BUMPED, ARCH)]], upgraded)

# ---- stop after the handovers, a crash after one -------------------------------------------------------
def stopped(label):
    rc, out = ct("systemctl", "stop", "mcsid")
    u = unit("ActiveState")
    gone = wait_for(lambda: tgt_view() == [], 10)
    res(rc == 0 and u.get("ActiveState") == "inactive" and gone,
        "%s: systemctl stop mcsid: inactive, and tgtadm shows no session: it logged out" % label)
    if not gone:
        note("%s: tgtadm: %s" % (label, tgt_view()))
    said = job_lines("a stop, every session logs out")
    stops.append(len(said))
    res(len(said) == len(stops), "%s: mcsid asked systemd and heard its job was a stop (%s)"
        % (label, said[-1:] or "no such journal line"))


stops = []


# The main process is (c)'s successor: systemd waits for its logouts as for a process it started.
stopped("after (c)")
rc, _ = ct("systemctl", "start", "mcsid")
res(rc == 0 and wait_for(lambda: session().get("ConnectionCount") == CONNECTIONS, 30) and
    qemu_io("read -P 0x5a %d 1M" % PATTERN_OFFSET)[0],
    "systemctl start mcsid: the persistent login and its export come back, the pattern reads back")
# A successor that dies is noticed (Restart=on-failure): kill -9 after a reload.
rc, _ = ct("systemctl", "reload", "mcsid")
u = unit("MainPID", "NRestarts")
ct("kill", "-KILL", u.get("MainPID", "0"))
after = wait_for(lambda: (lambda x: x if x.get("SubState") == "running" and x.get("MainPID") != u.get("MainPID")
                          else None)(unit("MainPID", "NRestarts", "SubState")), 30) or {}
res(rc == 0 and after.get("NRestarts") == str(int(u.get("NRestarts", "0")) + 1),
    "reload, then kill -9 of the new main process: systemd notices, restarts mcsid (NRestarts %s -> %s)"
    % (u.get("NRestarts"), after.get("NRestarts")))
res(wait_for(lambda: session().get("ConnectionCount") == CONNECTIONS, 30) and qemu_io("read -P 0x5a %d 1M"
    % PATTERN_OFFSET)[0], "the persistent login and its export come back: the pattern reads back")
stopped("at the end")
_, journal = ct("journalctl", "-u", "mcsid", "--no-pager", "-o", "cat", "-n", "60")
note("journal of mcsid.service (last lines):\n" + journal[-4000:])
