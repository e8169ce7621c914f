package k8s

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

func nodeTaints(t *testing.T, kube kubernetes.Interface, node string) []corev1.Taint {
	t.Helper()
	n, err := kube.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Spec.Taints
}

func hasNodeTaint(ts []corev1.Taint, key string) bool {
	for _, t := range ts {
		if t.Key == key {
			return true
		}
	}
	return false
}

// The optional node taint follows the condition: on while False, off when True, and the
// Node's other taints survive both writes. It runs with the shipped role plus the Node
// update that the chart grants only when a node taint is configured.
func TestNodeTaintFollowsCondition(t *testing.T) {
	requireControlPlane(t)
	kube, _ := adminClients(t)
	installRBAC(t, kube)
	// The shipped rules, and nodes update.
	rules := append([]rbacv1.PolicyRule{}, rbacRole.Rules...)
	rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"update"}})
	grant(t, kube, "test-taint-bridge", taintUser.Name, rules...)

	const node, key = "gpu-node-taint", "nvidia.com/gpu-unhealthy"
	createNode(t, kube, node)
	ctx := context.Background()
	n, err := kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Taints = []corev1.Taint{{Key: "example.com/other", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
	if _, err := kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	server := testserver.Start(t)
	cs := server.Client()
	createGPUs(t, cs, 2)
	startBridge(t, "bridge-taint", taintUser.Token, node, server.Target(), "--node-taint", key+"=true:NoSchedule",
		"--device-taint-rules=false")
	waitCondition(t, kube, node, 30*time.Second, "True", isTrue)
	if hasNodeTaint(nodeTaints(t, kube, node), key) {
		t.Fatal("a healthy node is tainted")
	}

	if err := setReady(ctx, cs, 1, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the node taint", func() bool { return hasNodeTaint(nodeTaints(t, kube, node), key) })
	if !hasNodeTaint(nodeTaints(t, kube, node), "example.com/other") {
		t.Fatal("the bridge removed another taint")
	}

	if err := setReady(ctx, cs, 1, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the node taint removed", func() bool { return !hasNodeTaint(nodeTaints(t, kube, node), key) })
	if !hasNodeTaint(nodeTaints(t, kube, node), "example.com/other") {
		t.Fatal("the bridge removed another taint")
	}

	// Unknown (the server goes away) leaves the taint as it is: on while it was on.
	if err := setReady(ctx, cs, 0, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the node taint", func() bool { return hasNodeTaint(nodeTaints(t, kube, node), key) })
	server.Kill()
	waitCondition(t, kube, node, 10*time.Second, "Unknown", func(c *corev1.NodeCondition) bool { return c.Status == corev1.ConditionUnknown })
	time.Sleep(time.Second)
	if !hasNodeTaint(nodeTaints(t, kube, node), key) {
		t.Fatal("losing the server removed the node taint")
	}
}
