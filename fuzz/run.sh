#!/usr/bin/env bash
# Seeds the corpora, then runs each fuzz target in turn, one process at a time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET [TARGET...]]
#
# SECONDS_PER_TARGET defaults to 600; TARGET defaults to every target. Needs a nightly toolchain
# and cargo-fuzz (`cargo install cargo-fuzz`). Each target's libFuzzer output is kept in
# fuzz/logs/<target>/fuzz-0.log, crashes in fuzz/artifacts/<target>/.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-600}
shift || true
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir "$fuzz_dir")
fi

python3 "$fuzz_dir/seed.py"
cargo +nightly fuzz build --fuzz-dir "$fuzz_dir"

failed=()
for target in "${targets[@]}"; do
    log_dir="$fuzz_dir/logs/$target"
    mkdir -p "$log_dir"
    echo "== $target: ${seconds}s"
    # -jobs=1 runs the fuzzer in one child process whose output goes to fuzz-0.log in the
    # working folder. -timeout turns a slow input into a reported hang.
    if ! (cd "$log_dir" && cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" "$target" -- \
        -max_total_time="$seconds" -jobs=1 -timeout=30 -rss_limit_mb=2048 -print_final_stats=1); then
        failed+=("$target")
    fi
    grep -E '^#[0-9]+ +(DONE|INITED)|^stat::|ERROR|SUMMARY' "$log_dir/fuzz-0.log" || true
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
