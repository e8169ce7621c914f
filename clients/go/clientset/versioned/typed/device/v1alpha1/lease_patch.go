package v1alpha1

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/internal/apierrs"
	"github.com/nvidia/device-api-server/clients/go/internal/wire"
)

// LeasePatchAttempts bounds the read-patch-write rounds of a lease Patch: each lost race
// with another writer costs one; after the last, the conflict is returned, as
// retry.RetryOnConflict's default back-off gives up after a few.
const LeasePatchAttempts = 5

func (c *leases) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions,
	subresources ...string) (*devicev1alpha1.Lease, error) {
	if err := wire.PatchType(pt); err != nil {
		return nil, err
	}
	if _, err := wire.PatchOptions(opts); err != nil {
		return nil, err
	}
	if sub := strings.Join(subresources, "/"); sub != "" {
		return nil, apierrs.New(codes.InvalidArgument, fmt.Sprintf("subresource %q: a lease has none", sub), leaseResource, name)
	}
	var err error
	for attempt := 0; attempt < LeasePatchAttempts; attempt++ {
		var cur, next, out *devicev1alpha1.Lease
		if cur, err = c.Get(ctx, name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
		if next, err = applyLeasePatch(cur, pt, data); err != nil {
			return nil, err // as client-go: no object with an error
		}
		if next == nil {
			return cur, nil // the patch changes nothing
		}
		// next carries cur's resourceVersion: the server refuses the write when another
		// writer came between, and the patch is applied again to what that writer left.
		out, err = c.Update(ctx, next, metav1.UpdateOptions{FieldManager: opts.FieldManager})
		if !apierrors.IsConflict(err) {
			return out, err
		}
	}
	return nil, err
}

// applyLeasePatch is cur with the patch applied under PatchGpu's rules (S31) for a kind
// without status, or nil when the patch changes nothing. cur is not modified.
func applyLeasePatch(cur *devicev1alpha1.Lease, pt types.PatchType, data []byte) (*devicev1alpha1.Lease, error) {
	invalid := func(format string, args ...any) error {
		return apierrs.New(codes.InvalidArgument, "invalid patch: "+fmt.Sprintf(format, args...), leaseResource, cur.Name)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil || doc == nil {
		return nil, invalid("must be a JSON object")
	}
	orig, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	var patched []byte
	if pt == types.StrategicMergePatchType {
		patched, err = strategicpatch.StrategicMergePatch(orig, data, devicev1alpha1.Lease{})
	} else {
		patched, err = jsonpatch.MergePatch(orig, data)
	}
	if err != nil {
		return nil, invalid("%v", err)
	}
	next := &devicev1alpha1.Lease{}
	dec := json.NewDecoder(bytes.NewReader(patched))
	dec.DisallowUnknownFields()
	if err := dec.Decode(next); err != nil {
		return nil, invalid("%v", err)
	}
	var before, after map[string]any
	if err := json.Unmarshal(orig, &before); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(patched, &after); err != nil {
		return nil, invalid("%v", err)
	}
	// What may change is compared on the JSON forms, so that a field the patch removed
	// (null) counts as a change; metadata.resourceVersion is a precondition.
	rv, hasRV := fixedPart(after)
	fixedPart(before)
	if !reflect.DeepEqual(before, after) {
		return nil, invalid("only labels, annotations and spec may change (name, namespace, uid, generation, " +
			"creationTimestamp and resourceVersion are set by the server)")
	}
	if hasRV && rv != "" && rv != cur.ResourceVersion {
		return nil, apierrs.New(codes.Aborted, fmt.Sprintf("the object has been modified; please apply your changes to "+
			"the latest version and try again (resource_version %s, current %s)", rv, cur.ResourceVersion), leaseResource, cur.Name)
	}
	// The rest of the metadata is cur's, exactly: its JSON form has creationTimestamp
	// in whole seconds only.
	meta := cur.ObjectMeta.DeepCopy()
	meta.Labels, meta.Annotations = next.Labels, next.Annotations
	next.TypeMeta, next.ObjectMeta = cur.TypeMeta, *meta
	// So are the times the patch left as they were: their JSON form has microseconds,
	// the server keeps what a writer gave, nanoseconds included, and a patch that
	// changes nothing must not rewrite them (nor take a revision, S1).
	next.Spec.AcquireTime = keepUnchangedTime(cur.Spec.AcquireTime, next.Spec.AcquireTime)
	next.Spec.RenewTime = keepUnchangedTime(cur.Spec.RenewTime, next.Spec.RenewTime)
	if equality.Semantic.DeepEqual(next, cur) {
		return nil, nil
	}
	return next, nil
}

// fixedPart strips what a patch may change from a lease's JSON form (labels, annotations,
// spec) and the resourceVersion, which it returns with whether it was a string there.
func fixedPart(obj map[string]any) (string, bool) {
	delete(obj, "spec")
	meta, ok := obj["metadata"].(map[string]any)
	if !ok {
		return "", false
	}
	delete(meta, "labels")
	delete(meta, "annotations")
	rv, ok := meta["resourceVersion"].(string)
	delete(meta, "resourceVersion")
	return rv, ok
}

// keepUnchangedTime is cur when patched is cur's time as its JSON form carries it (to the
// microsecond), else patched.
func keepUnchangedTime(cur, patched *metav1.MicroTime) *metav1.MicroTime {
	if cur != nil && patched != nil && cur.Truncate(time.Microsecond).Equal(patched.Time) {
		return cur.DeepCopy()
	}
	return patched
}
