package main

import (
	"errors"
	"flag"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nvidia/device-api-server/clients/go/k8sbridge"
)

// flagNames are the command's flags; each may also come from DEVICE_API_K8S_BRIDGE_<NAME>.
var flagNames = []string{
	"node-name", "server", "kubeconfig", "condition-type", "device-taint-rules", "dra-driver", "uuid-attribute",
	"taint-effects", "node-taint", "kube-api-qps", "kube-api-burst", "resync-period", "probe-interval",
	"heartbeat-interval", "absent-gpu-grace", "max-retry-delay", "health-probe-bind-address", "log-level",
}

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// cleanEnv unsets every variable parseFlags reads, restoring them after the test.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, f := range flagNames {
		t.Setenv(envName(f), "")
		os.Unsetenv(envName(f))
	}
	t.Setenv("NODE_NAME", "")
	os.Unsetenv("NODE_NAME")
}

func TestEnvNames(t *testing.T) {
	if got := envName("health-probe-bind-address"); got != "DEVICE_API_K8S_BRIDGE_HEALTH_PROBE_BIND_ADDRESS" {
		t.Errorf("env name %q", got)
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	cleanEnv(t)
	o, err := parseFlags([]string{"--node-name=node-a"})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.NodeName != "node-a" || c.ConditionType != "GpuHealthy" || !c.DeviceTaintRules || c.DRADriver != "gpu.nvidia.com" ||
		c.UUIDAttribute != "gpu.nvidia.com/uuid" || c.ResyncPeriod != 5*time.Minute || c.ProbeInterval != time.Second ||
		c.MaxRetryDelay != 15*time.Second || c.AbsentGPUGrace != 5*time.Minute ||
		c.HeartbeatInterval != 5*time.Minute || c.FieldManager != "device-api-k8s-bridge" || c.NodeTaint.Key != "" || c.WritesPerPass != 10 ||
		!maps.Equal(c.TaintEffects, k8sbridge.EffectMap{"*": k8sbridge.EffectNoSchedule}) {
		t.Errorf("config %+v", c)
	}
	if o.server != "" || o.kubeconfig != "" || o.qps != 5 || o.burst != 10 || o.healthAddr != ":8083" || o.logLevel != "info" {
		t.Errorf("options %+v", o)
	}
}

func TestParseFlagsEveryFlag(t *testing.T) {
	cleanEnv(t)
	o, err := parseFlags([]string{
		"--node-name=node-a", "--server=unix:///tmp/x.sock", "--kubeconfig=/tmp/kc", "--condition-type=example.com/Gpus",
		"--device-taint-rules=false", "--dra-driver=dra.example.com", "--uuid-attribute=dra.example.com/gpu_uuid",
		"--taint-effects=RESET_GPU=NoExecute,RESTART_BM=NoExecute", "--node-taint=nvidia.com/gpu-unhealthy=true:NoSchedule",
		"--kube-api-qps=2.5", "--kube-api-burst=3", "--resync-period=10m", "--probe-interval=250ms",
		"--max-retry-delay=30s", "--absent-gpu-grace=1m", "--heartbeat-interval=90s", "--health-probe-bind-address=127.0.0.1:9000", "--log-level=debug",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.ConditionType != "example.com/Gpus" || c.DeviceTaintRules || c.DRADriver != "dra.example.com" ||
		c.UUIDAttribute != "dra.example.com/gpu_uuid" || c.ResyncPeriod != 10*time.Minute || c.ProbeInterval != 250*time.Millisecond ||
		c.MaxRetryDelay != 30*time.Second || c.AbsentGPUGrace != time.Minute ||
		c.HeartbeatInterval != 90*time.Second || c.WritesPerPass != 3 { // a pass writes at most one burst of rules
		t.Errorf("config %+v", c)
	}
	wantEffects := k8sbridge.EffectMap{"RESET_GPU": k8sbridge.EffectNoExecute, "RESTART_BM": k8sbridge.EffectNoExecute, "*": k8sbridge.EffectNoSchedule}
	if !maps.Equal(c.TaintEffects, wantEffects) {
		t.Errorf("taint effects %v, want %v", c.TaintEffects, wantEffects)
	}
	if c.NodeTaint.Key != "nvidia.com/gpu-unhealthy" || c.NodeTaint.Value != "true" || c.NodeTaint.Effect != corev1.TaintEffectNoSchedule {
		t.Errorf("node taint %+v", c.NodeTaint)
	}
	if o.server != "unix:///tmp/x.sock" || o.kubeconfig != "/tmp/kc" || o.qps != 2.5 || o.burst != 3 ||
		o.healthAddr != "127.0.0.1:9000" || o.logLevel != "debug" || o.nodeTaint != "nvidia.com/gpu-unhealthy=true:NoSchedule" {
		t.Errorf("options %+v", o)
	}
}

func TestParseFlagsEnvironment(t *testing.T) {
	cleanEnv(t)
	env := map[string]string{
		"node-name": "node-env", "server": "unix:///env.sock", "kubeconfig": "/env/kc", "condition-type": "EnvGpus",
		"device-taint-rules": "false", "dra-driver": "env.example.com", "uuid-attribute": "env.example.com/uuid",
		"taint-effects": "*=NoExecute", "node-taint": "env.example.com/bad=yes:NoExecute", "kube-api-qps": "7",
		"kube-api-burst": "20", "resync-period": "1h", "probe-interval": "3s", "max-retry-delay": "2s", "absent-gpu-grace": "10m", "heartbeat-interval": "1h", "health-probe-bind-address": "",
		"log-level": "info",
	}
	for f, v := range env {
		t.Setenv(envName(f), v)
	}
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.NodeName != "node-env" || c.ConditionType != "EnvGpus" || c.DeviceTaintRules || c.DRADriver != "env.example.com" ||
		c.UUIDAttribute != "env.example.com/uuid" || c.ResyncPeriod != time.Hour || c.ProbeInterval != 3*time.Second || c.MaxRetryDelay != 2*time.Second || c.AbsentGPUGrace != 10*time.Minute || c.HeartbeatInterval != time.Hour ||
		c.TaintEffects["*"] != k8sbridge.EffectNoExecute || c.NodeTaint.Key != "env.example.com/bad" || c.NodeTaint.Value != "yes" ||
		c.NodeTaint.Effect != corev1.TaintEffectNoExecute {
		t.Errorf("config from the environment %+v", c)
	}
	// An empty value counts as set: --health-probe-bind-address="" turns the endpoint off.
	if o.server != "unix:///env.sock" || o.kubeconfig != "/env/kc" || o.qps != 7 || o.burst != 20 || o.healthAddr != "" {
		t.Errorf("options from the environment %+v", o)
	}
}

func TestParseFlagsNodeName(t *testing.T) {
	for _, tc := range []struct {
		name       string
		nodeName   string // $NODE_NAME
		prefixed   string // $DEVICE_API_K8S_BRIDGE_NODE_NAME
		args       []string
		want       string
		wantErrSub string
	}{
		{name: "downward API", nodeName: "from-node-name", want: "from-node-name"},
		{name: "prefixed variable beats NODE_NAME", nodeName: "from-node-name", prefixed: "from-prefixed", want: "from-prefixed"},
		{name: "flag beats both", nodeName: "from-node-name", prefixed: "from-prefixed", args: []string{"--node-name", "from-flag"}, want: "from-flag"},
		{name: "none", wantErrSub: "the node name is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			if tc.nodeName != "" {
				t.Setenv("NODE_NAME", tc.nodeName)
			}
			if tc.prefixed != "" {
				t.Setenv(envName("node-name"), tc.prefixed)
			}
			o, err := parseFlags(tc.args)
			if tc.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Errorf("error %v, want %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.cfg.NodeName != tc.want {
				t.Errorf("node name %q, want %q", o.cfg.NodeName, tc.want)
			}
		})
	}
}

func TestParseFlagsFlagBeatsEnvironment(t *testing.T) {
	cleanEnv(t)
	t.Setenv("NODE_NAME", "node-a")
	t.Setenv(envName("kube-api-qps"), "not a number") // never parsed: the flag is given
	t.Setenv(envName("taint-effects"), "*=None")
	t.Setenv(envName("device-taint-rules"), "false")
	t.Setenv(envName("condition-type"), "EnvType")
	o, err := parseFlags([]string{"--kube-api-qps=9", "--taint-effects=*=NoExecute", "--device-taint-rules", "--condition-type=FlagType"})
	if err != nil {
		t.Fatal(err)
	}
	if o.qps != 9 || o.cfg.TaintEffects["*"] != k8sbridge.EffectNoExecute || !o.cfg.DeviceTaintRules || o.cfg.ConditionType != "FlagType" {
		t.Errorf("flags did not win: %+v", o)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{name: "unknown flag", args: []string{"--no-such-flag"}, wantErr: "no-such-flag"},
		{name: "positional argument", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
		{name: "bad qps flag", args: []string{"--kube-api-qps=fast"}, wantErr: "kube-api-qps"},
		{name: "bad qps in the environment", env: map[string]string{"kube-api-qps": "fast"}, wantErr: "environment for --kube-api-qps"},
		{name: "bad bool in the environment", env: map[string]string{"device-taint-rules": "maybe"}, wantErr: "environment for --device-taint-rules"},
		{name: "bad duration in the environment", env: map[string]string{"resync-period": "5"}, wantErr: "environment for --resync-period"},
		{name: "zero qps", args: []string{"--kube-api-qps=0"}, wantErr: "--kube-api-qps must be > 0"},
		{name: "negative qps", args: []string{"--kube-api-qps=-1"}, wantErr: "--kube-api-qps must be > 0"},
		{name: "zero burst", args: []string{"--kube-api-burst=0"}, wantErr: "--kube-api-burst >= 1"},
		{name: "zero probe interval", args: []string{"--probe-interval=0s"}, wantErr: "--probe-interval and --resync-period must be > 0"},
		{name: "negative resync period", args: []string{"--resync-period=-1m"}, wantErr: "--probe-interval and --resync-period must be > 0"},
		{name: "zero retry delay", args: []string{"--max-retry-delay=0s"}, wantErr: "--max-retry-delay and --absent-gpu-grace must be > 0"},
		{name: "zero heartbeat interval", args: []string{"--heartbeat-interval=0s"}, wantErr: "--heartbeat-interval must be at least 1s"},
		{name: "sub-second heartbeat interval", args: []string{"--heartbeat-interval=500ms"}, wantErr: "--heartbeat-interval must be at least 1s"},
		{name: "negative grace", args: []string{"--absent-gpu-grace=-1s"}, wantErr: "--max-retry-delay and --absent-gpu-grace must be > 0"},
		{name: "bad taint effect", args: []string{"--taint-effects=RESET_GPU=Evict"}, wantErr: "effect must be NoSchedule, NoExecute or None"},
		{name: "bad taint effect in the environment", env: map[string]string{"taint-effects": "RESET_GPU"}, wantErr: "want ACTION=EFFECT"},
		{name: "bad node taint", args: []string{"--node-taint=k=v"}, wantErr: "want KEY[=VALUE]:EFFECT"},
		{name: "bad node taint effect", args: []string{"--node-taint=k=v:Sometimes"}, wantErr: "effect must be NoSchedule, PreferNoSchedule or NoExecute"},
		{name: "bad log level", args: []string{"--log-level=trace"}, wantErr: `--log-level "trace": want info or debug`},
		{name: "bad condition type", args: []string{"--condition-type=Gpu Healthy"}, wantErr: `condition type "Gpu Healthy"`},
		{name: "bad uuid attribute", args: []string{"--uuid-attribute=uuid"}, wantErr: "want DOMAIN/NAME"},
		{name: "bad uuid attribute in the environment", env: map[string]string{"uuid-attribute": "gpu.nvidia.com/gpu-uuid"}, wantErr: "uuid attribute name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("NODE_NAME", "node-a")
			for f, v := range tc.env {
				t.Setenv(envName(f), v)
			}
			o, err := parseFlags(tc.args)
			if err == nil {
				t.Fatalf("parseFlags(%q) = %+v, want an error with %q", tc.args, o, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseFlags(%q): %v, want an error with %q", tc.args, err, tc.wantErr)
			}
		})
	}

	cleanEnv(t)
	if _, err := parseFlags([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}
