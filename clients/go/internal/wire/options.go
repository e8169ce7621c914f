// Package wire carries the metav1 options of client-go's API onto the wire's option
// messages, the same for every kind. An option the server cannot honour is refused with a
// BadRequest error rather than dropped, because dropping it would silently do something
// else (a dry run that deletes, a field selector that returns everything).
package wire

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nvidia/device-api-server/clients/go/internal/apierrs"
	"github.com/nvidia/device-api-server/clients/go/pb"
)

// GetOptions carries ResourceVersion ("" or "0": current state; "N": not older than N).
func GetOptions(o metav1.GetOptions) *pb.GetOptions {
	return &pb.GetOptions{ResourceVersion: o.ResourceVersion}
}

// ListOptions carries labelSelector, resourceVersion and resourceVersionMatch. Limit and
// Continue are not supported by the server: it answers with the whole list and no continue
// token, which client-go's pager accepts (as the Kubernetes watch cache does).
func ListOptions(o metav1.ListOptions) (*pb.ListOptions, error) {
	if o.FieldSelector != "" {
		return nil, apierrs.BadRequest("field selectors are not supported by the Device API; use a label selector")
	}
	if o.Continue != "" {
		return nil, apierrs.BadRequest("continue tokens are not supported by the Device API")
	}
	return &pb.ListOptions{
		ResourceVersion:      o.ResourceVersion,
		LabelSelector:        o.LabelSelector,
		ResourceVersionMatch: string(o.ResourceVersionMatch),
	}, nil
}

// WatchOptions carries labelSelector, resourceVersion, resourceVersionMatch,
// allowWatchBookmarks, sendInitialEvents and timeoutSeconds.
//
// sendInitialEvents with resourceVersion "N" asks for a state not older than N. The server
// serves initial events only from its current state, and that state is never older than
// any revision it issued, also across restarts (S2); so the request is sent without N.
// client-go's reflector sends exactly this when it re-establishes a watch-list.
func WatchOptions(o metav1.ListOptions) (*pb.ListOptions, error) {
	out, err := ListOptions(o)
	if err != nil {
		return nil, err
	}
	out.AllowWatchBookmarks = o.AllowWatchBookmarks
	if o.TimeoutSeconds != nil {
		out.TimeoutSeconds = *o.TimeoutSeconds
	}
	if o.SendInitialEvents != nil && *o.SendInitialEvents {
		out.SendInitialEvents = true
		out.ResourceVersion = ""
	}
	return out, nil
}

// CreateOptions refuses dry runs (the server has none).
func CreateOptions(o metav1.CreateOptions) (*pb.CreateOptions, error) {
	if len(o.DryRun) > 0 {
		return nil, apierrs.BadRequest("dry run is not supported by the Device API")
	}
	return &pb.CreateOptions{}, nil
}

// UpdateOptions refuses dry runs (the server has none).
func UpdateOptions(o metav1.UpdateOptions) (*pb.UpdateOptions, error) {
	if len(o.DryRun) > 0 {
		return nil, apierrs.BadRequest("dry run is not supported by the Device API")
	}
	return &pb.UpdateOptions{}, nil
}

// PatchOptions refuses dry runs (the server has none) and Force, which only server-side
// apply has; FieldManager is accepted and has no effect (the server keeps no managed
// fields).
func PatchOptions(o metav1.PatchOptions) (*pb.UpdateOptions, error) {
	if o.Force != nil && *o.Force {
		return nil, apierrs.BadRequest("force is only valid for server-side apply, which the Device API does not have")
	}
	return UpdateOptions(metav1.UpdateOptions{DryRun: o.DryRun})
}

// PatchType accepts the patch types of the Device API: JSON merge patches (RFC 7386) and
// strategic merge patches. JSON patches (RFC 6902) and server-side apply are refused
// before anything is sent, as the Kubernetes API server refuses a patch type it does not
// know: 415 UnsupportedMediaType.
func PatchType(pt types.PatchType) error {
	switch pt {
	case types.MergePatchType, types.StrategicMergePatchType:
		return nil
	}
	return apierrs.UnsupportedMediaType(fmt.Sprintf("patch type %q is not supported by the Device API; use %q or %q",
		pt, types.MergePatchType, types.StrategicMergePatchType))
}

// DeleteOptions carries preconditions (uid, resourceVersion); grace periods and
// propagation policies have no meaning for these objects and are ignored.
func DeleteOptions(o metav1.DeleteOptions) (*pb.DeleteOptions, error) {
	if len(o.DryRun) > 0 {
		return nil, apierrs.BadRequest("dry run is not supported by the Device API")
	}
	out := &pb.DeleteOptions{}
	if p := o.Preconditions; p != nil {
		out.Preconditions = &pb.Preconditions{}
		if p.UID != nil {
			out.Preconditions.Uid = string(*p.UID)
		}
		if p.ResourceVersion != nil {
			out.Preconditions.ResourceVersion = *p.ResourceVersion
		}
	}
	return out, nil
}
