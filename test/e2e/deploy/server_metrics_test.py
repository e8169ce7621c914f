#!/usr/bin/env python3
"""The real device-api-server's /metrics against promtool, the dashboard and the alerts.

1. Starts the built server on a temporary socket with ephemeral ports, drives a few calls
   through the built devicectl (create a GPU, mark it unhealthy, list, a NotFound), so that
   gRPC histograms and GPU condition series exist, and scrapes /metrics.
2. `promtool check metrics` on that scrape: no parse or lint problem.
3. Every PromQL expression in deploy/grafana/*.json and in the alert rules parses (promtool
   checks it inside a rule file) and uses only metric names that really exist: device-api-server
   names must be families of the real scrape; nvml-provider names must be families the provider
   registers (its scrape when a provider binary is given, else its sources); `up` is Prometheus'.
4. The alert rules' series labels the server really emits (grpc_type, grpc_code values, the
   GPU condition labels) are present in the scrape.
5. The built nvml-provider, on the fake NVML with 2 simulated GPUs, registers them with that
   server; its /metrics passes `promtool check metrics`, its last-sync timestamp (what
   NvmlProviderNotSyncing watches) becomes recent, and its families are the ones the
   dashboard and alerts may use.
"""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from deploytest import (SOURCE_DIR, Failures, binary, die, run, temp_dir, tool)

F = Failures("server_metrics_test")

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2"}
PROMETHEUS_BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def metric_names(expr):
    """Metric names an expression selects (functions, keywords, labels and durations excluded)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # string literals
    e = re.sub(r"\{[^}]*\}", " ", e)                          # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                         # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def families(text):
    """Metric family name -> type, from the # TYPE lines of a Prometheus text scrape."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def family_of(name, fams):
    if name in fams:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and fams.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return None


def provider_families(scrape=None):
    """Families nvml-provider registers: from a real scrape when given, else its source strings."""
    if scrape is not None:
        return families(scrape)
    names = set()
    for path in glob.glob(os.path.join(SOURCE_DIR, "src", "nvml", "*.[ch]*")) + \
            glob.glob(os.path.join(SOURCE_DIR, "cmd", "nvml-provider", "*.c*")):
        with open(path) as f:
            names |= set(re.findall(r'"(nvml_provider_[a-z0-9_]+)"', f.read()))
    return {n: "unknown" for n in names}


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    die("timed out after %ss waiting for %s" % (timeout, what))


class Server:
    def __init__(self, path, tmp):
        self.sock = os.path.join(tmp, "api.sock")
        self.log_path = os.path.join(tmp, "server.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [path, "--bind-address=unix://" + self.sock,
             "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=127.0.0.1:0",
             "--shutdown-grace-period=5s",
             # The durable backend, so its storage metrics are scraped too.
             "--storage-type=sqlite", "--storage-endpoint=sqlite://" + os.path.join(tmp, "state.db")],
            stdout=self.log, stderr=subprocess.STDOUT)
        started = wait_for(self._started, 20, "the 'device-api-server started' log line")
        self.metrics = started["metrics"]

    def _started(self):
        if self.proc.poll() is not None:
            die("server exited %d:\n%s" % (self.proc.returncode, open(self.log_path).read()))
        for line in open(self.log_path):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") == "device-api-server started":
                return rec
        return None

    def scrape(self):
        return urllib.request.urlopen("http://%s/metrics" % self.metrics, timeout=5).read().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            die("server did not stop within 15 s of SIGTERM")
        F.check(rc == 0, "server exited %d on SIGTERM" % rc)


