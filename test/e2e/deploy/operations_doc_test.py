#!/usr/bin/env python3
"""docs/operations.md against the real binaries.

- The device-api-server flag table equals `device-api-server --help`, both ways: the same
  flags, each with the environment variable, default and help text --help shows.
- The nvml-provider flag table names exactly the flags of `nvml-provider --help`; where its
  help names an environment variable ("(env X)"), the table says the same, and every variable
  its configuration code reads is documented.
- The server metrics table equals the metric families of a real scrape of the server, both
  ways; the provider metrics table equals the families the provider registers.
- The documented default ports are those of the binaries, and every relative link in the
  document points to a file of the repository.
"""
import os
import re

from deploytest import SOURCE_DIR, Failures, binary, run, temp_dir

import server_metrics_test as smt

F = Failures("operations_doc_test")
DOC = os.path.join(SOURCE_DIR, "docs", "operations.md")


def section(text, heading):
    """Lines of the section under `heading` up to the next heading of the same or higher level."""
    lines = text.splitlines()
    level = heading.split(" ")[0]
    out, inside = [], False
    for line in lines:
        if line.strip() == heading:
            inside = True
            continue
        if inside and re.match(r"^#{1,%d} " % len(level), line):
            break
        if inside:
            out.append(line)
    return out


def table(lines):
    rows = []
    for line in lines:
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.append([c.strip("`") for c in cells])
    return rows


def help_options(binary_path, with_help=False):
    """{flag: (env, default)} from CLI11 --help, or (env, default, help text) with_help; a
    flag's key is its long name."""
    out = run([binary_path, "--help"]).stdout
    opts = {}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^  (-[^\s]+)(?: ([A-Z]+))?(?:=(\S*))?(?: \(Env:(\w+)\))?(.*)$", line)
        if not m or not line.startswith("  -"):
            continue
        names, _, default, env, rest = m.groups()
        if names in ("-h,--help",):
            continue
        desc = rest + (" " + lines[i + 1] if i + 1 < len(lines) and
                       lines[i + 1].startswith("      ") else "")
        if not env:
            m2 = re.search(r"\(env (\w+)\)", desc)
            env = m2.group(1) if m2 else None
        opts[names] = (env or "", default or "")
        if with_help:
            opts[names] += (desc.strip(),)
    return opts


def main():
    text = open(DOC).read()
    server = binary("DEVICE_API_SERVER_BINARY")
    provider = binary("NVML_PROVIDER_BINARY")

    # Server flags, both ways, with env and default.
    doc = {r[0]: (r[1], r[2], r[3]) for r in table(section(text, "### device-api-server flags"))}
    real = help_options(server, with_help=True)
    real.pop("--version", None)
    F.check(len(doc) >= 20, "server flag table has only %d rows" % len(doc))
    for flag, (env, default, help_text) in real.items():
        if F.check(flag in doc, "--help has %s, docs/operations.md does not" % flag):
            F.check(doc[flag][0] == env, "%s: doc env %r, --help %r" % (flag, doc[flag][0], env))
            F.check(doc[flag][1] == default,
                    "%s: doc default %r, --help %r" % (flag, doc[flag][1], default))
            F.check(doc[flag][2] == help_text,
                    "%s: doc meaning %r, --help %r" % (flag, doc[flag][2], help_text))
    for flag in doc:
        F.check(flag in real, "docs/operations.md documents %s, --help does not have it" % flag)

    # Provider flags: the same flag set; env where --help names one.
    pdoc = {r[0]: (r[1], r[2]) for r in table(section(text, "### nvml-provider flags"))}
    preal = help_options(provider)
    preal.pop("--version", None)
    F.check(len(pdoc) >= 5, "provider flag table has only %d rows" % len(pdoc))
    for flag, (env, default) in preal.items():
        if F.check(flag in pdoc, "nvml-provider --help has %s, docs/operations.md does not" % flag):
            if env:
                F.check(pdoc[flag][0] == env, "%s: doc env %r, --help %r" % (flag, pdoc[flag][0], env))
            if default:
                F.check(pdoc[flag][1] == default,
                        "%s: doc default %r, --help %r" % (flag, pdoc[flag][1], default))
    for flag in pdoc:
        F.check(flag in preal, "docs/operations.md documents provider flag %s, --help lacks it" % flag)

    # Every environment variable the provider reads (its --help names only some) is documented.
    src = open(os.path.join(SOURCE_DIR, "src", "nvml", "provider_config.cc")).read()
    read_env = set(re.findall(r'envor\("(\w+)"', src))
    F.check(len(read_env) >= 5, "found only %d provider environment variables" % len(read_env))
    for var in sorted(read_env):
        F.check("`%s`" % var in text, "provider reads %s; docs/operations.md does not mention it" % var)

    # Metrics reference vs a real scrape.
    tmp = temp_dir("operations-doc-")
    srv = smt.Server(server, tmp)
    try:
        fams = smt.families(srv.scrape())
    finally:
        srv.stop()
    metrics_rows = table(section(text, "## Metrics reference"))
    documented = {r[0]: r[1] for r in metrics_rows}
    server_doc = {n for n in documented if not n.startswith("nvml_provider_")}
    F.check(server_doc == set(fams),
            "server metrics: documented but not exported %s; exported but not documented %s" %
            (sorted(server_doc - set(fams)), sorted(set(fams) - server_doc)))
    for name, typ in fams.items():
        if name in documented:
            F.check(documented[name] == typ, "%s: documented as %s, is %s" % (name, documented[name], typ))
    prov = smt.provider_families()
    prov_doc = {n for n in documented if n.startswith("nvml_provider_")}
    F.check(prov_doc == set(prov),
            "provider metrics: documented but not registered %s; registered but not documented %s"
            % (sorted(prov_doc - set(prov)), sorted(set(prov) - prov_doc)))

    # Ports: the documented defaults are the binaries'.
    for flag, (env, default, _) in real.items():
        if flag.endswith("bind-address") and default.startswith(":"):
            F.check("`%s`" % default in text, "default %s of %s not in the ports table" % (default, flag))

    # Relative links resolve.
    for link in re.findall(r"\]\((\.\./[^)#\s]+)", text):
        path = os.path.normpath(os.path.join(os.path.dirname(DOC), link))
        F.check(os.path.exists(path), "broken link %s" % link)
    F.finish()


if __name__ == "__main__":
    main()
