#!/bin/bash
# bench/run.sh [--report] [NAME...]: run the benchmarks, write docs/benchmarks.md.
#
# A benchmark is a script bench/NAME.sh that writes, in $BENCH_DIR/NAME/
# (run.sh sets BENCH_DIR, default build/bench):
#   section.md  its markdown section: "## Title", method, where it ran,
#               results (required)
#   goals.md    optional rows for the goals table:
#               | goal | target | measured | verdict |
# and prints what it likes on stdout/stderr while it runs (lines starting
# "<name> bench:" or "RETRY" are shown as progress).  Only scripts that
# mention section.md are benchmarks; other bench/*.sh files are helpers.
# Order: boot, first_insn, then the others by name; NAME... runs only those.
# --report runs nothing.  The document holds the latest section of every
# benchmark found in $BENCH_DIR, whether run now or before.
#
# Prints the goals table and every section, and writes the same to
# docs/benchmarks.md (BENCH_DOC to write elsewhere).  Exits non-zero when a
# benchmark failed; the others still run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export BENCH_DIR=${BENCH_DIR:-$PWD/build/bench}
DOC=${BENCH_DOC:-docs/benchmarks.md}
mkdir -p "$BENCH_DIR"

run=1
if [ "${1-}" = --report ]; then
    run=0
    shift
fi
is_bench() { [ "$1" != run ] && [ -f "bench/$1.sh" ] && grep -q 'section\.md' "bench/$1.sh"; }
# Every benchmark, in report order.
all=()
for n in boot first_insn; do is_bench "$n" && all+=("$n"); done
for f in bench/*.sh; do
    n=$(basename "$f" .sh)
    case " ${all[*]} " in *" $n "*) continue ;; esac
    is_bench "$n" && all+=("$n")
done
# The ones to run now.
names=()
if [ "$run" = 1 ]; then
    if [ $# -gt 0 ]; then names=("$@"); else names=("${all[@]}"); fi
fi

# The commit, read without touching the index.
version() {
    local rev
    rev=$(git rev-parse --short HEAD 2>/dev/null) || { echo "(no git)"; return; }
    git diff-index --quiet HEAD -- 2>/dev/null || rev="$rev + uncommitted changes"
    echo "commit $rev"
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
t0=$SECONDS
status=0
failed=()
for n in "${names[@]}"; do
    is_bench "$n" || { echo "bench: bench/$n.sh is not a benchmark (missing, or writes no section.md)" >&2; status=2; continue; }
    echo "=== bench: $n" >&2
    rm -rf "${BENCH_DIR:?}/$n"
    t=$SECONDS rc=0
    bash "bench/$n.sh" >"$BENCH_DIR/$n.out" 2>&1 </dev/null &
    pid=$!
    # Progress lines go to stderr as they come; the section is printed below.
    tail -f --pid=$pid -n +1 "$BENCH_DIR/$n.out" | grep --line-buffered -E '^([A-Za-z0-9_-]+ bench|RETRY|bench)' >&2 &
    wait $pid || rc=$?
    wait
    echo "=== bench: $n: status $rc after $((SECONDS - t)) s" >&2
    if [ "$rc" != 0 ]; then
        status=1
        failed+=("$n")
        tail -n 20 "$BENCH_DIR/$n.out" | sed 's/^/  | /' >&2
    fi
done

{
    echo "# Benchmarks"
    echo
    if [ ${#names[@]} -gt 0 ]; then
        echo "Written by \`bench/run.sh\` (\`make bench\`) on $started after running"
        echo "$(printf '`%s` ' "${names[@]}")($(( (SECONDS - t0 + 30) / 60 )) min); any other section is from"
        echo "its benchmark's last run and carries its own date."
    else
        echo "Assembled by \`bench/run.sh --report\` on $started from the last results"
        echo "of each benchmark; every section carries its own date."
    fi
    echo "Host: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) × $(nproc),"
    echo "$(awk '/MemTotal/ {printf "%d MiB", $2/1024}' /proc/meminfo), kernel $(uname -r); source tree at $(version)."
    echo "Each section says where it ran and how. Absolute times depend on the"
    echo "machine and its load (see each section); ratios between VMMs measured"
    echo "side by side in one session, and counts, carry over."
    echo
    echo "## Goals"
    echo
    echo "| goal | target | measured | verdict |"
    echo "|---|---|---|---|"
    for n in "${all[@]}"; do
        [ ! -s "$BENCH_DIR/$n/goals.md" ] || cat "$BENCH_DIR/$n/goals.md"
    done
    for n in "${failed[@]}"; do
        echo "| bench/$n.sh | | | **failed**: see \`$BENCH_DIR/$n.out\` |"
    done
    for n in "${all[@]}"; do
        if [ -s "$BENCH_DIR/$n/section.md" ]; then
            echo
            cat "$BENCH_DIR/$n/section.md"
        fi
    done
    cat <<'EOF'

## Running and adding benchmarks

`make bench` installs what is missing, builds, and runs `bench/run.sh`,
which runs every benchmark in `bench/` and rewrites this file;
`make bench BENCH="NAME..."` (or `bash bench/run.sh NAME...`) runs only
those, `bash bench/run.sh --report`
rebuilds this file from the last results. A benchmark is a script
`bench/NAME.sh` that writes its section to `$BENCH_DIR/NAME/section.md`
(default `build/bench/NAME/`) and may add rows to the goals table in
`$BENCH_DIR/NAME/goals.md` (`| goal | target | measured | verdict |`);
scripts that write no `section.md` are helpers and are not run. Raw data
and console logs stay under `build/bench/`. Settings of the boot and
first-instruction benchmarks: `BENCH_BOOT_RUNS` (10), `BENCH_BOOT_TIMEOUT` (150 s per boot),
`BENCH_BOOT_STALL` (45 s of console silence before init = a stalled boot),
`BENCH_BOOT_BUDGET` (660 s for the boot rounds), `BENCH_FIRST_RUNS` (100).
EOF
} >"$BENCH_DIR/report.md"

cat "$BENCH_DIR/report.md"
mkdir -p "$(dirname "$DOC")"
cp "$BENCH_DIR/report.md" "$DOC"
echo "bench: written to $DOC" >&2
exit "$status"
