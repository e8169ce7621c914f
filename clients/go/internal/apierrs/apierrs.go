// Package apierrs turns the server's gRPC statuses into Kubernetes API errors
// (*apierrors.StatusError), so consumers use k8s.io/apimachinery/pkg/api/errors predicates
// exactly as against the Kubernetes API, and client-go's reflector reacts to them as it
// does to the API server's:
//
//	NOT_FOUND            404 NotFound            IsNotFound
//	ALREADY_EXISTS       409 AlreadyExists       IsAlreadyExists
//	ABORTED              409 Conflict            IsConflict (stale resource_version, S5)
//	INVALID_ARGUMENT     422 Invalid             IsInvalid
//	OUT_OF_RANGE "too old resource version"      410 Expired, IsResourceExpired: relist (S14)
//	OUT_OF_RANGE "too large resource version"    504 Timeout with cause ResourceVersionTooLarge
//	                                             (S9), IsTimeout
//	RESOURCE_EXHAUSTED   429 TooManyRequests     IsTooManyRequests: a reflector backs off and
//	                                             re-watches from its last revision (S16), no relist
//	UNAVAILABLE          503 ServiceUnavailable  IsServiceUnavailable (not ready, shutdown, S21)
//	FAILED_PRECONDITION  412 FailedPrecondition  (a write refused by an expired lease, S29)
//	DEADLINE_EXCEEDED    504 Timeout             IsTimeout
//	UNAUTHENTICATED      401, PERMISSION_DENIED 403, UNIMPLEMENTED 405 MethodNotAllowed
//	anything else        500 InternalError       IsInternalError
//
// The server's message is kept unchanged as the error's message.
package apierrs

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ReasonFailedPrecondition is the reason of a write refused because a precondition of the
// server's own (an expired provider lease) does not hold.
const ReasonFailedPrecondition metav1.StatusReason = "FailedPrecondition"

// From converts an error of a gRPC call on resource gr (object name, "" for lists and
// watches) into an API error. nil stays nil; a cancelled context gives context.Canceled,
// as client-go's REST client does; an expired deadline (DEADLINE_EXCEEDED) is a 504
// StatusError, for which apierrors.IsTimeout holds.
func From(err error, gr schema.GroupResource, name string) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Canceled:
		return context.Canceled
	case codes.OK:
		return nil
	}
	return &apierrors.StatusError{ErrStatus: *Status(st, gr, name)}
}

var tooLarge = regexp.MustCompile(`^too large resource version`)

// Status is the metav1.Status for a non-OK gRPC status; watch streams send it as the
// object of an ERROR event.
func Status(st *status.Status, gr schema.GroupResource, name string) *metav1.Status {
	msg := st.Message()
	out := &metav1.Status{
		Status:  metav1.StatusFailure,
		Message: msg,
		Details: &metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource},
	}
	set := func(code int32, reason metav1.StatusReason) {
		out.Code, out.Reason = code, reason
	}
	switch st.Code() {
	case codes.NotFound:
		set(http.StatusNotFound, metav1.StatusReasonNotFound)
	case codes.AlreadyExists:
		set(http.StatusConflict, metav1.StatusReasonAlreadyExists)
	case codes.Aborted:
		set(http.StatusConflict, metav1.StatusReasonConflict)
	case codes.InvalidArgument:
		set(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
		out.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Message: msg}}
	case codes.OutOfRange:
		if tooLarge.MatchString(msg) {
			// The Kubernetes API server's shape for this case: a Timeout whose cause is
			// ResourceVersionTooLarge (what apierrors.HasStatusCause and client-go's
			// reflector look for).
			set(http.StatusGatewayTimeout, metav1.StatusReasonTimeout)
			out.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
			out.Details.RetryAfterSeconds = 1
			break
		}
		set(http.StatusGone, metav1.StatusReasonExpired)
	case codes.ResourceExhausted:
		set(http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests)
		out.Details.RetryAfterSeconds = 1
	case codes.Unavailable:
		set(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable)
	case codes.FailedPrecondition:
		set(http.StatusPreconditionFailed, ReasonFailedPrecondition)
	case codes.DeadlineExceeded:
		set(http.StatusGatewayTimeout, metav1.StatusReasonTimeout)
	case codes.Unauthenticated:
		set(http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
	case codes.PermissionDenied:
		set(http.StatusForbidden, metav1.StatusReasonForbidden)
	case codes.Unimplemented:
		set(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
	default:
		set(http.StatusInternalServerError, metav1.StatusReasonInternalError)
	}
	return out
}

// BadRequest is the error for an option this client cannot carry to the server (a field
// selector, dry run): refusing is safer than silently doing something else.
func BadRequest(msg string) error {
	return apierrors.NewBadRequest(msg)
}

// New is the API error the server's status code with msg would give: for what this client
// decides itself (a lease patch applied on the client side), so that it is told apart by
// the same predicates as the server's answers.
func New(code codes.Code, msg string, gr schema.GroupResource, name string) error {
	return From(status.Error(code, msg), gr, name)
}

// UnsupportedMediaType is the Kubernetes API server's answer to a patch type it does not
// accept (415, IsUnsupportedMediaType).
func UnsupportedMediaType(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: msg,
	}}
}

// IsContextDone reports whether err is a context's cancellation or deadline.
func IsContextDone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
