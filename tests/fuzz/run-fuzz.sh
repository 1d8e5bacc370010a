#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/fuzz/run-fuzz.sh BUILD SECONDS HARNESS...   (make fuzz)
#
# Runs BUILD/fuzz/fuzz-<h> for SECONDS each, one after the other, in
# libFuzzer's fork mode (one job; a crash, leak or timeout is saved and the
# run goes on, so one finding does not hide the next), starting
# from the checked-in seeds (tests/fuzz/corpus/<h>/) plus what earlier runs
# found (BUILD/fuzz/corpus-<h>/, kept between runs). New crashes, leaks and
# timeouts land in BUILD/fuzz/findings/<h>/. Each fuzzer runs in a network
# namespace of its own (only loopback), so nothing a fuzzed target says
# (a redirect, a SendTargets address) can reach another host.
# Prints per harness: executions, exec/s, coverage (edges, features),
# corpus size, findings; exits 1 when anything was found.
# A harness's dictionary, tests/fuzz/<h>.dict, is passed when it exists.
# Environment: FUZZ_JOBS_NICE (default 10), FUZZ_ARGS (extra libFuzzer flags).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$1 SECONDS_EACH=$2; shift 2

isolate=()
if unshare -n true 2>/dev/null; then isolate=(unshare -n)
elif unshare -rn true 2>/dev/null; then isolate=(unshare -rn)
else echo "run-fuzz.sh: warning: no network namespace (unshare): the conn fuzzer runs on the host network" >&2
fi

declare -A maxlen=([bhs]=64 [text]=1024 [conn]=2048 [rpc]=8192)
found_any=0
summary=()
for h in "$@"; do
    bin=$BUILD/fuzz/fuzz-$h
    work=$BUILD/fuzz/corpus-$h findings=$BUILD/fuzz/findings/$h log=$BUILD/fuzz/fuzz-$h.log
    mkdir -p "$work" "$findings"
    before=$(find "$findings" -type f | wc -l)
    dict=()
    [ -f "$HERE/$h.dict" ] && dict=(-dict="$HERE/$h.dict")   # tests/fuzz/<h>.dict, when there is one
    echo "=== fuzz-$h: ${SECONDS_EACH}s (log: $log)"
    # shellcheck disable=SC2086
    nice -n "${FUZZ_JOBS_NICE:-10}" "${isolate[@]}" sh -c 'ip link set lo up 2>/dev/null; exec "$@"' sh \
        "$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 -max_len="${maxlen[$h]:-4096}" \
        -artifact_prefix="$findings/" "${dict[@]}" ${FUZZ_ARGS:-} "$work" "$HERE/corpus/$h" >"$log" 2>&1
    rc=$?
    # fork mode status lines: "#N: cov: C ft: F corp: K exec/s R oom/timeout/crash: a/b/c time: Ts ..."
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
    execs=$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$last")
    rate=$(sed -nE 's/.*exec\/s ([0-9]+).*/\1/p' <<<"$last")   # the last job's rate
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' <<<"$last")
    secs0=$(sed -nE 's/.* time: ([0-9]+)s.*/\1/p' <<<"$last")
    [ -n "$execs" ] && [ "${secs0:-0}" -gt 0 ] && rate=$((execs / secs0))   # average over the run
    otc=$(grep -oE 'oom/timeout/crash: [0-9/]+' <<<"$last")
    secs=$(sed -nE 's/.* time: ([0-9]+)s.*/\1/p' <<<"$last")
    after=$(find "$findings" -type f | wc -l)
    new=$((after - before))
    { [ "$new" -gt 0 ] || [ "$rc" -ne 0 ]; } && found_any=1
    line="fuzz-$h: ${execs:-?} executions in ${secs:-?}s (${rate:-?}/s), ${cov:-cov: ?}, ${otc:-oom/timeout/crash: ?}, findings: $new new files ($after in $findings)"
    echo "$line"
    [ "$new" -gt 0 ] && grep -E '^==[0-9]+==ERROR|^SUMMARY|fuzz_[a-z]+: ' "$log" | sort | uniq -c | sed -n 1,8p
    summary+=("$line")
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit $found_any
