// Package streamwatch adapts a gRPC server stream of watch responses to a
// k8s.io/apimachinery watch.Interface, the same way for every kind, with the behaviour
// client-go's reflector expects of the Kubernetes API server's watch:
//
//   - ADDED, MODIFIED, DELETED and BOOKMARK responses become events of that type; the
//     bookmark that ends initial events keeps its k8s.io/initial-events-end annotation.
//   - A stream that breaks at the transport before it delivered anything (the server is
//     restarting, the connection is being re-established) is opened again with the same
//     request, after a short back-off, until it delivers or the watch is stopped: the
//     watch has not started, so nothing can be missed, and a reflector keeps its place
//     instead of relisting (it treats a watch that ends within a second without events as
//     failed, while client-go retries a watch the API server refused to connect).
//   - A stream that ends cleanly (timeout_seconds), or breaks at the transport after it
//     delivered something (UNAVAILABLE other than "not ready": connection lost, server
//     shutting down), closes the result channel without an error event, as a broken HTTP
//     watch does: the reflector re-watches from the last revision it saw and relists only
//     if the server answers that it is too old.
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
	"time"

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
	reopen func() error
}

// Back-off between openings of a stream that broke before delivering anything.
const (
	firstRetry = 50 * time.Millisecond
	maxRetry   = time.Second
)

// New starts reading: recv returns the stream's next response, reopen opens the same
// request again and returns its recv, convert turns a wire object into the API object,
// cancel ends the streams' context. gr names the resource in error statuses.
func New[R Response[M], M any](recv func() (R, error), reopen func() (func() (R, error), error),
	convert func(M) runtime.Object, cancel context.CancelFunc, gr schema.GroupResource) *Watcher {
	w := &Watcher{result: make(chan watch.Event), cancel: cancel, done: make(chan struct{})}
	w.reopen = func() error {
		next, err := reopen()
		if err == nil {
			recv = next
		}
		return err
	}
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
	delivered, retry := false, firstRetry
	for {
		ev, err := next()
		if err != nil {
			if !delivered && isTransportBreak(err) && w.wait(retry) {
				retry = min(2*retry, maxRetry)
				if err = w.reopen(); err == nil {
					continue
				}
			}
			if e, ok := w.errorEvent(err, gr); ok {
				w.send(e)
			}
			return
		}
		delivered = true
		if !w.send(ev) {
			return
		}
	}
}

// isTransportBreak: the connection broke or the server is going away (UNAVAILABLE),
// as opposed to a server that deliberately says it is not ready (S21).
func isTransportBreak(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unavailable && !strings.HasPrefix(st.Message(), "not ready")
}

// wait sleeps d unless the watch is stopped first (false).
func (w *Watcher) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.done:
		return false
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
		if isTransportBreak(err) {
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
