#!/usr/bin/env python3
"""Following role sessions against a plain per-user query, side by side in one run.

Usage:
  python3 benches/sessions.py DIR --account ID --user NAME --destrole ROLE [--destaccount ID]
        [--ctidx BIN] [--store PATH] [--runs 10]

DIR is a tree written by the synthetic generator (DIR/config.yaml, DIR/bench_meta.json), for example
`gen_cloudtrail.py --out DIR --events 10000000 --accounts 10 --days 60`; its store (default
DIR.ctidx-store) must exist. Over the generated window, alternating runs of:
  * A: `ctidx query --account ID --user NAME --destrole ROLE [--destaccount ID]`, whole process;
  * B: `ctidx query --account ID --user NAME`, whole process;
each run's wall time and peak RSS (wait4). Prints the medians and the median of the pairwise ratios
A/B, and which accounts' session events A read (`-v`).
"""
import argparse
import os
import statistics
import subprocess
import sys

from query_all import REPO, generated_tree, timed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--account", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--destrole", required=True)
    parser.add_argument("--destaccount")
    parser.add_argument("--ctidx", default=os.path.join(REPO, "target", "release", "ctidx"))
    parser.add_argument("--store")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    data, store, _meta, first, last = generated_tree(args.data, args.store)
    if not os.path.isdir(store):
        sys.exit(f"no store at {store}: ingest {data}/AWSLogs first")

    base = [args.ctidx, "--config", os.path.join(data, "config.yaml"), "--store", store]
    user = ["query", "--account", args.account, "--user", args.user, "--start", first, "--end", last]
    sessions = user + ["--destrole", args.destrole]
    if args.destaccount:
        sessions += ["--destaccount", args.destaccount]

    verbose = subprocess.run(base[:1] + ["-v"] + base[1:] + sessions, capture_output=True, text=True)
    if verbose.returncode != 0:
        sys.exit(verbose.stderr)
    read = [line for line in verbose.stderr.splitlines() if line.startswith("role sessions followed")]

    timed(base + ["--quiet"] + sessions)
    timed(base + ["--quiet"] + user)
    runs = []
    for _ in range(args.runs):
        runs.append((timed(base + ["--quiet"] + sessions), timed(base + ["--quiet"] + user)))

    a = [pair[0][0] for pair in runs]
    b = [pair[1][0] for pair in runs]
    ratios = sorted(x / y for x, y in zip(a, b))
    print(f"window {first}..{last}, {args.runs} pairs; {read[0] if read else 'no session steps reported'}")
    print(f"A --destrole: median {statistics.median(a):.3f} s, peak RSS {statistics.median(p[0][1] for p in runs):.0f} MiB")
    print(f"B --user:     median {statistics.median(b):.3f} s, peak RSS {statistics.median(p[1][1] for p in runs):.0f} MiB")
    print(f"A/B: median {statistics.median(ratios):.2f} (min {ratios[0]:.2f}, max {ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
