package plugin

import (
	"context"
	"errors"
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
