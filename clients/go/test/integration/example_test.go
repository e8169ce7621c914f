package integration

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

// The example consumer builds and gates correctly against the real server.
func TestHealthGateExample(t *testing.T) {
	bin := buildCommand(t, "../../examples/health-gate")
	srv := testserver.Start(t)
	direct := srv.Client()
	ctx := ctxT(t)
	for i, status := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse} {
		g, err := direct.DeviceV1alpha1().GPUs("").Create(ctx, newGPU("gpu-"+string(rune('0'+i)), i), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		g.Status.Conditions = []metav1.Condition{readyCondition(status, "Probed")}
		if _, err := direct.DeviceV1alpha1().GPUs("").UpdateStatus(ctx, g, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	gate := func(args ...string) (int, string) {
		args = append([]string{"--once", "--target", srv.Target()}, args...)
		out, err := exec.CommandContext(context.Background(), bin, args...).CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	code, out := gate()
	if code != 1 || !strings.Contains(out, "default/gpu-1 Ready=False (Probed)") || !strings.Contains(out, "synced: 1/2 GPUs Ready") {
		t.Fatalf("one GPU not ready: exit %d\n%s", code, out)
	}
	g, _ := direct.DeviceV1alpha1().GPUs("").Get(ctx, "gpu-1", metav1.GetOptions{})
	g.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, "Recovered")}
	if _, err := direct.DeviceV1alpha1().GPUs("").UpdateStatus(ctx, g, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, out := gate(); code != 0 || !strings.Contains(out, "synced: 2/2 GPUs Ready") {
		t.Fatalf("all ready: exit %d\n%s", code, out)
	}
	// An empty selection (GPUs not published yet, a selector that matches none) keeps the
	// gate closed unless --min-gpus allows it; so do fewer GPUs than --min-gpus.
	if code, out := gate("--selector=nvidia.com/gpu.product=none"); code != 1 ||
		!strings.Contains(out, "synced: 0/0 GPUs Ready") || !strings.Contains(out, "gate closed: 0 GPUs selected, fewer than --min-gpus=1") {
		t.Fatalf("no GPU selected: exit %d, want 1\n%s", code, out)
	}
	if code, out := gate("--selector=nvidia.com/gpu.product=none", "--min-gpus=0"); code != 0 {
		t.Fatalf("no GPU selected, --min-gpus=0: exit %d, want 0\n%s", code, out)
	}
	if code, out := gate("--min-gpus=3"); code != 1 || !strings.Contains(out, "gate closed: 2 GPUs selected, fewer than --min-gpus=3") {
		t.Fatalf("2 GPUs, --min-gpus=3: exit %d, want 1\n%s", code, out)
	}
	srv.Stop()
	if code, out := gate("--sync-timeout=1s"); code != 2 {
		t.Fatalf("no server: exit %d, want 2\n%s", code, out)
	}
}

// The Go bench runs its scenarios against the real server and reports them (a smoke test;
// its figures are in docs/benchmarks.md, never asserted).
func TestGoBenchSmoke(t *testing.T) {
	bin := buildCommand(t, "../../cmd/device-api-go-bench")
	srv := testserver.Start(t)
	out, err := exec.Command(bin, "--target", srv.Target(), "--gpus=8", "--conditions=2",
		"--duration=200ms", "--warmup=0s", "--runs=2").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{`"scenario":"get"`, `"errors":0`, `"scenario":"informer-sync"`, `"gpus":8`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("output lacks %s:\n%s", want, out)
		}
	}
}

// buildCommand builds the main package at dir (relative to this package) into a temp dir.
func buildCommand(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}
