package integration

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	typed "github.com/nvidia/device-api-server/clients/go/clientset/versioned/typed/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

func newLease(name, holder string, seconds int32, owned ...string) *devicev1alpha1.Lease {
	return &devicev1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: devicev1alpha1.LeaseSpec{HolderIdentity: holder, LeaseDurationSeconds: seconds,
			ConditionTypes: owned},
	}
}

// createLease creates in, failing the test when the server refuses it.
func createLease(ctx context.Context, t *testing.T, leases typed.LeaseInterface, in *devicev1alpha1.Lease) *devicev1alpha1.Lease {
	t.Helper()
	created, err := leases.Create(ctx, in, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func TestLeaseCreateGetListUpdateDeleteS3S28S30(t *testing.T) {
	srv := testserver.Start(t)
	cs := srv.Client().DeviceV1alpha1()
	leases := cs.Leases("")
	ctx := ctxT(t)

	in := newLease("nvml-provider", "node-1", 40, "NVMLReady")
	in.Labels = map[string]string{"provider": "nvml"}
	created := createLease(ctx, t, leases, in)
	// S3 and the lease's own defaults: times are the server's when left nil.
	if created.UID == "" || created.Namespace != "default" || created.Generation != 1 || created.ResourceVersion == "" ||
		created.Spec.RenewTime == nil || created.Spec.AcquireTime == nil || created.Spec.HolderIdentity != "node-1" ||
		created.Spec.LeaseDurationSeconds != 40 || len(created.Spec.ConditionTypes) != 1 || created.Labels["provider"] != "nvml" {
		t.Fatalf("created: %+v", created)
	}
	if time.Since(created.Spec.RenewTime.Time).Abs() > time.Minute {
		t.Fatalf("renew time is not the server's clock: %v", created.Spec.RenewTime)
	}
	got, err := leases.Get(ctx, "nvml-provider", metav1.GetOptions{})
	if err != nil || !equality.Semantic.DeepEqual(got, created) {
		t.Fatalf("Get differs from Create's result: %v\n%+v\n%+v", err, got, created)
	}
	if _, err := cs.Leases("other").Create(ctx, newLease("b", "node-1", 10, "Other"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	all, err := leases.List(ctx, metav1.ListOptions{})
	if err != nil || len(all.Items) != 2 || all.Items[0].Name != "nvml-provider" || all.Items[1].Namespace != "other" ||
		all.ResourceVersion == "" {
		t.Fatalf("list of all namespaces: %v %+v", err, all)
	}
	selected, err := leases.List(ctx, metav1.ListOptions{LabelSelector: "provider=nvml"})
	if err != nil || len(selected.Items) != 1 {
		t.Fatalf("list by label: %v %+v", err, selected)
	}
	other, err := cs.Leases("other").List(ctx, metav1.ListOptions{})
	if err != nil || len(other.Items) != 1 || other.Items[0].Name != "b" {
		t.Fatalf("list of one namespace: %v %+v", err, other)
	}

	// A renewal: an update with RenewTime cleared takes the server's clock.
	renew := got.DeepCopy()
	renew.Spec.RenewTime = nil
	renewed, err := leases.Update(ctx, renew, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !renewed.Spec.RenewTime.After(created.Spec.RenewTime.Time) || renewed.Spec.LeaseTransitions != 0 ||
		!renewed.Spec.AcquireTime.Equal(created.Spec.AcquireTime) {
		t.Fatalf("renewal: %+v -> %+v", created.Spec, renewed.Spec)
	}
	// A take-over by a new holder with the resourceVersion read: the server counts it (S29).
	take := renewed.DeepCopy()
	take.Spec.HolderIdentity, take.Spec.AcquireTime, take.Spec.RenewTime = "node-2", nil, nil
	taken, err := leases.Update(ctx, take, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if taken.Spec.HolderIdentity != "node-2" || taken.Spec.LeaseTransitions != 1 ||
		taken.Spec.AcquireTime.Equal(created.Spec.AcquireTime) || rvNum(t, taken.ResourceVersion) <= rvNum(t, renewed.ResourceVersion) {
		t.Fatalf("take-over: %+v", taken)
	}
	if err := leases.Delete(ctx, "nvml-provider", metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &taken.UID, ResourceVersion: &taken.ResourceVersion}}); err != nil {
		t.Fatal(err)
	}
	if _, err := leases.Get(ctx, "nvml-provider", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after delete: %v, want IsNotFound", err)
	}
}

// Every error the lease calls can answer arrives as the API error its predicate
// recognises. S5, S20, S30.
func TestLeaseErrorPredicatesS5S30(t *testing.T) {
	srv := testserver.Start(t)
	leases := srv.Client().DeviceV1alpha1().Leases("")
	ctx := ctxT(t)
	l, err := leases.Create(ctx, newLease("a", "node-1", 30, "NVMLReady"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, pred func(error) bool, want string) {
		t.Helper()
		if !pred(err) {
			t.Errorf("%s: %v, want %s", what, err, want)
		}
	}
	_, err = leases.Create(ctx, newLease("a", "node-1", 30), metav1.CreateOptions{})
	check("create twice", err, apierrors.IsAlreadyExists, "IsAlreadyExists")
	_, err = leases.Get(ctx, "missing", metav1.GetOptions{})
	check("get missing", err, apierrors.IsNotFound, "IsNotFound")
	check("delete missing", leases.Delete(ctx, "missing", metav1.DeleteOptions{}), apierrors.IsNotFound, "IsNotFound")
	_, err = leases.Update(ctx, newLease("missing", "node-1", 30), metav1.UpdateOptions{})
	check("update missing", err, apierrors.IsNotFound, "IsNotFound")
	for _, seconds := range []int32{0, -1, 3601, 4000} {
		_, err = leases.Create(ctx, newLease("bad", "node-1", seconds), metav1.CreateOptions{})
		check("leaseDurationSeconds "+strconv.Itoa(int(seconds)), err, apierrors.IsInvalid, "IsInvalid")
	}
	_, err = leases.Create(ctx, newLease("bad", "node-1", 30, "not a type"), metav1.CreateOptions{})
	check("invalid condition type", err, apierrors.IsInvalid, "IsInvalid")
	_, err = leases.Create(ctx, newLease("bad", "node-1", 30, "Probe", "Probe"), metav1.CreateOptions{})
	check("duplicate condition type", err, apierrors.IsInvalid, "IsInvalid")
	// A type owned by another live lease: the message names that lease.
	_, err = leases.Create(ctx, newLease("b", "node-2", 30, "NVMLReady"), metav1.CreateOptions{})
	check("type owned by a live lease", err, apierrors.IsInvalid, "IsInvalid")
	if err != nil && !strings.Contains(err.Error(), "live lease default/a") {
		t.Errorf("the refusal does not name the owning lease: %v", err)
	}
	bad := l.DeepCopy()
	bad.Spec.LeaseDurationSeconds = 0
	_, err = leases.Update(ctx, bad, metav1.UpdateOptions{})
	check("update to duration 0", err, apierrors.IsInvalid, "IsInvalid")

	// S5: a stale resourceVersion on update and delete.
	up := l.DeepCopy()
	up.Spec.RenewTime = nil
	if _, err := leases.Update(ctx, up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = leases.Update(ctx, up, metav1.UpdateOptions{}) // still carries l's resourceVersion
	check("stale update", err, apierrors.IsConflict, "IsConflict")
	check("stale delete", leases.Delete(ctx, "a", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{
		ResourceVersion: ptr.To(l.ResourceVersion)}}), apierrors.IsConflict, "IsConflict")
	wrongUID := types.UID("00000000-0000-0000-0000-000000000000")
	check("delete with a wrong uid", leases.Delete(ctx, "a", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{
		UID: &wrongUID}}), apierrors.IsConflict, "IsConflict")
	_, err = leases.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=a"})
	check("field selector", err, apierrors.IsBadRequest, "IsBadRequest")
	_, err = leases.Create(ctx, newLease("c", "node-1", 30), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	check("dry-run create", err, apierrors.IsBadRequest, "IsBadRequest")
	// Nothing of the above changed the lease but the one renewal.
	if got, err := leases.Get(ctx, "a", metav1.GetOptions{}); err != nil || got.Spec.LeaseDurationSeconds != 30 ||
		rvNum(t, got.ResourceVersion) <= rvNum(t, l.ResourceVersion) {
		t.Fatalf("after the refusals: %v %+v", err, got)
	}
}

// A lease watch from a list's revision delivers every later change exactly once, in
// order, then live ones. S7, S12, S13.
func TestLeaseWatchS7S12S13(t *testing.T) {
	srv := testserver.Start(t)
	leases := srv.Client().DeviceV1alpha1().Leases("")
	ctx := ctxT(t)
	createLease(ctx, t, leases, newLease("a", "node-1", 30, "A"))
	list, err := leases.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Written before the watch starts: delivered from the list's revision (S12).
	b, err := leases.Create(ctx, newLease("b", "node-1", 30, "B"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := leases.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	b.Spec.HolderIdentity, b.Spec.AcquireTime, b.Spec.RenewTime = "node-2", nil, nil
	if _, err := leases.Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := leases.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ    watch.EventType
		holder string
	}{{watch.Added, "node-1"}, {watch.Modified, "node-2"}, {watch.Deleted, "node-2"}}
	last := rvNum(t, list.ResourceVersion)
	for _, wnt := range want {
		ev := nextEvent(t, w)
		l, ok := ev.Object.(*devicev1alpha1.Lease)
		if !ok || ev.Type != wnt.typ || l.Name != "b" || l.Spec.HolderIdentity != wnt.holder || rvNum(t, l.ResourceVersion) <= last {
			t.Fatalf("event %s %+v, want %s of b held by %s after revision %d", ev.Type, ev.Object, wnt.typ, wnt.holder, last)
		}
		last = rvNum(t, l.ResourceVersion)
	}
	// From "0": a synthetic ADDED for the current lease first (S13).
	w0, err := leases.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w0.Stop()
	if ev := nextEvent(t, w0); ev.Type != watch.Added || ev.Object.(*devicev1alpha1.Lease).Name != "a" {
		t.Fatalf("initial event: %s %+v", ev.Type, ev.Object)
	}
}

// client-go's informer over the factory's Lease informer syncs through WatchList (the
// consistency detector on, as TestMain makes sure), and its lister follows writes.
func TestLeaseInformerSyncsAndFollowsS13S15(t *testing.T) {
	srv := testserver.Start(t)
	direct := srv.Client()
	leases := direct.DeviceV1alpha1().Leases("")
	ctx := ctxT(t)
	for _, n := range []string{"a", "b", "c"} {
		createLease(ctx, t, leases, newLease(n, "node-1", 60, "Owned"+strings.ToUpper(n)))
	}
	var watchLists, lists atomic.Int64
	counted := dial(t, srv.Target(), grpc.WithChainStreamInterceptor(
		func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if method == "/nvidia.nvsentinel.v1alpha1.LeaseService/WatchLeases" {
				watchLists.Add(1)
			}
			return streamer(ctx, desc, cc, method, opts...)
		}), grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if method == "/nvidia.nvsentinel.v1alpha1.LeaseService/ListLeases" {
				lists.Add(1)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
	factory := externalversions.NewSharedInformerFactory(counted, 0)
	informer := factory.Device().V1alpha1().Leases()
	lister := informer.Lister()
	syncFactory(t, factory, informer.Informer())
	if got, err := lister.List(labels.Everything()); err != nil || len(got) != 3 {
		t.Fatalf("lister after sync: %v %v", got, err)
	}
	if watchLists.Load() != 1 {
		t.Fatalf("the sync opened %d lease watches, want 1 (WatchList)", watchLists.Load())
	}
	a, err := leases.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Spec.RenewTime = nil
	a, err = leases.Update(ctx, a, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := leases.Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "the lister to follow the renewal and the delete", func() bool {
		got, err := lister.Leases("default").Get("a")
		_, gone := lister.Leases("default").Get("c")
		return err == nil && got.ResourceVersion == a.ResourceVersion && apierrors.IsNotFound(gone)
	})
	// The detector's exact List runs after the sync: it must have run and agreed (a
	// disagreement panics).
	poll(t, 30*time.Second, "the consistency detector's exact List", func() bool { return lists.Load() > 0 })
}

// poll waits for cond, checking every 20 ms, and fails the test naming what it waited for.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
	}
}

// Lease Patch, applied by the client (the server has no patch call for leases): the
// document's fields change, the rest stays, and the rules are PatchGpu's. S31, S5.
func TestLeasePatchS5S31(t *testing.T) {
	srv := testserver.Start(t)
	leases := srv.Client().DeviceV1alpha1().Leases("")
	ctx := ctxT(t)
	in := newLease("nvml-provider", "node-1", 30, "NVMLReady")
	in.Labels = map[string]string{"keep": "1"}
	created := createLease(ctx, t, leases, in)
	// A take-over by patch: the server counts the transition; other fields stay.
	l, err := leases.Patch(ctx, "nvml-provider", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"zone":"a"}},"spec":{"holderIdentity":"node-2","acquireTime":null}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity != "node-2" || l.Spec.LeaseTransitions != 1 || l.Spec.LeaseDurationSeconds != 30 ||
		l.Labels["zone"] != "a" || l.Labels["keep"] != "1" || !l.CreationTimestamp.Equal(&created.CreationTimestamp) ||
		l.UID != created.UID || len(l.Spec.ConditionTypes) != 1 {
		t.Fatalf("after the take-over patch: %+v", l)
	}
	// A renewal by patch: renewTime null takes the server's clock.
	renewed, err := leases.Patch(ctx, "nvml-provider", types.StrategicMergePatchType, []byte(`{"spec":{"renewTime":null}}`), metav1.PatchOptions{})
	if err != nil || !renewed.Spec.RenewTime.After(l.Spec.RenewTime.Time) {
		t.Fatalf("renewal patch: %v %+v", err, renewed)
	}
	// A current resourceVersion in the document is accepted; a patch that changes
	// nothing writes nothing.
	same, err := leases.Patch(ctx, "nvml-provider", types.MergePatchType,
		mustJSON(t, map[string]any{"metadata": map[string]any{"resourceVersion": renewed.ResourceVersion}, "spec": map[string]any{"leaseDurationSeconds": 30}}),
		metav1.PatchOptions{})
	if err != nil || same.ResourceVersion != renewed.ResourceVersion {
		t.Fatalf("no-op patch: %v, rv %s -> %s", err, renewed.ResourceVersion, same.ResourceVersion)
	}
	for _, c := range []struct {
		name  string
		pt    types.PatchType
		data  string
		sub   []string
		check func(error) bool
	}{
		{"stale resourceVersion", types.MergePatchType, `{"metadata":{"resourceVersion":"1"},"spec":{"holderIdentity":"x"}}`, nil, apierrors.IsConflict},
		{"name change", types.MergePatchType, `{"metadata":{"name":"other"}}`, nil, apierrors.IsInvalid},
		{"uid removed", types.MergePatchType, `{"metadata":{"uid":null}}`, nil, apierrors.IsInvalid},
		{"unknown field", types.MergePatchType, `{"spec":{"holder":"x"}}`, nil, apierrors.IsInvalid},
		{"status", types.MergePatchType, `{"status":{}}`, nil, apierrors.IsInvalid},
		{"wrong type", types.MergePatchType, `{"spec":{"leaseDurationSeconds":"30"}}`, nil, apierrors.IsInvalid},
		{"malformed JSON", types.MergePatchType, `{"spec":`, nil, apierrors.IsInvalid},
		{"not an object", types.StrategicMergePatchType, `[]`, nil, apierrors.IsInvalid},
		{"invalid duration (server)", types.MergePatchType, `{"spec":{"leaseDurationSeconds":4000}}`, nil, apierrors.IsInvalid},
		{"subresource", types.MergePatchType, `{"spec":{"holderIdentity":"x"}}`, []string{"status"}, apierrors.IsInvalid},
		{"JSON patch", types.JSONPatchType, `[{"op":"replace","path":"/spec/holderIdentity","value":"x"}]`, nil, apierrors.IsUnsupportedMediaType},
		{"apply", types.ApplyYAMLPatchType, `spec: {holderIdentity: x}`, nil, apierrors.IsUnsupportedMediaType},
	} {
		l, err := leases.Patch(ctx, "nvml-provider", c.pt, []byte(c.data), metav1.PatchOptions{}, c.sub...)
		if !c.check(err) {
			t.Errorf("%s: %v", c.name, err)
		}
		if l != nil {
			t.Errorf("%s: a refused patch returned a lease, as client-go never does: %+v", c.name, l)
		}
	}
	if _, err := leases.Patch(ctx, "missing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("missing lease: %v, want IsNotFound", err)
	}
	if got, err := leases.Get(ctx, "nvml-provider", metav1.GetOptions{}); err != nil || got.ResourceVersion != renewed.ResourceVersion {
		t.Fatalf("a refused patch changed the lease: %v %+v", err, got)
	}
}

// interferer makes every UpdateLease of a client lose a race: before the call goes out,
// another writer changes the lease (a label counting its writes), as a concurrent
// provider would between the patch's Get and Update.
type interferer struct {
	t       *testing.T
	other   typed.LeaseInterface
	times   int64 // how many updates to interfere with
	updates atomic.Int64
}

func (f *interferer) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if method == "/nvidia.nvsentinel.v1alpha1.LeaseService/UpdateLease" {
		if n := f.updates.Add(1); n <= f.times {
			_, err := f.other.Patch(ctx, "l", types.MergePatchType,
				mustJSON(f.t, map[string]any{"metadata": map[string]any{"labels": map[string]any{"writer": strconv.FormatInt(n, 10)}}}),
				metav1.PatchOptions{})
			if err != nil {
				return err
			}
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// A lease patch that loses the race with a concurrent writer is applied again to what
// that writer left, so neither write is lost; after LeasePatchAttempts lost races it
// gives up with IsConflict. S5.
func TestLeasePatchRetriesOnConflictS5(t *testing.T) {
	srv := testserver.Start(t)
	other := srv.Client().DeviceV1alpha1().Leases("")
	ctx := ctxT(t)
	createLease(ctx, t, other, newLease("l", "node-1", 30))
	f := &interferer{t: t, other: other, times: 2}
	leases := dial(t, srv.Target(), grpc.WithChainUnaryInterceptor(f.intercept)).DeviceV1alpha1().Leases("")
	l, err := leases.Patch(ctx, "l", types.MergePatchType, []byte(`{"spec":{"holderIdentity":"node-2"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.updates.Load(); n != 3 {
		t.Fatalf("%d updates, want 3 (two lost races, then the write)", n)
	}
	if l.Spec.HolderIdentity != "node-2" || l.Labels["writer"] != "2" {
		t.Fatalf("a write was lost: %+v", l)
	}
	if got, err := other.Get(ctx, "l", metav1.GetOptions{}); err != nil || got.ResourceVersion != l.ResourceVersion {
		t.Fatalf("the patch's result is not the stored lease: %v %+v", err, got)
	}

	f2 := &interferer{t: t, other: other, times: 1 << 30}
	always := dial(t, srv.Target(), grpc.WithChainUnaryInterceptor(f2.intercept)).DeviceV1alpha1().Leases("")
	_, err = always.Patch(ctx, "l", types.MergePatchType, []byte(`{"spec":{"holderIdentity":"node-3"}}`), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("always losing: %v, want IsConflict", err)
	}
	if n := f2.updates.Load(); n != typed.LeasePatchAttempts {
		t.Fatalf("%d updates, want %d", n, typed.LeasePatchAttempts)
	}
	if got, _ := other.Get(ctx, "l", metav1.GetOptions{}); got.Spec.HolderIdentity != "node-2" {
		t.Fatalf("the given-up patch was written: %+v", got.Spec)
	}
}

// A provider that stops renewing its lease: the server turns the conditions it owns
// Unknown with reason ProviderLeaseExpired, seen through a GPU informer; conditions it
// does not own stay; setting an owned condition True is refused until the lease is
// renewed. S28, S29.
func TestLeaseExpiryTurnsOwnedConditionsUnknownS28S29(t *testing.T) {
	srv := testserver.Start(t)
	cs := srv.Client()
	gpus := cs.DeviceV1alpha1().GPUs("")
	leases := cs.DeviceV1alpha1().Leases("")
	ctx := ctxT(t)
	if _, err := gpus.Create(ctx, newGPU("gpu-0", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := gpus.Patch(ctx, "gpu-0", types.StrategicMergePatchType,
		conditionsPatch(t, condition("NVMLReady", metav1.ConditionTrue, "Probed"), condition("Ready", metav1.ConditionTrue, "Probed")),
		metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	factory := externalversions.NewSharedInformerFactory(cs, 0)
	informer := factory.Device().V1alpha1().GPUs()
	lister := informer.Lister()
	syncFactory(t, factory, informer.Informer())
	g, err := lister.GPUs("default").Get("gpu-0")
	if err != nil || !meta.IsStatusConditionTrue(g.Status.Conditions, "NVMLReady") {
		t.Fatalf("before the lease: %v %+v", err, g)
	}

	// One second, never renewed.
	createLease(ctx, t, leases, newLease("nvml-provider", "node-1", 1, "NVMLReady"))
	var expired *metav1.Condition
	poll(t, 30*time.Second, "NVMLReady turned Unknown by the lease's expiry in the informer's cache", func() bool {
		g, err := lister.GPUs("default").Get("gpu-0")
		if err != nil {
			return false
		}
		expired = meta.FindStatusCondition(g.Status.Conditions, "NVMLReady")
		return expired != nil && expired.Status == metav1.ConditionUnknown
	})
	if expired.Reason != "ProviderLeaseExpired" || expired.LastTransitionTime.IsZero() {
		t.Fatalf("expired condition: %+v", expired)
	}
	g, _ = lister.GPUs("default").Get("gpu-0")
	if !meta.IsStatusConditionTrue(g.Status.Conditions, "Ready") {
		t.Fatalf("expiry touched a condition the lease does not own: %+v", g.Status.Conditions)
	}
	if _, err := leases.Get(ctx, "nvml-provider", metav1.GetOptions{}); err != nil {
		t.Fatalf("expiry must not delete the lease: %v", err)
	}

	// S29: nothing reports NVMLReady healthy while its lease is expired...
	healthy := conditionsPatch(t, condition("NVMLReady", metav1.ConditionTrue, "Probed"))
	_, err = gpus.Patch(ctx, "gpu-0", types.StrategicMergePatchType, healthy, metav1.PatchOptions{}, "status")
	if reason := apierrors.ReasonForError(err); reason != "FailedPrecondition" {
		t.Fatalf("owned condition set True under an expired lease: %v (reason %q), want reason FailedPrecondition", err, reason)
	}
	// ...until the holder renews (for long enough not to expire again during the test).
	if _, err := leases.Patch(ctx, "nvml-provider", types.MergePatchType,
		[]byte(`{"spec":{"renewTime":null,"leaseDurationSeconds":600}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := gpus.Patch(ctx, "gpu-0", types.StrategicMergePatchType, healthy, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("after the renewal: %v", err)
	}
	poll(t, 30*time.Second, "NVMLReady True again in the informer's cache", func() bool {
		g, err := lister.GPUs("default").Get("gpu-0")
		return err == nil && meta.IsStatusConditionTrue(g.Status.Conditions, "NVMLReady")
	})
}
