#!/usr/bin/env python3
"""bench/summarize.py: repeated rounds of a scenario collapse into one row,
the run with the median ratio, and the budget is checked on the median."""
import importlib.util
import json
import os
import tempfile
import unittest

SOURCE = os.environ.get("DEVICEAPI_SOURCE_DIR",
                        os.path.join(os.path.dirname(__file__), "..", "..", ".."))
spec = importlib.util.spec_from_file_location(
    "summarize", os.path.join(SOURCE, "bench", "summarize.py"))
summarize = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summarize)


def run(scenario, conc, ops, p50, **extra):
    r = {"scenario": scenario, "op": scenario, "concurrency": conc, "ops_per_s": ops,
         "p50_ms": p50, "p90_ms": p50, "p99_ms": p50, "max_ms": p50, "errors": 0}
    r.update(extra)
    return r


class MedianRounds(unittest.TestCase):
    def rounds(self):
        out = []
        # Round 2 is disturbed: its get ratio is the outlier.
        for noop_ops, get_ratio in ((20000, 1.05), (9000, 1.90), (19000, 1.10)):
            out.append(run("noop", 1, noop_ops, 0.05))
            out.append(run("get", 1, noop_ops * 0.9, 0.05 * get_ratio,
                           p50_vs_noop=get_ratio, throughput_vs_noop=0.9))
        return out

    def test_rounds_become_one_row_with_the_median_ratio(self):
        merged = summarize.median_runs(self.rounds())
        self.assertEqual([r["scenario"] for r in merged], ["noop", "get"])
        get = merged[1]
        self.assertEqual(get["rounds"], 3)
        self.assertAlmostEqual(get["p50_vs_noop"], 1.10)
        self.assertEqual(get["p50_vs_noop_range"], [1.05, 1.90])
        self.assertAlmostEqual(merged[0]["ops_per_s"], 19000)  # median noop throughput

    def test_budget_uses_the_median(self):
        checks = {c["what"]: c for c in summarize.budget(self.rounds())}
        check = checks["get p50 / noop p50 (c=1)"]
        self.assertAlmostEqual(check["value"], 1.10)
        self.assertTrue(check["pass"])

    def test_runs_with_other_notes_stay_apart(self):
        startup = [run("startup", 1, 8, 14.0, idle_rss_mib=20.4),
                   run("startup", 1, 3, 14.5, idle_rss_mib=20.8, note="server args: --x")]
        self.assertEqual(len(summarize.median_runs(startup)), 2)

    def test_errors_of_every_round_count(self):
        rounds = self.rounds()
        rounds[3]["errors"] = 2  # the disturbed round's get
        get = summarize.median_runs(rounds)[1]
        self.assertEqual(get["errors"], 2)

    def test_table_names_the_rounds(self):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for r in self.rounds():
                f.write(json.dumps(r) + "\n")
        try:
            doc = summarize.summarize(f.name, "Release")
        finally:
            os.unlink(f.name)
        table = summarize.tables(doc, markdown=False)
        self.assertIn("median of 3 rounds", table)
        self.assertIn("p50_vs_noop=1.10 (1.05-1.90)", table)


class CompareTable(unittest.TestCase):
    def test_medians_ratio_range_and_rounds(self):
        report = {
            "baseline": "nvs", "rounds": 2,
            "servers": [{"label": "ours"}, {"label": "nvs"}],
            "machine": {"nproc": 2, "load_before": "1.5 1.0 0.5",
                        "load_per_round": ["2.0 1.1 0.6", "3.0 1.2 0.7"]},
            "metrics": [
                {"scenario": "get", "metric": "p50 ms (1 client)",
                 "median": {"ours": 0.1, "nvs": 0.25},
                 "ratio": {"ours": {"median": 0.45, "min": 0.4, "max": 0.5,
                                    "per_round": [0.4, 0.5]}}},
                {"scenario": "burst", "metric": "events lost",
                 "median": {"ours": 0, "nvs": 0},
                 "ratio": {"ours": {"median": None, "min": None, "max": None,
                                    "per_round": [None, None]}}},
            ],
            "problems": [],
        }
        out = summarize.compare_table(report)
        self.assertIn("| scenario | metric | ours (median) | nvs (median) | "
                      "ours/nvs median [range] | ours/nvs per round |", out)
        self.assertIn("| get | p50 ms (1 client) | 0.1 | 0.25 | 0.45 [0.4–0.5] | 0.4 0.5 |", out)
        self.assertIn("| burst | events lost | 0 | 0 | - | - |", out)
        self.assertIn("load average (1 min) before: 1.5, after each round: 2.0, 3.0", out)


if __name__ == "__main__":
    unittest.main()
