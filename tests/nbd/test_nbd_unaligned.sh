#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/nbd/test_nbd_unaligned.sh: an NBD export (nbd/, scripts/export.lua)
# serving byte ranges that are not whole LUN blocks, and reporting holes
# (issue 17), driven by clients nobody here wrote. Runs inside
# tests/harness/with-targets; TAP on stdout.
#
# It adds its own target to the harness's tgtd (tid 10, one 256 MiB thin
# file LUN: thin_provisioning=1, a sparse file), exports it over 2
# connections, then:
#  - nbdinfo: minimum block size 1, base:allocation offered;
#  - a byte-granular pattern test with libnbd's Python binding
#    (tests/nbd/nbd_pattern.py): disjoint random byte ranges that share LUN
#    blocks, written (some with FUA) and zeroed concurrently over two
#    connections, read back against a shadow copy;
#  - nbdfuse (a FUSE file over the export) + mkfs.ext4 + debugfs -w writes +
#    e2fsck -fn clean, and the kernel's unaligned writes through the FUSE
#    file (nbdfuse uses direct I/O: they reach the export as they are) read
#    back (skipped, counted, when FUSE cannot mount here);
#  - nbdinfo --map shows the LUN's holes (GET LBA STATUS) and the data
#    written; nbdcopy and qemu-img convert copy it out identical.
# No timing is a pass/fail criterion.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/sh/tap.sh"
. "$HERE/nbd-lib.sh"

tap_checks 16
if [ -z "${MCSI_TGT_IPC:-}" ]; then
    tap_skip_all "not inside tests/harness/with-targets"
fi
for t in nbdinfo nbdcopy nbdfuse qemu-img qemu-io mkfs.ext4 debugfs e2fsck; do
    command -v "$t" >/dev/null || tap_skip_all "$t missing (bash tools/deps.sh)"
done
# libnbd's binding is Debian's python3 module: the system interpreter, whatever python3 is first in PATH.
PY=
for p in /usr/bin/python3 python3; do
    (cd / && "$p" -c 'import nbd' 2>/dev/null) && { PY=$p; break; }
done
[ -n "$PY" ] || tap_skip_all "python3-libnbd missing (bash tools/deps.sh)"

TID=10
IQN=iqn.2026-11.org.mcsi.test:nbd-unaligned
SIZE=$((256 << 20))
nbd_workdir mcsi-nbdu
FUSE_PID=

cleanup() {
    if [ -n "$FUSE_PID" ]; then
        fusermount3 -u "$W/mnt" 2>/dev/null || umount "$W/mnt" 2>/dev/null
        kill "$FUSE_PID" 2>/dev/null; wait "$FUSE_PID" 2>/dev/null
    fi
    kill_export
    remove_target "$TID"
    rm -rf -- "$W"
}
trap cleanup EXIT

add_thin_target "$TID" "$IQN" "$SIZE"
tap_ok $? "tgt target $TID with a 256 MiB thin file LUN"

start_export "$W/export.log" --connections 2
tap_ok $? "scripts/export.lua serves the LUN" || tap_note "$(cat "$W/export.log")"

nbdinfo --json "$URI" >"$W/info.json" 2>&1
tap_is "$(json_field block_size_minimum <"$W/info.json")/$(json_field block_size_preferred <"$W/info.json")" "1/4096" \
    "nbdinfo: minimum block size 1, preferred 4096"
nbdinfo --list --content "$URI" >"$W/list.txt" 2>&1 || nbdinfo "$URI" >"$W/list.txt" 2>&1
grep -q 'base:allocation' "$W/list.txt"
tap_ok $? "nbdinfo: the export offers base:allocation" || tap_note "$(head -20 "$W/list.txt")"

# ---- byte-granular pattern test (libnbd, two connections, concurrent) ----
nice "$PY" "$HERE/nbd_pattern.py" "$URI" $((32 << 20)) 40 "${MCSI_NBD_SEED:-$RANDOM}" >"$W/pattern.log" 2>&1
tap_ok $? "libnbd: 40 rounds of concurrent byte-granular writes, FUA writes and zeroes sharing blocks read back as the shadow" ||
    tap_note "$(tail -8 "$W/pattern.log")"

# ---- nbdfuse + mkfs.ext4 + debugfs + e2fsck ----
mkdir -p "$W/mnt"
nbdfuse "$W/mnt/disk" "$URI" >"$W/fuse.log" 2>&1 &
FUSE_PID=$!
for ((i = 0; i < 100; i++)); do
    [ -e "$W/mnt/disk" ] && break
    kill -0 "$FUSE_PID" 2>/dev/null || break
    sleep 0.1
done
if [ ! -e "$W/mnt/disk" ]; then
    FUSE_PID=
    tap_note "nbdfuse could not mount here: $(head -3 "$W/fuse.log")"
    for c in "mkfs.ext4" "debugfs writes" "e2fsck clean" "the files read back" "unaligned writes read back" "unmounted"; do
        tap_skip "nbdfuse: $c (FUSE cannot mount in this environment)"
    done
