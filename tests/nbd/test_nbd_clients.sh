#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/nbd/test_nbd_clients.sh: NBD exports of a LUN (nbd/, scripts/export.lua)
# driven by clients nobody here wrote: nbdinfo, nbdcopy (libnbd-bin), qemu-img,
# qemu-io (qemu-utils). Runs inside tests/harness/with-targets (run-tests.sh
# runs it there); TAP on stdout.
#
# It adds its own target to the harness's tgtd (tid 9, one 1 GiB thin file
# LUN, so whole-disk copies compare exactly), then, with 1 and with 4
# connections: nbdinfo's size, flags and block sizes; 1 GiB of random data
# in with nbdcopy and back out identical; qemu-img compare; qemu-io patterns
# at random offsets, zeroes and discards. A read-only export refuses writes.
# Failover under the client: nbdcopy of 1 GiB while tgt drops 100 connections,
# one at a time (scripts/export.lua --keep replaces them), read back identical,
# no client error; the same while a policy removes and adds connections
# (--churn). TLS: the same LUN over TCP with TLS (X.509 with client
# certificates, and PSK): nbdinfo, nbdcopy of 1 GiB in and out, qemu-img
# compare over nbds://; a plain nbd:// client, an untrusted CA and a wrong
# PSK are refused and the data stays; a TCP export without TLS credentials
# does not start unless --tls off says plain. No timing is a pass/fail
# criterion.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/sh/tap.sh"
. "$HERE/nbd-lib.sh"
DROPS=${MCSI_NBD_DROPS:-100}

tap_checks 58          # what a whole-file skip counts as (tap_done checks it)
if [ -z "${MCSI_TGT_IPC:-}" ]; then
    tap_skip_all "not inside tests/harness/with-targets"
fi
for t in nbdinfo nbdcopy qemu-img qemu-io certtool psktool; do
    command -v "$t" >/dev/null || tap_skip_all "$t missing (bash tools/deps.sh)"
done

TID=9
IQN=iqn.2026-11.org.mcsi.test:nbd
SIZE=$((1 << 30))
nbd_workdir mcsi-nbd
cleanup() {
    kill_export
    remove_target "$TID"
    rm -rf -- "$W"
}
trap cleanup EXIT

add_thin_target "$TID" "$IQN" "$SIZE"
tap_ok $? "tgt target $TID with a 1 GiB thin file LUN"

# errors LOG: the export's error count from its last line of counters
errors_of() { sed -n 's/^stopping .*: [0-9]* requests, \([0-9]*\) errors.*/\1/p' "$1"; }

head -c "$SIZE" /dev/urandom >"$W/a.img"
head -c "$SIZE" /dev/urandom >"$W/b.img"

# qemu-io: 16 writes of random patterns at random aligned offsets (one per
# 64 MiB slot, so none overlaps), a zeroed range and a discard, then every
# range read back with its pattern.
qemu_io_script() {
    local i off len pat args=() checks=()
    for ((i = 0; i < 16; i++)); do
        off=$(( i * 64 * 1048576 + (RANDOM % 4096) * 4096 ))
        len=$(( (1 + RANDOM % 256) * 4096 ))
        pat=$(( 1 + RANDOM % 255 ))
        args+=(-c "write -P $pat $off $len")
        checks+=(-c "read -P $pat $off $len")
    done
    args+=(-c "write -z $((1000 * 1048576)) 4M" -c "discard $((1010 * 1048576)) 4M" -c flush)
    checks+=(-c "read -P 0 $((1000 * 1048576)) 4M" -c "read -P 0 $((1010 * 1048576)) 4M")
    qemu-io -f raw "$URI" "${args[@]}" "${checks[@]}" >"$W/qemu-io.log" 2>&1 || return 1
    ! grep -qiE 'fail|error|pattern verification' "$W/qemu-io.log"
}

