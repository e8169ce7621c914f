#!/usr/bin/env python3
"""The Helm chart, rendered by the real helm and validated by kubeconform.

- `helm lint --strict` for every value combination below;
- `helm template` of each combination validated by kubeconform against strict Kubernetes 1.34
  schemas (and the Prometheus Operator CRD schemas for ServiceMonitor/PrometheusRule);
- invalid values are refused (values.schema.json, or the chart's own consistency checks);
- what the issue asks of the DaemonSet holds in the rendered objects: gRPC probes on the
  health port, securityContext, socket directory shared through hostPath with the socket
  group, GPU nodeSelector and toleration, preStop + terminationGracePeriodSeconds covering
  --shutdown-grace-period, metrics Service / ServiceMonitor wiring, each scraped port's job the
  one the alerts and the dashboard select on (also under nameOverride / fullnameOverride);
- device-api-k8s-bridge (k8sBridge): absent with no RBAC at all when disabled; when enabled
  its ClusterRole holds exactly the rules it needs, bound to the pods' ServiceAccount, the
  ServiceAccount token reaches the bridge container alone, NODE_NAME comes from spec.nodeName,
  and every flag the chart passes is one the bridge's source defines.
"""
import json
import os
import re

from deploytest import (CHART, SOURCE_DIR, Failures, die, helm_template, load_yaml_docs, run,
                        tool, TOOLS_DIR, temp_dir)

F = Failures("helm_chart_test")

COMBINATIONS = {
    "defaults": [],
    "provider-disabled": ["nvmlProvider.enabled=false"],
    "stateless": ["storage.type=memory"],
    # Without a database the state directory is not mounted: it may be the socket's.
    "stateless-state-dir-unused": ["storage.type=memory",
                                   "storage.hostDir=/var/run/nvidia-device-api"],
    "state-elsewhere": ["storage.hostDir=/data/device-api", "storage.sync=full"],
    "provider-driver-root": ["nvmlProvider.driverRoot=/run/nvidia/driver",
                             "nvmlProvider.ignoreXids=13\\,31", "nvmlProvider.fatalXids=43",
                             "runtimeClassName=nvidia"],
    "monitoring": ["metrics.serviceMonitor.enabled=true", "prometheusRule.enabled=true",
                   "metrics.serviceMonitor.labels.release=kube-prometheus-stack"],
    "custom": ["socket.hostDir=/run/gpu-api", "socket.name=api.sock", "socket.groupId=4242",
               "server.healthPort=8081", "server.metricsPort=8080",
               "nvmlProvider.metricsPort=8082", "server.shutdownGracePeriodSeconds=60",
               "server.preStopSleepSeconds=0", "server.readinessMinGpus=8",
               "server.readinessGracePeriodSeconds=120", "server.logFormat=text",
               "server.verbosity=4", "server.extraArgs={--max-objects=8192}",
               "socket.initPermissions=false", "serviceAccount.create=false",
               "priorityClassName=", "fullnameOverride=gpu-api",
               "imagePullSecrets[0].name=regcred", "image.tag=1.2.3"],
    # Renamed objects: the series keep the job names the alerts and the dashboard select on.
    "monitoring-name-override": ["metrics.serviceMonitor.enabled=true",
                                 "prometheusRule.enabled=true", "k8sBridge.enabled=true",
                                 "nameOverride=gpu-api"],
    "monitoring-fullname-override": ["metrics.serviceMonitor.enabled=true",
                                     "prometheusRule.enabled=true",
                                     "fullnameOverride=gpu-api"],
    "no-metrics-service": ["metrics.service.enabled=false"],
    "k8s-bridge": ["k8sBridge.enabled=true"],
    "k8s-bridge-node-taint": ["k8sBridge.enabled=true",
                              "k8sBridge.nodeTaint=nvidia.com/gpu-unhealthy=true:NoSchedule",
                              "k8sBridge.taintEffects=RESTART_BM=NoExecute\\,*=NoSchedule",
                              "k8sBridge.kubeApiQps=2.5", "k8sBridge.kubeApiBurst=20",
                              "k8sBridge.healthPort=9443", "k8sBridge.conditionType=GPUReady",
                              "k8sBridge.extraArgs={--resync-period=10m}",
                              "k8sBridge.image.tag=1.2.3",
                              "metrics.serviceMonitor.enabled=true"],
    "k8s-bridge-custom": ["k8sBridge.enabled=true", "k8sBridge.deviceTaintRules.enabled=false",
                          "serviceAccount.create=false", "serviceAccount.name=gpu-health",
                          "nvmlProvider.enabled=false", "socket.initPermissions=false",
                          "socket.hostDir=/run/gpu-api", "fullnameOverride=gpu-api"],
}