else
    mkfs.ext4 -F -q -b 1024 -E nodiscard "$W/mnt/disk" >"$W/mkfs.log" 2>&1
    tap_ok $? "nbdfuse: mkfs.ext4 on the export's FUSE file" || tap_note "$(tail -3 "$W/mkfs.log")"
    head -c 300001 /dev/urandom >"$W/f1"
    head -c 7777 /dev/urandom >"$W/f2"
    printf '%s\n' "mkdir d" "write $W/f1 d/f1" "write $W/f2 d/f2" "mkdir d/e" "write $W/f2 d/e/f3" \
        "symlink d/l /d/f1" "rm d/f2" "write $W/f1 f4" >"$W/debugfs.cmd"
    debugfs -w -f "$W/debugfs.cmd" "$W/mnt/disk" >"$W/debugfs.log" 2>&1
    tap_ok $? "nbdfuse: debugfs -w writes files, a directory, a symlink, removes one" || tap_note "$(tail -3 "$W/debugfs.log")"
    e2fsck -fn "$W/mnt/disk" >"$W/fsck.log" 2>&1
    tap_ok $? "nbdfuse: e2fsck -fn finds the file system clean" || tap_note "$(tail -8 "$W/fsck.log")"
    debugfs -R "cat d/f1" "$W/mnt/disk" 2>/dev/null | cmp -s - "$W/f1" &&
        debugfs -R "cat d/e/f3" "$W/mnt/disk" 2>/dev/null | cmp -s - "$W/f2"
    tap_ok $? "nbdfuse: the files read back identical"
    # the kernel's unaligned writes straight through (nbdfuse opens with direct I/O)
    "$PY" - "$W/mnt/disk" >"$W/fuse-rw.log" 2>&1 <<'PYEOF'
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDWR)
rng = random.Random(17)
want = {}
for i in range(200):
    off = (200 << 20) + rng.randrange(8 << 20)
    data = rng.randbytes(rng.randint(1, 3000))
    os.pwrite(fd, data, off)
    want = {k: v for k, v in want.items() if k + len(v) <= off or k >= off + len(data)}
    want[off] = data
os.fsync(fd)
bad = [k for k, v in want.items() if os.pread(fd, len(v), k) != v]
print("%d ranges, %d differ" % (len(want), len(bad)))
sys.exit(1 if bad else 0)
PYEOF
    tap_ok $? "nbdfuse: 200 writes of 1..3000 bytes at odd offsets through the FUSE file read back" ||
        tap_note "$(tail -3 "$W/fuse-rw.log")"
    fusermount3 -u "$W/mnt" 2>/dev/null || umount "$W/mnt" 2>/dev/null
    wait "$FUSE_PID"
    tap_ok $? "nbdfuse: unmounted, nbdfuse exited cleanly"
    FUSE_PID=
fi

# ---- holes: nbdinfo --map, nbdcopy, qemu-img convert ----
# Punch the whole LUN back to holes (TRIM through the export), then write
# two small pieces: 1 MiB at 64 MiB and 3 bytes at 200 MiB + 5.
qemu-io -f raw "$URI" -c "discard 0 $SIZE" -c "write -P 0x5a 64M 1M" -c "write -P 0x33 209715205 3" \
    >"$W/qio.log" 2>&1 && ! grep -qiE 'fail|error' "$W/qio.log"
tap_ok $? "qemu-io: discard everything, write 1 MiB and 3 unaligned bytes" || tap_note "$(cat "$W/qio.log")"
nbdinfo --map "$URI" >"$W/map.txt" 2>&1
awk '$1 == 0 && $3 ~ /^[13]$/ { ok = 1 } END { exit !ok }' "$W/map.txt" &&
    awk '$1 == 67108864 && $2 == 1048576 && $3 == 0 { ok = 1 } END { exit !ok }' "$W/map.txt"
tap_ok $? "nbdinfo --map: a hole from 0, data at 64 MiB for 1 MiB" && tap_note "$(head -3 "$W/map.txt")" || tap_note "$(head -12 "$W/map.txt")"
holes=$(awk '$3 ~ /^[13]$/ { s += $2 } END { print s + 0 }' "$W/map.txt")
[ "$holes" -ge $((SIZE - (4 << 20))) ]
tap_ok $? "nbdinfo --map: $holes of $SIZE bytes are holes" || tap_note "$(head -12 "$W/map.txt")"
truncate -s "$SIZE" "$W/out.img"
nbdcopy "$URI" "$W/out.img" && qemu-img convert -f raw -O raw "$URI" "$W/out2.img" &&
    cmp -s "$W/out.img" "$W/lun.img" && cmp -s "$W/out2.img" "$W/lun.img"
tap_ok $? "nbdcopy and qemu-img convert copy it out identical to the LUN's file"
stop_export "$W/export.log"
tap_ok $? "the export stops, logs out"
tap_note "$(grep -E '^stopping' "$W/export.log")"
tap_done
