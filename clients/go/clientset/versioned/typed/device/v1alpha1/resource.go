package v1alpha1

import (
	"context"
	"time"

	"google.golang.org/grpc"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/nvidia/device-api-server/clients/go/internal/apierrs"
	"github.com/nvidia/device-api-server/clients/go/internal/streamwatch"
	"github.com/nvidia/device-api-server/clients/go/internal/wire"
	"github.com/nvidia/device-api-server/clients/go/pb"
)

// resource is the call plumbing every kind's client shares, so that a kind's client only
// says which RPC carries each call: the default deadline, metav1 options onto the wire,
// gRPC statuses onto API errors and wire messages onto API objects. M is the kind's wire
// message, O its API object.
type resource[M any, O runtime.Object] struct {
	gr      schema.GroupResource
	ns      string
	timeout time.Duration
	convert func(M) O
}

// namespace is the namespace of a single-object write: the client's, which an object
// of another namespace must not name (a BadRequest before any call, as client-go and
// kube-apiserver answer), else the object's own (the server defaults an empty one to
// "default").
func (r *resource[M, O]) namespace(meta *pb.ObjectMeta) error {
	switch {
	case meta.Namespace == "":
		meta.Namespace = r.ns
	case r.ns != "" && meta.Namespace != r.ns:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

// forUpdate strips what an update does not send: creation_timestamp, which the server
// keeps when it is unset and refuses to change. A copy that went through JSON
// (metav1.Time keeps whole seconds) would otherwise differ from the stored one and be
// refused; kube-apiserver keeps the stored creationTimestamp on updates too.
func forUpdate(meta *pb.ObjectMeta) {
	meta.CreationTimestamp = nil
}

// object runs one unary call that answers the object, under the default deadline.
func (r *resource[M, O]) object(ctx context.Context, name string, call func(context.Context) (M, error)) (O, error) {
	ctx, cancel := unary(ctx, r.timeout)
	defer cancel()
	out, err := call(ctx)
	if err != nil {
		var none O
		return none, apierrs.From(err, r.gr, name)
	}
	return r.convert(out), nil
}

// get runs a Get RPC; call unwraps the object from the RPC's response.
func (r *resource[M, O]) get(ctx context.Context, name string, opts metav1.GetOptions,
	call func(context.Context, *pb.GetOptions) (M, error)) (O, error) {
	return r.object(ctx, name, func(ctx context.Context) (M, error) { return call(ctx, wire.GetOptions(opts)) })
}

// delete runs a Delete RPC with opts' preconditions.
func (r *resource[M, O]) delete(ctx context.Context, name string, opts metav1.DeleteOptions,
	call func(context.Context, *pb.DeleteOptions) error) error {
	o, err := wire.DeleteOptions(opts)
	if err != nil {
		return err
	}
	ctx, cancel := unary(ctx, r.timeout)
	defer cancel()
	return apierrs.From(call(ctx, o), r.gr, name)
}

// write runs a write RPC whose metav1 options (T) convert to the wire's (P) with conv;
// a refused option fails before anything is sent.
func write[M any, O runtime.Object, T, P any](ctx context.Context, r *resource[M, O], name string, opts T,
	conv func(T) (P, error), call func(context.Context, P) (M, error)) (O, error) {
	o, err := conv(opts)
	if err != nil {
		var none O
		return none, err
	}
	return r.object(ctx, name, func(ctx context.Context) (M, error) { return call(ctx, o) })
}

// list runs a List RPC and converts the list (L: its wire message, LO: its API object).
func list[M any, O runtime.Object, L any, LO runtime.Object](ctx context.Context, r *resource[M, O], opts metav1.ListOptions,
	call func(context.Context, *pb.ListOptions) (L, error), convert func(L) LO) (LO, error) {
	var none LO
	o, err := wire.ListOptions(opts)
	if err != nil {
		return none, err
	}
	ctx, cancel := unary(ctx, r.timeout)
	defer cancel()
	out, err := call(ctx, o)
	if err != nil {
		return none, apierrs.From(err, r.gr, "")
	}
	return convert(out), nil
}

// watchStream opens a Watch RPC as a watch.Interface (package streamwatch), reopening the
// same request while the stream breaks before delivering anything. It waits for the
// connection to be (re-)established, so it is bounded by ctx only. R is the RPC's response
// message.
func watchStream[M any, O runtime.Object, R any, PR interface {
	*R
	streamwatch.Response[M]
}](ctx context.Context, r *resource[M, O], opts metav1.ListOptions,
	call func(context.Context, *pb.ListOptions, ...grpc.CallOption) (grpc.ServerStreamingClient[R], error)) (watch.Interface, error) {
	o, err := wire.WatchOptions(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	open := func() (func() (PR, error), error) {
		stream, err := call(ctx, o, grpc.WaitForReady(true))
		if err != nil {
			return nil, err
		}
		return func() (PR, error) {
			m, err := stream.Recv()
			return PR(m), err
		}, nil
	}
	recv, err := open()
	if err != nil {
		cancel()
		return nil, apierrs.From(err, r.gr, "")
	}
	return streamwatch.New(recv, open, func(m M) runtime.Object { return r.convert(m) }, cancel, r.gr), nil
}