# The ServiceAccount token directory client-go's in-cluster config reads.
SA_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
BRIDGE = "device-api-k8s-bridge"
BRIDGE_SOURCE = os.path.join(SOURCE_DIR, "clients", "go")

# Each must be refused; the text is a fragment of the expected error.
INVALID = {
    "log format": (["server.logFormat=xml"], "logFormat"),
    "storage type": (["storage.type=etcd"], "type"),
    "relative state dir": (["storage.hostDir=var/lib/x"], "hostDir"),
    "surge": (["updateStrategy.rollingUpdate.maxSurge=1"], "maxSurge"),
    "port range": (["server.metricsPort=70000"], "metricsPort"),
    "extra arg not a flag": (["server.extraArgs={max-objects=1}"], "extraArgs"),
    "socket group 0": (["socket.groupId=0"], "groupId"),
    "relative socket dir": (["socket.hostDir=run/x"], "hostDir"),
    # One directory mounted twice (the API refuses duplicate mountPaths), and the database's
    # mode 0700 would lock the socket group out; also written differently.
    "state dir is the socket dir": (["storage.hostDir=/var/run/nvidia-device-api/"],
                                    "storage.hostDir must differ from socket.hostDir"),
    "socket dir is the state dir": (["socket.hostDir=/var//lib/nvidia-device-api"],
                                    "storage.hostDir must differ from socket.hostDir"),
    # "/" renders mountPath "" and would hand the host's root to the socket group.
    "socket dir is the root": (["socket.hostDir=/"], "socket.hostDir must be a directory below /"),
    "state dir is the root": (["storage.hostDir=//"], "storage.hostDir must be a directory below /"),
    "xid list": (["nvmlProvider.ignoreXids=13;rm"], "ignoreXids"),
    "unknown top-level key": (["serverr.verbosity=1"], "serverr"),
    # The chart derives the startup probe's threshold from the grace period; a value for it
    # would be silently ignored.
    "startup probe threshold": (["server.startupProbe.failureThreshold=10"], "failureThreshold"),
    "min gpus without grace": (["server.readinessMinGpus=8"], "readinessGracePeriodSeconds"),
    "grace period too short": (["terminationGracePeriodSeconds=20"],
                               "terminationGracePeriodSeconds"),
    "port clash": (["server.healthPort=9090"], "must differ"),
    "provider port clash": (["nvmlProvider.metricsPort=50051"], "must differ"),
    "monitor without service": (["metrics.service.enabled=false",
                                 "metrics.serviceMonitor.enabled=true"], "metrics.service"),
    "bridge bound to the default account": (["k8sBridge.enabled=true",
                                             "serviceAccount.create=false"], "serviceAccount"),
    "bridge port clash": (["k8sBridge.enabled=true", "k8sBridge.healthPort=8082"], "must differ"),
    "bridge taint effect": (["k8sBridge.taintEffects=*=Evict"], "taintEffects"),
    "bridge node taint": (["k8sBridge.nodeTaint=nvidia.com/gpu:Sometimes"], "nodeTaint"),
    "bridge qps": (["k8sBridge.kubeApiQps=0"], "kubeApiQps"),
    "bridge extra arg not a flag": (["k8sBridge.extraArgs={resync}"], "extraArgs"),
    "unknown bridge key": (["k8sBridge.nodeName=x"], "nodeName"),
}


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def kubeconform(path):
    schemas = os.path.join(TOOLS_DIR, "schemas")
    for kind in ("daemonset-apps-v1", "clusterrole-rbac-v1", "clusterrolebinding-rbac-v1"):
        if not os.path.isfile(os.path.join(schemas, kind + ".json")):
            die("schema %s missing in %s: run scripts/install-test-tools.sh" % (kind, schemas))
    p = run([tool("kubeconform"), "-strict", "-summary", "-output", "text",
             "-schema-location", schemas + "/{{ .ResourceKind }}{{ .KindSuffix }}.json", path],
            check=False)
    return p


def values_for(sets):
    """The effective values for a combination (helm merges them; so do we, for the checks)."""
    import yaml
    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    return values


