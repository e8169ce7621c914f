package k8sbridge

import (
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestParseEffectMap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want EffectMap
	}{
		{"", EffectMap{"*": EffectNoSchedule}},
		{"*=NoSchedule", EffectMap{"*": EffectNoSchedule}},
		{"*=NoExecute", EffectMap{"*": EffectNoExecute}},
		{"*=None", EffectMap{"*": EffectNone}},
		{"RESET_GPU=NoExecute", EffectMap{"RESET_GPU": EffectNoExecute, "*": EffectNoSchedule}},
		{"RESET_GPU=NoExecute,RESTART_BM=NoExecute", EffectMap{"RESET_GPU": EffectNoExecute, "RESTART_BM": EffectNoExecute, "*": EffectNoSchedule}},
		{" RESTART_APP=None , *=NoExecute ,", EffectMap{"RESTART_APP": EffectNone, "*": EffectNoExecute}},
		{"A=NoSchedule,A=NoExecute", EffectMap{"A": EffectNoExecute, "*": EffectNoSchedule}}, // the last one wins
	} {
		got, err := ParseEffectMap(tc.in)
		if err != nil {
			t.Errorf("ParseEffectMap(%q): %v", tc.in, err)
			continue
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("ParseEffectMap(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{
		"RESET_GPU",                  // no effect
		"=NoExecute",                 // no action
		"RESET_GPU=",                 // empty effect
		"RESET_GPU=Evict",            // unknown effect
		"RESET_GPU=noexecute",        // effects are case-sensitive
		"RESET_GPU=PreferNoSchedule", // a node taint effect, not a device taint effect
		"*=NoSchedule,RESET_GPU",
	} {
		if m, err := ParseEffectMap(in); err == nil {
			t.Errorf("ParseEffectMap(%q) = %v, want an error", in, m)
		}
	}
}

func TestEffectMapFor(t *testing.T) {
	m, err := ParseEffectMap("RESET_GPU=NoExecute,RESTART_APP=None")
	if err != nil {
		t.Fatal(err)
	}
	for action, want := range map[string]Effect{
		"RESET_GPU":       EffectNoExecute,
		"RESTART_APP":     EffectNone,
		"RESTART_BM":      EffectNoSchedule, // "*"
		"CONTACT_SUPPORT": EffectNoSchedule,
		"":                EffectNoSchedule, // no action: "*"
	} {
		if got := m.For(action); got != want {
			t.Errorf("For(%q) = %s, want %s", action, got, want)
		}
	}

	all, _ := ParseEffectMap("*=NoExecute")
	for _, action := range []string{"", "RESET_GPU", "anything"} {
		if got := all.For(action); got != EffectNoExecute {
			t.Errorf("*=NoExecute: For(%q) = %s", action, got)
		}
	}
	// An entry for the empty action is never used: "*" covers GPUs without an action.
	if got := (EffectMap{"": EffectNone, "*": EffectNoExecute}).For(""); got != EffectNoExecute {
		t.Errorf("For(\"\") = %s, want the \"*\" entry", got)
	}
	// A map without "*" (built by hand) falls back to NoSchedule.
	if got := (EffectMap{"RESET_GPU": EffectNoExecute}).For("RESTART_BM"); got != EffectNoSchedule {
		t.Errorf("no \"*\": For = %s, want NoSchedule", got)
	}
	if got := (EffectMap(nil)).For("RESET_GPU"); got != EffectNoSchedule {
		t.Errorf("nil map: For = %s, want NoSchedule", got)
	}
}

func TestParseNodeTaint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want corev1.Taint
	}{
		{"", corev1.Taint{}},
		{"nvidia.com/gpu-unhealthy=true:NoSchedule", corev1.Taint{Key: "nvidia.com/gpu-unhealthy", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		{"gpu-unhealthy:NoExecute", corev1.Taint{Key: "gpu-unhealthy", Effect: corev1.TaintEffectNoExecute}},
		{"example.com/k=:PreferNoSchedule", corev1.Taint{Key: "example.com/k", Effect: corev1.TaintEffectPreferNoSchedule}},
		{"k=GpuUnhealthy:NoSchedule", corev1.Taint{Key: "k", Value: "GpuUnhealthy", Effect: corev1.TaintEffectNoSchedule}},
	} {
		got, err := ParseNodeTaint(tc.in)
		if err != nil {
			t.Errorf("ParseNodeTaint(%q): %v", tc.in, err)
			continue
		}
		if got.Key != tc.want.Key || got.Value != tc.want.Value || got.Effect != tc.want.Effect || got.TimeAdded != nil {
			t.Errorf("ParseNodeTaint(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{
		"nvidia.com/gpu-unhealthy=true",  // no effect
		"k=v:",                           // empty effect
		"k=v:Evict",                      // unknown effect
		"k=v:noschedule",                 // case-sensitive
		"k=v:None",                       // None is for device taints only
		":NoSchedule",                    // no key
		"=v:NoSchedule",                  // no key
		"bad key:NoSchedule",             // not a qualified name
		"-k:NoSchedule",                  // must start alphanumeric
		"Bad_Domain/k:NoSchedule",        // prefix not a DNS subdomain
		"k=not a label value:NoSchedule", // value not a label value
		"k=" + strings.Repeat("v", 64) + ":NoSchedule", // value too long
		"k=v:NoSchedule:extra",
	} {
		if got, err := ParseNodeTaint(in); err == nil {
			t.Errorf("ParseNodeTaint(%q) = %+v, want an error", in, got)
		}
	}
}

// validConfig is a configuration that Validate accepts.
func validConfig() Config {
	c := Config{NodeName: "node-a"}
	c.Defaults()
	return c
}

func TestDefaults(t *testing.T) {
	c := Config{NodeName: "node-a"}
	c.Defaults()
	if c.ConditionType != "GpuHealthy" || c.DRADriver != "gpu.nvidia.com" || c.UUIDAttribute != "gpu.nvidia.com/uuid" ||
		c.ResyncPeriod != 5*time.Minute || c.ProbeInterval != time.Second || c.FieldManager != "device-api-k8s-bridge" ||
		!maps.Equal(c.TaintEffects, EffectMap{"*": EffectNoSchedule}) || c.NodeTaint.Key != "" || c.DeviceTaintRules ||
		c.WritesPerPass != 10 {
		t.Errorf("Defaults = %+v", c)
	}
	// Set values are kept.
	c = Config{ConditionType: "X", DRADriver: "d.example.com", UUIDAttribute: "d.example.com/id",
		TaintEffects: EffectMap{"*": EffectNone}, ResyncPeriod: time.Hour, ProbeInterval: time.Minute, FieldManager: "fm",
		WritesPerPass: 3}
	c.Defaults()
	if c.WritesPerPass != 3 || c.ConditionType != "X" || c.DRADriver != "d.example.com" || c.UUIDAttribute != "d.example.com/id" ||
		c.ResyncPeriod != time.Hour || c.ProbeInterval != time.Minute || c.FieldManager != "fm" || c.TaintEffects["*"] != EffectNone {
		t.Errorf("Defaults overwrote a set value: %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(*Config)
		wantErr string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no node name", func(c *Config) { c.NodeName = "" }, "node name is required"},
		{"prefixed condition type", func(c *Config) { c.ConditionType = "nvidia.com/GpuHealthy" }, ""},
		{"condition type with a space", func(c *Config) { c.ConditionType = "Gpu Healthy" }, `condition type "Gpu Healthy"`},
		{"condition type with a bad prefix", func(c *Config) { c.ConditionType = "Bad_Prefix/GpuHealthy" }, "condition type"},
		{"condition type too long", func(c *Config) { c.ConditionType = strings.Repeat("a", 64) }, "condition type"},
		{"other uuid attribute", func(c *Config) { c.UUIDAttribute = "dra.example.com/gpu_uuid" }, ""},
		{"uuid attribute without a domain", func(c *Config) { c.UUIDAttribute = "uuid" }, "want DOMAIN/NAME"},
		{"uuid attribute with an empty domain", func(c *Config) { c.UUIDAttribute = "/uuid" }, "want DOMAIN/NAME"},
		{"uuid attribute with an empty name", func(c *Config) { c.UUIDAttribute = "gpu.nvidia.com/" }, "want DOMAIN/NAME"},
		{"uuid attribute domain not DNS", func(c *Config) { c.UUIDAttribute = "GPU.nvidia.com/uuid" }, `uuid attribute domain "GPU.nvidia.com"`},
		{"uuid attribute domain with a slash", func(c *Config) { c.UUIDAttribute = "gpu.nvidia.com/x/uuid" }, `uuid attribute domain "gpu.nvidia.com/x"`},
		{"uuid attribute name with a dash", func(c *Config) { c.UUIDAttribute = "gpu.nvidia.com/gpu-uuid" }, `uuid attribute name "gpu-uuid"`},
		{"uuid attribute name starting with a digit", func(c *Config) { c.UUIDAttribute = "gpu.nvidia.com/1uuid" }, `uuid attribute name "1uuid"`},
		{"uuid attribute name with a quote", func(c *Config) { c.UUIDAttribute = `gpu.nvidia.com/uu"id` }, "uuid attribute name"},
		{"node taint", func(c *Config) {
			c.NodeTaint = corev1.Taint{Key: "nvidia.com/gpu-unhealthy", Effect: corev1.TaintEffectNoSchedule}
		}, ""},
		{"heartbeat interval of a second", func(c *Config) { c.HeartbeatInterval = time.Second }, ""},
		{"sub-second heartbeat interval", func(c *Config) { c.HeartbeatInterval = 500 * time.Millisecond }, "heartbeat interval 500ms: must be at least 1s"},
		{"node taint with a bad key", func(c *Config) { c.NodeTaint = corev1.Taint{Key: "bad key", Effect: corev1.TaintEffectNoSchedule} }, `node taint key "bad key"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("Validate accepted %+v, want an error with %q", c, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("Validate: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestUUIDAttributeSplit(t *testing.T) {
	c := validConfig()
	c.UUIDAttribute = "resource.example.com/uuid"
	d, n, err := c.uuidAttribute()
	if err != nil || d != "resource.example.com" || n != "uuid" {
		t.Errorf("uuidAttribute = %q, %q, %v", d, n, err)
	}
}
