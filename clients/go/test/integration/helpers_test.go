// Package integration tests the Go client against the real device-api-server binary
// (internal/testserver). Test names end with the semantic rules they prove.
package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newGPU is a valid GPU named name whose UUID derives from i.
func newGPU(name string, i int) *devicev1alpha1.GPU {
	return &devicev1alpha1.GPU{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       devicev1alpha1.GPUSpec{UUID: fmt.Sprintf("GPU-%08x-1111-2222-3333-444444444444", i)},
	}
}

func readyCondition(status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: "Ready", Status: status, Reason: reason, Message: "probe " + reason}
}

// nextEvent waits for one event; a closed channel or a timeout fails the test.
func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed unexpectedly")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10 s")
	}
	return watch.Event{}
}

// expectClosed waits for the result channel to close and returns the events before.
func expectClosed(t *testing.T, w watch.Interface, within time.Duration) []watch.Event {
	t.Helper()
	var evs []watch.Event
	timer := time.After(within)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timer:
			t.Fatalf("watch still open after %v (events: %d)", within, len(evs))
		}
	}
}

func gpuOf(t *testing.T, ev watch.Event) *devicev1alpha1.GPU {
	t.Helper()
	g, ok := ev.Object.(*devicev1alpha1.GPU)
	if !ok {
		t.Fatalf("event %s carries %T, want *GPU", ev.Type, ev.Object)
	}
	return g
}

// rvNum is a resource version as the number it is (S1), for ordering checks.
func rvNum(t *testing.T, rv string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		t.Fatalf("resource version %q: %v", rv, err)
	}
	return n
}
