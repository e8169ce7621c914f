#!/usr/bin/env python3
"""Turns device-api-bench JSON lines into bench/results/latest.json (results,
machine, budget checks), or prints a saved file as tables.

  summarize.py results.jsonl [--build-type Release] > latest.json
  summarize.py --table latest.json        # text tables
  summarize.py --markdown latest.json     # the tables of docs/benchmarks.md
  summarize.py --update-doc docs/benchmarks.md latest.json
                                          # replaces the block between the RESULTS markers
  summarize.py --compare report.json      # markdown table of `device-api-bench compare --json`
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys


def machine():
    info = {"cpus": os.cpu_count(), "kernel": platform.release(), "arch": platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
        info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def key_of(r):
    return (r["scenario"], r["op"], r.get("concurrency"), r.get("note", ""), r.get("storage", ""))


def rank_key(r):
    """What orders the repeated runs of one scenario: its ratio to noop, or
    its throughput for noop itself."""
    if "p50_vs_noop" in r:
        return r["p50_vs_noop"]
    return -r.get("ops_per_s", 0)


def median_runs(results):
    """Repeated runs of a scenario (same scenario, op and concurrency) become
    one: the run with the median rank_key, with `rounds` and the spread of the
    ratios added. Ratios always compare runs of the same round, so a noisy
    machine moves both sides of each ratio together; the median of several
    rounds is what the budget is checked against."""
    groups = {}
    order = []
    for r in results:
        k = key_of(r)
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(r)
    merged = []
    for k in order:
        runs = groups[k]
        if len(runs) == 1:
            merged.append(runs[0])
            continue
        available = [r for r in runs if r.get("available", True)] or runs
        chosen = dict(sorted(available, key=rank_key)[(len(available) - 1) // 2])
        chosen["rounds"] = len(runs)
        chosen["errors"] = sum(r.get("errors", 0) for r in runs)
        for ratio in ("p50_vs_noop", "throughput_vs_noop"):
            values = sorted(r[ratio] for r in available if ratio in r)
            if values:
                chosen[ratio] = statistics.median(values)
                chosen[ratio + "_range"] = [values[0], values[-1]]
        merged.append(chosen)
    return merged


def find(results, scenario, op=None, concurrency=None, storage=None):
    """The median run of a scenario; storage None: the first backend found
    (runs without a storage label count as memory)."""
    for r in median_runs(results):
        if r["scenario"] == scenario and r["op"] == (op or scenario) and (
                concurrency is None or r.get("concurrency") == concurrency) and (
                storage is None or r.get("storage", "memory") == storage):
            return r
    return None


def ratio(a, b, key):
    """a[key] / b[key] as a pseudo-result for a budget line, or None."""
    if not a or not b or not a.get(key) or not b.get(key):
        return None
    return {"value": a[key] / b[key]}


def paired_ratio(results, scenario, concurrency, key, a="sqlite", b="memory"):
    """The median over rounds of a[key] / b[key], each round's run on storage a
    divided by the same round's on b (the i-th run of each, in order): the
    two servers of a round run within seconds of each other, while the
    median runs of each (median_runs) may come from different rounds, whose
    latencies differ by more than the budget's margin on a shared machine.
    Without as many runs on each side, the ratio of the median runs."""
    def runs(storage):
        return [r for r in results if r["scenario"] == scenario and r["op"] == scenario
                and r.get("concurrency") == concurrency and r.get("storage", "memory") == storage
                and r.get("available", True) and r.get(key)]
    ours, base = runs(a), runs(b)
    if not ours or len(ours) != len(base):
        return ratio(find(results, scenario, concurrency=concurrency, storage=a),
                     find(results, scenario, concurrency=concurrency, storage=b), key)
    values = sorted(x[key] / y[key] for x, y in zip(ours, base))
    return {"value": statistics.median(values), "range": [values[0], values[-1]], "rounds": len(values)}


def budget(results):
    """Each budget line: what, figure, value, limit, comparison, pass."""
    checks = []

    def add(what, r, key, limit, cmp="<=", scale=1.0):
        value = None if r is None or not r.get("available", True) else r.get(key)
        if value is not None:
            value = value * scale
        if value is None or limit is None:
            ok = None  # not measured, or a figure to report without a limit
        else:
            ok = value <= limit if cmp == "<=" else value >= limit
        checks.append({"what": what, "figure": key, "value": value, "limit": limit,
                       "cmp": cmp, "pass": ok})

    add("get p50 / noop p50 (c=1)", find(results, "get", concurrency=1), "p50_vs_noop", 1.15)
    add("update-status p50 / noop p50 (c=1)", find(results, "update-status", concurrency=1),
        "p50_vs_noop", 1.4)
    add("update-status ops/s / noop ops/s (c=8)", find(results, "update-status", concurrency=8),
        "throughput_vs_noop", 0.7, ">=")
    add("list p50, 1,024 GPUs x 8 conditions (ms)", find(results, "list"), "p50_ms", 5.0)
    fan = find(results, "watch-fanout", "delivery")
    add("watch-fanout p99 delivery, 100 watchers, 200 writes/s (ms)", fan, "p99_ms", 10.0)
    add("watch-fanout lost events", fan, "lost", 0)
    add("watch-fanout duplicated events", fan, "duplicated", 0)
    add("watch-fanout server CPU (% of one core)", fan, "server_cpu_percent", None)
    add("health-e2e Xid injection to watch event p50 (ms)", find(results, "health-e2e"),
        "p50_ms", None)
    add("server RSS idle (MiB)", find(results, "startup"), "idle_rss_mib", 16.0)
    mem = find(results, "memory")
    add("server RSS, 1,024 GPUs x 32 cond, 100 watchers, full history (MiB)", mem,
        "server_rss_mib", 64.0)
    add("start-up to ready, empty store (p50 ms)", find(results, "startup"), "p50_ms", 100.0)
    # The durable backend against the memory one, measured in the same rounds.
    def durable(concurrency, key):
        return paired_ratio(results, "update-status", concurrency, key)
    add("update-status p50, sqlite / memory (c=1)", durable(1, "p50_ms"), "value", 1.5)
    add("update-status ops/s, sqlite / memory (c=8)", durable(8, "ops_per_s"), "value", 0.6, ">=")
    loaded = next((r for r in median_runs(results) if r["scenario"] == "startup"
                   and r.get("storage") == "sqlite" and "loaded" in r.get("note", "")), None)
    add("start-up to ready, sqlite, 1,024 GPUs x 32 cond + full history (p50 ms)", loaded, "p50_ms", 250.0)
    add("server RSS idle, sqlite (MiB)", find(results, "startup", storage="sqlite"), "idle_rss_mib", 18.0)
    return checks


def summarize(path, build_type):
    results = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                results.append(json.loads(line))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit,
        "build_type": build_type,
        "machine": machine(),
        "note": "client and server share the machine; ratios use the noop run at the same "
                "concurrency in the same invocation",
        "results": results,
        "budget": budget(results),
    }


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def tables(doc, markdown):
    rows = []
    head = ["scenario", "conc", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "notes"]
    for r in median_runs(doc["results"]):
        name = r["scenario"] if r["op"] == r["scenario"] else f'{r["scenario"]}/{r["op"]}'
        if r.get("storage"):
            name += f' [{r["storage"]}]'
        notes = []
        for key in ("p50_vs_noop", "throughput_vs_noop", "lost", "duplicated", "ended_early",
                    "server_cpu_percent", "server_rss_mib", "server_rss_anon_mib",
                    "server_rss_file_mib", "server_peak_rss_mib", "idle_rss_mib",
                    "idle_rss_anon_mib", "idle_rss_file_mib", "shutdown_p50_ms", "watchers", "rate", "gpus", "conditions"):
            if key in r:
                notes.append(f"{key}={fmt(r[key], 2)}")
            if key + "_range" in r:
                lo, hi = r[key + "_range"]
                notes[-1] += f" ({fmt(lo, 2)}-{fmt(hi, 2)})"
        if "rounds" in r:
            notes.insert(0, f'median of {r["rounds"]} rounds')
        if r.get("note"):
            notes.append(r["note"])
        if r.get("first_error"):
            notes.append(f'first error: {r["first_error"]}')
        if not r.get("available", True):
            rows.append([name, "-", "-", "-", "-", "-", "-", "-", "; ".join(notes)])
            continue
        rows.append([name, str(r["concurrency"]), f'{r["ops_per_s"]:.0f}', fmt(r["p50_ms"]),
                     fmt(r["p90_ms"]), fmt(r["p99_ms"]), fmt(r["max_ms"]), str(r["errors"]),
                     "; ".join(notes) if markdown else " ".join(notes)])
    def verdict(b):
        if b["pass"] is None:
            return "not measured" if b["value"] is None else "reported"
        return "pass" if b["pass"] else "MISS"
    brows = [[b["what"], fmt(b["value"]),
              "-" if b["limit"] is None else f'{b["cmp"]} {b["limit"]}', verdict(b)]
             for b in doc["budget"]]
    bhead = ["budget", "measured", "limit", "result"]
    out = []
    for h, rs in ((head, rows), (bhead, brows)):
        if markdown:
            out.append("| " + " | ".join(h) + " |")
            out.append("|" + "|".join("---" for _ in h) + "|")
            out.extend("| " + " | ".join(r) + " |" for r in rs)
        else:
            widths = [max(len(h[i]), *(len(r[i]) for r in rs)) if rs else len(h[i])
                      for i in range(len(h) - 1)]
            line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]
            out.append(line(h))
            out.extend(line(r) for r in rs)
        out.append("")
    return "\n".join(out)


def num(v):
    """A compare figure: 3 significant digits, whole numbers from 100 up."""
    if v is None:
        return "-"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def compare_table(report):
    """The markdown table of a `device-api-bench compare --json` report: each
    server's median, then each server's ratio to the baseline, median with
    the range over the rounds, then the ratio of each round."""
    base = report["baseline"]
    labels = [s["label"] for s in report["servers"]]
    others = [l for l in labels if l != base]
    head = ["scenario", "metric"] + [f"{l} (median)" for l in labels]
    for l in others:
        head += [f"{l}/{base} median [range]", f"{l}/{base} per round"]
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" if i < 2 else "--:" for i in range(len(head))) + "|"]
    for m in report["metrics"]:
        row = [m["scenario"], m["metric"]] + [num(m["median"].get(l)) for l in labels]
        for l in others:
            r = m.get("ratio", {}).get(l)
            if not r or r["median"] is None:
                row += ["-", "-"]
                continue
            row.append(f'{num(r["median"])} [{num(r["min"])}–{num(r["max"])}]')
            row.append(" ".join(num(x) for x in r["per_round"]))
        out.append("| " + " | ".join(row) + " |")
    mach = report.get("machine", {})
    loads = ", ".join(l.split()[0] for l in mach.get("load_per_round", []))
    out.append("")
    out.append(f'{report["rounds"]} rounds on {mach.get("nproc", "?")} CPUs; load average '
               f'(1 min) before: {mach.get("load_before", "?").split()[0]}, after each round: {loads}.')
    for p in report.get("problems", []):
        out.append(f"Problem: {p}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--build-type", default="")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--update-doc", metavar="DOC")
    ap.add_argument("--compare", action="store_true")
    a = ap.parse_args()
    if a.compare:
        with open(a.input) as f:
            sys.stdout.write(compare_table(json.load(f)))
        return 0
    if a.update_doc:
        with open(a.input) as f:
            doc = json.load(f)
        m = doc.get("machine", {})
        head = (f'Run of {doc.get("generated_at", "?")} (commit {doc.get("commit", "?")}, '
                f'{doc.get("build_type") or "?"} build) on {m.get("cpus", "?")} CPUs '
                f'({m.get("cpu_model", "?")}), {m.get("memory_gib", "?")} GiB, Linux '
                f'{m.get("kernel", "?")}; load average at the end {m.get("load_average_at_end", "?")}.\n')
        block = head + "\n" + tables(doc, True)
        with open(a.update_doc) as f:
            text = f.read()
        begin = text.index("<!-- BEGIN RESULTS")
        begin = text.index("\n", begin) + 1
        end = text.index("<!-- END RESULTS -->")
        with open(a.update_doc, "w") as f:
            f.write(text[:begin] + block + text[end:])
        return 0
    if a.table or a.markdown:
        with open(a.input) as f:
            print(tables(json.load(f), a.markdown))
        return 0
    json.dump(summarize(a.input, a.build_type), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