def gauge(text, name):
    m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def run_provider(provider, driver_root, server, tmp):
    """Starts nvml-provider on the fake NVML against `server`; returns its scrape once it has
    registered both simulated GPUs and completed a sync."""
    env = dict(os.environ, NVIDIA_DRIVER_ROOT=driver_root, FAKE_NVML_GPUS="2")
    log_path = os.path.join(tmp, "provider.log")
    log = open(log_path, "w")
    # Port 0: the provider picks a free port and logs it ("admin listening ... port=N").
    proc = subprocess.Popen([provider, "--server", "unix://" + server.sock,
                             "--admin-address", "127.0.0.1:0", "--reconcile-interval", "1s"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = None

    def synced():
        nonlocal url
        if proc.poll() is not None:
            die("nvml-provider exited %d:\n%s" % (proc.returncode, open(log_path).read()[-3000:]))
        if url is None:
            m = re.search(r"admin listening\b.*\bport=(\d+)", open(log_path).read())
            if not m:
                return None
            url = "http://127.0.0.1:%s/metrics" % m.group(1)
        try:
            text = urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            return None
        ts = gauge(text, "nvml_provider_last_successful_sync_timestamp_seconds")
        objects = gauge(server.scrape(), "device_apiserver_store_objects")
        return text if ts and ts > 0 and objects is not None and objects >= 3 else None
    try:
        text = wait_for(synced, 30, "nvml-provider to register 2 fake GPUs and sync")
        ts = gauge(text, "nvml_provider_last_successful_sync_timestamp_seconds")
        F.check(abs(time.time() - ts) < 60, "provider last sync timestamp %s is not recent" % ts)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
            F.check(rc == 0, "nvml-provider exited %d on SIGTERM" % rc)
        except subprocess.TimeoutExpired:
            proc.kill()
            F.check(False, "nvml-provider did not stop within 15 s of SIGTERM")
    return text


def drive_calls(devicectl, sock, tmp):
    """A few real calls so that per-method and per-condition series exist."""
    base = [devicectl, "--server", "unix://" + sock]
    gpu = {"metadata": {"name": "gpu-0"},
           "spec": {"uuid": "GPU-12345678-1234-1234-1234-123456789abc"}}
    path = os.path.join(tmp, "gpu.json")
    with open(path, "w") as f:
        json.dump(gpu, f)
    for args, want_ok in ((["create", "-f", path], True),
                          (["set-condition", "gpu", "gpu-0", "NVMLReady=False", "--reason", "XidError",
                            "--message", "injected by the metrics test"], True),
                          (["get", "gpus"], True),
                          (["get", "gpus", "no-such-gpu"], False)):
        p = run(base + args, check=False)
        F.check((p.returncode == 0) == want_ok,
                "devicectl %s: rc=%d %s" % (" ".join(args), p.returncode, p.stderr.strip()[:200]))


def exprs_from_dashboard(path):
    with open(path) as f:
        dash = json.load(f)
    out = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "expr" and isinstance(v, str):
                    out.append(v)
                elif k == "definition" and isinstance(v, str) and v.startswith("label_values("):
                    inner = v[len("label_values("):].rsplit(",", 1)[0]
                    out.append(inner)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(dash)
    return out


def grafana_to_promql(expr):
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
            .replace("$__range", "1h").replace('=~"$instance"', '=~".*"')
            .replace('=~"$provider_instance"', '=~".*"').replace('=~"$condition"', '=~"NVMLReady"'))


def promtool_parses(exprs, tmp):
    """promtool check rules on a file with one recording rule per expression."""
    import yaml
    path = os.path.join(tmp, "exprs.rules.yaml")
    rules = [{"record": "check:expr_%d" % i, "expr": e} for i, e in enumerate(exprs)]
    with open(path, "w") as f:
        yaml.safe_dump({"groups": [{"name": "exprs", "rules": rules}]}, f)
    p = run([tool("promtool"), "check", "rules", path], check=False)
    return p.returncode == 0, p.stdout + p.stderr


def main():
    server_bin = binary("DEVICE_API_SERVER_BINARY")
    devicectl = os.environ.get("DEVICECTL_BINARY", "")
    tmp = temp_dir("server-metrics-test-")

    # The checker itself must catch what it is there to catch.
    F.check(metric_names('sum by (le) (rate(foo_seconds_bucket{a="b"}[5m])) / on (x) bar > 0.5')
            == {"foo_seconds_bucket", "bar"}, "metric_names() self-test failed")

    provider_bin = binary("NVML_PROVIDER_BINARY")
    driver_root = os.environ.get("FAKE_NVML_DRIVER_ROOT", "")
    if not os.path.isfile(os.path.join(driver_root, "usr", "lib64", "libnvidia-ml.so.1")):
        die("FAKE_NVML_DRIVER_ROOT=%r holds no usr/lib64/libnvidia-ml.so.1: build fake_nvml" %
            driver_root)

    server = Server(server_bin, tmp)
    try:
        if devicectl and os.access(devicectl, os.X_OK):
            drive_calls(devicectl, server.sock, tmp)
        else:
            die("DEVICECTL_BINARY=%r is not built: the test needs it to create series" % devicectl)
        provider_text = run_provider(provider_bin, driver_root, server, tmp)
        text = server.scrape()
    finally:
        server.stop()
    with open(os.path.join(tmp, "provider-metrics.txt"), "w") as f:
        f.write(provider_text)
    p = subprocess.run([tool("promtool"), "check", "metrics"], input=provider_text,
                       capture_output=True, text=True)
    F.check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
            "promtool check metrics (provider): rc=%d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    with open(os.path.join(tmp, "metrics.txt"), "w") as f:
        f.write(text)

    # 2. promtool's parser and linter.
    p = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True,
                       text=True)
    F.check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
            "promtool check metrics: rc=%d\n%s%s" % (p.returncode, p.stdout, p.stderr))

    fams = families(text)
    print("scraped %d families from the real server" % len(fams))
    for required in ("grpc_server_started_total", "grpc_server_handled_total",
                     "grpc_server_handling_seconds", "device_apiserver_build_info",
                     "device_apiserver_ready", "device_apiserver_gpus",
                     "device_apiserver_watchers_evicted_total"):
        F.check(required in fams, "family %s missing from the scrape" % required)
    F.check(fams.get("grpc_server_handling_seconds") == "histogram",
            "grpc_server_handling_seconds is not a histogram")
    # Label values the alert rules select on.
    F.check(re.search(r'grpc_server_handling_seconds_bucket\{[^}]*grpc_type="unary"', text),
            'no grpc_type="unary" histogram series after unary calls')
    F.check(re.search(r'grpc_server_handled_total\{[^}]*grpc_code="NotFound"', text),
            'grpc_code is not spelt as the alerts expect (e.g. "NotFound")')
    F.check(re.search(r'device_apiserver_gpus\{[^}]*condition="NVMLReady"[^}]*status="False"[^}]*\} 1',
                      text) or re.search(r'device_apiserver_gpus\{status="False",condition="NVMLReady"\} 1', text),
            "device_apiserver_gpus does not count the GPU marked NVMLReady=False")

    # 3. Dashboard and alert expressions.
    import yaml
    exprs = []
    for path in sorted(glob.glob(os.path.join(SOURCE_DIR, "deploy", "grafana", "*.json"))):
        exprs += [(os.path.basename(path), grafana_to_promql(e)) for e in exprs_from_dashboard(path)]
    rules_path = os.path.join(SOURCE_DIR, "deploy", "prometheus", "device-api-server.rules.yaml")
    with open(rules_path) as f:
        for g in yaml.safe_load(f)["groups"]:
            for r in g["rules"]:
                exprs.append(("alert " + r.get("alert", r.get("record", "?")), r["expr"]))
    F.check(len(exprs) >= 20, "expected the dashboard and rules to hold >= 20 expressions")
    ok, out = promtool_parses([e for _, e in exprs], tmp)
    F.check(ok, "promtool cannot parse a dashboard/alert expression:\n" + out)

    prov = provider_families(provider_text)
    print("scraped %d families from the real provider" % len(prov))
    used = set()
    for where, e in exprs:
        for name in metric_names(e):
            used.add(name)
            if name in PROMETHEUS_BUILTIN:
                continue
            if name.startswith("nvml_provider_"):
                F.check(family_of(name, prov) or name in prov,
                        "%s uses %s, which nvml-provider does not export" % (where, name))
            else:
                F.check(family_of(name, fams) is not None,
                        "%s uses %s, which device-api-server does not export" % (where, name))
    print("expressions: %d, metric names used: %s" % (len(exprs), ", ".join(sorted(used))))
    F.finish()


if __name__ == "__main__":
    main()
