#!/usr/bin/env python3
"""The Dockerfiles of deploy/docker, checked without a container engine.

For each image (server; provider when its binary is built):
- every COPY from the build context names a path that exists in the tree and that the
  Dockerfile's .dockerignore does not exclude;
- every COPY --from=build names the path where the real CMake build puts that target
  (the binary passed in by CTest, relative to the build tree), and the same path is what the
  build stage builds (--target) and strips;
- every package the Dockerfile installs exists in Debian 12 (apt-cache on this Debian 12
  machine);
- the runtime stage installs exactly the packages that provide the shared libraries the real
  binary links (ldd + dpkg -S), apart from those every Debian 12 base image has;
- the build stage has every library -dev package scripts/install-deps.sh lists (tests aside);
- EXPOSE equals the ports the real binary listens on by default (its --help), USER is
  non-root 65534, ENTRYPOINT is the copied binary, and VERSION/COMMIT/BUILD_DATE build args
  reach the CMake cache variables cmake/BuildInfo.cmake defines.

For the Go image (device-api-k8s-bridge, built from clients/go):
- the golang builder image is at least the go (and toolchain) directive of go.mod, and
  modules come from the Go module proxy;
- every COPY from the build context exists, lies in the Go module and is not excluded by the
  .dockerignore; the command built (CGO_ENABLED=0) is a main package of the module, and its
  -o output is what the final stage copies;
- the final stage is the same Debian 12 base as the other images and installs nothing;
  EXPOSE is the chart's k8sBridge.healthPort, USER 65534, ENTRYPOINT the copied binary.
"""
import fnmatch
import os
import re
import shlex

from deploytest import SOURCE_DIR, Failures, die, run

F = Failures("dockerfiles_test")
DOCKER_DIR = os.path.join(SOURCE_DIR, "deploy", "docker")
# Packages of every debian:12(-slim) image (Essential/Required, and apt's own dependencies).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libzstd1", "liblzma5", "libbz2-1.0",
                 "libsystemd0", "libcap2", "liblz4-1", "libgcrypt20", "libgpg-error0",
                 "libselinux1", "libpcre2-8-0", "libmd0", "libacl1", "libattr1", "libcrypt1",
                 "libaudit1", "libseccomp2", "libudev1", "libxxhash0", "libgnutls30"}
# Test-only: GoogleTest, Google Benchmark, and the libFuzzer runtime the fuzz suite links.
TEST_ONLY_DEV = {"libgtest-dev", "libgmock-dev", "libbenchmark-dev", "libclang-rt-dev"}
# A sanitizer build (the CI's ASan+UBSan suite) links these; release images never do.
SANITIZER_RUNTIME = re.compile(r"^lib(asan|ubsan|tsan|lsan|hwasan)\d+$")


def copy_instructions(instrs):
    """Yields (stage, sources, destination, --from stage or None) of each COPY."""
    for stage, instr, rest in instrs:
        if instr != "COPY":
            continue
        words = rest.split()
        flags = [w for w in words if w.startswith("--")]
        args = [w for w in words if not w.startswith("--")]
        frm = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        yield stage, args[:-1], args[-1], frm


def parse_dockerfile(path):
    """Instructions as (stage name, instruction, argument text), continuation lines joined."""
    text = open(path).read()
    text = re.sub(r"\\\n", " ", text)
    stages = []
    out = []
    stage = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.search(r"\bAS\s+(\S+)", rest, re.I)
            stage = m.group(1) if m else "stage%d" % len(stages)
            stages.append(stage)
        out.append((stage, instr, rest.strip()))
    return stages, out


def apt_packages(run_text):
    pkgs = []
    for cmd in re.split(r"&&|;", run_text):
        words = shlex.split(cmd)
        if "apt-get" in words and "install" in words:
            for w in words[words.index("install") + 1:]:
                if not w.startswith("-"):
                    pkgs.append(w)
    return pkgs


def dockerignore_patterns(dockerfile):
    path = dockerfile + ".dockerignore"
    if not os.path.isfile(path):
        return []
    return [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]


