package k8sbridge

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

// The node taint is in sync when the node has exactly the configured taint (wanted) or
// none with its key (not wanted): one with another value or effect, left by an earlier
// configuration, is not taken for it, and is removed when the node is healthy.
func TestTaintInSyncMatchesKeyThenValueAndEffect(t *testing.T) {
	want := corev1.Taint{Key: "example.com/gpu-unhealthy", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	other := want
	other.Value = "old"
	otherEffect := want
	otherEffect.Effect = corev1.TaintEffectNoExecute
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
		{"wanted, another effect", node(otherEffect), true, false},
		{"wanted, and another effect", node(want, otherEffect), true, false},
		{"not wanted, another effect", node(otherEffect), false, false},
	} {
		if got := taintInSync(c.node, want, c.wanted); got != c.inSyncNow {
			t.Errorf("%s: in sync %v, want %v", c.name, got, c.inSyncNow)
		}
	}
}

// A taint of the bridge's key with another effect (the configured effect changed while the
// node was tainted) is removed once the node is healthy, and replaced while it is not;
// taints of other keys stay.
func TestNodeTaintOfAnotherEffectIsReplaced(t *testing.T) {
	old, _ := ParseNodeTaint("nvidia.com/gpu-unhealthy=true:NoSchedule")
	cur, _ := ParseNodeTaint("nvidia.com/gpu-unhealthy=true:NoExecute")
	others := corev1.Taint{Key: "example.com/other", Effect: corev1.TaintEffectNoSchedule}
	n := node("node-a")
	n.Spec.Taints = []corev1.Taint{others, old}
	e := newTestEnv(t, Config{NodeName: "node-a", NodeTaint: cur}, []*devicev1alpha1.GPU{lost(uuid0)}, []runtime.Object{n})
	e.serving(nil)
	e.reconcile()
	if taints := e.node().Spec.Taints; len(taints) != 2 || taints[0] != others ||
		taints[1].Key != cur.Key || taints[1].Effect != corev1.TaintEffectNoExecute {
		t.Errorf("unhealthy: taints %+v, want %s and only the NoExecute one of the key", taints, others.Key)
	}
	e.syncCaches()
	e.setGPU(uuid0, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))
	n = e.node().DeepCopy()
	n.Spec.Taints = append(n.Spec.Taints, old)
	if _, err := e.kube.CoreV1().Nodes().Update(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.syncCaches()
	e.reconcile()
	if taints := e.node().Spec.Taints; len(taints) != 1 || taints[0] != others {
		t.Errorf("healthy: taints %+v, want only %s", taints, others.Key)
	}
}
