#!/usr/bin/env python3
"""`ctidx report` beside `ctidx query --all`, side by side in one run, and the report's size.

Usage:
  python3 benches/report.py DIR [--ctidx BIN] [--store PATH] [--runs 3]

DIR is a tree written by the synthetic generator (DIR/AWSLogs/..., DIR/config.yaml,
DIR/bench_meta.json), for example `gen_cloudtrail.py --out DIR --events 10000000 --accounts 10
--days 60`; the store (default DIR.ctidx-store) must exist (benches/query_all.py ingests it). Over
the generated window and every configured account, alternating runs of:
  * `ctidx report --out FILE` (with the people behind each role's sessions);
  * `ctidx report --no-sessions --out FILE`;
  * `ctidx query --all --format ndjson` (output to /dev/null);
each run's wall time and peak RSS (wait4). Prints the medians, the ratios to `query --all`, and the
size of the report file.
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from query_all import REPO, generated_tree, timed  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--ctidx", default=os.path.join(REPO, "target", "release", "ctidx"))
    parser.add_argument("--store")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    data, store, meta, first, last = generated_tree(args.data, args.store)
    if not os.path.isdir(store):
        sys.exit(f"no store at {store}: run benches/query_all.py {args.data} first")
    window = ["--start", first, "--end", last]
    base = [args.ctidx, "--quiet", "--config", os.path.join(data, "config.yaml"), "--store", store]
    out = os.path.join(tempfile.mkdtemp(), "report.html")
    commands = {
        "report": base + ["report", "--out", out] + window,
        "report --no-sessions": base + ["report", "--no-sessions", "--out", out] + window,
        "query --all --format ndjson": base + ["query", "--all", "--format", "ndjson"] + window,
    }
    results = {name: [] for name in commands}
    sizes = {}
    for _ in range(args.runs):
        for name, command in commands.items():
            results[name].append(timed(command))
            if name.startswith("report"):
                sizes[name] = os.path.getsize(out)
    print(f"events: {meta['totals']['events']:,}  accounts: {meta['params']['accounts']}  window: {first}..{last}")
    baseline = statistics.median(r[0] for r in results["query --all --format ndjson"])
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        size = f", file {sizes[name] / 1e6:.1f} MB" if name in sizes else ""
        print(f"{name:28s} median {seconds:6.2f} s ({seconds / baseline:.2f}x query --all), "
              f"peak RSS {rss:.0f} MiB{size}  (runs: {', '.join(f'{r[0]:.2f}' for r in runs)})")


if __name__ == "__main__":
    main()
