#!/usr/bin/env python3
"""The alert rules: promtool check + promtool unit tests + runbook links.

- `promtool check rules` on deploy/prometheus/device-api-server.rules.yaml;
- `promtool test rules` with test/e2e/deploy/alerts.test.yaml (synthetic series: each alert
  fires where it must and stays silent beside it and before its `for:`);
- every alert is exercised by that unit test file;
- every alert has severity, summary, description and a runbook_url ending in
  #alert-<name in lower case>, and docs/operations.md has that section.
"""
import os
import shutil

import yaml

from deploytest import SOURCE_DIR, Failures, markdown_anchors, run, temp_dir, tool

F = Failures("alert_rules_test")
RULES = os.path.join(SOURCE_DIR, "deploy", "prometheus", "device-api-server.rules.yaml")
UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "alerts.test.yaml")
DOC = os.path.join(SOURCE_DIR, "docs", "operations.md")
REQUIRED_ALERTS = {"DeviceApiServerDown", "DeviceApiServerNotReady",
                   "DeviceApiServerStorageUnavailable", "DeviceApiServerHighLatency",
                   "DeviceApiServerErrors", "DeviceApiServerWatchersEvicted",
                   "DeviceApiServerGpuUnhealthy", "DeviceApiServerGpuActionRequired",
                   "DeviceApiServerProviderLeaseExpired", "NvmlProviderNotSyncing"}


def main():
    promtool = tool("promtool")
    p = run([promtool, "check", "rules", RULES], check=False)
    F.check(p.returncode == 0, "promtool check rules:\n" + p.stdout + p.stderr)

    tmp = temp_dir("alert-rules-")
    shutil.copy(RULES, tmp)
    shutil.copy(UNIT, tmp)
    p = run([promtool, "test", "rules", os.path.basename(UNIT)], check=False, cwd=tmp)
    F.check(p.returncode == 0, "promtool test rules:\n" + p.stdout + p.stderr)
    print(p.stdout.strip())

    with open(RULES) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r]
    with open(UNIT) as f:
        unit = yaml.safe_load(f)
    tested_firing = set()
    tested_silent = set()
    for t in unit["tests"]:
        for a in t.get("alert_rule_test", []):
            (tested_firing if a.get("exp_alerts") else tested_silent).add(a["alertname"])
    names = {r["alert"] for r in rules}
    F.check(REQUIRED_ALERTS <= names, "alerts missing: %s" % sorted(REQUIRED_ALERTS - names))
    anchors = markdown_anchors(DOC) if os.path.isfile(DOC) else set()
    F.check(bool(anchors), "docs/operations.md missing or without headings")
    for r in rules:
        name = r["alert"]
        F.check(name in tested_firing, "%s: no unit test where it fires" % name)
        F.check(name in tested_silent, "%s: no unit test where it stays silent" % name)
        F.check(r.get("labels", {}).get("severity") in ("critical", "warning", "info"),
                "%s: severity label missing" % name)
        ann = r.get("annotations", {})
        F.check(ann.get("summary") and ann.get("description"), "%s: summary/description" % name)
        url = ann.get("runbook_url", "")
        want = "alert-" + name.lower()
        F.check(url.endswith("#" + want), "%s: runbook_url %r does not link #%s" % (name, url, want))
        F.check(want in anchors, "%s: docs/operations.md has no section with anchor #%s" %
                (name, want))
    F.finish()


if __name__ == "__main__":
    main()
