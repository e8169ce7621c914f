package apierrs

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestEveryCodeMapsToItsPredicate(t *testing.T) {
	gr := schema.GroupResource{Group: "device.nvidia.com", Resource: "gpus"}
	cases := []struct {
		code codes.Code
		msg  string
		pred func(error) bool
	}{
		{codes.NotFound, "object default/x not found", apierrors.IsNotFound},
		{codes.AlreadyExists, "exists", apierrors.IsAlreadyExists},
		{codes.Aborted, "the object has been modified", apierrors.IsConflict},
		{codes.InvalidArgument, "gpu.spec.uuid: bad", apierrors.IsInvalid},
		{codes.OutOfRange, "too old resource version: 1 (oldest retained: 5)", apierrors.IsResourceExpired},
		{codes.OutOfRange, "too large resource version: 9 (current: 5)", func(err error) bool {
			return apierrors.IsTimeout(err) && apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge)
		}},
		{codes.ResourceExhausted, "watcher too slow", apierrors.IsTooManyRequests},
		{codes.Unavailable, "not ready: waiting for providers", apierrors.IsServiceUnavailable},
		{codes.DeadlineExceeded, "deadline", apierrors.IsTimeout},
		{codes.Internal, "internal error", apierrors.IsInternalError},
		{codes.Unknown, "?", apierrors.IsInternalError},
		{codes.Unauthenticated, "who", apierrors.IsUnauthorized},
		{codes.PermissionDenied, "no", apierrors.IsForbidden},
		{codes.Unimplemented, "no such method", apierrors.IsMethodNotSupported},
		{codes.FailedPrecondition, "lease x expired", func(err error) bool {
			return apierrors.ReasonForError(err) == ReasonFailedPrecondition
		}},
	}
	for _, c := range cases {
		err := From(status.Error(c.code, c.msg), gr, "x")
		if !c.pred(err) {
			t.Errorf("%v %q: %v (reason %s) fails its predicate", c.code, c.msg, err, apierrors.ReasonForError(err))
		}
		if err.Error() != c.msg {
			t.Errorf("%v: message %q, want the server's %q", c.code, err.Error(), c.msg)
		}
	}
	if err := From(status.Error(codes.Canceled, "x"), gr, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	if From(nil, gr, "") != nil {
		t.Error("nil must stay nil")
	}
}