def container(ds, name):
    for c in ds["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    return None


def arg_value(c, flag):
    for a in c.get("args", []):
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


# The job each scraped port's series get: the alerts and the dashboard select on these.
JOBS = {"metrics": "device-api-server", "provider-http": "nvml-provider",
        "bridge-http": BRIDGE}
DASHBOARD = os.path.join(SOURCE_DIR, "deploy", "grafana", "device-api-server.json")


def scraped_job(sm, svc, endpoint):
    """The job label Prometheus Operator gives an endpoint's series: the Service label named
    by jobLabel (else the Service's name), then the endpoint's relabelings that set job."""
    job = svc["metadata"]["name"]
    job_label = sm["spec"].get("jobLabel")
    if job_label and job_label in svc["metadata"].get("labels", {}):
        job = svc["metadata"]["labels"][job_label]
    for r in endpoint.get("relabelings", []):
        if r.get("targetLabel") == "job" and r.get("action", "replace") == "replace" \
                and not r.get("sourceLabels"):
            job = r.get("replacement", "$1")
    return job


def selected_jobs(text):
    return set(re.findall(r'job\s*=\s*\\?"([^"\\]+)\\?"', text))


def check_jobs(label, objs, svc):
    """Every series scraped has the job the alerts and the dashboard select on."""
    for sm in objs.get("ServiceMonitor", []):
        for e in sm["spec"]["endpoints"]:
            job = scraped_job(sm, svc, e)
            F.check(job == JOBS.get(e["port"]), "%s: port %s is scraped as job=%s, want %s"
                    % (label, e["port"], job, JOBS.get(e["port"])))
    # And those are the jobs the alerts and the dashboard select on.
    known = set(JOBS.values())
    for rule in objs.get("PrometheusRule", []):
        wanted = selected_jobs(json.dumps(rule["spec"]))
        F.check(wanted and wanted <= known, "%s: the alerts select jobs %s, the chart scrapes %s"
                % (label, sorted(wanted), sorted(known)))
    with open(DASHBOARD) as f:
        wanted = selected_jobs(f.read())
    F.check(wanted and wanted <= known, "the dashboard selects jobs %s, the chart scrapes %s"
            % (sorted(wanted), sorted(known)))


def check_daemonset(label, objs, sets):
    s = dict(x.split("=", 1) for x in sets if "=" in x)
    dss = objs.get("DaemonSet", [])
    if not F.check(len(dss) == 1, "%s: expected one DaemonSet, got %d" % (label, len(dss))):
        return
    ds = dss[0]
    pod = ds["spec"]["template"]["spec"]
    server = container(ds, "device-api-server")
    if not F.check(server is not None, "%s: no device-api-server container" % label):
        return
    provider_on = s.get("nvmlProvider.enabled", "true") == "true"
    provider = container(ds, "nvml-provider")
    F.check((provider is not None) == provider_on,
            "%s: provider sidecar present=%s, want %s" % (label, provider is not None, provider_on))
    bridge = container(ds, BRIDGE)

    # Scheduling on GPU nodes.
    F.check(pod.get("nodeSelector", {}).get("nvidia.com/gpu.present") == "true",
            "%s: nodeSelector nvidia.com/gpu.present=true missing" % label)
    F.check(any(t.get("key") == "nvidia.com/gpu" and t.get("operator") == "Exists"
                for t in pod.get("tolerations", [])),
            "%s: toleration for nvidia.com/gpu missing" % label)
    F.check(ds["spec"]["updateStrategy"].get("rollingUpdate", {}).get("maxSurge", 0) in (0, "0"),
            "%s: maxSurge must be 0 (socket cannot be shared by two servers)" % label)

    # Ports and gRPC probes on the health port.
    ports = {p["name"]: p["containerPort"] for p in server.get("ports", [])}
    health = ports.get("health")
    metrics = ports.get("metrics")
    F.check(health is not None and metrics is not None,
            "%s: server ports health/metrics missing: %s" % (label, ports))
    F.check(arg_value(server, "--health-probe-bind-address") == ":%s" % health,
            "%s: --health-probe-bind-address does not match the health port %s" % (label, health))
    F.check(arg_value(server, "--metrics-bind-address") == ":%s" % metrics,
            "%s: --metrics-bind-address does not match the metrics port %s" % (label, metrics))
    if provider:
        # An empty host listens on IPv6 and IPv4: the probes reach it on single-stack IPv6
        # pods too, which an IPv4 wildcard (0.0.0.0) would not answer.
        port = s.get("nvmlProvider.metricsPort", "8082")
        F.check(arg_value(provider, "--admin-address") == ":%s" % port,
                "%s: provider --admin-address %s, want :%s (every interface, both families)" %
                (label, arg_value(provider, "--admin-address"), port))
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        pr = server.get(probe)
        F.check(pr is not None and "grpc" in pr and pr["grpc"].get("port") == health
                and "httpGet" not in pr and "tcpSocket" not in pr,
                "%s: %s must be a gRPC probe on the health port %s: %s" % (label, probe, health, pr))
    grace_s = int(s.get("server.readinessGracePeriodSeconds", "0"))
    sp = server["startupProbe"]
    F.check(sp["periodSeconds"] * sp["failureThreshold"] >= grace_s + 60,
            "%s: startup probe budget %ds does not cover the readiness grace period %ds" %
            (label, sp["periodSeconds"] * sp["failureThreshold"], grace_s))

    # Shutdown: kubelet waits for preStop + the server's own grace period.
    sgp = arg_value(server, "--shutdown-grace-period")
    F.check(sgp is not None and re.fullmatch(r"\d+s", sgp),
            "%s: --shutdown-grace-period missing or not in seconds: %s" % (label, sgp))
    if sgp:
        sgp_s = int(sgp[:-1])
        pre = server.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        want_pre = int(s.get("server.preStopSleepSeconds", "5"))
        F.check(pre == want_pre, "%s: preStop sleep %s, want %s" % (label, pre, want_pre))
        tgps = pod.get("terminationGracePeriodSeconds")
        F.check(isinstance(tgps, int) and tgps >= pre + sgp_s + 5,
                "%s: terminationGracePeriodSeconds %s < preStop %d + grace %d + 5s margin" %
                (label, tgps, pre, sgp_s))

    # Security.
    for c in [x for x in (server, provider, bridge) if x]:
        sc = c.get("securityContext", {})
        F.check(sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0,
                "%s/%s: must run as non-root: %s" % (label, c["name"], sc))
        F.check(sc.get("allowPrivilegeEscalation") is False,
                "%s/%s: allowPrivilegeEscalation must be false" % (label, c["name"]))
        F.check(sc.get("readOnlyRootFilesystem") is True,
                "%s/%s: readOnlyRootFilesystem must be true" % (label, c["name"]))
        F.check(sc.get("capabilities", {}).get("drop") == ["ALL"]
                and not sc.get("capabilities", {}).get("add"),
                "%s/%s: capabilities must drop ALL and add none" % (label, c["name"]))
        F.check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
                "%s/%s: seccomp RuntimeDefault missing" % (label, c["name"]))
        F.check(c.get("resources", {}).get("requests") and
                c.get("resources", {}).get("limits", {}).get("memory"),
                "%s/%s: resources requests and a memory limit expected" % (label, c["name"]))
    F.check(pod.get("automountServiceAccountToken") is False,
            "%s: the pods need no Kubernetes API token" % label)

    # Socket directory: hostPath, mounted at one path by both containers, socket inside it.
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    sock_vol = vols.get("socket-dir", {}).get("hostPath", {})
    host_dir = s.get("socket.hostDir", "/var/run/nvidia-device-api")
    F.check(sock_vol.get("path") == host_dir,
            "%s: socket hostPath %s, want %s" % (label, sock_vol.get("path"), host_dir))
    bind = arg_value(server, "--bind-address") or ""
    sock_name = s.get("socket.name", "device-api.sock")
    F.check(bind == "unix://%s/%s" % (host_dir, sock_name),
            "%s: --bind-address %s is not %s/%s" % (label, bind, host_dir, sock_name))
    for c in [x for x in (server, provider, bridge) if x]:
        mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        F.check(mounts.get("socket-dir") == host_dir,
                "%s/%s: socket dir mounted at %s, want %s" % (label, c["name"],
                                                             mounts.get("socket-dir"), host_dir))
    if provider:
        F.check(arg_value(provider, "--server") == bind,
                "%s: provider --server %s differs from the server socket %s" %
                (label, arg_value(provider, "--server"), bind))
        root = s.get("nvmlProvider.driverRoot", "")
        if root:
            F.check(vols.get("driver-root", {}).get("hostPath", {}).get("path") == root,
                    "%s: driver root %s not mounted" % (label, root))
            F.check(arg_value(provider, "--driver-root") == "/driver-root",
                    "%s: provider --driver-root not set" % label)
        else:
            F.check("driver-root" not in vols, "%s: driver-root volume without driverRoot" % label)
    gid = int(s.get("socket.groupId", "2000"))
    F.check(arg_value(server, "--socket-group") == str(gid),
            "%s: --socket-group %s, want %d" % (label, arg_value(server, "--socket-group"), gid))
    F.check(gid in pod.get("securityContext", {}).get("supplementalGroups", []),
            "%s: pod supplementalGroups lack the socket group %d" % (label, gid))
    inits = pod.get("initContainers", [])
    if s.get("socket.initPermissions", "true") == "true":
        F.check(len(inits) == 1 and host_dir in " ".join(inits[0]["command"]),
                "%s: socket-dir init container missing" % label)

    # Durable state (S24): the database lives in a hostPath directory the server mounts, so
    # it survives pod restarts; the init container hands it to the server's user.
    storage = s.get("storage.type", "sqlite")
    F.check(arg_value(server, "--storage-type") == storage,
            "%s: --storage-type %s, want %s" % (label, arg_value(server, "--storage-type"), storage))
    if storage == "sqlite":
        state_dir = s.get("storage.hostDir", "/var/lib/nvidia-device-api").rstrip("/")
        F.check(vols.get("state-dir", {}).get("hostPath", {}).get("path") == state_dir,
                "%s: state directory %s is not a hostPath volume" % (label, state_dir))
        mounts = {m["name"]: m["mountPath"] for m in server.get("volumeMounts", [])}
        F.check(mounts.get("state-dir") == state_dir,
                "%s: state directory not mounted at %s in the server" % (label, state_dir))
        F.check(arg_value(server, "--storage-endpoint") == "sqlite://%s/state.db" % state_dir,
                "%s: --storage-endpoint %s is not in %s" % (label, arg_value(server, "--storage-endpoint"),
                                                          state_dir))
        if inits:
            uid = s.get("server.securityContext.runAsUser", "65534")
            F.check(re.search(r"chown %s:%s %s " % (uid, uid, re.escape(state_dir)),
                              " ".join(inits[0]["command"])),
                    "%s: the init container does not give %s to uid 65534" % (label, state_dir))
    else:
        F.check("state-dir" not in vols, "%s: state-dir volume with storage.type=%s" % (label, storage))

    # Metrics Service and ServiceMonitor wiring.
    svcs = objs.get("Service", [])
    if s.get("metrics.service.enabled", "true") == "true":
        if F.check(len(svcs) == 1, "%s: expected one metrics Service" % label):
            svc = svcs[0]
            pod_labels = ds["spec"]["template"]["metadata"]["labels"]
            F.check(all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items()),
                    "%s: Service selector does not match the pods" % label)
            names = {p["targetPort"] for p in svc["spec"]["ports"]}
            cports = {p["name"] for c in pod["containers"] for p in c.get("ports", [])}
            F.check(names <= cports, "%s: Service targets unknown ports %s" % (label, names - cports))
            F.check("metrics" in names, "%s: Service lacks the metrics port" % label)
            for sm in objs.get("ServiceMonitor", []):
                sel = sm["spec"]["selector"]["matchLabels"]
                F.check(all(svc["metadata"]["labels"].get(k) == v for k, v in sel.items()),
                        "%s: ServiceMonitor selector does not match the Service" % label)
                eps = {e["port"] for e in sm["spec"]["endpoints"]}
                F.check(eps <= {p["name"] for p in svc["spec"]["ports"]},
                        "%s: ServiceMonitor endpoints %s not on the Service" % (label, eps))
            check_jobs(label, objs, svc)
    else:
        F.check(not svcs, "%s: Service rendered although disabled" % label)


