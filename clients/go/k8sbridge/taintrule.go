package k8sbridge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DeviceTaintRuleGVR is the DRA API that carries device taints in the Kubernetes release
// the bridge is tested against (1.34, feature gate DRADeviceTaints): the only version whose
// selector takes CEL, so a rule names the GPU by its UUID attribute and needs no device,
// pool or ResourceSlice name.
var DeviceTaintRuleGVR = schema.GroupVersionResource{Group: "resource.k8s.io", Version: "v1alpha3", Resource: "devicetaintrules"}

// Labels and annotations on the rules the bridge owns.
const (
	// NodeLabel names the node a rule was made for; the bridge lists and prunes by it.
	NodeLabel = "device-api.nvidia.com/node"
	// ManagedByLabel marks the rules as the bridge's.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// UUIDAnnotation holds the GPU UUID the rule selects.
	UUIDAnnotation = "device-api.nvidia.com/gpu-uuid"
	// NodeAnnotation holds the full node name (the label may be a hash of it).
	NodeAnnotation = "device-api.nvidia.com/node-name"
	// TaintKey is the key of the device taint.
	TaintKey = "device-api.nvidia.com/unhealthy"
)

// NodeLabelValue is the node's name when it is a valid label value, else a hash of it
// (node names may be 253 characters, label values 63).
func NodeLabelValue(node string) string {
	if len(validation.IsValidLabelValue(node)) == 0 {
		return node
	}
	sum := sha256.Sum256([]byte(node))
	return "sha256-" + hex.EncodeToString(sum[:])[:40]
}

// RuleName is the DeviceTaintRule's name for a GPU, made from its UUID (spec.uuid), not
// from its object name: UUIDs are unique cluster-wide, object names only in a namespace of
// one node's server (a provider may name GPUs gpu-0, gpu-1, … on every node). So the name
// needs no node part, and the bridge that restarts finds its rule again. A UUID that is not
// a DNS subdomain in lower case (rule names must be), or would make the name longer than
// 253 characters, is named by a hash instead: gpu-health-sha256-<40 hex digits>.
func RuleName(uuid string) string {
	name := "gpu-health-" + strings.ToLower(uuid)
	if uuid != "" && len(validation.IsDNS1123Subdomain(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(uuid))
	return "gpu-health-sha256-" + hex.EncodeToString(sum[:])[:40]
}

// DesiredRule is the content of one GPU's rule that the bridge manages.
type DesiredRule struct {
	Name, UUID, Node string
	Effect           Effect
	Value            string // the taint's value: the deciding condition's reason
}

// celSelector selects the device whose UUID attribute equals uuid. strconv.Quote makes a
// valid CEL string literal of any UUID (CEL shares Go's escapes for printable ASCII).
func celSelector(domain, name, uuid string) string {
	return fmt.Sprintf("device.attributes[%s].%s == %s", strconv.Quote(domain), name, strconv.Quote(uuid))
}

// taintValue makes a reason a valid label value (taint values are label values).
func taintValue(reason string) string {
	if len(validation.IsValidLabelValue(reason)) == 0 {
		return reason
	}
	return "Unhealthy"
}

// Object renders the rule for server-side apply: only the fields the bridge owns.
func (r DesiredRule) Object(c *Config) *unstructured.Unstructured {
	domain, attr, _ := c.uuidAttribute()
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": DeviceTaintRuleGVR.GroupVersion().String(),
		"kind":       "DeviceTaintRule",
		"metadata": map[string]any{
			"name": r.Name,
			"labels": map[string]any{
				NodeLabel:      NodeLabelValue(r.Node),
				ManagedByLabel: c.FieldManager,
			},
			"annotations": map[string]any{
				UUIDAnnotation: r.UUID,
				NodeAnnotation: r.Node,
			},
		},
		"spec": map[string]any{
			"deviceSelector": map[string]any{
				"driver": c.DRADriver,
				"selectors": []any{
					map[string]any{"cel": map[string]any{"expression": celSelector(domain, attr, r.UUID)}},
				},
			},
			"taint": map[string]any{
				"key":    TaintKey,
				"value":  r.Value,
				"effect": string(r.Effect),
			},
		},
	}}
}

// Matches reports whether an existing rule already says what r says, so no write is needed.
func (r DesiredRule) Matches(c *Config, have *unstructured.Unstructured) bool {
	want := r.Object(c)
	if have.GetLabels()[NodeLabel] != want.GetLabels()[NodeLabel] ||
		have.GetLabels()[ManagedByLabel] != want.GetLabels()[ManagedByLabel] ||
		have.GetAnnotations()[UUIDAnnotation] != r.UUID {
		return false
	}
	for _, path := range [][]string{
		{"spec", "deviceSelector", "driver"}, {"spec", "taint", "key"}, {"spec", "taint", "value"}, {"spec", "taint", "effect"},
	} {
		w, _, _ := unstructured.NestedString(want.Object, path...)
		h, _, _ := unstructured.NestedString(have.Object, path...)
		if w != h {
			return false
		}
	}
	ws, _, _ := unstructured.NestedSlice(want.Object, "spec", "deviceSelector", "selectors")
	hs, _, _ := unstructured.NestedSlice(have.Object, "spec", "deviceSelector", "selectors")
	if len(ws) != len(hs) {
		return false
	}
	for i := range ws {
		we, _, _ := unstructured.NestedString(ws[i].(map[string]any), "cel", "expression")
		hm, ok := hs[i].(map[string]any)
		if !ok {
			return false
		}
		he, _, _ := unstructured.NestedString(hm, "cel", "expression")
		if we != he {
			return false
		}
	}
	return true
}
