package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/connection"
	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

func TestCreateGetUpdateDeleteS3S4S6(t *testing.T) {
	srv := testserver.Start(t)
	gpus := srv.Client().DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)

	in := newGPU("gpu-0", 0)
	in.Labels = map[string]string{"nvidia.com/gpu.product": "H100"}
	in.Annotations = map[string]string{"example.com/note": "rack 7"}
	created, err := gpus.Create(ctx, in, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// S3: the server sets uid, creation timestamp, generation 1 and namespace default.
	if created.UID == "" || created.CreationTimestamp.IsZero() || created.Generation != 1 ||
		created.Namespace != "default" || created.ResourceVersion == "" {
		t.Fatalf("server-set fields missing: %+v", created.ObjectMeta)
	}
	if created.Labels["nvidia.com/gpu.product"] != "H100" || created.Annotations["example.com/note"] != "rack 7" {
		t.Fatalf("labels/annotations lost: %+v", created.ObjectMeta)
	}
	got, err := gpus.Get(ctx, "gpu-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, created) {
		t.Fatalf("Get differs from Create's result:\n%+v\n%+v", got, created)
	}

	// S4/S6: UpdateStatus changes status only; the server fills the transition time.
	st := got.DeepCopy()
	st.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, "Probed")}
	st.Status.RecommendedAction = "NONE"
	st.Status.DeviceInfo = &devicev1alpha1.DeviceInfo{ProductName: "NVIDIA H100", PCIBusID: "0000:3b:00.0",
		MemoryTotalBytes: 80 << 30, MinorNumber: 3, Index: 3, Architecture: "Hopper"}
	st.Spec.UUID = "GPU-ffffffff-1111-2222-3333-444444444444" // ignored by UpdateStatus
	withStatus, err := gpus.UpdateStatus(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(withStatus.Status.Conditions, "Ready")
	if c == nil || c.Status != metav1.ConditionTrue || c.LastTransitionTime.IsZero() {
		t.Fatalf("condition not stored with a transition time: %+v", withStatus.Status.Conditions)
	}
	if withStatus.Generation != 1 || withStatus.Spec.UUID != created.Spec.UUID {
		t.Fatalf("UpdateStatus changed spec or generation: %+v", withStatus)
	}
	if !equality.Semantic.DeepEqual(withStatus.Status.DeviceInfo, st.Status.DeviceInfo) {
		t.Fatalf("device info lost: %+v", withStatus.Status.DeviceInfo)
	}
	firstTransition := c.LastTransitionTime

	// S6: the same status again keeps the transition time.
	again := withStatus.DeepCopy()
	again.Status.Conditions[0].Message = "still fine"
	again.Status.Conditions[0].LastTransitionTime = metav1.Time{}
	time.Sleep(1100 * time.Millisecond)
	again, err = gpus.UpdateStatus(ctx, again, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(again.Status.Conditions, "Ready"); !c.LastTransitionTime.Equal(&firstTransition) {
		t.Fatalf("transition time moved without a status change: %v -> %v", firstTransition, c.LastTransitionTime)
	}

	// S4: Update changes spec (generation +1) and labels, never status.
	up := again.DeepCopy()
	up.Spec.UUID = "GPU-ffffffff-1111-2222-3333-444444444444"
	up.Labels["zone"] = "a"
	up.Status = devicev1alpha1.GPUStatus{}
	updated, err := gpus.Update(ctx, up, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Generation != 2 || updated.Spec.UUID != up.Spec.UUID || updated.Labels["zone"] != "a" ||
		len(updated.Status.Conditions) != 1 {
		t.Fatalf("update: %+v", updated)
	}

	if err := gpus.Delete(ctx, "gpu-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := gpus.Get(ctx, "gpu-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after delete: %v, want NotFound", err)
	}
}

// S3: creation_timestamp is the server's, and an update that changes it is refused. A copy
// whose timestamp differs from the stored one only in precision (one that went through
// JSON: metav1.Time keeps whole seconds, while a server may store nanoseconds; shifted
// here, as this server stores whole seconds) must still update, as with kube-apiserver,
// which keeps the stored creationTimestamp: the client does not send it on updates.
func TestUpdateOfACopyWithAnotherCreationTimestampKeepsTheStoredOneS3(t *testing.T) {
	srv := testserver.Start(t)
	cs := srv.Client().DeviceV1alpha1()
	ctx := ctxT(t)
	created, err := cs.GPUs("").Create(ctx, newGPU("gpu-0", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	born := created.CreationTimestamp
	copied := metav1.NewTime(born.Add(500 * time.Millisecond))

	up := created.DeepCopy()
	up.CreationTimestamp = copied
	up.Labels = map[string]string{"zone": "a"}
	updated, err := cs.GPUs("").Update(ctx, up, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	st := updated.DeepCopy()
	st.CreationTimestamp = copied
	st.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, "Probed")}
	withStatus, err := cs.GPUs("").UpdateStatus(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	if !updated.CreationTimestamp.Equal(&born) || !withStatus.CreationTimestamp.Equal(&born) {
		t.Fatalf("creation timestamp %v, %v; stored %v", updated.CreationTimestamp, withStatus.CreationTimestamp, born)
	}

	leases := cs.Leases("")
	lease := createLease(ctx, t, leases, newLease("provider", "node-1", 40))
	lease.CreationTimestamp = metav1.NewTime(lease.CreationTimestamp.Add(500 * time.Millisecond))
	lease.Spec.HolderIdentity = "node-2"
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("lease Update: %v", err)
	}
}

func TestNamespacedClientS17(t *testing.T) {
	srv := testserver.Start(t)
	cs := srv.Client().DeviceV1alpha1()
	ctx := ctxT(t)
	for i, ns := range []string{"a", "ab", "a"} {
		g := newGPU([]string{"x", "y", "z"}[i], i)
		if _, err := cs.GPUs(ns).Create(ctx, g, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := cs.GPUs("a").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 || list.Items[0].Name != "x" || list.Items[1].Name != "z" {
		t.Fatalf("namespace a: %v", names(list))
	}
	all, err := cs.GPUs("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// S10: sorted by namespace, then name.
	if got := names(all); len(got) != 3 || got[0] != "a/x" || got[1] != "a/z" || got[2] != "ab/y" {
		t.Fatalf("all namespaces: %v", got)
	}
	if _, err := cs.GPUs("ab").Get(ctx, "x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("x in ab: %v", err)
	}
	if err := cs.GPUs("a").Delete(ctx, "x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A namespaced client writes only to its namespace: an object of another one is refused
// before any call, as client-go and kube-apiserver do (400 BadRequest), and nothing is
// written there. A patch cannot move an object either.
func TestNamespacedClientRefusesAnObjectOfAnotherNamespaceS17(t *testing.T) {
	srv := testserver.Start(t)
	cs := srv.Client().DeviceV1alpha1()
	ctx := ctxT(t)
	const mismatch = "the namespace of the provided object does not match the namespace sent on the request"
	refused := func(what string, err error) {
		t.Helper()
		if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), mismatch) {
			t.Errorf("%s: %v, want BadRequest %q", what, err, mismatch)
		}
	}
	inB := newGPU("gpu-0", 0)
	inB.Namespace = "b"
	_, err := cs.GPUs("a").Create(ctx, inB, metav1.CreateOptions{})
	refused("GPU Create", err)
	if _, err := cs.GPUs("b").Get(ctx, "gpu-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("GPU in b after a refused Create: %v", err)
	}
	created, err := cs.GPUs("b").Create(ctx, inB, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	up := created.DeepCopy()
	up.Labels = map[string]string{"zone": "a"}
	_, err = cs.GPUs("a").Update(ctx, up, metav1.UpdateOptions{})
	refused("GPU Update", err)
	st := created.DeepCopy()
	st.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, "Probed")}
	_, err = cs.GPUs("a").UpdateStatus(ctx, st, metav1.UpdateOptions{})
	refused("GPU UpdateStatus", err)
	if got, err := cs.GPUs("b").Get(ctx, "gpu-0", metav1.GetOptions{}); err != nil || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("GPU in b after refused updates: %v %+v", err, got)
	}
	// The object's own namespace, or none, is the client's.
	if _, err := cs.GPUs("b").Update(ctx, up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.GPUs("b").Patch(ctx, "gpu-0", types.MergePatchType, []byte(`{"metadata":{"namespace":"a"}}`), metav1.PatchOptions{}); err == nil {
		t.Error("a patch moved the GPU to another namespace")
	}

	lease := newLease("provider", "node-1", 40)
	lease.Namespace = "b"
	_, err = cs.Leases("a").Create(ctx, lease, metav1.CreateOptions{})
	refused("lease Create", err)
	createdLease := createLease(ctx, t, cs.Leases("b"), lease)
	createdLease.Spec.HolderIdentity = "node-2"
	_, err = cs.Leases("a").Update(ctx, createdLease, metav1.UpdateOptions{})
	refused("lease Update", err)
	if _, err := cs.Leases("b").Patch(ctx, "provider", types.MergePatchType, []byte(`{"metadata":{"namespace":"a"}}`), metav1.PatchOptions{}); err == nil {
		t.Error("a patch moved the lease to another namespace")
	}
	if _, err := cs.Leases("a").Get(ctx, "provider", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("lease in a: %v", err)
	}
}

func names(l *devicev1alpha1.GPUList) []string {
	var out []string
	for _, g := range l.Items {
		out = append(out, g.Namespace+"/"+g.Name)
	}
	return out
}

// S19: a List larger than gRPC's default 4 MiB receive limit (as on a node with 1,024 GPUs
// of 32 conditions) arrives whole through a connection made from a Config; one dialled
// with a smaller MaxRecvMsgSize fails instead.
func TestListLargerThanGrpcDefaultReceiveLimitS19(t *testing.T) {
	srv := testserver.Start(t)
	gpus := srv.Client().DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)
	const count = 48
	for i := 0; i < count; i++ {
		g := newGPU(fmt.Sprintf("gpu-%d", i), i)
		for c := 0; c < 32; c++ {
			g.Status.Conditions = append(g.Status.Conditions, metav1.Condition{Type: fmt.Sprintf("Check%d", c),
				Status: metav1.ConditionTrue, Reason: "Healthy", Message: strings.Repeat("m", 3000)})
		}
		if _, err := gpus.Create(ctx, g, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := gpus.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list of more than 4 MiB: %v", err)
	}
	if len(list.Items) != count {
		t.Fatalf("listed %d GPUs, want %d", len(list.Items), count)
	}
	conn, err := connection.Dial(&connection.Config{Target: srv.Target(), MaxRecvMsgSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := versioned.NewForConn(conn, nil).DeviceV1alpha1().GPUs("").List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("a list larger than MaxRecvMsgSize was accepted")
	}
}
