package plugin

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvidia/device-api-server/clients/go/clientset/versioned/fake"
	"github.com/nvidia/device-api-server/clients/go/deviceplugin/health"
	"github.com/nvidia/device-api-server/clients/go/freshness"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

// A server that accepts calls but does not answer them (stopped, deadlocked, starved)
// makes each check last as long as the client's call timeout (10 s by default). The
// devices must still turn Unhealthy UnknownAfter after the server stopped answering, not
// after two such timeouts.
func TestAServerThatDoesNotAnswerMakesDevicesUnhealthyWithinUnknownAfter(t *testing.T) {
	const callTimeout = 3 * time.Second // the client's default call timeout, scaled down
	informer := externalversions.NewSharedInformerFactory(fake.NewSimpleClientset(), 0).Device().V1alpha1().GPUs().Informer()
	tracker, err := health.NewTracker(informer, []health.Device{{ID: "GPU-0"}})
	if err != nil {
		t.Fatal(err)
	}
	checker := freshness.NewFuncs(func(ctx context.Context) (string, error) {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(callTimeout):
			return "", errors.New("deadline exceeded")
		}
	}, func() string { return "1" })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	o := Options{ServerCheckInterval: 50 * time.Millisecond, UnknownAfter: 300 * time.Millisecond, Logf: t.Logf}
	start := time.Now()
	go func() {
		defer close(done)
		checkServer(ctx, checker, tracker, o)
	}()
	for {
		if snap := tracker.Snapshot(); strings.HasPrefix(snap[0].Reason, "health unknown") {
			if took := time.Since(start); took > o.UnknownAfter+time.Second {
				t.Fatalf("devices Unhealthy only after %v (UnknownAfter %v)", took, o.UnknownAfter)
			}
			return
		}
		if time.Since(start) > 2*callTimeout+time.Second {
			t.Fatalf("devices never Unhealthy: %+v", tracker.Snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// When Run cannot serve (here: its socket's directory does not exist, so listening fails)
// it returns the error while ctx is still live, so the plugin's command can exit non-zero;
// the informers it started must not keep it waiting for ctx.
func TestRunReturnsTheErrorWhenItCannotServe(t *testing.T) {
	dir := t.TempDir()
	o := Options{
		Client:        fake.NewSimpleClientset(),
		PluginSocket:  filepath.Join(dir, "missing", "plugin.sock"),
		KubeletSocket: filepath.Join(dir, "kubelet.sock"),
		Logf:          t.Logf,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, o) }()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Run returned nil although it could not listen on its socket")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of failing to listen on its socket")
	}
}
