#!/bin/bash
# tests/fuzz/run-fuzz.sh BUILD SECONDS HARNESS...   (make fuzz)
#
# Runs BUILD/fuzz/fuzz-<h> for SECONDS each, one after the other, starting
# from the checked-in seeds (tests/fuzz/corpus/<h>/) plus what earlier runs
# found (BUILD/fuzz/corpus-<h>/, kept between runs). New crashes, leaks and
# timeouts land in BUILD/fuzz/findings/<h>/. Each fuzzer runs in a network
# namespace of its own (only loopback), so nothing a fuzzed target says
# (a redirect, a SendTargets address) can reach another host.
# Prints per harness: executions, exec/s, coverage (edges, features),
# corpus size, findings; exits 1 when anything was found.
# Environment: FUZZ_JOBS_NICE (default 10), FUZZ_ARGS (extra libFuzzer flags).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$1 SECONDS_EACH=$2; shift 2

isolate=()
if unshare -n true 2>/dev/null; then isolate=(unshare -n)
elif unshare -rn true 2>/dev/null; then isolate=(unshare -rn)
else echo "run-fuzz.sh: warning: no network namespace (unshare): the conn fuzzer runs on the host network" >&2
fi

declare -A maxlen=([bhs]=64 [text]=1024 [conn]=2048)
found_any=0
summary=()
for h in "$@"; do
    bin=$BUILD/fuzz/fuzz-$h
    work=$BUILD/fuzz/corpus-$h findings=$BUILD/fuzz/findings/$h log=$BUILD/fuzz/fuzz-$h.log
    mkdir -p "$work" "$findings"
    before=$(find "$findings" -type f | wc -l)
    echo "=== fuzz-$h: ${SECONDS_EACH}s (log: $log)"
    # shellcheck disable=SC2086
    nice -n "${FUZZ_JOBS_NICE:-10}" "${isolate[@]}" sh -c 'ip link set lo up 2>/dev/null; exec "$@"' sh \
        "$bin" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 -max_len="${maxlen[$h]:-4096}" \
        -print_final_stats=1 -artifact_prefix="$findings/" ${FUZZ_ARGS:-} "$work" "$HERE/corpus/$h" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
    after=$(find "$findings" -type f | wc -l)
    new=$((after - before))
    [ "$new" -gt 0 ] || [ "$rc" -ne 0 ] && found_any=1
    line="fuzz-$h: ${execs:-?} executions in ${SECONDS_EACH}s (${rate:-?}/s), ${cov:-cov: ?}, findings: $new new ($after in $findings), exit $rc"
    echo "$line"
    [ "$new" -gt 0 ] && grep -E '^==[0-9]+==ERROR|^SUMMARY|deadly signal|ALARM|timeout' "$log" | head -5
    summary+=("$line")
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit $found_any
