#!/bin/sh
# Builds and runs the libFuzzer harnesses of tests/fuzz/ (see tests/fuzz/README.md).
#
#   tools/fuzz.sh [build|replay|run|all] [harness...]     (default: all, every harness)
#
#   build   compile build/fuzz/<harness> (clang -fsanitize=fuzzer,address,undefined)
#   replay  run every input of tests/fuzz/regressions/<harness>/ once; any crash fails
#   run     fuzz each harness for $FUZZ_SECONDS (default 60) on build/fuzz/corpus/<harness>,
#           a copy of the seed corpus tests/fuzz/corpus/<harness>/ (nothing is written into the
#           repo); crashing inputs go to build/fuzz/crashes/; prints the executions per harness
#   all     build, replay, run
#
# Environment: FUZZ_SECONDS, FUZZ_CC (clang), FUZZ_FLAGS (extra libFuzzer flags, e.g.
# "-jobs=2" or "-dict=..."), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT (per-input seconds, 10).
set -eu
cd "$(dirname "$0")/.."
SRCDIR=$(pwd)
OUT=build/fuzz
CC=${FUZZ_CC:-clang}
SECS=${FUZZ_SECONDS:-60}
FLAGS=${FUZZ_FLAGS:-}
RSS=${FUZZ_RSS_MB:-2048}
TIMEOUT=${FUZZ_TIMEOUT:-10}
ALL_HARNESSES="fuzz_rpc fuzz_junit fuzz_proc fuzz_textclean fuzz_pyparse"

mode=all
case "${1:-}" in build|replay|run|all) mode=$1; shift ;; esac
harnesses=${*:-$ALL_HARNESSES}

# The src/*.c each harness is compiled with (never main.c).
sources_of() {
    case "$1" in
        fuzz_rpc)   echo "src/rpc/rpc.c src/rpc/mpscan.c src/rpc/mpjson.c src/base/strbuf.c" ;;
        fuzz_junit) echo "src/parse/report.c src/parse/junit.c src/parse/xmllib.c src/parse/location.c src/parse/failmsg.c src/parse/nodeid.c src/parse/frames.c src/base/path.c src/base/span.c src/base/textclean.c src/base/strbuf.c" ;;
        fuzz_proc)  echo "src/mem/procmem.c src/mem/sysmem.c src/mem/cgroup.c src/base/strbuf.c" ;;
        fuzz_textclean) echo "src/base/textclean.c src/base/strbuf.c" ;;
        fuzz_pyparse) echo "src/parse/pyimports.c src/parse/collection.c src/parse/coverage.c src/base/path.c src/base/strbuf.c" ;;
        *) echo "fuzz.sh: unknown harness $1" >&2; exit 2 ;;
    esac
}

build_one() {
    h=$1
    srcs=$(sources_of "$h")
    bin=$OUT/$h
    if [ -x "$bin" ] && [ -z "$(find "tests/fuzz/$h.c" $srcs src/*.h src/*/*.h tools/fuzz.sh -newer "$bin" 2>/dev/null)" ]; then
        return 0
    fi
    echo "== build $bin"
    # shellcheck disable=SC2086
    $CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        $(pkg-config --cflags msgpack libxml-2.0 jansson) -Isrc \
        "tests/fuzz/$h.c" $srcs \
        $(pkg-config --libs msgpack libxml-2.0 jansson) -lm -o "$bin.tmp"
    mv "$bin.tmp" "$bin"
}

replay_one() {
    h=$1
    dir=tests/fuzz/regressions/$h
    [ -d "$dir" ] || return 0
    files=$(find "$dir" -type f ! -name '.*' ! -name '*.md' | sort)
    [ -n "$files" ] || return 0
    n=$(echo "$files" | wc -l)
    log=$OUT/logs/$h.replay.log
    echo "== replay $h: $n regression input(s)"
    # shellcheck disable=SC2086
    if ! PYTESTMON_SRCDIR=$SRCDIR "$OUT/$h" -rss_limit_mb="$RSS" -timeout="$TIMEOUT" $files >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "!!! $h: a regression input crashes again (log: $log)"
        return 1
    fi
}

run_one() {
    h=$1
    corpus=$OUT/corpus/$h
    mkdir -p "$corpus" "$OUT/crashes"
    # Merge the seeds into the working copy (kept between runs, so coverage accumulates).
    if [ -d "tests/fuzz/corpus/$h" ]; then
        find "tests/fuzz/corpus/$h" -type f -exec cp {} "$corpus/" \;
    fi
    dict=""
    [ -f "tests/fuzz/$h.dict" ] && dict="-dict=tests/fuzz/$h.dict"
    log=$OUT/logs/$h.log
    echo "== fuzz $h for ${SECS}s (log: $log)"
    rc=0
    # shellcheck disable=SC2086
    PYTESTMON_SRCDIR=$SRCDIR "$OUT/$h" -max_total_time="$SECS" -print_final_stats=1 \
        -rss_limit_mb="$RSS" -timeout="$TIMEOUT" -artifact_prefix="$OUT/crashes/$h-" \
        $dict $FLAGS "$corpus" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    secs=$(sed -n 's/.*Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n 1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    if [ "$rc" -ne 0 ]; then
        grep -E 'ERROR: |SUMMARY: |runtime error|oracle failed|Test unit written' "$log" | head -n 20 || true
        echo "!!! $h: CRASH after ${execs:-?} executions; input left in $OUT/crashes/ (log: $log)"
        return 1
    fi
    echo "$h: executions: ${execs:-?} in ${secs:-$SECS}s, coverage: ${cov:-?} edges, corpus: $(ls "$corpus" | wc -l) inputs"
}

mkdir -p "$OUT/logs"
failed=""
for h in $harnesses; do
    sources_of "$h" >/dev/null
    case $mode in build|replay|run|all) build_one "$h" ;; esac
done
[ "$mode" = build ] && exit 0
for h in $harnesses; do
    if [ "$mode" = replay ] || [ "$mode" = all ]; then
        replay_one "$h" || { failed="$failed $h"; continue; }
    fi
    if [ "$mode" = run ] || [ "$mode" = all ]; then
        run_one "$h" || failed="$failed $h"
    fi
done
if [ -n "$failed" ]; then
    echo "!!! fuzz FAILED:$failed"
    exit 1
fi
echo "fuzz: OK ($harnesses)"
