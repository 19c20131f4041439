#!/usr/bin/env python3
"""Cluster mode against one process, side by side in one run.

Usage:
  python3 benches/cluster.py DIR [--ctidx BIN] [--store PATH] [--runs 5]

DIR is a tree written by the synthetic generator (DIR/config.yaml, DIR/bench_meta.json), for example
`gen_cloudtrail.py --out DIR --events 10000000 --accounts 10 --days 60`, ingested into the store
(default DIR.ctidx-store). The store is read from the local file system by every process, as from a
shared file system: the figures are ctidx's and Ballista's, not a network's.

For each layout, a scheduler and its executors are started on 127.0.0.1 (`ctidx cluster`):
  * one executor running 2 tasks at once;
  * two executors running 1 task at once each;
and, alternating with a local run in each round, every query is timed as a whole process:
  * `scan`: the organization-wide GROUP BY (account, principal, event source, event name, count,
    last time) that `query --all` is built on;
  * `one-day`: a count over one account-day, which reads almost nothing: its time on the cluster
    less its local time is the cluster's overhead per query (planning on the scheduler, task
    hand-out by polling, fetching the result over Arrow Flight).
Prints the median of each, the ratios to the local run, and events per second per core of the scan.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCAN = """
SELECT account,
       CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.arn
            ELSE useridentity.sessioncontext.sessionissuer.arn END AS principal_arn,
       eventsource, eventname, count(*) AS calls, max(eventtime) AS last_call
FROM cloudtrail
WHERE useridentity.type IN ('IAMUser', 'AssumedRole')
GROUP BY 1, 2, 3, 4
"""

ONE_DAY = ("SELECT count(*) FROM cloudtrail WHERE account = '{account}' AND month = '{month}' "
           "AND day = '{day}'")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(command):
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr.decode()}")
    return elapsed, result.stdout


def wait_for_line(process, text):
    for line in process.stderr:
        if text in line:
            return line
    sys.exit(f"process ended before printing {text!r}")


def start_cluster(ctidx, store, slots_per_executor, executors, work):
    base = [ctidx, "--store", store, "cluster"]
    scheduler = subprocess.Popen(base + ["scheduler", "--bind", "127.0.0.1:0"],
                                 stderr=subprocess.PIPE, text=True)
    address = wait_for_line(scheduler, "scheduler listening on").split()[3]
    processes = [scheduler]
    for n in range(executors):
        executor = subprocess.Popen(
            base + ["executor", "--scheduler", address, "--bind", f"127.0.0.1:{free_port()}",
                    "--concurrency", str(slots_per_executor),
                    "--work-dir", os.path.join(work, f"executor-{n}")],
            stderr=subprocess.PIPE, text=True)
        wait_for_line(executor, "executor serving results on")
        processes.append(executor)
    return f"df://{address}", processes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--ctidx", default=os.path.join(REPO, "target", "release", "ctidx"))
    parser.add_argument("--store")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    store = args.store or args.dir.rstrip("/") + ".ctidx-store"
    meta = json.load(open(os.path.join(args.dir, "bench_meta.json")))
    events = meta["params"]["events"]
    _, first = timed([args.ctidx, "--store", store, "sql", "--format", "csv",
                      "SELECT account, min(day) FROM cloudtrail GROUP BY 1 ORDER BY 1 LIMIT 1"])
    account, day = first.decode().splitlines()[1].split(",")
    queries = {"scan": SCAN, "one-day": ONE_DAY.format(account=account, month=day[:7], day=day)}
    cores = os.cpu_count()
    print(f"store {store}: {events} events; {cores} cores; {args.runs} runs per figure")
    print(f"{'layout':<34} {'query':<8} {'local s':>8} {'cluster s':>10} {'ratio':>6} "
          f"{'overhead s':>11} {'events/s/core':>14}")
    for executors, slots in [(1, cores), (2, max(1, cores // 2))]:
        with tempfile.TemporaryDirectory() as work:
            url, processes = start_cluster(args.ctidx, store, slots, executors, work)
            try:
                # The first query pays for the executors' registration.
                timed([args.ctidx, "--store", store, "sql", "--cluster", url, queries["one-day"]])
                for name, sql in queries.items():
                    local, remote = [], []
                    for _ in range(args.runs):
                        seconds, here = timed([args.ctidx, "--store", store, "sql",
                                               "--format", "csv", sql])
                        local.append(seconds)
                        seconds, there = timed([args.ctidx, "--store", store, "sql", "--format",
                                                "csv", "--cluster", url, sql])
                        remote.append(seconds)
                        if sorted(here.splitlines()) != sorted(there.splitlines()):
                            sys.exit(f"{name}: the cluster's answer differs from the local one")
                    l, r = statistics.median(local), statistics.median(remote)
                    rate = f"{events / r / cores:,.0f}" if name == "scan" and events else ""
                    layout = f"{executors} executor(s) x {slots} task(s)"
                    print(f"{layout:<34} {name:<8} {l:>8.3f} {r:>10.3f} {r / l:>6.2f} "
                          f"{r - l:>11.3f} {rate:>14}")
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait()


if __name__ == "__main__":
    main()
