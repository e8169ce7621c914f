package k8s

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

// gpuName and gpuUUID of the i-th synthetic GPU (a provider's naming: the lower-case UUID).
func gpuUUID(i int) string { return fmt.Sprintf("GPU-%08X-0000-4000-8000-%012X", i, i) }
func gpuName(i int) string { return strings.ToLower(gpuUUID(i)) }

// createGPUs registers n GPUs with Ready=True, as a provider would.
func createGPUs(t *testing.T, cs versioned.Interface, n int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				g, err := cs.DeviceV1alpha1().GPUs("").Create(ctx, &devicev1alpha1.GPU{
					ObjectMeta: metav1.ObjectMeta{Name: gpuName(i)}, Spec: devicev1alpha1.GPUSpec{UUID: gpuUUID(i)}}, metav1.CreateOptions{})
				if err == nil {
					g.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Healthy",
						LastTransitionTime: metav1.Now()}}
					_, err = cs.DeviceV1alpha1().GPUs("").UpdateStatus(ctx, g, metav1.UpdateOptions{})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// setReady patches GPU i's Ready condition (a strategic merge of conditions, as providers write).
func setReady(ctx context.Context, cs versioned.Interface, i int, ok bool) error {
	status, reason, action := metav1.ConditionTrue, "Healthy", ""
	if !ok {
		status, reason, action = metav1.ConditionFalse, "XidError", "RESET_GPU"
	}
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{
		"recommendedAction": action,
		"conditions":        []metav1.Condition{{Type: "Ready", Status: status, Reason: reason, LastTransitionTime: metav1.Now()}}}})
	_, err := cs.DeviceV1alpha1().GPUs("").Patch(ctx, gpuName(i), types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

var requestTotal = regexp.MustCompile(`^apiserver_request_total\{(.*)\} (\d+)`)

// bridgeWrites sums the API server's count of write requests to the resources the bridge
// writes (the test itself writes none of them while it measures).
func bridgeWrites(t *testing.T) int {
	t.Helper()
	text, err := cp.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := requestTotal.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := m[1]
		write := false
		for _, v := range []string{"POST", "PUT", "PATCH", "APPLY", "DELETE"} {
			write = write || strings.Contains(labels, `verb="`+v+`"`)
		}
		bridged := strings.Contains(labels, `resource="nodes"`) || strings.Contains(labels, `resource="devicetaintrules"`) ||
			strings.Contains(labels, `resource="events"`)
		if write && bridged {
			n, _ := strconv.Atoi(m[2])
			total += n
		}
	}
	return total
}

// 1,024 GPUs flapping on one node cost a bounded number of API writes per second: the
// bridge's client-go rate limiter (--kube-api-qps 5, --kube-api-burst 10) holds however
// fast the GPUs change, and once they settle the cluster converges to their final state.
func TestFlappingGPUsCostBoundedAPIWrites(t *testing.T) {
	requireControlPlane(t)
	kube, dyn := adminClients(t)
	installRBAC(t, kube)
	const node, gpus = "gpu-node-load", 1024
	createNode(t, kube, node)
	server := testserver.Start(t)
	cs := server.Client()
	createGPUs(t, cs, gpus)
	startBridge(t, "bridge-load", bridgeToken, node, server.Target(), "--kube-api-qps", "5", "--kube-api-burst", "10")
	waitCondition(t, kube, node, 30*time.Second, "True for 1024 GPUs", func(c *corev1.NodeCondition) bool {
		return c.Status == corev1.ConditionTrue && strings.Contains(c.Message, "1024")
	})

	// Every GPU flips every second (1,024 status writes per second) for the window.
	const window = 15 * time.Second
	before := bridgeWrites(t)
	ctx, cancel := context.WithTimeout(context.Background(), window)
	var wg sync.WaitGroup
	var flips, failed int64
	var mu sync.Mutex
	const workers = 8
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tick := time.NewTicker(time.Second / (gpus / workers))
			defer tick.Stop()
			state := map[int]bool{}
			for i := w; ; i += workers {
				if i >= gpus {
					i = w
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				state[i] = !state[i]
				err := setReady(context.Background(), cs, i, !state[i])
				mu.Lock()
				if err != nil {
					failed++
				} else {
					flips++
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	cancel()
	writes := bridgeWrites(t) - before
	seconds := window.Seconds()
	t.Logf("%d GPUs, %d status changes (%.0f/s, %d failed) in %v: %d bridge writes to the API server (%.1f/s); qps 5, burst 10",
		gpus, flips, float64(flips)/seconds, failed, window, writes, float64(writes)/seconds)
	if flips < gpus {
		t.Fatalf("only %d flips: the load did not run", flips)
	}
	// The bound: the token bucket's burst plus its rate over the window (reads share it).
	if limit := 10 + int(5*seconds) + 5; writes > limit {
		t.Errorf("%d writes in %v: above the rate limiter's bound %d", writes, window, limit)
	}

	// All GPUs healthy again: the condition returns to True and every rule goes.
	for i := 0; i < gpus; i++ {
		if err := setReady(context.Background(), cs, i, true); err != nil {
			t.Fatal(err)
		}
	}
	waitCondition(t, kube, node, 60*time.Second, "True after the storm", isTrue)
	start := time.Now()
	waitRules(t, dyn, node, 240*time.Second)
	t.Logf("rules gone %v after the condition turned True", time.Since(start))
	_ = kubernetes.Interface(kube)
}
