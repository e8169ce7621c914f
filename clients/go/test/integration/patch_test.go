package integration

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

// mustJSON is a patch document as a Go program writes one: json.Marshal of maps and the
// API types.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// conditionsPatch is {"status":{"conditions":[...]}} from metav1.Conditions, as a provider
// writes it: lastTransitionTime is null in it (metav1.Condition always carries the field).
func conditionsPatch(t *testing.T, conditions ...metav1.Condition) []byte {
	return mustJSON(t, map[string]any{"status": map[string]any{"conditions": conditions}})
}

func condition(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: typ + " " + reason}
}

// Patch on GPUs (PatchGpu): documents in the Go types' JSON names, merge and strategic
// merge, labels and spec without a subresource, conditions with subresource "status".
func TestGPUPatchMergeAndStrategicS31(t *testing.T) {
	srv := testserver.Start(t)
	gpus := srv.Client().DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)
	in := newGPU("gpu-0", 0)
	in.Labels = map[string]string{"keep": "1", "drop": "1"}
	created, err := gpus.Create(ctx, in, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Labels: a merge patch adds and (with null) removes keys, keeps the others.
	labels := mustJSON(t, map[string]any{"metadata": map[string]any{"labels": map[string]any{"zone": "a", "drop": nil}}})
	g, err := gpus.Patch(ctx, "gpu-0", types.MergePatchType, labels, metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Labels) != 2 || g.Labels["zone"] != "a" || g.Labels["keep"] != "1" || g.Generation != 1 ||
		rvNum(t, g.ResourceVersion) <= rvNum(t, created.ResourceVersion) {
		t.Fatalf("after the labels patch: %+v", g.ObjectMeta)
	}
	// ObjectMeta itself marshals to the same document.
	g, err = gpus.Patch(ctx, "gpu-0", types.MergePatchType,
		mustJSON(t, map[string]any{"metadata": metav1.ObjectMeta{Labels: map[string]string{"from": "objectmeta"}}}), metav1.PatchOptions{})
	if err != nil || g.Labels["from"] != "objectmeta" || len(g.Labels) != 3 {
		t.Fatalf("patch from a marshalled ObjectMeta: %v %v", g, err)
	}

	// Conditions, strategic: each provider patches its own, merged by type (S31).
	g, err = gpus.Patch(ctx, "gpu-0", types.StrategicMergePatchType,
		conditionsPatch(t, condition("Ready", metav1.ConditionTrue, "Probed"), condition("NVMLReady", metav1.ConditionTrue, "Probed")),
		metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	ready := meta.FindStatusCondition(g.Status.Conditions, "Ready")
	if len(g.Status.Conditions) != 2 || ready == nil || ready.Status != metav1.ConditionTrue || ready.LastTransitionTime.IsZero() {
		t.Fatalf("conditions after the first status patch: %+v", g.Status.Conditions)
	}
	g, err = gpus.Patch(ctx, "gpu-0", types.StrategicMergePatchType,
		conditionsPatch(t, condition("XidHealthy", metav1.ConditionFalse, "Xid79")), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Status.Conditions) != 3 || !meta.IsStatusConditionTrue(g.Status.Conditions, "Ready") ||
		!meta.IsStatusConditionFalse(g.Status.Conditions, "XidHealthy") || g.Labels["zone"] != "a" {
		t.Fatalf("a strategic patch of one condition must keep the others: %+v", g.Status.Conditions)
	}
	// Same status again: the transition time stays (S6), nothing else moves.
	g2, err := gpus.Patch(ctx, "gpu-0", types.StrategicMergePatchType,
		conditionsPatch(t, condition("Ready", metav1.ConditionTrue, "Probed")), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if r := meta.FindStatusCondition(g2.Status.Conditions, "Ready"); !r.LastTransitionTime.Equal(&ready.LastTransitionTime) ||
		g2.ResourceVersion != g.ResourceVersion {
		t.Fatalf("an unchanged condition moved (rv %s -> %s): %+v", g.ResourceVersion, g2.ResourceVersion, r)
	}
	// {"type": X, "$patch": "delete"} removes condition X.
	del := mustJSON(t, map[string]any{"status": map[string]any{"conditions": []any{map[string]any{"type": "XidHealthy", "$patch": "delete"}}}})
	g, err = gpus.Patch(ctx, "gpu-0", types.StrategicMergePatchType, del, metav1.PatchOptions{}, "status")
	if err != nil || len(g.Status.Conditions) != 2 || meta.FindStatusCondition(g.Status.Conditions, "XidHealthy") != nil {
		t.Fatalf("$patch delete: %v %+v", err, g)
	}
	// A merge patch (RFC 7386) replaces the list whole.
	g, err = gpus.Patch(ctx, "gpu-0", types.MergePatchType,
		conditionsPatch(t, condition("Ready", metav1.ConditionFalse, "Unplugged")), metav1.PatchOptions{}, "status")
	if err != nil || len(g.Status.Conditions) != 1 || !meta.IsStatusConditionFalse(g.Status.Conditions, "Ready") {
		t.Fatalf("merge patch of conditions: %v %+v", err, g)
	}
	g, err = gpus.Patch(ctx, "gpu-0", types.MergePatchType, []byte(`{"status":{"recommendedAction":"RESET_GPU"}}`),
		metav1.PatchOptions{}, "status")
	if err != nil || g.Status.RecommendedAction != "RESET_GPU" || len(g.Status.Conditions) != 1 {
		t.Fatalf("status field patch: %v %+v", err, g)
	}

	// Spec: generation moves (S4). A current resourceVersion in the patch is accepted.
	spec := mustJSON(t, map[string]any{"metadata": map[string]any{"resourceVersion": g.ResourceVersion},
		"spec": devicev1alpha1.GPUSpec{UUID: "GPU-ffffffff-1111-2222-3333-444444444444"}})
	g, err = gpus.Patch(ctx, "gpu-0", types.MergePatchType, spec, metav1.PatchOptions{})
	if err != nil || g.Generation != 2 || g.Spec.UUID != "GPU-ffffffff-1111-2222-3333-444444444444" {
		t.Fatalf("spec patch: %v %+v", err, g)
	}
	// A patch that changes nothing takes no revision (S1).
	same, err := gpus.Patch(ctx, "gpu-0", types.MergePatchType, []byte(`{"metadata":{"labels":{"zone":"a"}}}`), metav1.PatchOptions{})
	if err != nil || same.ResourceVersion != g.ResourceVersion {
		t.Fatalf("no-op patch: %v, rv %s -> %s", err, g.ResourceVersion, same.ResourceVersion)
	}
	got, err := gpus.Get(ctx, "gpu-0", metav1.GetOptions{})
	if err != nil || got.ResourceVersion != g.ResourceVersion || got.Labels["from"] != "objectmeta" {
		t.Fatalf("Get after the patches: %v %+v", err, got)
	}
}

// Every refusal of a GPU patch arrives as the API error its predicate recognises, and
// changes nothing; patch types the server does not have never reach it.
func TestGPUPatchErrorsS5S20S31(t *testing.T) {
	srv := testserver.Start(t)
	var patchCalls atomic.Int64
	cs := dial(t, srv.Target(), grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if method == "/nvidia.nvsentinel.v1alpha1.GpuService/PatchGpu" {
				patchCalls.Add(1)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
	gpus := cs.DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)
	created, err := gpus.Create(ctx, newGPU("gpu-0", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labels := []byte(`{"metadata":{"labels":{"zone":"b"}}}`)
	status := conditionsPatch(t, condition("Ready", metav1.ConditionTrue, "Probed"))
	for _, c := range []struct {
		name  string
		pt    types.PatchType
		data  []byte
		sub   []string
		check func(error) bool
	}{
		{"status without subresource", types.MergePatchType, status, nil, apierrors.IsInvalid},
		{"labels with subresource status", types.MergePatchType, labels, []string{"status"}, apierrors.IsInvalid},
		{"unknown subresource", types.MergePatchType, labels, []string{"scale"}, apierrors.IsInvalid},
		{"two subresources", types.MergePatchType, status, []string{"status", "x"}, apierrors.IsInvalid},
		{"malformed JSON", types.MergePatchType, []byte(`{"metadata":`), nil, apierrors.IsInvalid},
		{"not an object", types.MergePatchType, []byte(`["a"]`), nil, apierrors.IsInvalid},
		{"unknown field", types.MergePatchType, []byte(`{"spec":{"model":"H100"}}`), nil, apierrors.IsInvalid},
		{"apiVersion and kind", types.MergePatchType, []byte(`{"apiVersion":"device.nvidia.com/v1alpha1","kind":"GPU"}`), nil, apierrors.IsInvalid},
		{"wrong type", types.MergePatchType, []byte(`{"metadata":{"labels":["a"]}}`), nil, apierrors.IsInvalid},
		{"name change", types.MergePatchType, []byte(`{"metadata":{"name":"gpu-1"}}`), nil, apierrors.IsInvalid},
		{"invalid uuid", types.MergePatchType, []byte(`{"spec":{"uuid":"GPU-nope"}}`), nil, apierrors.IsInvalid},
		{"invalid condition status", types.StrategicMergePatchType,
			conditionsPatch(t, condition("Ready", "Maybe", "Probed")), []string{"status"}, apierrors.IsInvalid},
		{"unsupported directive", types.StrategicMergePatchType,
			[]byte(`{"status":{"conditions":[{"type":"Ready","$patch":"replace"}]}}`), []string{"status"}, apierrors.IsInvalid},
		{"stale resourceVersion", types.MergePatchType,
			mustJSON(t, map[string]any{"metadata": map[string]any{"resourceVersion": "1", "labels": map[string]string{"zone": "b"}}}), nil, apierrors.IsConflict},
	} {
		if _, err := gpus.Patch(ctx, "gpu-0", c.pt, c.data, metav1.PatchOptions{}, c.sub...); !c.check(err) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := gpus.Patch(ctx, "missing", types.MergePatchType, labels, metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("missing GPU: %v, want IsNotFound", err)
	}
	if _, err := cs.DeviceV1alpha1().GPUs("other").Patch(ctx, "gpu-0", types.MergePatchType, labels, metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("GPU of another namespace: %v, want IsNotFound", err)
	}
	sent := patchCalls.Load()
	// Refused here, before anything is sent.
	for _, pt := range []types.PatchType{types.JSONPatchType, types.ApplyYAMLPatchType, types.ApplyCBORPatchType, "text/plain"} {
		if _, err := gpus.Patch(ctx, "gpu-0", pt, []byte(`[{"op":"add","path":"/metadata/labels/zone","value":"b"}]`),
			metav1.PatchOptions{}); !apierrors.IsUnsupportedMediaType(err) {
			t.Errorf("patch type %s: %v, want IsUnsupportedMediaType", pt, err)
		}
	}
	if _, err := gpus.Patch(ctx, "gpu-0", types.MergePatchType, labels, metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsBadRequest(err) {
		t.Errorf("dry run: %v, want IsBadRequest", err)
	}
	if _, err := gpus.Patch(ctx, "gpu-0", types.MergePatchType, labels, metav1.PatchOptions{Force: ptr.To(true)}); !apierrors.IsBadRequest(err) {
		t.Errorf("force: %v, want IsBadRequest", err)
	}
	if n := patchCalls.Load(); n != sent {
		t.Errorf("%d refused patches reached the server", n-sent)
	}
	if sent < 16 {
		t.Errorf("only %d PatchGpu calls counted: the interceptor does not see them", sent)
	}
	got, err := gpus.Get(ctx, "gpu-0", metav1.GetOptions{})
	if err != nil || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("a refused patch changed the GPU: %v, rv %s -> %s", err, created.ResourceVersion, got.ResourceVersion)
	}
	// Still patchable after all that.
	if g, err := gpus.Patch(ctx, "gpu-0", types.MergePatchType, labels, metav1.PatchOptions{FieldManager: "test"}); err != nil || g.Labels["zone"] != "b" {
		t.Fatalf("valid patch: %v %+v", err, g)
	}
}