round_trip() { # LABEL SRC
    local label=$1 src=$2
    nbdcopy "$src" "$URI"
    tap_ok $? "$label: nbdcopy of 1 GiB random data into the export"
    rm -f "$W/out.img"; truncate -s "$SIZE" "$W/out.img"
    nbdcopy "$URI" "$W/out.img"
    tap_ok $? "$label: nbdcopy of the export out to a file"
    cmp -s "$src" "$W/out.img"
    tap_ok $? "$label: read back identical (cmp)"
    qemu-img compare -q -f raw -F raw "$src" "$URI"
    tap_ok $? "$label: qemu-img compare agrees"
}

for conns in 1 4; do
    log=$W/export-$conns.log
    start_export "$log" --connections "$conns"
    tap_ok $? "$conns connection(s): scripts/export.lua serves the LUN" || tap_note "$(cat "$log")"
    tap_is "$(nbdinfo --size "$URI" 2>&1)" "$SIZE" "$conns connection(s): nbdinfo --size"
    nbdinfo --json "$URI" >"$W/info.json" 2>&1
    tap_is "$(json_field block_size_minimum <"$W/info.json")/$(json_field block_size_preferred <"$W/info.json")/$(json_field block_size_maximum <"$W/info.json")" \
        "1/4096/33554432" "$conns connection(s): nbdinfo block sizes minimum/preferred/maximum (minimum 1: partial blocks by RMW)"
    tap_is "$(json_field can_multi_conn <"$W/info.json") $(json_field can_flush <"$W/info.json") $(json_field can_fua <"$W/info.json") $(json_field can_zero <"$W/info.json") $(json_field can_trim <"$W/info.json") $(json_field is_read_only <"$W/info.json")" \
        "true true true true true false" "$conns connection(s): multi-conn, flush, fua, zero, trim (thin LUN), writable"
    src=$W/a.img; [ "$conns" = 1 ] || src=$W/b.img
    round_trip "$conns connection(s)" "$src"
    qemu_io_script
    tap_ok $? "$conns connection(s): qemu-io random writes, zeroes, discard, reads verify" || tap_note "$(tail -5 "$W/qemu-io.log")"
    stop_export "$log"
    tap_ok $? "$conns connection(s): SIGTERM stops the export and logs out" || tap_note "$(cat "$log")"
    tap_is "$(errors_of "$log")" 0 "$conns connection(s): the export answered no request with an error"
done

# A read-only export: the flag, and EPERM for writes.
log=$W/export-ro.log
start_export "$log" --read-only
nbdinfo --json "$URI" >"$W/info.json" 2>&1
tap_is "$(json_field is_read_only <"$W/info.json")" true "read-only export: nbdinfo says read-only"
qemu-io -f raw "$URI" -c 'write -P 1 0 4k' >"$W/ro.log" 2>&1
out=$(cat "$W/ro.log")
[[ $out == *"Permission denied"* || $out == *"not permitted"* || $out == *"read-only"* ]]
tap_ok $? "read-only export: a write is refused" || tap_note "$out"
qemu-io -f raw -r "$URI" -c "read -P 0 $((1000 * 1048576)) 4M" >/dev/null 2>&1
tap_ok $? "read-only export: reads work"
stop_export "$log"
tap_ok $? "read-only export: stopped, logged out"

# drop_loop N: N target-side drops of one connection of target TID each, ~every 60 ms.
drop_loop() {
    local n=0 tries=0 out pair
    while [ "$n" -lt "$1" ] && [ "$tries" -lt $(( $1 * 50 )) ]; do
        tries=$((tries + 1))
        out=$(adm --op show --mode conn --tid "$TID" 2>/dev/null)
        pair=$(awk '/^Session: /{ s = $2 } /^[ \t]*Connection: /{ print s, $2 }' <<<"$out" | shuf -n 1)
        if [ -n "$pair" ] && adm --op delete --mode conn --tid "$TID" --sid "${pair% *}" --cid "${pair#* }" >/dev/null 2>&1; then
            n=$((n + 1))
        fi
        sleep 0.06
    done
    echo "$n" >"$W/drops"
}

