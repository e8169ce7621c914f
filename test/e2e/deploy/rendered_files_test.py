#!/usr/bin/env python3
"""deploy/static/ and deploy/prometheus/ are what deploy/render.sh makes of the chart today.

Renders into a temporary directory with the real helm and compares byte for byte; on a
difference prints a unified diff and the command that refreshes the committed files.
The bridge's RBAC file holds its ClusterRole and the binding to the ServiceAccount of the
static manifests, and nothing else.
"""
import difflib
import os

from deploytest import SOURCE_DIR, Failures, load_yaml_docs, run, temp_dir

F = Failures("rendered_files_test")
GENERATED = ["static/device-api-server.yaml", "static/device-api-k8s-bridge-rbac.yaml",
             "prometheus/device-api-server.rules.yaml"]


def main():
    out = temp_dir("render-")
    run(["bash", os.path.join(SOURCE_DIR, "deploy", "render.sh"), out])
    for rel in GENERATED:
        committed = os.path.join(SOURCE_DIR, "deploy", rel)
        fresh = os.path.join(out, rel)
        if not F.check(os.path.isfile(committed), "%s is missing: run deploy/render.sh" % committed):
            continue
        a = open(committed).read().splitlines(keepends=True)
        b = open(fresh).read().splitlines(keepends=True)
        diff = "".join(difflib.unified_diff(a, b, "committed/" + rel, "rendered/" + rel))
        F.check(not diff, "deploy/%s is out of date with the chart; run deploy/render.sh and "
                "commit:\n%s" % (rel, diff[:6000]))
    # The static manifests hold what an operator needs without Helm.
    static = open(os.path.join(SOURCE_DIR, "deploy", "static", "device-api-server.yaml")).read()
    for kind in ("kind: DaemonSet", "kind: ServiceAccount", "kind: Service"):
        F.check(kind in static, "static manifests lack %s" % kind)
    static_docs = load_yaml_docs(static)
    F.check(not any(d["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
                    for d in static_docs),
            "static/device-api-server.yaml (bridge off) must carry no RBAC")
    rbac = load_yaml_docs(open(os.path.join(SOURCE_DIR, "deploy", "static",
                                            "device-api-k8s-bridge-rbac.yaml")).read())
    kinds = sorted(d["kind"] for d in rbac)
    F.check(kinds == ["ClusterRole", "ClusterRoleBinding"],
            "static/device-api-k8s-bridge-rbac.yaml holds %s, want a ClusterRole and its "
            "ClusterRoleBinding only" % kinds)
    sas = [d["metadata"] for d in static_docs if d["kind"] == "ServiceAccount"]
    for d in rbac:
        if d["kind"] == "ClusterRoleBinding":
            role = next((r for r in rbac if r["kind"] == "ClusterRole"), {})
            F.check(d["roleRef"]["name"] == role.get("metadata", {}).get("name"),
                    "static bridge binding refers to %s, not the ClusterRole beside it" %
                    d["roleRef"]["name"])
            F.check([{"name": x["name"], "namespace": x["namespace"]} for x in d["subjects"]]
                    == [{"name": x["name"], "namespace": x["namespace"]} for x in sas],
                    "static bridge binding subjects %s are not the ServiceAccount of "
                    "static/device-api-server.yaml %s" % (d["subjects"], sas))
    ns = os.path.join(SOURCE_DIR, "deploy", "static", "namespace.yaml")
    F.check(os.path.isfile(ns) and "name: nvidia-device-api" in open(ns).read(),
            "deploy/static/namespace.yaml must create the nvidia-device-api namespace")
    F.finish()


if __name__ == "__main__":
    main()
