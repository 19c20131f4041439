#!/usr/bin/env python3
"""`ctidx query --all` against the bare GROUP BY it is built on, side by side in one run.

Usage:
  python3 benches/query_all.py DIR [--ctidx BIN] [--store PATH] [--runs 5] [--loop-sample 40]

DIR is a tree written by the synthetic generator (DIR/AWSLogs/..., DIR/config.yaml,
DIR/bench_meta.json), for example `gen_cloudtrail.py --out DIR --events 10000000 --accounts 10
--days 60`. The store (default DIR.ctidx-store) is ingested first if it is missing. Then, over the
generated window and every configured account, alternating runs of:
  * A: `ctidx query --all --format ndjson` (output to /dev/null), whole process;
  * B: `ctidx sql` running the bare GROUP BY (account, principal, event source, event name, count,
    last time) over the same window, whole process;
each run's wall time and peak RSS (wait4). Prints the medians, the ratio A/B, and the per-principal
loop: the median time of `query --user`/`--role` over --loop-sample principals taken evenly from the
--all output, times the number of principals.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GROUP_BY = """
SELECT account,
       CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.arn
            ELSE useridentity.sessioncontext.sessionissuer.arn END AS principal_arn,
       eventsource, eventname, count(*) AS calls, max(eventtime) AS last_call
FROM cloudtrail
WHERE day BETWEEN '{first}' AND '{last}'
  AND useridentity.type IN ('IAMUser', 'AssumedRole')
GROUP BY 1, 2, 3, 4
"""


def timed(command):
    """Wall seconds and peak RSS (MiB) of one process; its stdout is discarded."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    error = process.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(command)} failed ({code}):\n{error}")
    return elapsed, usage.ru_maxrss / 1024


def generated_tree(data, store=None):
    """A generator's tree: its absolute path, its store (default DIR.ctidx-store), its metadata, and
    the first and last day (inclusive) of its window."""
    import datetime as dt
    data = os.path.abspath(data)
    store = store or data.rstrip("/") + ".ctidx-store"
    meta = json.load(open(os.path.join(data, "bench_meta.json")))
    first = meta["params"]["start_date"]
    last = (dt.date.fromisoformat(meta["params"]["end_date_exclusive"]) - dt.timedelta(days=1)).isoformat()
    return data, store, meta, first, last


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--ctidx", default=os.path.join(REPO, "target", "release", "ctidx"))
    parser.add_argument("--store")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--loop-sample", type=int, default=40)
    args = parser.parse_args()

    data, store, meta, first, last = generated_tree(args.data, args.store)
    config = os.path.join(data, "config.yaml")
    window = ["--start", first, "--end", last]

    if not os.path.isdir(store):
        seconds, rss = timed([args.ctidx, "--quiet", "ingest", "--source", os.path.join(data, "AWSLogs"), "--store", store])
        print(f"ingest: {seconds:.1f} s, peak RSS {rss:.0f} MiB")

    base = [args.ctidx, "--config", config, "--store", store]
    all_command = base + ["query", "--all", "--format", "ndjson"] + window
    group_by = base + ["sql", "--format", "csv", GROUP_BY.format(first=first, last=last)]
    timed(all_command)
    timed(group_by)
    results = {"all": [], "group_by": []}
    for _ in range(args.runs):
        results["all"].append(timed(all_command))
        results["group_by"].append(timed(group_by))

    def median(name, index):
        return statistics.median(run[index] for run in results[name])

    all_s, group_s = median("all", 0), median("group_by", 0)
    print(f"events: {meta['totals']['events']:,}  accounts: {meta['params']['accounts']}  window: {first}..{last}")
    print(f"query --all --format ndjson: median {all_s:.2f} s, peak RSS {median('all', 1):.0f} MiB "
          f"(runs: {', '.join(f'{r[0]:.2f}' for r in results['all'])})")
    print(f"sql GROUP BY:                median {group_s:.2f} s, peak RSS {median('group_by', 1):.0f} MiB "
          f"(runs: {', '.join(f'{r[0]:.2f}' for r in results['group_by'])})")
    print(f"ratio --all / GROUP BY: {all_s / group_s:.2f}")

    # The per-principal loop, estimated from a sample.
    # Only the principals are needed: --show-used keeps the document small.
    output = subprocess.run(base + ["query", "--all", "--format", "json", "--show-used"] + window,
                            capture_output=True, check=False)
    principals = json.loads(output.stdout)["principals"]
    step = max(1, len(principals) // args.loop_sample)
    sample = principals[::step][: args.loop_sample]
    times = []
    for principal in sample:
        flag = "--user" if principal["type"] == "user" else "--role"
        command = base + ["query", "--account", principal["account"], flag, principal["name"]] + window
        times.append(timed(command)[0])
    one = statistics.median(times)
    print(f"per-principal loop: {len(principals)} principals x median {one:.3f} s "
          f"= {one * len(principals):.0f} s ({one * len(principals) / all_s:.0f}x --all)")


if __name__ == "__main__":
    main()
