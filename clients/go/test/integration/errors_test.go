package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

// Every gRPC status the server answers arrives as the Kubernetes API error its predicate
// recognises.
func TestErrorPredicatesS5S9S14S19S20(t *testing.T) {
	srv := testserver.Start(t, "--max-objects=2", "--history-max-events=4")
	gpus := srv.Client().DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)

	if _, err := gpus.Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get missing: %v, want IsNotFound", err)
	} else if !strings.Contains(err.Error(), "not found") {
		t.Errorf("server message lost: %v", err)
	}
	if err := gpus.Delete(ctx, "missing", metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("delete missing: %v, want IsNotFound", err)
	}
	g, err := gpus.Create(ctx, newGPU("gpu-0", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gpus.Create(ctx, newGPU("gpu-0", 0), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("create twice: %v, want IsAlreadyExists", err)
	}
	// S20: validation.
	bad := newGPU("gpu-bad", 1)
	bad.Spec.UUID = "not-a-uuid"
	if _, err := gpus.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("bad uuid: %v, want IsInvalid", err)
	}
	// S5: optimistic concurrency on update and delete preconditions.
	if _, err := gpus.Update(ctx, g, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err) // unchanged: a no-op, still accepted
	}
	up := g.DeepCopy()
	up.Labels = map[string]string{"v": "1"}
	if _, err := gpus.Update(ctx, up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	up.Labels["v"] = "2" // still carries the old resourceVersion
	if _, err := gpus.Update(ctx, up, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale update: %v, want IsConflict", err)
	}
	if _, err := gpus.UpdateStatus(ctx, up, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale status update: %v, want IsConflict", err)
	}
	stale := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: ptr.To(g.ResourceVersion)}}
	if err := gpus.Delete(ctx, "gpu-0", stale); !apierrors.IsConflict(err) {
		t.Errorf("delete with stale resourceVersion: %v, want IsConflict", err)
	}
	wrongUID := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(types.UID("00000000-0000-0000-0000-000000000000"))}}
	if err := gpus.Delete(ctx, "gpu-0", wrongUID); !apierrors.IsConflict(err) {
		t.Errorf("delete with wrong uid: %v, want IsConflict", err)
	}
	// S19: the object limit.
	if _, err := gpus.Create(ctx, newGPU("gpu-1", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := gpus.Create(ctx, newGPU("gpu-2", 2), metav1.CreateOptions{}); !apierrors.IsTooManyRequests(err) {
		t.Errorf("over --max-objects: %v, want IsTooManyRequests", err)
	}
	// S14: more writes than the history keeps, then ask for the first revision.
	for i := 0; i < 6; i++ {
		up, _ := gpus.Get(ctx, "gpu-1", metav1.GetOptions{})
		up.Labels = map[string]string{"i": strconv.Itoa(i)}
		if _, err := gpus.Update(ctx, up, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = gpus.List(ctx, metav1.ListOptions{ResourceVersion: g.ResourceVersion,
		ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsResourceExpired(err) {
		t.Errorf("exact list of an expired revision: %v, want IsResourceExpired", err)
	}
	w, err := gpus.Watch(ctx, metav1.ListOptions{ResourceVersion: g.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	evs := expectClosed(t, w, 10*time.Second)
	if len(evs) != 1 || evs[0].Type != watch.Error || !apierrors.IsResourceExpired(apierrors.FromObject(evs[0].Object)) {
		t.Errorf("watch from an expired revision: %+v, want one ERROR event, IsResourceExpired", evs)
	}
	// S9: a revision the server has not reached: after 3 s, a Timeout whose cause says so.
	cur, _ := gpus.List(ctx, metav1.ListOptions{})
	rv, _ := strconv.ParseUint(cur.ResourceVersion, 10, 64)
	_, err = gpus.Get(ctx, "gpu-1", metav1.GetOptions{ResourceVersion: strconv.FormatUint(rv+1000, 10)})
	if !apierrors.IsTimeout(err) || !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		t.Errorf("future revision: %v, want IsTimeout with cause ResourceVersionTooLarge", err)
	}
	// Options the server cannot honour are refused, not dropped.
	if _, err := gpus.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=gpu-1"}); !apierrors.IsBadRequest(err) {
		t.Errorf("field selector: %v, want IsBadRequest", err)
	}
	if err := gpus.Delete(ctx, "gpu-1", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsBadRequest(err) {
		t.Errorf("dry-run delete: %v, want IsBadRequest", err)
	}
	if _, err := gpus.Get(ctx, "gpu-1", metav1.GetOptions{}); err != nil {
		t.Errorf("dry-run delete deleted: %v", err)
	}
	// S18/S22: a stopped server answers ServiceUnavailable.
	srv.Stop()
	if _, err := gpus.Get(ctx, "gpu-1", metav1.GetOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("server stopped: %v, want IsServiceUnavailable", err)
	}
}

// S21: reads before the server is ready answer ServiceUnavailable, on unary calls and as
// the watch's ERROR event; writes are accepted.
func TestNotReadyIsServiceUnavailableS21(t *testing.T) {
	s := testserver.StartUnready(t, "--readiness-min-gpus=1")
	gpus := s.Client().DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)
	if _, err := gpus.List(ctx, metav1.ListOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("list before ready: %v, want IsServiceUnavailable", err)
	}
	w, err := gpus.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evs := expectClosed(t, w, 10*time.Second)
	if len(evs) != 1 || !apierrors.IsServiceUnavailable(apierrors.FromObject(evs[0].Object)) {
		t.Fatalf("watch before ready: %+v, want one ERROR event, IsServiceUnavailable", evs)
	}
	if _, err := gpus.Create(ctx, newGPU("gpu-0", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := gpus.List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list after the first GPU: %v", err)
	}
}
