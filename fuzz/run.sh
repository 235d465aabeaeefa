#!/usr/bin/env bash
# Builds the fuzz targets and runs each one over its committed corpus.
#
#   fuzz/run.sh --seconds 10          each target for 10 seconds (CI)
#   fuzz/run.sh --runs 10000000       each target for 10 million executions (the long run)
#   fuzz/run.sh --runs N scene trace  only the targets named
#
# Stable Rust, no sanitizer (Marquee's own code is safe Rust): libFuzzer's coverage guidance
# with panics, aborts, hangs (over 10 s an input) and memory over 4 GiB counted as crashes. A
# long run adds the inputs that add coverage to fuzz/corpus/<target>/ (minimise it afterwards
# with `cargo fuzz cmin -s none <target>`); crashes go to fuzz/artifacts/<target>/.
# The last lines of each run's libFuzzer statistics are printed.
set -euo pipefail
cd "$(dirname "$0")"

limit=()
keep=yes
case "${1:-}" in
    --seconds) limit=(-max_total_time="$2"); keep=no ;;
    --runs) limit=(-runs="$2") ;;
    *) echo "usage: fuzz/run.sh --seconds N | --runs N [TARGET...]" >&2; exit 2 ;;
esac
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(scene playlist trace merge plugin_config spritesheet rig)
fi

if ! cargo fuzz --version 2>/dev/null | grep -q '^cargo-fuzz 0\.13\.'; then
    cargo install cargo-fuzz --version '^0.13' --locked
fi
cargo fuzz build -s none

for t in "${targets[@]}"; do
    echo "== fuzz target $t: ${limit[*]}"
    log=$(mktemp)
    # A short run reads the committed corpus and keeps what it finds in a scratch folder (the
    # first folder is where libFuzzer writes); a long run grows the corpus itself.
    corpus=("corpus/$t")
    if [ "$keep" = no ]; then
        corpus=("$(mktemp -d)" "corpus/$t")
    fi
    if ! cargo fuzz run -s none "$t" "${corpus[@]}" -- "${limit[@]}" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -60 "$log"
        echo "error: fuzz target $t failed (its input is under fuzz/artifacts/$t/)" >&2
        rm -f "$log"
        exit 1
    fi
    grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' "$log"
    rm -f "$log"
    # The targets' scratch folders (fuzz/src/lib.rs).
    rm -rf /dev/shm/marquee-fuzz-* "${TMPDIR:-/tmp}"/marquee-fuzz-*
    if [ "$keep" = no ]; then
        rm -rf "${corpus[0]}"
    fi
done
