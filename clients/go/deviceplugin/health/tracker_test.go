package health_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned/fake"
	"github.com/nvidia/device-api-server/clients/go/deviceplugin/health"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

const (
	uuidA = "GPU-aaaaaaaa-1111-2222-3333-444444444444"
	uuidB = "GPU-bbbbbbbb-1111-2222-3333-444444444444"
	migA1 = "MIG-a1a1a1a1-1111-2222-3333-444444444444"
	migB1 = "MIG-b1b1b1b1-1111-2222-3333-444444444444"
)

func gpu(name, uuid string, status metav1.ConditionStatus) *devicev1alpha1.GPU {
	return &devicev1alpha1.GPU{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       devicev1alpha1.GPUSpec{UUID: uuid},
		Status: devicev1alpha1.GPUStatus{Conditions: []metav1.Condition{
			{Type: "NVMLReady", Status: status, Reason: "Probed"},
		}},
	}
}

// env is a fake clientset with a started GPU informer and a synced tracker over it.
type env struct {
	t       *testing.T
	ctx     context.Context
	cs      *fake.Clientset
	tracker *health.Tracker
}

func newEnv(t *testing.T, devices []health.Device, objs ...*devicev1alpha1.GPU) *env {
	t.Helper()
	var seed []runtime.Object
	for _, o := range objs {
		seed = append(seed, o)
	}
	cs := fake.NewSimpleClientset(seed...)
	factory := externalversions.NewSharedInformerFactory(cs, 0)
	informer := factory.Device().V1alpha1().GPUs().Informer()
	tr, err := health.NewTracker(informer, devices)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	factory.Start(ctx.Done())
	for !tr.HasSynced() {
		if ctx.Err() != nil {
			t.Fatal("tracker did not sync")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &env{t: t, ctx: ctx, cs: cs, tracker: tr}
}

// setStatus writes the GPU's NVMLReady condition as a provider does.
func (e *env) setStatus(name string, status metav1.ConditionStatus) {
	e.t.Helper()
	gpus := e.cs.DeviceV1alpha1().GPUs("default")
	g, err := gpus.Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	g.Status.Conditions = []metav1.Condition{{Type: "NVMLReady", Status: status, Reason: "Probed" + string(status)}}
	if _, err := gpus.UpdateStatus(e.ctx, g, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// await reads Updates until a snapshot satisfies want, and returns it.
func (e *env) await(what string, want func(map[string]health.Health) bool) []health.Health {
	e.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case snap := <-e.tracker.Updates():
			if want(byID(snap)) {
				return snap
			}
		case <-timeout:
			e.t.Fatalf("no snapshot with %s within 5 s; newest: %+v", what, e.tracker.Snapshot())
		}
	}
}

func byID(snap []health.Health) map[string]health.Health {
	m := map[string]health.Health{}
	for _, h := range snap {
		m[h.ID] = h
	}
	return m
}

func healthyIDs(snap []health.Health) []string {
	var ids []string
	for _, h := range snap {
		if h.Healthy {
			ids = append(ids, h.ID)
		}
	}
	return ids
}

// A False condition makes the GPU Unhealthy; when it turns True again the GPU is Healthy.
func TestFalseConditionIsUnhealthyAndRecovers(t *testing.T) {
	devices := []health.Device{{ID: uuidB}, {ID: uuidA}}
	e := newEnv(t, devices, gpu("gpu-a", uuidA, metav1.ConditionTrue), gpu("gpu-b", uuidB, metav1.ConditionTrue))
	snap := e.tracker.Snapshot()
	if ids := healthyIDs(snap); !slices.Equal(ids, []string{uuidA, uuidB}) {
		t.Fatalf("initially healthy %v, want both sorted by ID; snapshot %+v", ids, snap)
	}

	e.setStatus("gpu-a", metav1.ConditionFalse)
	got := e.await("A unhealthy", func(m map[string]health.Health) bool { return !m[uuidA].Healthy })
	if a := byID(got)[uuidA]; !strings.Contains(a.Reason, "NVMLReady=False") {
		t.Errorf("reason %q does not name the condition", a.Reason)
	}
	if !byID(got)[uuidB].Healthy || len(got) != 2 {
		t.Errorf("snapshot %+v: want both devices, B healthy", got)
	}

	e.setStatus("gpu-a", metav1.ConditionTrue)
	got = e.await("A healthy again", func(m map[string]health.Health) bool { return m[uuidA].Healthy })
	if a := byID(got)[uuidA]; a.Reason != "" {
		t.Errorf("healthy device has reason %q", a.Reason)
	}
}

// Unknown (what an expired provider lease leaves) is Unhealthy; no conditions is Healthy.
func TestUnknownConditionIsUnhealthyNoConditionsHealthy(t *testing.T) {
	bare := gpu("gpu-b", uuidB, metav1.ConditionTrue)
	bare.Status.Conditions = nil
	e := newEnv(t, []health.Device{{ID: uuidA}, {ID: uuidB}}, gpu("gpu-a", uuidA, metav1.ConditionUnknown), bare)
	m := byID(e.tracker.Snapshot())
	if m[uuidA].Healthy || !strings.Contains(m[uuidA].Reason, "NVMLReady=Unknown") {
		t.Errorf("Unknown condition: %+v, want Unhealthy naming it", m[uuidA])
	}
	if !m[uuidB].Healthy {
		t.Errorf("GPU without conditions: %+v, want Healthy", m[uuidB])
	}
}

// MIG devices have their parent GPU's health, and only theirs.
func TestMIGDeviceFollowsParent(t *testing.T) {
	devices := []health.Device{{ID: uuidA, ParentUUID: uuidA}, {ID: migA1, ParentUUID: uuidA}, {ID: migB1, ParentUUID: uuidB}}
	e := newEnv(t, devices, gpu("gpu-a", uuidA, metav1.ConditionTrue), gpu("gpu-b", uuidB, metav1.ConditionTrue))
	if ids := healthyIDs(e.tracker.Snapshot()); len(ids) != 3 {
		t.Fatalf("initially healthy %v, want all 3", ids)
	}

	e.setStatus("gpu-a", metav1.ConditionFalse)
	got := byID(e.await("GPU A's devices unhealthy", func(m map[string]health.Health) bool {
		return !m[uuidA].Healthy && !m[migA1].Healthy
	}))
	if !got[migB1].Healthy {
		t.Errorf("MIG device of healthy GPU B: %+v", got[migB1])
	}
	if !strings.Contains(got[migA1].Reason, uuidA) {
		t.Errorf("MIG reason %q does not name its parent", got[migA1].Reason)
	}

	e.setStatus("gpu-a", metav1.ConditionTrue)
	e.await("all healthy again", func(m map[string]health.Health) bool {
		return m[uuidA].Healthy && m[migA1].Healthy && m[migB1].Healthy
	})
}

// A declared GPU without an object is Unhealthy; it turns Healthy when created and
// Unhealthy again when deleted.
func TestMissingGPUIsUnhealthy(t *testing.T) {
	e := newEnv(t, []health.Device{{ID: uuidA}, {ID: uuidB}}, gpu("gpu-a", uuidA, metav1.ConditionTrue))
	m := byID(e.tracker.Snapshot())
	if !m[uuidA].Healthy || m[uuidB].Healthy || !strings.Contains(m[uuidB].Reason, "not found") {
		t.Fatalf("snapshot %+v: want A Healthy, B Unhealthy as not found", m)
	}

	gpus := e.cs.DeviceV1alpha1().GPUs("default")
	if _, err := gpus.Create(e.ctx, gpu("gpu-b", uuidB, metav1.ConditionTrue), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.await("B created", func(m map[string]health.Health) bool { return m[uuidB].Healthy })

	if err := gpus.Delete(e.ctx, "gpu-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.await("B deleted", func(m map[string]health.Health) bool { return !m[uuidB].Healthy && m[uuidA].Healthy })
}

// A consumer that reads late finds exactly one snapshot waiting: the newest.
func TestSlowConsumerGetsNewestSnapshot(t *testing.T) {
	e := newEnv(t, []health.Device{{ID: uuidA}}, gpu("gpu-a", uuidA, metav1.ConditionTrue))
	statuses := []metav1.ConditionStatus{metav1.ConditionFalse, metav1.ConditionTrue, metav1.ConditionUnknown,
		metav1.ConditionTrue, metav1.ConditionFalse}
	for _, s := range statuses {
		e.setStatus("gpu-a", s)
	}
	// The handler has run for the last write once Snapshot shows its reason.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.tracker.Snapshot()[0].Reason, "ProbedFalse") || e.tracker.Snapshot()[0].Healthy {
		if time.Now().After(deadline) {
			t.Fatalf("tracker never saw the last write: %+v", e.tracker.Snapshot())
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case snap := <-e.tracker.Updates():
		if !slices.Equal(snap, e.tracker.Snapshot()) {
			t.Fatalf("waiting snapshot %+v, want the newest %+v", snap, e.tracker.Snapshot())
		}
	default:
		t.Fatal("no snapshot waiting")
	}
	select {
	case snap := <-e.tracker.Updates():
		t.Fatalf("a second snapshot was waiting: %+v", snap)
	default:
	}
}

// SetDevices adds a device whose GPU the cache holds without reporting it missing first.
func TestSetDevicesUsesTheCache(t *testing.T) {
	e := newEnv(t, []health.Device{{ID: uuidA}}, gpu("gpu-a", uuidA, metav1.ConditionTrue), gpu("gpu-b", uuidB, metav1.ConditionTrue))
	e.tracker.SetDevices([]health.Device{{ID: uuidA}, {ID: uuidB}})
	select {
	case snap := <-e.tracker.Updates():
		if ids := healthyIDs(snap); !slices.Equal(ids, []string{uuidA, uuidB}) || len(snap) != 2 {
			t.Fatalf("after SetDevices: %+v, want both Healthy", snap)
		}
	default:
		t.Fatal("SetDevices sent no snapshot")
	}
}

// While the cache cannot be trusted (SetServerError) every device is Unhealthy with that
// reason, whatever the cache holds; once it can, each device has its own health again, and
// each change is sent on Updates.
func TestServerErrorMakesEveryDeviceUnhealthyUntilCleared(t *testing.T) {
	devices := []health.Device{{ID: uuidA}, {ID: uuidB}}
	e := newEnv(t, devices, gpu("gpu-a", uuidA, metav1.ConditionTrue), gpu("gpu-b", uuidB, metav1.ConditionFalse))
	e.tracker.SetServerError(errors.New("device API server: connection refused"))
	got := e.await("both unhealthy", func(m map[string]health.Health) bool { return !m[uuidA].Healthy && !m[uuidB].Healthy })
	for _, h := range got {
		if !strings.Contains(h.Reason, "connection refused") {
			t.Errorf("%s: reason %q does not say why", h.ID, h.Reason)
		}
	}
	e.tracker.SetServerError(nil)
	got = e.await("A healthy again", func(m map[string]health.Health) bool { return m[uuidA].Healthy })
	if b := byID(got)[uuidB]; b.Healthy || !strings.Contains(b.Reason, "NVMLReady=False") {
		t.Errorf("B after the server returned: %+v, want its own condition", b)
	}
}