def fullname(sets, release):
    s = dict(x.split("=", 1) for x in sets if "=" in x)
    if s.get("fullnameOverride"):
        return s["fullnameOverride"]
    name = s.get("nameOverride") or "device-api-server"
    return release if name in release else release + "-" + name


def bridge_rules(node_taint, device_taint_rules):
    """The ClusterRole rules the bridge needs: exactly these, nothing else."""
    rules = [([""], ["nodes"], ["get", "list", "watch"]),
             ([""], ["nodes/status"], ["patch"])]
    if node_taint:
        rules.append(([""], ["nodes"], ["update"]))
    rules.append(([""], ["events"], ["create", "patch"]))
    if device_taint_rules:
        rules.append((["resource.k8s.io"], ["devicetaintrules"],
                      ["list", "watch", "create", "patch", "delete"]))
    return sorted((tuple(g), tuple(r), tuple(sorted(v))) for g, r, v in rules)


def normalized_rules(role):
    out = []
    for r in role.get("rules", []):
        F.check(set(r) <= {"apiGroups", "resources", "verbs"},
                "%s: rule with more than apiGroups/resources/verbs: %s" %
                (role["metadata"]["name"], r))
        out.append((tuple(r.get("apiGroups", [])), tuple(r.get("resources", [])),
                    tuple(sorted(r.get("verbs", [])))))
    return sorted(out)


