"""Small helpers shared by the deployment tests (test/e2e/deploy/*_test.py).

Each test is a plain script run by CTest: it prints what it checked and exits non-zero on the
first group of failures. Paths come from the environment CTest sets (see CMakeLists.txt):
  DEVICEAPI_SOURCE_DIR  repository root
  DEVICEAPI_TOOLS_DIR   where scripts/install-test-tools.sh put helm, kubeconform, schemas
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE_DIR = os.environ.get("DEVICEAPI_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TOOLS_DIR = os.environ.get("DEVICEAPI_TOOLS_DIR") or os.path.join(SOURCE_DIR, "build", "tools")
CHART = os.path.join(SOURCE_DIR, "deploy", "helm", "device-api-server")
KUBE_VERSION = "1.34.2"


class Failures:
    """Collects failures so one run reports all of them, then exits non-zero."""

    def __init__(self, name):
        self.name = name
        self.items = []
        self.checks = 0

    def check(self, ok, message):
        self.checks += 1
        if not ok:
            self.items.append(message)
            print("FAIL: " + message, flush=True)
        return ok

    def finish(self):
        if self.items:
            print("%s: %d of %d checks failed" % (self.name, len(self.items), self.checks))
            if _TEMP_DIRS:
                print("kept for inspection: " + " ".join(_TEMP_DIRS))
            sys.exit(1)
        print("%s: all %d checks passed" % (self.name, self.checks))
        _cleanup()
        sys.exit(0)


def die(message):
    print("FATAL: " + message, flush=True)
    sys.exit(1)


def tool(name):
    """A tool installed by scripts/install-test-tools.sh (or on PATH). Missing = fatal."""
    for candidate in (os.path.join(TOOLS_DIR, "bin", name), shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    die("%s not found in %s/bin or on PATH: run scripts/install-test-tools.sh" % (name, TOOLS_DIR))


def run(args, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        die("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(args), p.returncode,
                                                          p.stdout[-4000:], p.stderr[-4000:]))
    return p


def helm_template(sets=(), release="device-api-server", namespace="nvidia-device-api",
                  values_files=(), show_only=None, check=True):
    args = [tool("helm"), "template", release, CHART, "--namespace", namespace,
            "--kube-version", KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
    for f in values_files:
        args += ["-f", f]
    if show_only:
        args += ["--show-only", show_only]
    return run(args, check=check)


def load_yaml_docs(text):
    import yaml
    return [d for d in yaml.safe_load_all(text) if d]


def binary(env_name):
    """Path of a project binary CTest passes in the environment; fatal when missing."""
    path = os.environ.get(env_name, "")
    if not path or not os.access(path, os.X_OK):
        die("%s=%r: the binary is not built (build the target first; this test needs the real "
            "binary and does not skip)" % (env_name, path))
    return path


_TEMP_DIRS = []


def temp_dir(prefix):
    """A fresh directory, removed at exit when the test passed (kept for a look otherwise)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _TEMP_DIRS.append(d)
    return d


def _cleanup():
    for d in _TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)


def markdown_anchors(path):
    """GitHub-style anchors of every heading in a Markdown file."""
    anchors = set()
    with open(path) as f:
        in_code = False
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            if in_code:
                continue
            m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
            if not m:
                continue
            text = m.group(1).lower()
            text = re.sub(r"[^\w\- ]", "", text)
            anchors.add(text.replace(" ", "-"))
    return anchors