# Failover under the client: copies of 1 GiB while tgt drops connections.
log=$W/export-failover.log
start_export "$log" --connections 4 --keep
tap_ok $? "failover: export over 4 connections, failed ones replaced (--keep)" || tap_note "$(cat "$log")"
drop_loop "$DROPS" &
dropper=$!
copies=0 copy_fail=0
while :; do
    nbdcopy "$W/a.img" "$URI" 2>>"$W/copy-errors" || copy_fail=$((copy_fail + 1))
    copies=$((copies + 1))
    kill -0 "$dropper" 2>/dev/null || break
done
wait "$dropper"
tap_is "$(cat "$W/drops")" "$DROPS" "failover: tgt dropped $DROPS connections during $copies nbdcopy runs"
tap_is "$copy_fail" 0 "failover: no nbdcopy saw an error" || tap_note "$(head -5 "$W/copy-errors")"
rm -f "$W/out.img"; truncate -s "$SIZE" "$W/out.img"
nbdcopy "$URI" "$W/out.img" && cmp -s "$W/a.img" "$W/out.img"
tap_ok $? "failover: read back identical"
stop_export "$log"
tap_ok $? "failover: stopped, logged out" || tap_note "$(tail -5 "$log")"
tap_is "$(errors_of "$log")" 0 "failover: the export answered no request with an error" || tap_note "$(grep -E '^(\[[^]]*\] )?last error' "$log")"
tap_note "$(grep -E '^(stopping|failover)' "$log")"

# A policy removing and adding connections under the client.
log=$W/export-churn.log
start_export "$log" --connections 4 --churn 150
tap_ok $? "churn: export over 4 connections, one removed and one added every 150 ms" || tap_note "$(cat "$log")"
nbdcopy "$W/b.img" "$URI"
tap_ok $? "churn: nbdcopy of 1 GiB in without an error"
rm -f "$W/out.img"; truncate -s "$SIZE" "$W/out.img"
nbdcopy "$URI" "$W/out.img" && cmp -s "$W/b.img" "$W/out.img"
tap_ok $? "churn: read back identical"
stop_export "$log"
tap_ok $? "churn: stopped, logged out"
changes=$(sed -n 's/.*, \([0-9]*\) path changes.*/\1/p' "$log")
[ "${changes:-0}" -gt 0 ]
tap_ok $? "churn: the policy changed paths during the copies (${changes:-0} changes)"
tap_is "$(errors_of "$log")" 0 "churn: the export answered no request with an error" || tap_note "$(grep -E '^(\[[^]]*\] )?last error' "$log")"

# ---- TLS over TCP ---------------------------------------------------------------------------------------
K=$W/tls
bash "$HERE/make-tls-keys.sh" "$K"
tap_ok $? "TLS keys: a CA, a server certificate for 127.0.0.1, client certificates, PSK files (certtool, psktool)"

log=$W/export-notls.log
start_export "$log" --tcp 127.0.0.1:0
rc=$?
[ "$rc" != 0 ] && grep -q 'needs TLS' "$log"
tap_ok $? "a TCP export without TLS credentials does not start" || tap_note "$(cat "$log")"
[ -z "$EXPORT_PID" ] || { wait "$EXPORT_PID"; EXPORT_PID=; }

log=$W/export-tls.log
start_export "$log" --connections 2 --tcp 127.0.0.1:0 --tls-cert "$K/server-cert.pem" --tls-key "$K/server-key.pem" \
    --tls-ca "$K/ca-cert.pem" --tls-psk-file "$K/keys.psk"
