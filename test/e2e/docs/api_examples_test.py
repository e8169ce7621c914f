#!/usr/bin/env python3
"""Runs every grpcurl example of docs/api.md against a real device-api-server.

The page's `dapi` shell function and each line starting with `dapi ` or `grpcurl ` inside
its ```sh blocks are executed in page order, with the CreateGpu example first so the
object exists. A line whose comment names a status code (e.g. `# ABORTED: ...`) must fail
with that code; every other line must succeed. The probe port example is pointed at the
test server's probe port.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.environ["DEVICEAPI_SOURCE_DIR"]
SERVER = os.environ["DEVICE_API_SERVER_BINARY"]
GRPCURL = os.environ["GRPCURL_BINARY"]

CODES = {"ABORTED": "Aborted", "NOT_FOUND": "NotFound", "ALREADY_EXISTS": "AlreadyExists",
         "INVALID_ARGUMENT": "InvalidArgument", "OUT_OF_RANGE": "OutOfRange",
         "FAILED_PRECONDITION": "FailedPrecondition"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def examples(text):
    func, lines = None, []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            if line.startswith("dapi()"):
                func = line
            elif line.startswith("dapi ") or line.startswith("grpcurl "):
                lines.append(line)
    return func, lines


def main():
    text = open(os.path.join(SRC, "docs", "api.md")).read()
    func, lines = examples(text)
    if not func or len(lines) < 8:
        print("docs/api.md: expected the dapi function and at least 8 examples", file=sys.stderr)
        return 1
    create = [l for l in lines if l.endswith(" CreateGpu")]
    if len(create) != 1:
        print("docs/api.md: expected exactly one CreateGpu example", file=sys.stderr)
        return 1
    ordered = create + [l for l in lines if l not in create]

    tmp = tempfile.mkdtemp(prefix="api-doc-")
    sock = os.path.join(tmp, "run", "device-api.sock")
    probe = free_port()
    server = subprocess.Popen(
        [SERVER, "--bind-address", "unix://" + sock, "--metrics-bind-address", "127.0.0.1:0",
         "--health-probe-bind-address", f"127.0.0.1:{probe}", "--storage-type", "memory"],
        stderr=subprocess.DEVNULL)
    failures = 0
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        env = dict(os.environ, SOCK=sock,
                   PATH=os.path.dirname(GRPCURL) + os.pathsep + os.environ.get("PATH", ""))
        for line in ordered:
            cmd = line.replace("localhost:50051", f"127.0.0.1:{probe}")
            comment = cmd.split("#", 1)[1] if "#" in cmd else ""
            expected = next((CODES[c] for c in CODES if c in comment), None)
            r = subprocess.run(["bash", "-c", func + "\n" + cmd], env=env, capture_output=True,
                               text=True, timeout=30, cwd=SRC)
            out = r.stdout + r.stderr
            ok = (r.returncode == 0) if expected is None else (
                r.returncode != 0 and f"Code: {expected}" in out)
            print(("ok   " if ok else "FAIL ") + line)
            if not ok:
                failures += 1
                print("     exit %d: %s" % (r.returncode, out.strip()[:600]))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{len(ordered) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
