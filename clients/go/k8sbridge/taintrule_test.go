package k8sbridge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestNodeLabelValue(t *testing.T) {
	for _, node := range []string{"node-a", "ip-10-0-0-1.ec2.internal", strings.Repeat("n", 63)} {
		if got := NodeLabelValue(node); got != node {
			t.Errorf("NodeLabelValue(%q) = %q, want the name itself", node, got)
		}
	}

	long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + ".example.com" // 195 characters
	sum := sha256.Sum256([]byte(long))
	want := "sha256-" + hex.EncodeToString(sum[:])[:40]
	got := NodeLabelValue(long)
	if got != want {
		t.Errorf("NodeLabelValue(long) = %q, want %q", got, want)
	}
	if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
		t.Errorf("NodeLabelValue(long) = %q is no label value: %v", got, errs)
	}
	if again := NodeLabelValue(long); again != got {
		t.Errorf("NodeLabelValue is not stable: %q then %q", got, again)
	}
	if other := NodeLabelValue(strings.Repeat("n", 64)); other == got || !strings.HasPrefix(other, "sha256-") || len(other) != 47 {
		t.Errorf("NodeLabelValue(64 n) = %q", other)
	}
	// The longest node name there can be.
	if v := NodeLabelValue(strings.Repeat("x", 253)); len(validation.IsValidLabelValue(v)) > 0 {
		t.Errorf("NodeLabelValue(253 characters) = %q is no label value", v)
	}
}

func TestRuleName(t *testing.T) {
	for in, want := range map[string]string{
		"gpu-8c1e0000-1111-2222-3333-444444444444": "gpu-health-gpu-8c1e0000-1111-2222-3333-444444444444",
		"GPU-8C1E0000-1111-2222-3333-444444444444": "gpu-health-gpu-8c1e0000-1111-2222-3333-444444444444",
	} {
		if got := RuleName(in); got != want {
			t.Errorf("RuleName(%q) = %q, want %q", in, got, want)
		}
	}
	// What is no DNS subdomain once in lower case, or too long, is named by its hash.
	for _, in := range []string{"GPU_with_underscores", strings.Repeat("a", 250), ""} {
		got := RuleName(in)
		if !strings.HasPrefix(got, "gpu-health-sha256-") || len(validation.IsDNS1123Subdomain(got)) > 0 {
			t.Errorf("RuleName(%q) = %q, want gpu-health-sha256-<hex>, a DNS subdomain", in, got)
		}
	}
}