tap_ok $? "TLS: scripts/export.lua serves the LUN on its socket and on TCP with TLS" || tap_note "$(cat "$log")"
PORT=$(sed -n 's|^serving nbds://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log")
X509="nbds://127.0.0.1:$PORT/?tls-certificates=$K/client"
PSK="nbds://alice@127.0.0.1:$PORT/?tls-psk-file=$K/keys.psk"
QX509=(--object "tls-creds-x509,id=tls0,endpoint=client,dir=$K/client")
QPSK=(--object "tls-creds-psk,id=tls0,endpoint=client,username=alice,dir=$K/psk")
QNBD="driver=nbd,host=127.0.0.1,port=$PORT,tls-creds=tls0"
tap_is "$(nbdinfo --size "$X509" 2>&1)" "$SIZE" "TLS: nbdinfo --size over nbds:// (X.509)"
tap_is "$(nbdinfo --size "$PSK" 2>&1)" "$SIZE" "TLS: nbdinfo --size over nbds:// (PSK)"
nbdcopy "$W/b.img" "$PSK" 2>"$W/tls-copy.err"
tap_ok $? "TLS: nbdcopy of 1 GiB random data in over PSK" || tap_note "$(head -5 "$W/tls-copy.err")"
rm -f "$W/out.img"; truncate -s "$SIZE" "$W/out.img"
nbdcopy "$X509" "$W/out.img" 2>"$W/tls-copy.err" && cmp -s "$W/b.img" "$W/out.img"
tap_ok $? "TLS: nbdcopy out over X.509, identical (cmp)" || tap_note "$(head -5 "$W/tls-copy.err")"
qemu-img compare -q "${QX509[@]}" --image-opts "driver=raw,file.filename=$W/b.img" "$QNBD"
tap_ok $? "TLS: qemu-img compare over X.509 agrees"
qemu-img compare -q "${QPSK[@]}" --image-opts "driver=raw,file.filename=$W/b.img" "$QNBD"
tap_ok $? "TLS: qemu-img compare over PSK agrees"
! nbdinfo "nbd://127.0.0.1:$PORT/" >"$W/plain.log" 2>&1
tap_ok $? "TLS: a plain nbd:// client is refused" || tap_note "$(cat "$W/plain.log")"
! qemu-io -f raw "nbd://127.0.0.1:$PORT/" -c 'write -P 0x11 0 1M' >"$W/plain.log" 2>&1
tap_ok $? "TLS: a plain qemu-io write is refused" || tap_note "$(cat "$W/plain.log")"
! nbdinfo "nbds://127.0.0.1:$PORT/?tls-certificates=$K/other" >"$W/plain.log" 2>&1
tap_ok $? "TLS: a client that trusts another CA fails" || tap_note "$(cat "$W/plain.log")"
! nbdinfo "nbds://alice@127.0.0.1:$PORT/?tls-psk-file=$K/wrong.psk" >"$W/plain.log" 2>&1
tap_ok $? "TLS: a wrong PSK fails" || tap_note "$(cat "$W/plain.log")"
qemu-img compare -q "${QPSK[@]}" --image-opts "driver=raw,file.filename=$W/b.img" "$QNBD"
tap_ok $? "TLS: the data is untouched by the refused clients"
tap_is "$(nbdinfo --size "$URI" 2>&1)" "$SIZE" "TLS: the same export's Unix socket serves plain"
stop_export "$log"
tap_ok $? "TLS: stopped, logged out" || tap_note "$(tail -5 "$log")"
tap_is "$(errors_of "$log")" 0 "TLS: the export answered no request with an error"

log=$W/export-plain.log
start_export "$log" --tcp 127.0.0.1:0 --tls off
PORT=$(sed -n 's|^serving nbd://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log")
tap_is "$(nbdinfo --size "nbd://127.0.0.1:$PORT/" 2>&1)" "$SIZE" "--tls off: plain TCP, said explicitly, serves nbd://"
stop_export "$log"
tap_ok $? "--tls off: stopped, logged out"

tap_done
