#!/bin/bash
# bench/run.sh [NAME...]: run the benchmarks and write docs/benchmarks.md.
#
# A benchmark is a script bench/NAME.sh.  run.sh calls each with BENCH_DIR
# set (default build/bench); the script writes, in $BENCH_DIR/NAME/:
#   section.md  its markdown section: "## Title", method, where it ran,
#               results (required)
#   goals.md    optional rows for the goals table:
#               | goal | target | measured | verdict |
# and prints what it likes on stdout/stderr while it runs.  Order: boot,
# first_insn, then the others by name; NAME... runs only those (the
# document then holds only those sections).
#
# Prints the goals table and every section, and writes the same to
# docs/benchmarks.md (BENCH_DOC to write elsewhere).  Exits non-zero when a
# benchmark failed; the others still run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export BENCH_DIR=${BENCH_DIR:-$PWD/build/bench}
DOC=${BENCH_DOC:-docs/benchmarks.md}
mkdir -p "$BENCH_DIR"

names=()
if [ $# -gt 0 ]; then
    names=("$@")
else
    for n in boot first_insn; do [ -f "bench/$n.sh" ] && names+=("$n"); done
    for f in bench/*.sh; do
        n=$(basename "$f" .sh)
        case " run ${names[*]} " in *" $n "*) continue ;; esac
        names+=("$n")
    done
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
    [ -f "bench/$n.sh" ] || { echo "bench: no bench/$n.sh" >&2; status=2; continue; }
    echo "=== bench: $n" >&2
    rm -rf "${BENCH_DIR:?}/$n"
    t=$SECONDS rc=0
    bash "bench/$n.sh" >"$BENCH_DIR/$n.out" 2>&1 </dev/null &
    pid=$!
    # Progress lines go to stderr as they come; the section is printed below.
    tail -f --pid=$pid -n +1 "$BENCH_DIR/$n.out" | grep --line-buffered -E '^(boot bench|first-insn bench|RETRY|bench)' >&2 &
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
    echo "Written by \`make bench\` (\`bench/run.sh\`) on $started; the run took"
    echo "$(( (SECONDS - t0 + 30) / 60 )) min. Host: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) × $(nproc),"
    echo "$(awk '/MemTotal/ {printf "%d MiB", $2/1024}' /proc/meminfo), kernel $(uname -r), kvmm at $(version)."
    echo "Each section says where it ran and how. Absolute times depend on the"
    echo "machine and its load (see each section); ratios between VMMs measured"
    echo "side by side in one session, and counts, carry over."
    echo
    echo "## Goals"
    echo
    echo "| goal | target | measured | verdict |"
    echo "|---|---|---|---|"
    for n in "${names[@]}"; do
        [ ! -s "$BENCH_DIR/$n/goals.md" ] || cat "$BENCH_DIR/$n/goals.md"
    done
    for n in "${failed[@]}"; do
        echo "| bench/$n.sh | | | **failed**: see \`$BENCH_DIR/$n.out\` |"
    done
    for n in "${names[@]}"; do
        if [ -s "$BENCH_DIR/$n/section.md" ]; then
            echo
            cat "$BENCH_DIR/$n/section.md"
        fi
    done
    cat <<'EOF'

## Running and adding benchmarks

`make bench` installs what is missing, builds, and runs `bench/run.sh`,
which runs every `bench/*.sh` (`bash bench/run.sh NAME...` runs only those)
and rewrites this file. A benchmark `bench/NAME.sh` writes its section to
`$BENCH_DIR/NAME/section.md` and may add rows to the goals table in
`$BENCH_DIR/NAME/goals.md` (`| goal | target | measured | verdict |`);
raw data and console logs stay under `build/bench/`. Settings:
`BENCH_BOOT_RUNS` (10), `BENCH_BOOT_TIMEOUT` (150 s per boot),
`BENCH_BOOT_STALL` (45 s of console silence before init = a stalled boot,
retried once), `BENCH_BOOT_BUDGET` (780 s for the boot rounds),
`BENCH_FIRST_RUNS` (100).
EOF
} >"$BENCH_DIR/report.md"

cat "$BENCH_DIR/report.md"
mkdir -p "$(dirname "$DOC")"
cp "$BENCH_DIR/report.md" "$DOC"
echo "bench: written to $DOC" >&2
exit "$status"