func TestTaintValue(t *testing.T) {
	for in, want := range map[string]string{
		"GPULost":                  "GPULost",
		"XidError":                 "XidError",
		"":                         "",
		"not a label value":        "Unhealthy",
		strings.Repeat("R", 64):    "Unhealthy",
		"Reason_With.Dots-And_123": "Reason_With.Dots-And_123",
	} {
		if got := taintValue(in); got != want {
			t.Errorf("taintValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func testRule() DesiredRule {
	return DesiredRule{Name: RuleName(strings.ToLower(uuid0)), UUID: uuid0, Node: "node-a", Effect: EffectNoSchedule, Value: "GPULost"}
}

func TestDesiredRuleObject(t *testing.T) {
	c := validConfig()
	obj := testRule().Object(&c)
	want := map[string]any{
		"apiVersion": "resource.k8s.io/v1alpha3",
		"kind":       "DeviceTaintRule",
		"metadata": map[string]any{
			"name": "gpu-health-" + strings.ToLower(uuid0),
			"labels": map[string]any{
				"device-api.nvidia.com/node":   "node-a",
				"app.kubernetes.io/managed-by": "device-api-k8s-bridge",
			},
			"annotations": map[string]any{
				"device-api.nvidia.com/gpu-uuid":  uuid0,
				"device-api.nvidia.com/node-name": "node-a",
			},
		},
		"spec": map[string]any{
			"deviceSelector": map[string]any{
				"driver": "gpu.nvidia.com",
				"selectors": []any{map[string]any{"cel": map[string]any{
					"expression": `device.attributes["gpu.nvidia.com"].uuid == "` + uuid0 + `"`}}},
			},
			"taint": map[string]any{"key": "device-api.nvidia.com/unhealthy", "value": "GPULost", "effect": "NoSchedule"},
		},
	}
	gotJSON, _ := json.Marshal(obj.Object)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("Object =\n%s\nwant\n%s", gotJSON, wantJSON)
	}

	// Another driver, attribute, field manager and a long node name.
	c.DRADriver, c.UUIDAttribute, c.FieldManager = "dra.example.com", "dra.example.com/gpu_uuid", "fm"
	r := testRule()
	r.Node, r.Effect = strings.Repeat("n", 100), EffectNoExecute
	obj = r.Object(&c)
	if got, _, _ := unstructured.NestedString(obj.Object, "spec", "deviceSelector", "driver"); got != "dra.example.com" {
		t.Errorf("driver %q", got)
	}
	if got := celExpression(t, obj); got != `device.attributes["dra.example.com"].gpu_uuid == "`+uuid0+`"` {
		t.Errorf("expression %q", got)
	}
	if got, _, _ := unstructured.NestedString(obj.Object, "spec", "taint", "effect"); got != "NoExecute" {
		t.Errorf("effect %q", got)
	}
	if got := obj.GetLabels(); got[NodeLabel] != NodeLabelValue(r.Node) || got[ManagedByLabel] != "fm" || !strings.HasPrefix(got[NodeLabel], "sha256-") {
		t.Errorf("labels %v", got)
	}
	if got := obj.GetAnnotations()[NodeAnnotation]; got != r.Node {
		t.Errorf("node annotation %q, want the full name", got)
	}
}

func celExpression(t *testing.T, obj *unstructured.Unstructured) string {
	t.Helper()
	sel, _, _ := unstructured.NestedSlice(obj.Object, "spec", "deviceSelector", "selectors")
	if len(sel) != 1 {
		t.Fatalf("%d selectors, want 1", len(sel))
	}
	e, _, _ := unstructured.NestedString(sel[0].(map[string]any), "cel", "expression")
	return e
}

func TestCELSelectorQuotesTheUUID(t *testing.T) {
	c := validConfig()
	for _, uuid := range []string{`GPU-a"b`, `GPU-a\b`, `GPU-" || true || "`, "GPU-a\nb"} {
		r := testRule()
		r.UUID = uuid
		expr := celExpression(t, r.Object(&c))
		const prefix = `device.attributes["gpu.nvidia.com"].uuid == `
		if !strings.HasPrefix(expr, prefix) {
			t.Fatalf("expression %q", expr)
		}
		// What follows == is exactly one string literal (Unquote refuses anything else, such
		// as a literal closed early by the UUID's quote), and it holds the UUID unchanged.
		lit := strings.TrimPrefix(expr, prefix)
		got, err := strconv.Unquote(lit)
		if err != nil || got != uuid {
			t.Errorf("UUID %q: literal %s unquotes to %q, %v", uuid, lit, got, err)
		}
	}
	r := testRule()
	r.UUID = `GPU-a"b`
	if got := celExpression(t, r.Object(&c)); got != `device.attributes["gpu.nvidia.com"].uuid == "GPU-a\"b"` {
		t.Errorf("expression %s", got)
	}
}

// roundTrip is obj as the API server returns it: through JSON, with the fields the server
// adds.
func roundTrip(t *testing.T, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	data, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	u.SetUID("4b7f0000-0000-0000-0000-000000000000")
	u.SetResourceVersion("42")
	u.SetGeneration(1)
	labels := u.GetLabels()
	labels["team"] = "gpu-ops" // someone else's label
	u.SetLabels(labels)
	_ = unstructured.SetNestedField(u.Object, "2025-01-01T00:00:00Z", "spec", "taint", "timeAdded")
	return u
}

func TestDesiredRuleMatches(t *testing.T) {
	c := validConfig()
	r := testRule()
	if !r.Matches(&c, r.Object(&c)) {
		t.Fatal("a rule does not match its own object")
	}
	if !r.Matches(&c, roundTrip(t, r.Object(&c))) {
		t.Fatal("a rule does not match its object as the API server returns it")
	}
	for _, tc := range []struct {
		name   string
		change func(u *unstructured.Unstructured)
	}{
		{"effect", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "NoExecute", "spec", "taint", "effect")
		}},
		{"value", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "XidError", "spec", "taint", "value")
		}},
		{"key", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "other/key", "spec", "taint", "key")
		}},
		{"no taint", func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "spec", "taint") }},
		{"driver", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "other.example.com", "spec", "deviceSelector", "driver")
		}},
		{"selector expression", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"cel": map[string]any{
				"expression": `device.attributes["gpu.nvidia.com"].uuid == "` + uuid1 + `"`}}}, "spec", "deviceSelector", "selectors")
		}},
		{"no selectors", func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "deviceSelector", "selectors")
		}},
		{"an extra selector", func(u *unstructured.Unstructured) {
			sel, _, _ := unstructured.NestedSlice(u.Object, "spec", "deviceSelector", "selectors")
			_ = unstructured.SetNestedSlice(u.Object, append(sel, map[string]any{"cel": map[string]any{"expression": "true"}}),
				"spec", "deviceSelector", "selectors")
		}},
		{"a selector that is no object", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, []any{"x"}, "spec", "deviceSelector", "selectors")
		}},
		{"node label", func(u *unstructured.Unstructured) {
			l := u.GetLabels()
			l[NodeLabel] = "node-b"
			u.SetLabels(l)
		}},
		{"no node label", func(u *unstructured.Unstructured) {
			l := u.GetLabels()
			delete(l, NodeLabel)
			u.SetLabels(l)
		}},
		{"managed-by label", func(u *unstructured.Unstructured) {
			l := u.GetLabels()
			l[ManagedByLabel] = "someone-else"
			u.SetLabels(l)
		}},
		{"uuid annotation", func(u *unstructured.Unstructured) {
			a := u.GetAnnotations()
			a[UUIDAnnotation] = uuid1
			u.SetAnnotations(a)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have := roundTrip(t, r.Object(&c))
			tc.change(have)
			if r.Matches(&c, have) {
				t.Errorf("Matches is true after changing the %s", tc.name)
			}
		})
	}

	// The configuration is part of what is wanted.
	other := c
	other.DRADriver = "other.example.com"
	if r.Matches(&other, r.Object(&c)) {
		t.Error("Matches ignores the configured driver")
	}
	other = c
	other.UUIDAttribute = "gpu.nvidia.com/serial"
	if r.Matches(&other, r.Object(&c)) {
		t.Error("Matches ignores the configured UUID attribute")
	}
	r2 := r
	r2.Effect = EffectNoExecute
	if r2.Matches(&c, r.Object(&c)) {
		t.Error("a NoExecute rule matches a NoSchedule object")
	}
}
