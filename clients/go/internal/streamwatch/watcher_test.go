package streamwatch

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/nvidia/device-api-server/clients/go/pb"
)

// script is a stream: each step is a response or an error.
type script []any

func (s *script) recv() (*pb.WatchGpusResponse, error) {
	if len(*s) == 0 {
		return nil, io.EOF
	}
	step := (*s)[0]
	*s = (*s)[1:]
	if err, ok := step.(error); ok {
		return nil, err
	}
	return &pb.WatchGpusResponse{Type: step.(string), Object: &pb.Gpu{Metadata: &pb.ObjectMeta{Name: step.(string)}}}, nil
}

// run watches streams (the first, then one per reopen) and returns the events and the
// number of reopens.
func run(t *testing.T, streams ...script) ([]watch.Event, int) {
	t.Helper()
	reopens := 0
	cur := &streams[0]
	reopen := func() (func() (*pb.WatchGpusResponse, error), error) {
		reopens++
		if reopens >= len(streams) {
			return nil, status.Error(codes.Unavailable, "still down")
		}
		cur = &streams[reopens]
		return cur.recv, nil
	}
	_, cancel := context.WithCancel(context.Background())
	w := New(cur.recv, reopen, func(m *pb.Gpu) runtime.Object {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: m.GetMetadata().GetName()}}
	},
		cancel, schema.GroupResource{Resource: "gpus"})
	var evs []watch.Event
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return evs, reopens
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatal("watch did not end")
		}
	}
}

func TestEventsThenCleanEnd(t *testing.T) {
	evs, reopens := run(t, script{"ADDED", "BOOKMARK", "MODIFIED", "DELETED"})
	if len(evs) != 4 || reopens != 0 || evs[1].Type != watch.Bookmark || evs[3].Type != watch.Deleted {
		t.Fatalf("%v, %d reopens", evs, reopens)
	}
}

func TestBreakBeforeAnyEventReopensTheSameRequest(t *testing.T) {
	down := status.Error(codes.Unavailable, "connection refused")
	evs, reopens := run(t, script{down}, script{down}, script{"ADDED"})
	if len(evs) != 1 || evs[0].Type != watch.Added || reopens != 2 {
		t.Fatalf("%v, %d reopens", evs, reopens)
	}
}

func TestBreakAfterEventsEndsQuietly(t *testing.T) {
	evs, reopens := run(t, script{"ADDED", status.Error(codes.Unavailable, "server shutting down")}, script{"ADDED"})
	if len(evs) != 1 || reopens != 0 {
		t.Fatalf("%v, %d reopens: want one event, then a quiet end", evs, reopens)
	}
}

func TestServerStatusesEndWithOneErrorEvent(t *testing.T) {
	for _, c := range []struct {
		err  error
		pred func(error) bool
	}{
		{status.Error(codes.OutOfRange, "too old resource version: 1 (oldest retained: 9)"), apierrors.IsResourceExpired},
		{status.Error(codes.ResourceExhausted, "watcher too slow"), apierrors.IsTooManyRequests},
		{status.Error(codes.Unavailable, "not ready: waiting for providers"), apierrors.IsServiceUnavailable},
	} {
		evs, reopens := run(t, script{c.err})
		if len(evs) != 1 || evs[0].Type != watch.Error || reopens != 0 || !c.pred(apierrors.FromObject(evs[0].Object)) {
			t.Errorf("%v: %v, %d reopens", c.err, evs, reopens)
		}
	}
}

func TestUnknownEventTypeIsAnInternalError(t *testing.T) {
	evs, _ := run(t, script{"ERROR"})
	if len(evs) != 1 || !apierrors.IsInternalError(apierrors.FromObject(evs[0].Object)) {
		t.Fatalf("%v", evs)
	}
}

func TestStopEndsAWatchNobodyReads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	recv := func() (*pb.WatchGpusResponse, error) {
		return &pb.WatchGpusResponse{Type: "ADDED", Object: &pb.Gpu{}}, nil
	}
	w := New(recv, nil, func(*pb.Gpu) runtime.Object { return &metav1.PartialObjectMetadata{} }, cancel,
		schema.GroupResource{Resource: "gpus"})
	w.Stop()
	w.Stop() // twice is fine
	for range w.ResultChan() {
	}
	if ctx.Err() == nil {
		t.Fatal("Stop did not cancel the stream's context")
	}
}
