package k8sbridge

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The node taint is in sync when the node has exactly the configured taint (wanted) or
// none with its key and effect (not wanted): one with another value, left by an earlier
// configuration, is not taken for it, and is removed when the node is healthy.
func TestTaintInSyncMatchesKeyAndEffectThenValue(t *testing.T) {
	want := corev1.Taint{Key: "example.com/gpu-unhealthy", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	other := want
	other.Value = "old"
	unrelated := corev1.Taint{Key: "example.com/other", Effect: corev1.TaintEffectNoSchedule}
	node := func(taints ...corev1.Taint) *corev1.Node { return &corev1.Node{Spec: corev1.NodeSpec{Taints: taints}} }
	for _, c := range []struct {
		name      string
		node      *corev1.Node
		wanted    bool
		inSyncNow bool
	}{
		{"wanted and present", node(unrelated, want), true, true},
		{"wanted, absent", node(unrelated), true, false},
		{"wanted, another value", node(other), true, false},
		{"wanted, twice", node(want, other), true, false},
		{"not wanted, absent", node(unrelated), false, true},
		{"not wanted, present", node(want), false, false},
		{"not wanted, another value", node(other), false, false},
	} {
		if got := taintInSync(c.node, want, c.wanted); got != c.inSyncNow {
			t.Errorf("%s: in sync %v, want %v", c.name, got, c.inSyncNow)
		}
	}
}
