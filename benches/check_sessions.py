#!/usr/bin/env python3
"""Compare `ctidx query --user U --destrole R --show-used` with gen_sessions.py's truth.json.

  python3 benches/check_sessions.py --data /tmp/sessions --store /tmp/sessions.store \
      --ctidx target/release/ctidx --pairs 40
"""

import argparse
import json
import random
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--ctidx", default="ctidx")
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--window", default="2024-03-01:2024-03-31")
    args = ap.parse_args()
    truth = json.load(open(f"{args.data}/truth.json"))
    start, end = args.window.split(":")
    pairs = sorted(k for k in truth if not k.endswith(" -"))
    wrong = 0
    for key in random.Random(1).sample(pairs, min(args.pairs, len(pairs))):
        user, role = key.split(" ")
        out = subprocess.run(
            [args.ctidx, "query", "--config", f"{args.data}/config.yaml", "--store", args.store,
             "--account", "bench", "--user", user, "--destrole", role, "--show-used",
             "--start", start, "--end", end],
            capture_output=True, text=True, check=True).stdout
        used = sorted(l[2:] for l in out.splitlines() if l.startswith("  "))
        if used != truth[key]:
            wrong += 1
            print(f"{key}: ctidx {used} truth {truth[key]}")
    print(f"{min(args.pairs, len(pairs))} (user, role) pairs checked, {wrong} differ")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
