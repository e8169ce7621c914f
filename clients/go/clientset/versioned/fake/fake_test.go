package fake_test

import (
	"context"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned/fake"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

func gpu(name, zone string) *devicev1alpha1.GPU {
	return &devicev1alpha1.GPU{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"zone": zone}},
		Spec:       devicev1alpha1.GPUSpec{UUID: "GPU-00000000-1111-2222-3333-444444444444"},
	}
}

// The fake clientset drives client-go's informer and the listers as a consumer's unit
// test would: seeded objects sync, later writes reach the handlers and the cache.
func TestFakeClientsetWithInformer(t *testing.T) {
	cs := fake.NewSimpleClientset(gpu("gpu-0", "a"))
	factory := externalversions.NewSharedInformerFactory(cs, 0)
	gpus := factory.Device().V1alpha1().GPUs()

	var mu sync.Mutex
	var seen []string
	_, err := gpus.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, "add "+obj.(*devicev1alpha1.GPU).Name)
		},
		UpdateFunc: func(_, obj any) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, "update "+obj.(*devicev1alpha1.GPU).Name)
		},
		DeleteFunc: func(obj any) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, "delete "+obj.(*devicev1alpha1.GPU).Name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); factory.Shutdown() }()
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v did not sync", typ)
		}
	}
	if g, err := gpus.Lister().GPUs("default").Get("gpu-0"); err != nil || g.Labels["zone"] != "a" {
		t.Fatalf("lister after sync: %v %v", g, err)
	}

	client := cs.DeviceV1alpha1().GPUs("default")
	if _, err := client.Create(ctx, gpu("gpu-1", "b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	g1 := gpu("gpu-1", "b")
	g1.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Probed"}}
	if _, err := client.UpdateStatus(ctx, g1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.Delete(ctx, "gpu-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"add gpu-0", "add gpu-1", "update gpu-1", "delete gpu-0"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Fatalf("handlers saw %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("handlers saw %v, want %v", seen, want)
		}
	}
	sel, _ := labels.Parse("zone=b")
	list, err := gpus.Lister().List(sel)
	if err != nil || len(list) != 1 || list[0].Name != "gpu-1" || len(list[0].Status.Conditions) != 1 {
		t.Fatalf("lister with selector: %v %v", list, err)
	}
}

// Reactors inject errors the way consumers test their error paths.
func TestFakeClientsetReactorInjectsAPIErrors(t *testing.T) {
	cs := fake.NewSimpleClientset()
	cs.PrependReactor("update", "gpus", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(devicev1alpha1.Resource("gpus"), "gpu-0", nil)
	})
	_, err := cs.DeviceV1alpha1().GPUs("default").UpdateStatus(context.Background(), gpu("gpu-0", "a"), metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("%v, want IsConflict", err)
	}
	if _, err := cs.DeviceV1alpha1().GPUs("default").Get(context.Background(), "gpu-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("%v, want IsNotFound", err)
	}
	if n := len(cs.Actions()); n != 2 {
		t.Fatalf("%d actions recorded, want 2", n)
	}
}

// Leases on the fake clientset: an informer syncs the seeded lease, its lister follows
// the fake client's writes, and Patch is the object tracker's.
func TestFakeClientsetWithLeaseInformer(t *testing.T) {
	seed := &devicev1alpha1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "nvml-provider", Namespace: "default"},
		Spec: devicev1alpha1.LeaseSpec{HolderIdentity: "node-1", LeaseDurationSeconds: 40, ConditionTypes: []string{"NVMLReady"}}}
	cs := fake.NewSimpleClientset(seed)
	factory := externalversions.NewSharedInformerFactory(cs, 0)
	leases := factory.Device().V1alpha1().Leases()
	informer := leases.Informer()
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); factory.Shutdown() }()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("lease informer did not sync")
	}
	if l, err := leases.Lister().Leases("default").Get("nvml-provider"); err != nil || l.Spec.HolderIdentity != "node-1" {
		t.Fatalf("lister after sync: %v %v", l, err)
	}
	client := cs.DeviceV1alpha1().Leases("default")
	if _, err := client.Create(ctx, &devicev1alpha1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patched, err := client.Patch(ctx, "nvml-provider", types.MergePatchType, []byte(`{"spec":{"holderIdentity":"node-2"}}`), metav1.PatchOptions{})
	if err != nil || patched.Spec.HolderIdentity != "node-2" || patched.Spec.LeaseDurationSeconds != 40 {
		t.Fatalf("fake patch: %v %+v", err, patched)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, _ := leases.Lister().List(labels.Everything())
		l, err := leases.Lister().Leases("default").Get("nvml-provider")
		if len(all) == 2 && err == nil && l.Spec.HolderIdentity == "node-2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lister did not follow the writes: %d leases, %v %v", len(all), l, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := cs.DeviceV1alpha1().Leases("other").Get(ctx, "nvml-provider", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("lease of another namespace: %v, want IsNotFound", err)
	}
}