def _dockerignore_regex(pattern):
    """A .dockerignore pattern as a regular expression over slash-separated paths: * and ?
    stay within one path element, ** spans any number of them (Go's filepath.Match plus **)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def ignored(rel, patterns):
    """Whether the .dockerignore excludes rel. As Docker does: a pattern matches a path or any
    of its parent directories, "!" re-includes, and the last matching pattern decides."""
    parts = rel.strip("/").split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for p in patterns:
        negate = p.startswith("!")
        rx = _dockerignore_regex((p[1:] if negate else p).strip("/"))
        if any(rx.match(x) for x in prefixes):
            excluded = not negate
    return excluded


def debian12():
    try:
        osr = open("/etc/os-release").read()
    except OSError:
        return False
    return 'VERSION_ID="12"' in osr and "debian" in osr


def packages_owning(paths):
    """{path: Debian package} for the given files, with one dpkg -S call per lookup round
    (merged /usr means a library may be registered under /lib or /usr/lib)."""
    owners = {}
    for variant in (lambda p: p, os.path.realpath,
                    lambda p: os.path.realpath(p).replace("/usr/lib/", "/lib/", 1),
                    lambda p: os.path.realpath(p).replace("/lib/", "/usr/lib/", 1)):
        todo = {variant(p): p for p in paths if p not in owners}
        if not todo:
            break
        out = run(["dpkg", "-S"] + sorted(todo), check=False).stdout
        for line in out.splitlines():
            pkg, _, path = line.partition(": ")
            if path.strip() in todo:
                owners[todo[path.strip()]] = pkg.split(":")[0].split(",")[0].strip()
    return owners


def linked_packages(binary):
    p = run(["ldd", binary])
    libs = [m.group(1) for m in (re.search(r"=>\s+(/\S+)", l) for l in p.stdout.splitlines()) if m]
    owners = packages_owning(libs)
    pkgs = {}
    for lib in libs:
        pkg = owners.get(lib)
        F.check(pkg is not None, "%s: no Debian package owns %s" % (binary, lib))
        if pkg:
            pkgs.setdefault(pkg, []).append(os.path.basename(lib))
    return pkgs


def debian_packages(names):
    """The subset of `names` that apt knows (one apt-cache call: it is slow per call)."""
    out = run(["apt-cache", "show", "--no-all-versions"] + sorted(set(names)), check=False).stdout
    return set(re.findall(r"^Package: (\S+)$", out, re.M))


def default_ports(binary):
    """Ports of the TCP listeners a binary has by default, from its --help defaults."""
    p = run([binary, "--help"])
    pat = r"--(?:[a-z-]*bind-address|admin-address)\s+\w+\s*=\s*\S*:(\d+)\b"
    ports = {int(m.group(1)) for m in re.finditer(pat, p.stdout)}
    if not ports and "--admin-address" in p.stdout:
        # nvml-provider's --help shows no defaults; its default lives in provider_config.h.
        src = open(os.path.join(SOURCE_DIR, "src", "nvml", "provider_config.h")).read()
        m = re.search(r'admin_address\s*=\s*"[^"]*:(\d+)"', src)
        ports = {int(m.group(1))} if m else set()
    return ports


def build_args_reach_cmake(instrs, label):
    buildinfo = open(os.path.join(SOURCE_DIR, "cmake", "BuildInfo.cmake")).read()
    runs = " ".join(rest for _, i, rest in instrs if i == "RUN")
    for arg, var in (("VERSION", "DEVICEAPI_VERSION"), ("COMMIT", "DEVICEAPI_COMMIT"),
                     ("BUILD_DATE", "DEVICEAPI_BUILD_DATE")):
        F.check(any(i == "ARG" and rest.split("=")[0] == arg for _, i, rest in instrs),
                "%s: no ARG %s" % (label, arg))
        F.check(re.search(r"-D%s=\"?\$\{?%s\}?" % (var, arg), runs),
                "%s: build arg %s not passed as -D%s" % (label, arg, var))
        F.check(var in buildinfo, "%s: cmake/BuildInfo.cmake has no %s" % (label, var))


def check_image(name, target, binary, binary_dir):
    label = name + ".Dockerfile"
    path = os.path.join(DOCKER_DIR, label)
    if not F.check(os.path.isfile(path), "%s missing" % path):
        return
    stages, instrs = parse_dockerfile(path)
    F.check(len(stages) >= 2, "%s: expected a multi-stage build" % label)
    final = stages[-1]
    F.check(all(re.search(r"debian:12", rest) or "${DEBIAN_IMAGE}" in rest
                for _, i, rest in instrs if i == "FROM"), "%s: not based on Debian 12" % label)
    F.check(any(i == "ARG" and rest.startswith("DEBIAN_IMAGE=debian:12") for _, i, rest in instrs),
            "%s: DEBIAN_IMAGE must default to a debian:12 image" % label)
    patterns = dockerignore_patterns(path)
    rel_binary = os.path.relpath(binary, binary_dir) if binary else None

    copied_to = None
    for stage, srcs, dest, frm in copy_instructions(instrs):
        for src in srcs:
            if frm is None:
                full = os.path.join(SOURCE_DIR, src)
                F.check(os.path.exists(full), "%s: COPY %s: not in the source tree" % (label, src))
                F.check(not ignored(src, patterns),
                        "%s: COPY %s: excluded by the .dockerignore" % (label, src))
            else:
                F.check(frm in stages, "%s: COPY --from=%s: no such stage" % (label, frm))
                F.check(src.startswith("/build/"), "%s: COPY --from %s outside /build" % (label, src))
                if rel_binary:
                    F.check(src[len("/build/"):] == rel_binary,
                            "%s: COPY --from=%s %s, but the build puts %s at <build>/%s" %
                            (label, frm, src, target, rel_binary))
                if stage == final:
                    copied_to = dest
    F.check(copied_to is not None, "%s: the final stage copies no binary" % label)

    runs = [(stage, rest) for stage, i, rest in instrs if i == "RUN"]
    build_runs = " ".join(r for s, r in runs if s != final)
    F.check(re.search(r"--target\s+%s\b" % re.escape(target), build_runs),
            "%s: the build stage does not build --target %s" % (label, target))
    if rel_binary:
        F.check("strip /build/" + rel_binary in build_runs,
                "%s: strip does not name /build/%s" % (label, rel_binary))
    F.check("-DDEVICEAPI_BUILD_TESTS=OFF" in build_runs, "%s: build with tests off" % label)

    # Packages.
    all_pkgs = {}
    for stage, r in runs:
        for p in apt_packages(r):
            all_pkgs.setdefault(stage, []).append(p)
    known = debian_packages([p for pkgs in all_pkgs.values() for p in pkgs])
    for stage, pkgs in all_pkgs.items():
        for p in pkgs:
            F.check(p in known, "%s: package %s (stage %s) does not exist in Debian 12" %
                    (label, p, stage))
    runtime = set(all_pkgs.get(final, []))
    build = set(p for s, ps in all_pkgs.items() if s != final for p in ps)
    deps = open(os.path.join(SOURCE_DIR, "scripts", "install-deps.sh")).read()
    wanted_dev = {w for w in re.findall(r"\b(lib[\w.+-]+-dev|[\w.+-]+-dev)\b", deps)} - TEST_ONLY_DEV
    F.check(wanted_dev <= build, "%s: build stage lacks %s" % (label, sorted(wanted_dev - build)))
    if binary:
        linked = linked_packages(binary)
        need = {p for p in linked if p not in BASE_PACKAGES and not SANITIZER_RUNTIME.match(p)}
        F.check(need <= runtime, "%s: runtime stage lacks %s (for %s)" % (
            label, sorted(need - runtime), {p: linked[p][:2] for p in need - runtime}))
        F.check(runtime <= need, "%s: runtime stage installs packages the binary does not link: %s"
                % (label, sorted(runtime - need)))

    # Ports, user, entrypoint.
    exposed = set()
    for stage, i, rest in instrs:
        if i == "EXPOSE" and stage == final:
            exposed |= {int(x.split("/")[0]) for x in rest.split()}
    if binary:
        ports = default_ports(binary)
        F.check(exposed == ports, "%s: EXPOSE %s, the binary listens on %s by default" %
                (label, sorted(exposed), sorted(ports)))
    users = [rest for stage, i, rest in instrs if i == "USER" and stage == final]
    F.check(users and users[-1].split(":")[0] == "65534", "%s: final USER must be 65534" % label)
    eps = [rest for stage, i, rest in instrs if i == "ENTRYPOINT" and stage == final]
    F.check(eps and copied_to and copied_to in eps[-1],
            "%s: ENTRYPOINT %s does not run the copied %s" % (label, eps, copied_to))
    build_args_reach_cmake(instrs, label)


def go_version(text):
    m = re.fullmatch(r"(?:go)?(\d+)\.(\d+)(?:\.(\d+))?\S*", text)
    return tuple(int(x or 0) for x in m.groups()) if m else None


def check_go_image(name, module, command):
    """A multi-stage image that builds one command of a Go module with a golang image."""
    label = name + ".Dockerfile"
    path = os.path.join(DOCKER_DIR, label)
    if not F.check(os.path.isfile(path), "%s missing" % path):
        return
    F.check(os.path.isfile(path + ".dockerignore"), "%s.dockerignore missing" % path)
    stages, instrs = parse_dockerfile(path)
    if not F.check(len(stages) >= 2, "%s: expected a multi-stage build" % label):
        return
    final = stages[-1]
    args = {}
    for _, i, rest in instrs:
        if i == "ARG" and "=" in rest:
            k, v = rest.split("=", 1)
            args[k] = v
    froms = {stage: rest.split()[0] for stage, i, rest in instrs if i == "FROM"}
    resolve = lambda img: re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), img)

    # Builder: a golang image new enough for go.mod, modules from the module proxy.
    mod_dir = os.path.join(SOURCE_DIR, module)
    gomod = open(os.path.join(mod_dir, "go.mod")).read()
    need = [go_version(v) for v in re.findall(r"^(?:go|toolchain)\s+(\S+)", gomod, re.M)]
    F.check(need and all(need), "%s/go.mod: go directive missing or unreadable" % module)
    builders = [resolve(froms[st]) for st in stages[:-1]]
    for img in builders:
        m = re.fullmatch(r"golang:(\d+\.\d+(?:\.\d+)?)(-\S+)?", img)
        if not F.check(m, "%s: builder image %s is not a golang:<version> image" % (label, img)):
            continue
        have = go_version(m.group(1))
        # golang:1.25 is the newest 1.25.x: only the minor version has to be new enough.
        F.check(all(have[:2] >= n[:2] and (len(m.group(1).split(".")) == 2 or have >= n)
                    for n in need if n),
                "%s: %s is older than %s/go.mod needs (%s)" % (label, img, module, need))
        F.check(m.group(2) in (None, "-bookworm"),
                "%s: builder %s is not Debian 12 (bookworm) based like the other images" %
                (label, img))
    F.check(args.get("GOPROXY", "").startswith("https://proxy.golang.org"),
            "%s: modules must come from the Go module proxy (ARG GOPROXY=https://proxy.golang.org...)"
            % label)

    # Final stage: the base the other images use, nothing installed (the binary is static).
    F.check(re.match(r"debian:12", resolve(froms[final])),
            "%s: final stage %s is not the Debian 12 base of the other images" %
            (label, resolve(froms[final])))
    F.check(not any(i == "RUN" and stage == final for stage, i, rest in instrs),
            "%s: the final stage runs commands; a static binary needs nothing installed" % label)

    # Sources: inside the module, present, not excluded.
    patterns = dockerignore_patterns(path)
    copied_from, copied_to = None, None
    for stage, srcs, dest, frm in copy_instructions(instrs):
        for src in srcs:
            if frm is None:
                F.check(os.path.exists(os.path.join(SOURCE_DIR, src)),
                        "%s: COPY %s: not in the source tree" % (label, src))
                F.check(src.rstrip("/") == module or src.startswith(module + "/"),
                        "%s: COPY %s: outside the Go module %s" % (label, src, module))
                F.check(not ignored(src, patterns),
                        "%s: COPY %s: excluded by the .dockerignore" % (label, src))
            else:
                F.check(frm in stages[:-1], "%s: COPY --from=%s: no such stage" % (label, frm))
                if stage == final:
                    copied_from, copied_to = src, dest
    F.check(copied_to is not None, "%s: the final stage copies no binary" % label)

    # The build: CGO off, the command's main package, output where the final stage copies it.
    build_text = " ".join(rest for stage, i, rest in instrs
                          if stage != final and i in ("RUN", "ENV"))
    F.check(re.search(r"\bCGO_ENABLED=0\b", build_text),
            "%s: CGO_ENABLED=0 not set for the build" % label)
    m = re.search(r"\bgo build\b(.*?)(?:&&|;|$)", build_text)
    if F.check(m, "%s: no go build in the build stage" % label):
        words = shlex.split(m.group(1))
        pkgs = [w for w in words if w.startswith("./")]
        F.check(pkgs == ["./cmd/" + command],
                "%s: go build builds %s, want ./cmd/%s" % (label, pkgs, command))
        out = words[words.index("-o") + 1] if "-o" in words else None
        F.check(out and out == copied_from,
                "%s: go build -o %s, but the final stage copies %s" % (label, out, copied_from))
    cmd_dir = os.path.join(mod_dir, "cmd", command)
    gofiles = [f for f in (os.listdir(cmd_dir) if os.path.isdir(cmd_dir) else [])
               if f.endswith(".go") and not f.endswith("_test.go")]
    F.check(any(re.search(r"^package main\b", open(os.path.join(cmd_dir, f)).read(), re.M)
                for f in gofiles),
            "%s: %s/cmd/%s has no main package (the image builds it)" % (label, module, command))

    # Port, user, entrypoint, version labels.
    import yaml
    with open(os.path.join(SOURCE_DIR, "deploy", "helm", "device-api-server", "values.yaml")) as f:
        health_port = yaml.safe_load(f)["k8sBridge"]["healthPort"]
    exposed = set()
    for stage, i, rest in instrs:
        if i == "EXPOSE" and stage == final:
            exposed |= {int(x.split("/")[0]) for x in rest.split()}
    F.check(exposed == {health_port}, "%s: EXPOSE %s, the chart's k8sBridge.healthPort is %d" %
            (label, sorted(exposed), health_port))
    users = [rest for stage, i, rest in instrs if i == "USER" and stage == final]
    F.check(users and users[-1].split(":")[0] == "65534", "%s: final USER must be 65534" % label)
    eps = [rest for stage, i, rest in instrs if i == "ENTRYPOINT" and stage == final]
    F.check(eps and copied_to and copied_to in eps[-1],
            "%s: ENTRYPOINT %s does not run the copied %s" % (label, eps, copied_to))
    for arg in ("VERSION", "COMMIT", "BUILD_DATE"):
        F.check(any(i == "ARG" and stage == final and rest.split("=")[0] == arg
                    for stage, i, rest in instrs), "%s: no ARG %s in the final stage" % (label, arg))


def main():
    if not debian12():
        die("this test asks apt-cache about Debian 12 packages; run it on Debian 12")
    q = run(["apt-cache", "show", "--no-all-versions", "libc6"], check=False)
    if q.returncode != 0:
        die("apt-cache knows no packages: run apt-get update (scripts/install-test-tools.sh does)")
    binary_dir = os.environ.get("DEVICEAPI_BINARY_DIR", "")
    server = os.environ.get("DEVICE_API_SERVER_BINARY", "")
    if not os.access(server, os.X_OK):
        die("DEVICE_API_SERVER_BINARY=%r not built" % server)
    check_image("device-api-server", "device-api-server", server, binary_dir)
    provider = os.environ.get("NVML_PROVIDER_BINARY", "")
    if os.access(provider, os.X_OK):
        check_image("nvml-provider", "nvml-provider", provider, binary_dir)
        linked = run(["ldd", provider]).stdout
        F.check("libnvidia-ml" not in linked, "nvml-provider must not link NVML at build time")
    else:
        die("NVML_PROVIDER_BINARY=%r not built" % provider)
    check_go_image("device-api-k8s-bridge", "clients/go", "device-api-k8s-bridge")
    F.finish()


if __name__ == "__main__":
    main()
