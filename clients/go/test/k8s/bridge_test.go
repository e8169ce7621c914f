package k8s

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
	"github.com/nvidia/device-api-server/clients/go/k8sbridge"
)

// uuids maps NVML index to GPU UUID, from the server.
func uuids(t *testing.T, s *testserver.Server, want int) map[int32]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := s.Client().DeviceV1alpha1().GPUs("").List(context.Background(), metav1.ListOptions{})
		if err == nil && len(l.Items) == want {
			out := map[int32]string{}
			for _, g := range l.Items {
				if g.Status.DeviceInfo != nil {
					out[g.Status.DeviceInfo.Index] = g.Spec.UUID
				}
			}
			if len(out) == want {
				return out
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d GPUs on the server: %v", want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isFalseNaming(uuid string, absent ...string) func(*corev1.NodeCondition) bool {
	return func(c *corev1.NodeCondition) bool {
		if c.Status != corev1.ConditionFalse || !strings.Contains(c.Message, uuid) {
			return false
		}
		for _, a := range absent {
			if strings.Contains(c.Message, a) {
				return false
			}
		}
		return true
	}
}

func isTrue(c *corev1.NodeCondition) bool { return c.Status == corev1.ConditionTrue }

// checkRuleSelects asserts the rule selects exactly this GPU: the driver and a CEL
// expression comparing the UUID attribute with this UUID, and a NoSchedule taint.
func checkRuleSelects(t *testing.T, r unstructured.Unstructured, uuid string) {
	t.Helper()
	driver, _, _ := unstructured.NestedString(r.Object, "spec", "deviceSelector", "driver")
	sels, _, _ := unstructured.NestedSlice(r.Object, "spec", "deviceSelector", "selectors")
	effect, _, _ := unstructured.NestedString(r.Object, "spec", "taint", "effect")
	if driver != "gpu.nvidia.com" || len(sels) != 1 || effect != "NoSchedule" {
		t.Fatalf("rule %s: driver %q, %d selectors, effect %q", r.GetName(), driver, len(sels), effect)
	}
	expr, _, _ := unstructured.NestedString(sels[0].(map[string]any), "cel", "expression")
	want := `device.attributes["gpu.nvidia.com"].uuid == "` + uuid + `"`
	if expr != want {
		t.Fatalf("rule %s: CEL %q, want %q", r.GetName(), expr, want)
	}
}

// The whole path, with every part real: a fault injected into the fake NVML reaches the
// Node's condition, its events and a DeviceTaintRule; recovery removes them; a bridge
// restart repairs what changed while it was down; a lost provider and a lost server turn
// the condition Unknown without removing any rule (fail-safe).
func TestBridgeEndToEnd(t *testing.T) {
	requireControlPlane(t)
	kube, dyn := adminClients(t)
	installRBAC(t, kube)
	const node = "gpu-node-e2e"
	createNode(t, kube, node)

	server := testserver.Start(t)
	prov := startProvider(t, server.Socket, 4, "--lease-duration", "3s", "--lease-renew-period", "500ms")
	ids := uuids(t, server, 4)
	bridge := startBridge(t, "bridge", bridgeToken, node, server.Target())

	waitCondition(t, kube, node, 30*time.Second, "True", isTrue)
	if n := len(rules(t, dyn, node)); n != 0 {
		t.Fatalf("%d rules on a healthy node", n)
	}

	// Xid 79 (GPU fallen off the bus) on GPU 1.
	prov.xid(t, 1, 79)
	took := waitCondition(t, kube, node, 10*time.Second, "False naming GPU 1", isFalseNaming(ids[1]))
	t.Logf("Xid 79 to Node condition False: %v", took)
	if took > 2*time.Second {
		t.Errorf("the condition took %v to turn False (want within 2 s)", took)
	}
	c := condition(t, kube, node)
	if c.Reason != k8sbridge.ReasonUnhealthy || !strings.Contains(c.Message, "GPULost") || !strings.Contains(c.Message, "RESTART_BM") {
		t.Errorf("condition %+v: want reason %s naming GPULost and RESTART_BM", c, k8sbridge.ReasonUnhealthy)
	}
	checkRuleSelects(t, waitRules(t, dyn, node, 5*time.Second, ids[1])[ids[1]], ids[1])
	waitFor(t, 5*time.Second, "a GpuUnhealthy event", func() bool { return len(events(t, kube, node, k8sbridge.ReasonUnhealthy)) > 0 })
	waitFor(t, 5*time.Second, "a GpuFault event", func() bool { return len(events(t, kube, node, "GpuFault")) > 0 })

	// The bridge is down while GPU 1 recovers and GPU 2 fails: after its restart the
	// cluster says exactly that, and GPU 1's rule, now stale, is gone.
	bridge.stop(syscall.SIGKILL)
	prov.reset(t, 1)
	prov.xid(t, 2, 79)
	waitFor(t, 10*time.Second, "GPU 1 healthy and GPU 2 failed on the server", func() bool {
		l, err := server.Client().DeviceV1alpha1().GPUs("").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		ok1, ok2 := false, false
		for i := range l.Items {
			h := k8sbridge.AssessGPU(&l.Items[i])
			ok1 = ok1 || (h.UUID == ids[1] && h.State == k8sbridge.GPUHealthy)
			ok2 = ok2 || (h.UUID == ids[2] && h.State == k8sbridge.GPUUnhealthy)
		}
		return ok1 && ok2
	})
	if got := rules(t, dyn, node); len(got) != 1 || got[ids[1]].Object == nil {
		t.Fatalf("while the bridge is down the old rule stays: %d rules", len(got))
	}
	bridge = startBridge(t, "bridge-restarted", bridgeToken, node, server.Target())
	waitCondition(t, kube, node, 15*time.Second, "False naming only GPU 2", isFalseNaming(ids[2], ids[1]))
	checkRuleSelects(t, waitRules(t, dyn, node, 10*time.Second, ids[2])[ids[2]], ids[2])

	// Recovery: the rule goes, the condition is True again.
	prov.reset(t, 2)
	waitRules(t, dyn, node, 10*time.Second)
	waitCondition(t, kube, node, 10*time.Second, "True after recovery", isTrue)
	waitFor(t, 5*time.Second, "an AllGpusHealthy event", func() bool { return len(events(t, kube, node, k8sbridge.ReasonAllHealthy)) > 0 })

	// GPU 3 fails, then the provider dies: its lease expires, the server turns its
	// conditions Unknown, and so does the Node's; GPU 3's rule stays.
	prov.xid(t, 3, 79)
	waitRules(t, dyn, node, 10*time.Second, ids[3])
	prov.stop(syscall.SIGKILL)
	took = waitCondition(t, kube, node, 20*time.Second, "Unknown after the lease expires", func(c *corev1.NodeCondition) bool {
		return c.Status == corev1.ConditionUnknown
	})
	t.Logf("provider killed to Node condition Unknown: %v (lease 3 s)", took)
	// The reason may be GpuHealthUnknown or, while GPU 3 was False, GpuUnhealthy first.
	waitRules(t, dyn, node, time.Second, ids[3])

	// The server goes away: Unknown, the rule still there.
	server.Kill()
	waitCondition(t, kube, node, 10*time.Second, "Unknown because the server is unavailable", func(c *corev1.NodeCondition) bool {
		return c.Status == corev1.ConditionUnknown && c.Reason == k8sbridge.ReasonServerUnavailable
	})
	time.Sleep(time.Second)
	waitRules(t, dyn, node, time.Second, ids[3])
	_ = bridge
}

func waitFor(t *testing.T, timeout time.Duration, what string, pred func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !pred() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The shipped RBAC is enough and no more than needed: the bridge's identity can do what it
// must and cannot, for instance, read Secrets or change another node's spec.
func TestBridgeRBACIsLeast(t *testing.T) {
	requireControlPlane(t)
	kube, _ := adminClients(t)
	installRBAC(t, kube)
	own, err := clientsFor(bridgeToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := own.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the bridge's identity can list Secrets")
	}
	if _, err := own.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the bridge's identity can list Pods")
	}
	if err := own.CoreV1().Nodes().Delete(ctx, "no-such-node", metav1.DeleteOptions{}); err == nil || !apierrors.IsForbidden(err) {
		t.Errorf("the bridge's identity may delete Nodes: %v", err)
	}
}

func clientsFor(token string) (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(cp.Config(token))
}
