#!/usr/bin/env python3
"""deploy/systemd: the units pass `systemd-analyze verify`, are hardened, and agree with the
real binaries.

- `systemd-analyze verify` on copies whose ExecStart points at the real built binaries: exit 0
  and no warning at all (an unknown or misspelt directive is only a warning there, so any
  output fails the test);
- `systemd-analyze security --offline=true`: overall exposure at most 2.5 ("OK") for each unit;
- required settings: RuntimeDirectory for the socket directory, hardening options, restart
  policy, stop timeout covering --shutdown-grace-period, no restart on exit code 2;
- the units' own settings are Environment= defaults, not flags: ExecStart passes nothing but
  the *_ARGS variable, since a flag would win over the same variable set in
  /etc/default/<unit> (EnvironmentFile=, which overrides Environment=); every variable a unit
  sets is one its binary reads; server and provider name the same socket; the sysusers file
  creates the user and group the units run as;
- the units' SystemCallFilter= allows every system call whose libc wrapper the binary imports
  (a refused call fails with EPERM: the server's chown of its socket made it exit 2 at start).

Without systemd-analyze (a container without systemd) the test exits 77, which CTest reports
as Skipped: the only tool the deployment tests may skip for.
"""
import os
import re
import shlex
import shutil

from deploytest import SOURCE_DIR, Failures, die, run, temp_dir

F = Failures("systemd_units_test")
UNITS = os.path.join(SOURCE_DIR, "deploy", "systemd")
MAX_EXPOSURE = 2.5


def parse_unit(path):
    """{section: [(key, value)]} with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", open(path).read())
    out = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = re.match(r"\[(\w+)\]", line)
        if m:
            section = m.group(1)
            out.setdefault(section, [])
            continue
        k, _, v = line.partition("=")
        out[section].append((k.strip(), v.strip()))
    return out


def get(unit, section, key):
    vals = [v for k, v in unit.get(section, []) if k == key]
    return vals[-1] if vals else None


def seconds(text):
    total = 0.0
    for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|min|m|h)?", text):
        total += float(n) * {"ms": 0.001, "s": 1, "min": 60, "m": 60, "h": 3600, "": 1}[u]
    return total


def environment(unit):
    """{name: value} of the unit's Environment= assignments, the later one winning."""
    env = {}
    for k, v in unit.get("Service", []):
        if k == "Environment":
            for item in shlex.split(v):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def help_flags(binary):
    out = run([binary, "--help"]).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out))


def read_variables(name, binary):
    """The environment variables the binary reads: --help's (Env:X) and (env X), and for the
    provider also those its configuration code reads."""
    out = run([binary, "--help"]).stdout
    names = set(re.findall(r"\((?:Env:|env )(\w+)", out))
    if name == "nvml-provider":
        src = open(os.path.join(SOURCE_DIR, "src", "nvml", "provider_config.cc")).read()
        names |= set(re.findall(r'envor\("(\w+)"', src))
    return names


def syscall_group(analyze, name, cache={}):
    """The system calls of a systemd group (@name, expanded) or of a single call."""
    if not name.startswith("@"):
        return {name}
    if name not in cache:
        out = run([analyze, "syscall-filter", name]).stdout
        calls = set()
        for line in out.splitlines()[1:]:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            calls |= syscall_group(analyze, line) if line.startswith("@") else {line}
        cache[name] = calls
    return cache[name]


def allowed_syscalls(analyze, unit):
    """What the unit's SystemCallFilter= lines leave allowed, in systemd's order: the first
    line is the allow list, a later "~" line removes calls and a later plain line adds them
    back (systemd.exec(5))."""
    allowed = None
    for k, v in unit.get("Service", []):
        if k != "SystemCallFilter":
            continue
        deny = v.startswith("~")
        calls = set()
        for item in v.lstrip("~").split():
            calls |= syscall_group(analyze, item)
        if allowed is None:
            if deny:
                return None  # a deny list first: everything else allowed; not used here
            allowed = set(calls)
        elif deny:
            allowed -= calls
        else:
            allowed |= calls
    return allowed


def imported_syscalls(analyze, binary):
    """Names the binary imports from libc that are system calls systemd knows."""
    known = set()
    for line in run([analyze, "syscall-filter"]).stdout.splitlines():
        line = line.strip()
        if line and not line.startswith(("@", "#")):
            known.add(line)
    out = run(["nm", "-D", "--undefined-only", binary]).stdout
    names = {m.group(1) for m in re.finditer(r"\bU (\w+?)(?:@\S+)?$", out, re.M)}
    # libc functions that share a name with a system call but do not make it on Linux/x86-64
    # and arm64 (gethostname reads uname(), getpagesize the auxiliary vector), and syscall(),
    # whose calls nm cannot name.
    return (names & known) - {"gethostname", "getpagesize", "syscall"}


