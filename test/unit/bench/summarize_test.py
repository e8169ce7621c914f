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


class DurableAgainstMemory(unittest.TestCase):
    """The sqlite/memory budgets divide each round's sqlite run by the same
    round's memory run, never runs of different rounds."""

    def rounds(self):
        out = []
        # Round 3's machine is twice as slow: both backends' p50 double. The
        # median ratio to noop is memory's round 1 and sqlite's round 3.
        for slow, ratios, ops in ((1.0, (1.35, 1.50), (25000, 16000)),
                                  (1.0, (1.40, 1.70), (20000, 11000)),
                                  (2.0, (1.30, 1.60), (30000, 15000))):
            for storage, upd_ratio, upd_ops in (("memory", ratios[0], ops[0]), ("sqlite", ratios[1], ops[1])):
                noop_p50 = 0.1 * slow
                out.append(run("noop", 1, 10000 / slow, noop_p50, storage=storage))
                out.append(run("update-status", 1, 8000 / slow, noop_p50 * upd_ratio,
                               storage=storage, p50_vs_noop=upd_ratio))
                out.append(run("update-status", 8, upd_ops, 0.3 * slow, storage=storage))
        return out

    def test_ratios_pair_the_rounds(self):
        checks = {c["what"]: c for c in summarize.budget(self.rounds())}
        p50 = checks["update-status p50, sqlite / memory (c=1)"]
        # Per round 1.50/1.35, 1.70/1.40, 1.60/1.30; the median runs alone
        # would divide round 3's sqlite p50 by round 1's memory p50 (2.37).
        self.assertAlmostEqual(p50["value"], 1.70 / 1.40)
        self.assertTrue(p50["pass"])
        # Per round 0.64, 0.55, 0.50; the medians alone: 15000 / 25000 = 0.6.
        ops = checks["update-status ops/s, sqlite / memory (c=8)"]
        self.assertAlmostEqual(ops["value"], 0.55)
        self.assertFalse(ops["pass"])

    def test_unpaired_runs_fall_back_to_the_median_runs(self):
        rounds = self.rounds()[:-3]  # round 3 has no sqlite run
        checks = {c["what"]: c for c in summarize.budget(rounds)}
        self.assertIsNotNone(checks["update-status p50, sqlite / memory (c=1)"]["value"])


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
