// Package streamwatch adapts a gRPC server stream of watch responses to a
// k8s.io/apimachinery watch.Interface, the same way for every kind, with the behaviour
// client-go's reflector expects of the Kubernetes API server's watch:
//
//   - ADDED, MODIFIED, DELETED and BOOKMARK responses become events of that type; the
//     bookmark that ends initial events keeps its k8s.io/initial-events-end annotation.
//   - A stream that ends cleanly (timeout_seconds) or breaks at the transport
//     (UNAVAILABLE other than "not ready": connection lost, server shutting down) closes the result channel
//     without an error event, as a broken HTTP watch does: the reflector re-watches from
//     the last revision it saw and relists only if the server answers that it is too old.
//   - Any other status ends the watch with one ERROR event carrying the metav1.Status of
//     apierrs (410 Expired: relist; 429 TooManyRequests for an evicted slow watcher:
//     re-watch from the last revision).
//
// Stop cancels the stream and is safe to call more than once and concurrently.
package streamwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/nvidia/device-api-server/clients/go/internal/apierrs"
)

// Response is what every kind's watch response offers (type and object).
type Response[M any] interface {
	GetType() string
	GetObject() M
}

// Watcher is a watch.Interface over one gRPC stream.
type Watcher struct {
	result chan watch.Event
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// New starts reading: recv returns the stream's next response, convert turns a wire
// object into the API object, cancel ends the stream's context. gr names the resource in
// error statuses.
func New[R Response[M], M any](recv func() (R, error), convert func(M) runtime.Object,
	cancel context.CancelFunc, gr schema.GroupResource) *Watcher {
	w := &Watcher{result: make(chan watch.Event), cancel: cancel, done: make(chan struct{})}
	go w.run(func() (watch.Event, error) {
		r, err := recv()
		if err != nil {
			return watch.Event{}, err
		}
		t := watch.EventType(r.GetType())
		switch t {
		case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
			return watch.Event{Type: t, Object: convert(r.GetObject())}, nil
		default:
			// The server never sends ERROR (it ends the stream with a status); anything
			// else is a contract violation reported as an internal error.
			return watch.Event{}, status.Error(codes.Internal, fmt.Sprintf("watch event of unknown type %q", t))
		}
	}, gr)
	return w
}

func (w *Watcher) run(next func() (watch.Event, error), gr schema.GroupResource) {
	defer close(w.result)
	defer w.cancel()
	for {
		ev, err := next()
		if err != nil {
			if e, ok := w.errorEvent(err, gr); ok {
				w.send(e)
			}
			return
		}
		if !w.send(ev) {
			return
		}
	}
}

// errorEvent decides how a stream ends: quietly (false) or with an ERROR event.
func (w *Watcher) errorEvent(err error, gr schema.GroupResource) (watch.Event, bool) {
	if errors.Is(err, io.EOF) {
		return watch.Event{}, false
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.New(codes.Internal, err.Error())
	}
	switch st.Code() {
	case codes.OK, codes.Canceled:
		return watch.Event{}, false
	case codes.Unavailable:
		// A server that is not ready yet (S21) says so deliberately: report it. Anything
		// else unavailable is a lost connection or a shutdown: resume elsewhere or later.
		if !strings.HasPrefix(st.Message(), "not ready") {
			return watch.Event{}, false
		}
	}
	return watch.Event{Type: watch.Error, Object: apierrs.Status(st, gr, "")}, true
}

func (w *Watcher) send(ev watch.Event) bool {
	select {
	case w.result <- ev:
		return true
	case <-w.done:
		return false
	}
}

// ResultChan delivers the events; it is closed when the watch ends.
func (w *Watcher) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the watch and releases the stream.
func (w *Watcher) Stop() {
	w.once.Do(func() {
		close(w.done)
		w.cancel()
	})
}