def main():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("SKIPPED: systemd-analyze is not available on this machine; the units were not "
              "verified (install the Debian package systemd to run this test)")
        raise SystemExit(77)
    binaries = {"device-api-server": os.environ.get("DEVICE_API_SERVER_BINARY", ""),
                "nvml-provider": os.environ.get("NVML_PROVIDER_BINARY", "")}
    for name, path in binaries.items():
        if not os.access(path, os.X_OK):
            die("%s binary %r is not built; the test checks the units against it" % (name, path))

    tmp = temp_dir("systemd-units-")
    units = {}
    for name in binaries:
        src = os.path.join(UNITS, name + ".service")
        if not F.check(os.path.isfile(src), "%s missing" % src):
            continue
        units[name] = parse_unit(src)
        text = open(src).read().replace("/usr/local/bin/" + name, binaries[name])
        with open(os.path.join(tmp, name + ".service"), "w") as f:
            f.write(text)

    p = run([analyze, "verify"] + [os.path.join(tmp, n + ".service") for n in units], check=False,
            cwd=tmp)
    F.check(p.returncode == 0 and not (p.stdout + p.stderr).strip(),
            "systemd-analyze verify: rc=%d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    for n in units:
        p = run([analyze, "security", "--offline=true", os.path.join(tmp, n + ".service")],
                check=False, cwd=tmp)
        m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", p.stdout)
        F.check(m is not None, "%s: no exposure level from systemd-analyze security:\n%s%s" %
                (n, p.stdout[-2000:], p.stderr))
        if m:
            print("%s: systemd-analyze security exposure %s" % (n, m.group(1)))
            F.check(float(m.group(1)) <= MAX_EXPOSURE, "%s: exposure %s > %s" %
                    (n, m.group(1), MAX_EXPOSURE))

    for n, u in units.items():
        for key, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                          ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                          ("RestrictSUIDSGID", "yes"), ("CapabilityBoundingSet", "")):
            F.check(get(u, "Service", key) == want, "%s: %s=%s expected" % (n, key, want))
        F.check(get(u, "Service", "Restart") in ("on-failure", "always"),
                "%s: Restart policy missing" % n)
        F.check(get(u, "Service", "User") not in (None, "root"), "%s: must not run as root" % n)
        F.check(get(u, "Install", "WantedBy") == "multi-user.target", "%s: WantedBy" % n)
        exec_start = get(u, "Service", "ExecStart") or ""
        known = help_flags(binaries[n])
        for flag in re.findall(r"(--[a-z][a-z0-9-]*)", exec_start):
            F.check(flag in known, "%s: ExecStart passes %s, which %s --help does not list" %
                    (n, flag, n))
        args_var = n.upper().replace("-", "_") + "_ARGS"
        F.check(exec_start.split()[1:] == ["$" + args_var],
                "%s: ExecStart must pass only $%s (a flag there would win over its variable in "
                "/etc/default/%s): %s" % (n, args_var, n, exec_start))
        F.check(get(u, "Service", "EnvironmentFile") == "-/etc/default/" + n,
                "%s: EnvironmentFile=-/etc/default/%s expected" % (n, n))
        for var, value in environment(u).items():
            F.check(not value.startswith("0.0.0.0:"),
                    "%s: %s=%s listens on IPv4 only: use :<port> (both families)" % (n, var, value))
        readable = read_variables(n, binaries[n])
        for var in environment(u):
            F.check(var == args_var or var in readable,
                    "%s: Environment= sets %s, which %s does not read" % (n, var, n))

    for n, u in units.items():
        allowed = allowed_syscalls(analyze, u)
        if not F.check(allowed is not None, "%s: SystemCallFilter= allow list expected" % n):
            continue
        refused = sorted(imported_syscalls(analyze, binaries[n]) - allowed)
        F.check(not refused, "%s: SystemCallFilter= refuses %s, which the binary calls" %
                (n, ", ".join(refused)))

    s = units.get("device-api-server")
    if s:
        F.check(get(s, "Service", "RuntimeDirectory") == "nvidia-device-api",
                "server: RuntimeDirectory=nvidia-device-api expected")
        F.check(get(s, "Service", "RuntimeDirectoryMode") == "0750", "server: RuntimeDirectoryMode")
        # S24: the database lives in the StateDirectory, the one place ProtectSystem=strict
        # leaves writable for it.
        F.check(get(s, "Service", "StateDirectory") == "nvidia-device-api",
                "server: StateDirectory=nvidia-device-api expected")
        senv = environment(s)
        F.check(senv.get("DEVICE_API_STORAGE_TYPE") == "sqlite",
                "server: DEVICE_API_STORAGE_TYPE=sqlite expected")
        db = re.match(r"sqlite://(\S+)$", senv.get("DEVICE_API_STORAGE_ENDPOINT", ""))
        F.check(db and db.group(1).startswith("/var/lib/nvidia-device-api/"),
                "server: the database must live in the StateDirectory")
        sock = re.match(r"unix://(\S+)$", senv.get("DEVICE_API_BIND_ADDRESS", ""))
        F.check(sock and sock.group(1).startswith("/run/nvidia-device-api/"),
                "server: socket must live in the RuntimeDirectory")
        grace = senv.get("DEVICE_API_SHUTDOWN_GRACE_PERIOD")
        stop = get(s, "Service", "TimeoutStopSec")
        F.check(grace and stop and seconds(stop) >= seconds(grace) + 5,
                "server: TimeoutStopSec %s must exceed DEVICE_API_SHUTDOWN_GRACE_PERIOD %s by 5s" %
                (stop, grace))
        F.check("2" in (get(s, "Service", "RestartPreventExitStatus") or "").split(),
                "server: exit code 2 (configuration error) must not restart")
        group = senv.get("DEVICE_API_SOCKET_GROUP")
        sysusers = open(os.path.join(UNITS, "nvidia-device-api.sysusers.conf")).read()
        F.check(group and re.search(r"^g\s+%s\b" % re.escape(group), sysusers, re.M),
                "server: DEVICE_API_SOCKET_GROUP must be a group the sysusers file creates")
        F.check(re.search(r"^u\s+%s\b" % re.escape(get(s, "Service", "User")), sysusers, re.M),
                "server: User must be created by the sysusers file")
        p = units.get("nvml-provider")
        if p and sock:
            F.check(environment(p).get("DEVICE_API_SERVER") == "unix://" + sock.group(1),
                    "provider: DEVICE_API_SERVER must name the server's socket unix://%s" %
                    sock.group(1))
            F.check("device-api-server.service" in (get(p, "Unit", "After") or ""),
                    "provider: After=device-api-server.service expected")
    F.finish()


if __name__ == "__main__":
    main()
