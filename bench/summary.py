"""The headline ratios of the benchmarks, each against its goal, read from the results the
benchmarks wrote (bench/results/*.json): for each figure the newest result that holds it (with
--since, only results written from that UTC time on, as bench/run passes its own start), and the
result file it came from. A figure no such result holds is listed as not measured."""

import argparse
import datetime as dt
import json
import operator
from functools import partial
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SMALL, BIG = "transactions of 1-10 rows", "one transaction of"
AT_LEAST, AT_MOST, REPORTED = ">=", "<=", None


def end_to_end(result, workload, arm):
    """A worker arm's end-to-end rate over pgoutput's on `workload`, from throughput.py."""
    for title, rates in result["runs"].items():
        if title.startswith("end to end") and workload in title:
            return rates[f"bottledwater_worker_{arm}"] / rates["pgoutput"]
    raise KeyError(workload)


def end_to_end_cpu(result, workload, arm):
    """The same in rows per CPU-second: the worker's CPU (every thread) against the pgoutput
    backend's, which a machine whose CPUs are shared does not blur."""
    for title, rates in result["cpu"].items():
        if workload in title:
            return rates[f"bottledwater_worker_{arm}"] / rates["pgoutput"]
    raise KeyError(workload)


def envelope(result, workload):
    """The debezium envelope's end-to-end rate over the row envelope's (JSON), throughput.py."""
    for title, rates in result["runs"].items():
        if title.startswith("end to end") and workload in title:
            return (rates["bottledwater_worker_json_debezium_catch_up"]
                    / rates["bottledwater_worker_json_catch_up"])
    raise KeyError(workload)


def delivery(result, workload):
    """exactly_once's catch-up rate over at_least_once's, throughput.py --delivery."""
    for title, rates in result["runs"].items():
        if workload in title:
            return (rates["bottledwater_worker_json_exactly_once_catch_up"]
                    / rates["bottledwater_worker_json_at_least_once_catch_up"])
    raise KeyError(workload)


def exactly_once_p99(result):
    """The worst exactly_once pass's commit-to-readable p99 in ms, latency.py --delivery."""
    return max(r["commit_to_readable"]["p99_ms"] for r in result["runs"]
               if r["delivery"] == "exactly_once")


def layout_ratio(result, layout, arm):
    """pgbench TPS with `arm` decoding over TPS without, in one CPU layout, overhead.py."""
    return result["layouts"][layout]["ratio_to_none"][arm]


FORMATS = ("json", "avro")
WORKLOADS = (("small transactions", SMALL), ("1M-row transaction", BIG))
OVERHEAD_ARMS = (("bottledwater avro", "bottledwater_avro"),
                 ("bottledwater json", "bottledwater_json"), ("pgoutput walsender", "pgoutput"))

# (issue, headline, result name, figure, comparison, goal)
HEADLINES = [
    *[(17, f"{name}, {fmt}, end to end / pgoutput", "throughput",
       partial(end_to_end, workload=workload, arm=f"{fmt}_catch_up"), AT_LEAST, 0.9)
      for name, workload in WORKLOADS for fmt in FORMATS],
    *[(17, f"small transactions, {fmt}, CPU-seconds: pgoutput / worker", "throughput",
       partial(end_to_end_cpu, workload=SMALL, arm=f"{fmt}_catch_up"), AT_LEAST, 0.9)
      for fmt in FORMATS],
    (17, "consistent snapshot / COPY TO STDOUT (from bw_start)", "snapshot",
     lambda r: r["ratio_from_start"], AT_LEAST, 0.8),
    *[(17, f"pinned pgbench TPS / none, {name}", "overhead",
       partial(layout_ratio, layout="pinned", arm=arm), AT_LEAST, 0.95)
      for name, arm in OVERHEAD_ARMS],
    *[(17, f"shared-CPU pgbench TPS / none, {name}", "overhead",
       partial(layout_ratio, layout="shared", arm=arm), REPORTED, None)
      for name, arm in OVERHEAD_ARMS],
    (17, "bottledwater / Debezium, small transactions", "debezium",
     lambda r: r["small_transactions"]["ratio"], REPORTED, None),
    (17, "bottledwater / Debezium, 1M-row transaction alone", "debezium",
     lambda r: r["streaming_alone"]["ratio"], REPORTED, None),
    (17, "bottledwater / Debezium, snapshot of 1M rows", "debezium",
     lambda r: r["snapshot"]["ratio"], REPORTED, None),
    (15, "incremental snapshot / consistent", "snapshot",
     lambda r: r["ratio_incremental_over_consistent"], AT_LEAST, 0.7),
    (15, "p99 latency during a snapshot / idle", "latency",
     lambda r: r["p99_ratio_snapshot_over_idle"], AT_MOST, 2.0),
    (16, "exactly_once / at_least_once, small transactions", "delivery-throughput",
     lambda r: delivery(r, SMALL), AT_LEAST, 0.8),
    (16, "exactly_once / at_least_once, 1M-row transaction", "delivery-throughput",
     lambda r: delivery(r, BIG), AT_LEAST, 0.8),
    (16, "exactly_once p99 commit to readable (ms, worst pass)", "latency-delivery",
     exactly_once_p99, AT_MOST, 100.0),
    (14, "debezium envelope / row envelope, json, small transactions", "throughput",
     lambda r: envelope(r, SMALL), REPORTED, None),
    (14, "debezium envelope / row envelope, json, 1M-row transaction", "throughput",
     lambda r: envelope(r, BIG), REPORTED, None),
]


def results_named(name, since):
    """(file, result) of every result of benchmark `name`, newest first."""
    found = []
    for path in RESULTS.glob(f"*-{name}.json"):
        # The timestamp is all of the name before -<name>.json (so *-snapshot.json of another
        # benchmark, <stamp>-x-snapshot.json, is not taken).
        try:
            when = dt.datetime.strptime(path.name[:-len(f"-{name}.json")], "%Y-%m-%dT%H%M%SZ")
        except ValueError:
            continue
        when = when.replace(tzinfo=dt.timezone.utc)
        if since is None or when >= since:
            found.append((when, path))
    return [(path, json.loads(path.read_text())) for _, path in sorted(found, reverse=True)]


def figure(name, extract, since):
    for path, result in results_named(name, since):
        try:
            return extract(result), path.name, result.get("quick", False)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
    return None, None, False


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--since", help="UTC time (2026-12-01T14:00:00Z): only results from then")
    args = parser.parse_args()
    since = (dt.datetime.fromisoformat(args.since.replace("Z", "+00:00")) if args.since
             else None)
    check = {AT_LEAST: operator.ge, AT_MOST: operator.le}
    print("| issue | headline | value | goal | met | from |")
    print("| --- | --- | --- | --- | --- | --- |")
    for issue, title, name, extract, comparison, goal in HEADLINES:
        value, source, quick = figure(name, extract, since)
        if value is None:
            cells = ("not measured", f"{comparison} {goal:g}" if goal else "", "", "")
        else:
            met = ("reported" if comparison is REPORTED
                   else "met" if check[comparison](value, goal) else "**not met**")
            cells = (f"{value:.2f}", f"{comparison} {goal:g}" if goal else "", met,
                     source + (" (--quick)" if quick else ""))
        print(f"| {issue} | {title} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