def bridge_source_literals():
    """String literals of the Go module's non-test sources: the bridge's flags and the
    environment variables it reads are among them."""
    lits = set()
    for root, _, files in os.walk(BRIDGE_SOURCE):
        for f in files:
            if f.endswith(".go") and not f.endswith("_test.go"):
                lits |= set(re.findall(r'"([^"\\\n]*)"', open(os.path.join(root, f)).read()))
    return lits


def check_bridge(label, objs, sets, release):
    """device-api-k8s-bridge: the container, its token and its RBAC, or none of them."""
    s = dict(x.split("=", 1) for x in sets if "=" in x)
    enabled = s.get("k8sBridge.enabled", "false") == "true"
    ds = objs["DaemonSet"][0]
    pod = ds["spec"]["template"]["spec"]
    bridge = container(ds, BRIDGE)
    rbac = {k: objs.get(k, []) for k in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")}
    token_vols = {v["name"] for v in pod.get("volumes", [])
                  for src in v.get("projected", {}).get("sources", []) if "serviceAccountToken" in src}
    all_containers = pod["containers"] + pod.get("initContainers", [])
    mounting = {c["name"] for c in all_containers for m in c.get("volumeMounts", [])
                if m["name"] in token_vols or m["mountPath"].rstrip("/") == SA_TOKEN_DIR}
    # Whatever the bridge does, the pod as a whole never gets the automatic token.
    F.check(pod.get("automountServiceAccountToken") is False,
            "%s: the pod must not automount the ServiceAccount token" % label)
    for sa in objs.get("ServiceAccount", []):
        F.check(sa.get("automountServiceAccountToken") is False,
                "%s: ServiceAccount %s automounts its token" % (label, sa["metadata"]["name"]))

    if not enabled:
        F.check(bridge is None, "%s: bridge container rendered although disabled" % label)
        F.check(not any(rbac.values()), "%s: RBAC objects rendered without the bridge: %s" %
                (label, {k: len(v) for k, v in rbac.items() if v}))
        F.check(not token_vols and not mounting,
                "%s: a ServiceAccount token is mounted without the bridge (%s)" % (label, mounting))
        F.check(not any(p["name"] == "bridge-http" for svc in objs.get("Service", [])
                        for p in svc["spec"]["ports"]),
                "%s: the metrics Service has a bridge port without the bridge" % label)
        return
    if not F.check(bridge is not None, "%s: no %s container" % (label, BRIDGE)):
        return

    # The pods tolerate the bridge's own node taint (any value and effect), else it would
    # evict or keep out the pod that removes it; without a node taint, no such toleration.
    taint_key = re.split("[=:]", s.get("k8sBridge.nodeTaint", ""))[0]
    tolerated = {t.get("key") for t in pod.get("tolerations", []) if t.get("operator") == "Exists"
                 and "effect" not in t}
    if taint_key:
        F.check(taint_key in tolerated, "%s: the pods do not tolerate the node taint %s" % (label, taint_key))

    # RBAC: one ClusterRole with exactly the rules above, bound to the pods' ServiceAccount.
    F.check(not rbac["Role"] and not rbac["RoleBinding"], "%s: unexpected Role/RoleBinding" % label)
    name = fullname(sets, release) + "-k8s-bridge"
    roles, bindings = rbac["ClusterRole"], rbac["ClusterRoleBinding"]
    if F.check(len(roles) == 1 and roles[0]["metadata"]["name"] == name,
               "%s: want one ClusterRole %s, got %s" %
               (label, name, [r["metadata"]["name"] for r in roles])):
        want = bridge_rules(s.get("k8sBridge.nodeTaint", ""),
                            s.get("k8sBridge.deviceTaintRules.enabled", "true") == "true")
        got = normalized_rules(roles[0])
        F.check(got == want, "%s: ClusterRole rules\n  %s\nwant exactly\n  %s" %
                (label, "\n  ".join(map(str, got)), "\n  ".join(map(str, want))))
    sa_name = pod.get("serviceAccountName")
    if s.get("serviceAccount.create", "true") == "true":
        F.check(any(sa["metadata"]["name"] == sa_name for sa in objs.get("ServiceAccount", [])),
                "%s: the pods' ServiceAccount %s is not rendered" % (label, sa_name))
    F.check(sa_name not in (None, "", "default"),
            "%s: the bridge would run as the namespace's default ServiceAccount" % label)
    if F.check(len(bindings) == 1, "%s: want one ClusterRoleBinding, got %d" % (label, len(bindings))):
        b = bindings[0]
        F.check(b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": name}, "%s: binding roleRef %s" % (label, b["roleRef"]))
        F.check(b.get("subjects") == [{"kind": "ServiceAccount", "name": sa_name,
                                       "namespace": ds["metadata"]["namespace"]}],
                "%s: binding subjects %s, want the pods' ServiceAccount %s" %
                (label, b.get("subjects"), sa_name))

    # The token: a projected volume mounted read-only into the bridge container alone.
    F.check(len(token_vols) == 1, "%s: want one projected token volume, got %s" % (label, token_vols))
    F.check(mounting == {BRIDGE}, "%s: the token reaches %s, want the bridge alone" %
            (label, sorted(mounting)))
    mounts = {m["mountPath"].rstrip("/"): m for m in bridge.get("volumeMounts", [])}
    tm = mounts.get(SA_TOKEN_DIR, {})
    F.check(tm.get("name") in token_vols and tm.get("readOnly") is True,
            "%s: bridge mounts no read-only token volume at %s: %s" % (label, SA_TOKEN_DIR, tm))
    for v in pod.get("volumes", []):
        if v["name"] not in token_vols:
            continue
        srcs = v["projected"]["sources"]
        tok = next(x["serviceAccountToken"] for x in srcs if "serviceAccountToken" in x)
        F.check(tok.get("path") == "token" and 600 <= tok.get("expirationSeconds", 3607) <= 3600,
                "%s: token must be at path token and live at most an hour: %s" % (label, tok))
        F.check(any(x.get("configMap", {}).get("name") == "kube-root-ca.crt" and
                    {"key": "ca.crt", "path": "ca.crt"} in x["configMap"].get("items", [])
                    for x in srcs), "%s: token volume lacks ca.crt" % label)
        F.check(any(i.get("path") == "namespace" and
                    i.get("fieldRef", {}).get("fieldPath") == "metadata.namespace"
                    for x in srcs for i in x.get("downwardAPI", {}).get("items", [])),
                "%s: token volume lacks namespace" % label)

    # The node comes from the downward API.
    env = {e["name"]: e for e in bridge.get("env", [])}
    F.check(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            == "spec.nodeName", "%s: bridge NODE_NAME is not spec.nodeName: %s" %
            (label, env.get("NODE_NAME")))
    F.check(arg_value(bridge, "--node-name") is None,
            "%s: --node-name would override NODE_NAME" % label)

    # Flags from the values, probes on the health port.
    want = {"--server": "unix://%s/%s" % (s.get("socket.hostDir", "/var/run/nvidia-device-api"),
                                          s.get("socket.name", "device-api.sock")),
            "--condition-type": s.get("k8sBridge.conditionType", "GpuHealthy"),
            "--device-taint-rules": s.get("k8sBridge.deviceTaintRules.enabled", "true"),
            "--dra-driver": "gpu.nvidia.com", "--uuid-attribute": "gpu.nvidia.com/uuid",
            "--taint-effects": s.get("k8sBridge.taintEffects", "*=NoSchedule").replace("\\", ""),
            "--node-taint": s.get("k8sBridge.nodeTaint") or None,
            "--kube-api-qps": s.get("k8sBridge.kubeApiQps", "5"),
            "--kube-api-burst": s.get("k8sBridge.kubeApiBurst", "10"),
            "--health-probe-bind-address": ":" + s.get("k8sBridge.healthPort", "8083")}
    for flag, value in want.items():
        F.check(arg_value(bridge, flag) == value, "%s: bridge %s=%s, want %s" %
                (label, flag, arg_value(bridge, flag), value))
    port = int(s.get("k8sBridge.healthPort", "8083"))
    ports = {p["name"]: p["containerPort"] for p in bridge.get("ports", [])}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = bridge.get(probe, {}).get("httpGet", {})
        F.check(get.get("path") == path and ports.get(get.get("port")) == port,
                "%s: bridge %s must GET %s on port %d: %s" % (label, probe, path, port, get))
    extra = s.get("k8sBridge.extraArgs", "{}").strip("{}")
    if extra:
        F.check(extra in bridge["args"], "%s: k8sBridge.extraArgs not passed" % label)
    # Its /metrics, on the same port, is scraped like the provider's.
    svcs = objs.get("Service", [])
    if svcs:
        F.check(any(p["targetPort"] == get.get("port") and p["port"] == port
                    for p in svcs[0]["spec"]["ports"]),
                "%s: the metrics Service has no port for the bridge" % label)
    for sm in objs.get("ServiceMonitor", []):
        F.check(any(e["port"] == get.get("port") and e["path"] == "/metrics" and
                    {"targetLabel": "job", "replacement": BRIDGE} in e.get("relabelings", [])
                    for e in sm["spec"]["endpoints"]),
                "%s: the ServiceMonitor does not scrape the bridge as job=%s" % (label, BRIDGE))
    tag = s.get("k8sBridge.image.tag")
    if tag:
        F.check(bridge["image"] == "device-api-k8s-bridge:" + tag, "%s: k8sBridge.image.tag "
                "ignored: %s" % (label, bridge["image"]))

    # Every flag and environment variable the chart hands the bridge is one it reads.
    lits = bridge_source_literals()
    for a in bridge["args"]:
        flag = a.split("=", 1)[0]
        if flag in [x.split("=", 1)[0] for x in s.get("k8sBridge.extraArgs", "{}").strip("{}").split(",")]:
            continue
        F.check(flag.lstrip("-") in lits, "%s: the chart passes %s, which %s does not define "
                "(no \"%s\" in %s)" % (label, flag, BRIDGE, flag.lstrip("-"), BRIDGE_SOURCE))
    F.check("NODE_NAME" in lits, "%s: the bridge sources never read NODE_NAME" % label)


def main():
    helm = tool("helm")
    tmp = temp_dir("helm-chart-test-")
    for label, sets in COMBINATIONS.items():
        args = [helm, "lint", "--strict", CHART, "--kube-version", "1.34.2"]
        for x in sets:
            args += ["--set", x]
        p = run(args, check=False)
        F.check(p.returncode == 0, "%s: helm lint failed:\n%s%s" % (label, p.stdout, p.stderr))
        r = helm_template(sets, release="gpu" if label == "custom" else "device-api-server",
                          check=False)
        if not F.check(r.returncode == 0, "%s: helm template failed: %s" % (label, r.stderr)):
            continue
        path = os.path.join(tmp, label + ".yaml")
        with open(path, "w") as f:
            f.write(r.stdout)
        k = kubeconform(path)
        summary = k.stdout.strip().splitlines()[-1] if k.stdout.strip() else ""
        F.check(k.returncode == 0 and "Invalid: 0, Errors: 0, Skipped: 0" in summary,
                "%s: kubeconform: %s\n%s" % (label, summary, k.stdout + k.stderr))
        objs = by_kind(load_yaml_docs(r.stdout))
        print("%-22s lint ok, kubeconform: %s" % (label, summary))
        check_daemonset(label, objs, sets)
        if objs.get("DaemonSet"):
            check_bridge(label, objs, sets, "gpu" if label == "custom" else "device-api-server")
        if label == "monitoring":
            F.check(len(objs.get("ServiceMonitor", [])) == 1 and
                    len(objs.get("PrometheusRule", [])) == 1,
                    "monitoring: ServiceMonitor and PrometheusRule expected")
        elif label == "defaults":
            F.check("ServiceMonitor" not in objs and "PrometheusRule" not in objs,
                    "defaults: ServiceMonitor/PrometheusRule must be off by default")
        if label == "custom":
            ds = objs["DaemonSet"][0]
            F.check(ds["metadata"]["name"] == "gpu-api", "custom: fullnameOverride ignored")
            F.check(ds["spec"]["template"]["spec"]["containers"][0]["image"]
                    == "device-api-server:1.2.3", "custom: image.tag ignored")
            F.check("--max-objects=8192" in ds["spec"]["template"]["spec"]["containers"][0]["args"],
                    "custom: server.extraArgs not passed")
            F.check("ServiceAccount" not in objs, "custom: ServiceAccount rendered despite create=false")

    # The kubeconform setup itself must be able to fail: a misspelt field is invalid.
    bad = os.path.join(tmp, "bad.yaml")
    r = helm_template([])
    with open(bad, "w") as f:
        f.write(r.stdout.replace("readOnlyRootFilesystem:", "readOnlyRootFileSystem:", 1))
    k = kubeconform(bad)
    F.check(k.returncode != 0 and "readOnlyRootFileSystem" in k.stdout,
            "kubeconform accepted a misspelt field: %s" % k.stdout)

    # A securityContext without runAsUser (an override that nulls it, e.g. to let the
    # platform pick) runs the server as the image's user, 65534: the init container must hand
    # the directories to that user, not to root (0), or the server cannot open its database.
    for sets in (["server.securityContext.runAsUser=null"],
                 ["server.securityContext.runAsUser=null", "storage.hostDir=/data/device-api"]):
        r = helm_template(sets, show_only="templates/daemonset.yaml")
        pod = load_yaml_docs(r.stdout)[0]["spec"]["template"]["spec"]
        command = " ".join(pod["initContainers"][0]["command"])
        state_dir = dict(x.split("=", 1) for x in sets).get("storage.hostDir",
                                                            "/var/lib/nvidia-device-api")
        F.check("chown 65534:2000 /var/run/nvidia-device-api " in command
                and "chown 65534:65534 %s " % state_dir in command,
                "%s: the init container does not hand the directories to uid 65534: %s" %
                (sets, command))

    for label, (sets, fragment) in INVALID.items():
        r = helm_template(sets, check=False)
        F.check(r.returncode != 0 and fragment in r.stderr,
                "invalid values accepted (%s: %s): rc=%d %s" % (label, sets, r.returncode,
                                                                r.stderr.strip()[:300]))
    F.finish()


if __name__ == "__main__":
    main()
