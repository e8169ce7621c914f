package k8sbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	devicefake "github.com/nvidia/device-api-server/clients/go/clientset/versioned/fake"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

const uuid3 = "GPU-33333333-1111-2222-3333-444444444444"

// testEnv is a Bridge built with New over fake clientsets: client-go's for Nodes and
// events, client-go's dynamic one for DeviceTaintRules, and the module's for the GPUs.
type testEnv struct {
	t        *testing.T
	ctx      context.Context
	b        *Bridge
	kube     *kubefake.Clientset
	dyn      *dynamicfake.FakeDynamicClient
	devices  *devicefake.Clientset
	recorder *record.FakeRecorder
}

func node(name string, conds ...corev1.NodeCondition) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Conditions: conds}}
}

// ruleFor is a DeviceTaintRule as the bridge of nodeName would have written it for uuid.
func ruleFor(nodeName, uuid, uid string) *unstructured.Unstructured {
	c := validConfig()
	c.NodeName = nodeName
	u := DesiredRule{Name: RuleName(uuid), UUID: uuid, Node: nodeName, Effect: EffectNoSchedule, Value: "GPULost"}.Object(&c)
	u.SetUID(types.UID(uid))
	return u
}

// newRuleAPI is a fake DeviceTaintRule API holding rules, shared by the bridges of a test
// that stand for several nodes of one cluster.
func newRuleAPI(rules ...*unstructured.Unstructured) *dynamicfake.FakeDynamicClient {
	var ruleObjs []runtime.Object
	for _, r := range rules {
		ruleObjs = append(ruleObjs, r)
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{DeviceTaintRuleGVR: "DeviceTaintRuleList"}, ruleObjs...)
	// The fake's tracker only applies to objects that exist: create on the first apply, as
	// the API server does, with a UID and a new resourceVersion for the delete
	// precondition, which it checks as the API server does.
	uids, rvs := 0, 0
	dyn.PrependReactor("delete", "devicetaintrules", func(a clienttesting.Action) (bool, runtime.Object, error) {
		da := a.(clienttesting.DeleteAction)
		p := da.GetDeleteOptions().Preconditions
		cur, err := dyn.Tracker().Get(DeviceTaintRuleGVR, "", da.GetName())
		if p == nil || err != nil {
			return false, nil, nil
		}
		u := cur.(*unstructured.Unstructured)
		if (p.UID != nil && *p.UID != u.GetUID()) || (p.ResourceVersion != nil && *p.ResourceVersion != u.GetResourceVersion()) {
			return true, nil, apierrors.NewConflict(DeviceTaintRuleGVR.GroupResource(), da.GetName(), fmt.Errorf("precondition failed"))
		}
		return false, nil, nil
	})
	dyn.PrependReactor("patch", "devicetaintrules", func(a clienttesting.Action) (bool, runtime.Object, error) {
		pa := a.(clienttesting.PatchAction)
		if pa.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(pa.GetPatch(), &u.Object); err != nil {
			return true, nil, err
		}
		tr := dyn.Tracker()
		rvs++
		u.SetResourceVersion(strconv.Itoa(rvs))
		cur, err := tr.Get(DeviceTaintRuleGVR, "", pa.GetName())
		switch {
		case apierrors.IsNotFound(err):
			uids++
			u.SetUID(types.UID(fmt.Sprintf("uid-%d", uids)))
			err = tr.Create(DeviceTaintRuleGVR, u, "")
		case err == nil:
			u.SetUID(cur.(*unstructured.Unstructured).GetUID())
			err = tr.Update(DeviceTaintRuleGVR, u, "")
		}
		if err != nil {
			return true, nil, err
		}
		obj, err := tr.Get(DeviceTaintRuleGVR, "", pa.GetName())
		return true, obj, err
	})
	return dyn
}

// newKubeAPI is a fake Kubernetes API holding objs whose Nodes get a new resourceVersion
// on each write, as the API server gives them (the fake's tracker keeps none): the bridge
// compares them to tell whether its Node informer shows its last write.
func newKubeAPI(objs ...runtime.Object) *kubefake.Clientset {
	var rv atomic.Int64
	next := func() string { return strconv.FormatInt(rv.Add(1), 10) }
	for i, o := range objs {
		if n, ok := o.(*corev1.Node); ok {
			n = n.DeepCopy()
			n.ResourceVersion = next()
			objs[i] = n
		}
	}
	kube := kubefake.NewClientset(objs...)
	react := clienttesting.ObjectReaction(kube.Tracker())
	kube.PrependReactor("*", "nodes", func(a clienttesting.Action) (bool, runtime.Object, error) {
		switch act := a.(type) {
		case clienttesting.CreateActionImpl:
			n := act.Object.(*corev1.Node).DeepCopy()
			n.ResourceVersion = next()
			act.Object = n
			a = act
		case clienttesting.UpdateActionImpl:
			n := act.Object.(*corev1.Node).DeepCopy()
			n.ResourceVersion = next()
			act.Object = n
			a = act
		case clienttesting.PatchActionImpl:
			if act.PatchType != types.StrategicMergePatchType && act.PatchType != types.MergePatchType {
				break
			}
			var patch map[string]any
			if err := json.Unmarshal(act.Patch, &patch); err != nil {
				return true, nil, err
			}
			patch["metadata"] = map[string]any{"resourceVersion": next()}
			b, err := json.Marshal(patch)
			if err != nil {
				return true, nil, err
			}
			act.Patch = b
			a = act
		}
		return react(a)
	})
	return kube
}

// newTestEnv builds the bridge with New and starts its informers: gpus seed the Device API,
// kubeObjs the kube clientset (Nodes), rules the DeviceTaintRules. The probe has not
// answered yet: call serving(nil) for a reachable server.
func newTestEnv(t *testing.T, cfg Config, gpus []*devicev1alpha1.GPU, kubeObjs []runtime.Object, rules ...*unstructured.Unstructured) *testEnv {
	return newTestEnvOn(t, cfg, gpus, kubeObjs, newRuleAPI(rules...))
}

// newTestEnvOn is newTestEnv on an existing rule API.
func newTestEnvOn(t *testing.T, cfg Config, gpus []*devicev1alpha1.GPU, kubeObjs []runtime.Object, dyn *dynamicfake.FakeDynamicClient) *testEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)

	var seed []runtime.Object
	for _, g := range gpus {
		seed = append(seed, g)
	}
	devices := devicefake.NewSimpleClientset(seed...)
	factory := externalversions.NewSharedInformerFactory(devices, 0)
	gpuInformer := factory.Device().V1alpha1().GPUs().Informer()

	kube := newKubeAPI(kubeObjs...)
	b, err := New(cfg, kube, dyn, gpuInformer, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(100)
	b.recorder = rec

	factory.Start(ctx.Done())
	b.kubeFactory.Start(ctx.Done())
	synced := []cache.InformerSynced{gpuInformer.HasSynced, b.nodeInformer.HasSynced}
	if b.ruleFactory != nil {
		b.ruleFactory.Start(ctx.Done())
		synced = append(synced, b.ruleInformer.HasSynced)
	}
	// Shutdown waits for the informers, which stop when ctx ends: cancel first.
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
		b.kubeFactory.Shutdown()
		if b.ruleFactory != nil {
			b.ruleFactory.Shutdown()
		}
	})
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		t.Fatal("informers did not sync")
	}
	return &testEnv{t: t, ctx: ctx, b: b, kube: kube, dyn: dyn, devices: devices, recorder: rec}
}

// serving makes the bridge's last probe say the server is up (err nil) or down.
func (e *testEnv) serving(err error) {
	e.b.mu.Lock()
	e.b.probeErr, e.b.probed = err, true
	e.b.mu.Unlock()
}

func (e *testEnv) waitFor(what string, ok func() bool) {
	e.t.Helper()
	for !ok() {
		if e.ctx.Err() != nil {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// setGPU writes a GPU's status on the fake Device API and waits until the bridge sees it.
func (e *testEnv) setGPU(uuid, action string, conds ...metav1.Condition) {
	e.t.Helper()
	gpus := e.devices.DeviceV1alpha1().GPUs("default")
	g, err := gpus.Get(e.ctx, strings.ToLower(uuid), metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	g.Status.Conditions, g.Status.RecommendedAction = conds, action
	g, err = gpus.UpdateStatus(e.ctx, g, metav1.UpdateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	// The fake's tracker keeps no resource versions: compare the status itself.
	e.waitFor("the GPU informer", func() bool {
		obj, ok, _ := e.b.gpuInformer.GetStore().GetByKey("default/" + g.Name)
		return ok && equality.Semantic.DeepEqual(obj.(*devicev1alpha1.GPU).Status, g.Status)
	})
}

// syncCaches waits until the bridge's Node and rule informers hold what the fakes hold, as
// they would before the next reconcile in a running bridge.
func (e *testEnv) syncCaches() {
	e.t.Helper()
	n, err := e.kube.CoreV1().Nodes().Get(e.ctx, e.b.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitFor("the node informer", func() bool {
		cur, err := e.b.node()
		return err == nil && equality.Semantic.DeepEqual(cur.Status, n.Status) && equality.Semantic.DeepEqual(cur.Spec, n.Spec)
	})
	if e.b.ruleInformer == nil {
		return
	}
	e.waitFor("the rule informer", func() bool {
		want := e.ruleNames(NodeLabelValue(e.b.cfg.NodeName))
		var have []string
		for _, obj := range e.b.ruleInformer.GetStore().List() {
			have = append(have, obj.(*unstructured.Unstructured).GetName())
		}
		slices.Sort(have)
		return slices.Equal(have, want)
	})
}

func (e *testEnv) reconcile() {
	e.t.Helper()
	if err := e.b.reconcile(e.ctx); err != nil {
		e.t.Fatalf("reconcile: %v", err)
	}
}

// ruleNames lists the rules in the fake API with this node label ("" = all), sorted.
func (e *testEnv) ruleNames(nodeLabel string) []string {
	e.t.Helper()
	l, err := e.dyn.Resource(DeviceTaintRuleGVR).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, u := range l.Items {
		if nodeLabel == "" || u.GetLabels()[NodeLabel] == nodeLabel {
			names = append(names, u.GetName())
		}
	}
	slices.Sort(names)
	return names
}

func (e *testEnv) rule(name string) *unstructured.Unstructured {
	e.t.Helper()
	u, err := e.dyn.Resource(DeviceTaintRuleGVR).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *testEnv) node() *corev1.Node {
	e.t.Helper()
	n, err := e.kube.CoreV1().Nodes().Get(e.ctx, e.b.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *testEnv) condition() corev1.NodeCondition {
	e.t.Helper()
	for _, c := range e.node().Status.Conditions {
		if string(c.Type) == e.b.cfg.ConditionType {
			return c
		}
	}
	e.t.Fatalf("node has no %s condition", e.b.cfg.ConditionType)
	return corev1.NodeCondition{}
}

// runBridge starts the GPU informers and runs b until the test ends.
func runBridge(t *testing.T, b *Bridge, factory externalversions.SharedInformerFactory) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan struct{})
	factory.Start(ctx.Done())
	go func() { _ = b.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
	return ctx
}

// storedCondition is the node's condition as the API holds it, the zero value while it
// has none (or cannot be read): for tests that run the bridge and poll.
func (e *testEnv) storedCondition() corev1.NodeCondition {
	n, err := e.kube.CoreV1().Nodes().Get(e.ctx, e.b.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return corev1.NodeCondition{}
	}
	for _, c := range n.Status.Conditions {
		if string(c.Type) == e.b.cfg.ConditionType {
			return c
		}
	}
	return corev1.NodeCondition{}
}

// setTransitionTime rewrites the stored condition's lastTransitionTime, so that whether a
// reconcile keeps or moves it does not depend on the clock's second. The write gives the
// Node a newer resourceVersion than the bridge's last patch, so the bridge takes the
// rewritten condition for the current one.
func (e *testEnv) setTransitionTime(ts time.Time) {
	e.t.Helper()
	n := e.node().DeepCopy()
	for i := range n.Status.Conditions {
		if c := &n.Status.Conditions[i]; string(c.Type) == e.b.cfg.ConditionType {
			c.LastTransitionTime = metav1.NewTime(ts)
		}
	}
	if _, err := e.kube.CoreV1().Nodes().UpdateStatus(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.syncCaches()
}

// events drains the recorded events.
func (e *testEnv) events() []string {
	var out []string
	for {
		select {
		case ev := <-e.recorder.Events:
			out = append(out, ev)
		default:
			slices.Sort(out)
			return out
		}
	}
}

// writes counts the write actions the fakes saw.
func (e *testEnv) writes() (kube, rules int) {
	isWrite := func(a clienttesting.Action) bool {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			return true
		}
		return false
	}
	for _, a := range e.kube.Actions() {
		if isWrite(a) {
			kube++
		}
	}
	for _, a := range e.dyn.Actions() {
		if isWrite(a) {
			rules++
		}
	}
	return kube, rules
}

func counter(t *testing.T, m *Metrics, resource, verb string) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Writes.WithLabelValues(resource, verb).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

func lost(uuid string) *devicev1alpha1.GPU {
	return newGPU(uuid, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, "GPULost", "fallen off the bus"))
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	informer := externalversions.NewSharedInformerFactory(devicefake.NewSimpleClientset(), 0).Device().V1alpha1().GPUs().Informer()
	_, err := New(Config{UUIDAttribute: "no-slash"}, kubefake.NewClientset(), nil, informer, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "node name is required") {
		t.Errorf("New without a node name: %v", err)
	}
	_, err = New(Config{NodeName: "n", UUIDAttribute: "no-slash"}, kubefake.NewClientset(), nil, informer, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "want DOMAIN/NAME") {
		t.Errorf("New with a bad uuid attribute: %v", err)
	}
}

func TestDesiredRules(t *testing.T) {
	effects, err := ParseEffectMap("RESET_GPU=NoExecute,CONTACT_SUPPORT=None")
	if err != nil {
		t.Fatal(err)
	}
	gpus := []*devicev1alpha1.GPU{
		lost(uuid0), // RESTART_BM: "*" = NoSchedule
		newGPU(uuid1, "", cond("NVMLReady", metav1.ConditionUnknown, "ProviderLeaseExpired", "")),                                         // unknown: kept
		newGPU(uuid2, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", "")),                                                         // healthy: none
		newGPU(uuid3, "RESET_GPU", cond("NVMLReady", metav1.ConditionFalse, "EccDoubleBitError", "dbe")),                                  // NoExecute
		newGPU("GPU-44444444-1111-2222-3333-444444444444", "CONTACT_SUPPORT", cond("NVMLReady", metav1.ConditionFalse, "UnknownXid", "")), // None: no rule
		newGPU("GPU-55555555-1111-2222-3333-444444444444", "", cond("NVMLReady", metav1.ConditionFalse, "not a label value", "")),         // no action: "*"
		newGPU("GPU-66666666-1111-2222-3333-444444444444", ""),                                                                            // no conditions: unknown, kept
	}
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true, TaintEffects: effects}, gpus,
		[]runtime.Object{node("node-a")})

	// Until the server answers its probe, the bridge knows nothing.
	h, available := e.b.assess()
	if available || h.Status != metav1.ConditionUnknown || h.Reason != ReasonServerUnavailable ||
		h.Message != "the node's Device API server is unavailable: not probed yet" {
		t.Fatalf("before the first probe: %v %+v", available, h)
	}
	e.serving(nil)
	h, available = e.b.assess()
	if !available || h.Status != metav1.ConditionFalse || len(h.GPUs) != len(gpus) {
		t.Fatalf("assess: %v %s %s, %d GPUs", available, h.Status, h.Reason, len(h.GPUs))
	}

	want, keep := e.b.desiredRules(h)
	wantRules := map[string]DesiredRule{
		RuleName(strings.ToLower(uuid0)): {Name: RuleName(strings.ToLower(uuid0)), UUID: uuid0, Node: "node-a", Effect: EffectNoSchedule, Value: "GPULost"},
		RuleName(strings.ToLower(uuid3)): {Name: RuleName(strings.ToLower(uuid3)), UUID: uuid3, Node: "node-a", Effect: EffectNoExecute, Value: "EccDoubleBitError"},
		"gpu-health-gpu-55555555-1111-2222-3333-444444444444": {Name: "gpu-health-gpu-55555555-1111-2222-3333-444444444444",
			UUID: "GPU-55555555-1111-2222-3333-444444444444", Node: "node-a", Effect: EffectNoSchedule, Value: "Unhealthy"},
	}
	if len(want) != len(wantRules) {
		t.Errorf("desired rules %v, want %v", want, wantRules)
	}
	for name, w := range wantRules {
		if got, ok := want[name]; !ok || got != w {
			t.Errorf("rule %s = %+v (present %v), want %+v", name, got, ok, w)
		}
	}
	wantKeep := map[string]bool{strings.ToLower(uuid1): true, "gpu-66666666-1111-2222-3333-444444444444": true}
	if len(keep) != len(wantKeep) {
		t.Errorf("kept rules %v, want %v", keep, wantKeep)
	}
	for name := range wantKeep {
		if !keep[name] {
			t.Errorf("the rule of unknown GPU %s is not kept", name)
		}
	}

	// "*=None" turns every rule off; unknown GPUs are still kept.
	e.b.cfg.TaintEffects = EffectMap{"*": EffectNone}
	want, keep = e.b.desiredRules(h)
	if len(want) != 0 || len(keep) != 2 {
		t.Errorf("*=None: want %v, keep %v", want, keep)
	}
	// "*=NoExecute" applies to every action not named.
	e.b.cfg.TaintEffects = EffectMap{"*": EffectNoExecute, "RESTART_BM": EffectNoSchedule}
	want, _ = e.b.desiredRules(h)
	if len(want) != 4 || want[RuleName(strings.ToLower(uuid0))].Effect != EffectNoSchedule ||
		want[RuleName(strings.ToLower(uuid3))].Effect != EffectNoExecute ||
		want["gpu-health-gpu-44444444-1111-2222-3333-444444444444"].Effect != EffectNoExecute {
		t.Errorf("*=NoExecute,RESTART_BM=NoSchedule: %v", want)
	}
}

func TestAssessBeforeTheGPUListIsRead(t *testing.T) {
	informer := externalversions.NewSharedInformerFactory(devicefake.NewSimpleClientset(), 0).Device().V1alpha1().GPUs().Informer()
	b, err := New(Config{NodeName: "node-a"}, kubefake.NewClientset(), nil, informer, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.probeErr = nil
	h, available := b.assess()
	if available || h.Status != metav1.ConditionUnknown || h.Reason != ReasonServerUnavailable ||
		h.Message != "the node's Device API server is unavailable: the GPU list has not been read yet" {
		t.Errorf("assess before the informer synced: %v %+v", available, h)
	}
	if err := b.Ready(); err == nil {
		t.Error("Ready before the node informer synced")
	}
}

// TestReconcile walks one node through the states the bridge distinguishes, checking what
// it writes to the (fake) Kubernetes API at each step.
func TestReconcile(t *testing.T) {
	nodeTaint, err := ParseNodeTaint("nvidia.com/gpu-unhealthy=true:NoSchedule")
	if err != nil {
		t.Fatal(err)
	}
	effects, _ := ParseEffectMap("RESET_GPU=NoExecute")
	metrics := NewMetrics(nil)
	old := metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	kubelet := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastTransitionTime: old}
	others := corev1.Taint{Key: "example.com/other", Effect: corev1.TaintEffectNoSchedule}
	n := node("node-a", kubelet, corev1.NodeCondition{Type: "GpuHealthy", Status: corev1.ConditionTrue,
		Reason: ReasonAllHealthy, Message: "all 4 GPUs healthy", LastTransitionTime: old})
	n.Spec.Taints = []corev1.Taint{others}
	gpus := []*devicev1alpha1.GPU{
		lost(uuid0),
		newGPU(uuid1, "", cond("NVMLReady", metav1.ConditionUnknown, "ProviderLeaseExpired", "")),
		newGPU(uuid2, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", "")),
		newGPU(uuid3, "RESET_GPU", cond("NVMLReady", metav1.ConditionFalse, "EccDoubleBitError", "dbe")),
	}
	stale := ruleFor("node-a", strings.ToLower(uuid2), "stale")     // from before a restart; its GPU is healthy now
	unknown := ruleFor("node-a", strings.ToLower(uuid1), "unknown") // its GPU's health is unknown now
	otherNode := ruleFor("node-b", "gpu-77777777-1111-2222-3333-444444444444", "other")
	cfg := Config{NodeName: "node-a", DeviceTaintRules: true, TaintEffects: effects, NodeTaint: nodeTaint}
	e := newTestEnv(t, cfg, gpus, []runtime.Object{n}, stale, unknown, otherNode)
	e.b.metrics = metrics
	rule0, rule1, rule2, rule3 := RuleName(strings.ToLower(uuid0)), RuleName(strings.ToLower(uuid1)),
		RuleName(strings.ToLower(uuid2)), RuleName(strings.ToLower(uuid3))

	// 1. The server has not answered its first probe: nothing is written. It answers that
	// it is down: Unknown, and nothing is removed or added.
	e.reconcile()
	if kw, rw := e.writes(); kw != 0 || rw != 0 {
		t.Errorf("before the first probe: %d node writes, %d rule writes; want none", kw, rw)
	}
	e.serving(fmt.Errorf("health check: connection refused"))
	e.reconcile()
	c := e.condition()
	if c.Status != corev1.ConditionUnknown || c.Reason != ReasonServerUnavailable || !c.LastTransitionTime.After(old.Time) {
		t.Errorf("server unavailable: condition %+v", c)
	}
	if got := e.ruleNames(""); !slices.Equal(got, sorted(otherNode.GetName(), rule1, rule2)) {
		t.Errorf("server unavailable: rules %v, want all three kept", got)
	}
	if taints := e.node().Spec.Taints; len(taints) != 1 || taints[0].Key != others.Key {
		t.Errorf("server unavailable: taints %v", taints)
	}
	if ev := e.events(); !slices.Equal(ev, []string{
		"Warning DeviceAPIUnavailable GpuHealthy is Unknown: the node's Device API server is unavailable: health check: connection refused"}) {
		t.Errorf("server unavailable: events %q", ev)
	}
	if kw, rw := e.writes(); kw != 1 || rw != 0 {
		t.Errorf("server unavailable: %d node writes, %d rule writes; want 1 and 0", kw, rw)
	}

	// 2. The server answers: False; a rule per unhealthy GPU, the stale one deleted, the
	// unknown GPU's kept, the other node's untouched; the node taint added.
	e.syncCaches()
	e.setTransitionTime(old.Time)
	e.serving(nil)
	e.reconcile()
	c = e.condition()
	wantMsg := "2 of 4 GPUs unhealthy: " + uuid0 + " NVMLReady=False GPULost (action RESTART_BM), " +
		uuid3 + " NVMLReady=False EccDoubleBitError (action RESET_GPU); 1 unknown: " + uuid1 + " NVMLReady=Unknown ProviderLeaseExpired"
	if c.Status != corev1.ConditionFalse || c.Reason != ReasonUnhealthy || c.Message != wantMsg || !c.LastTransitionTime.After(old.Time) {
		t.Errorf("unhealthy: condition %+v\nwant message %q", c, wantMsg)
	}
	if got := e.node().Status.Conditions; len(got) != 2 || got[0].Type != corev1.NodeReady || got[0].Reason != "KubeletReady" {
		t.Errorf("the kubelet's condition was not kept: %+v", got)
	}
	if got := e.ruleNames(""); !slices.Equal(got, sorted(otherNode.GetName(), rule0, rule1, rule3)) {
		t.Errorf("unhealthy: rules %v", got)
	}
	for name, want := range map[string][2]string{rule0: {"NoSchedule", "GPULost"}, rule3: {"NoExecute", "EccDoubleBitError"}} {
		u := e.rule(name)
		effect, _, _ := unstructured.NestedString(u.Object, "spec", "taint", "effect")
		value, _, _ := unstructured.NestedString(u.Object, "spec", "taint", "value")
		if effect != want[0] || value != want[1] || u.GetLabels()[NodeLabel] != "node-a" {
			t.Errorf("rule %s: effect %s value %s labels %v; want %v", name, effect, value, u.GetLabels(), want)
		}
	}
	if got := e.rule(rule1).GetUID(); got != "unknown" {
		t.Errorf("the unknown GPU's rule was replaced (uid %s)", got)
	}
	taints := e.node().Spec.Taints
	if len(taints) != 2 || taints[0] != others || taints[1].Key != nodeTaint.Key || taints[1].Value != "true" ||
		taints[1].Effect != corev1.TaintEffectNoSchedule || taints[1].TimeAdded == nil {
		t.Errorf("unhealthy: taints %+v", taints)
	}
	wantEvents := []string{
		"Warning GpuFault GPU " + uuid0 + ": NVMLReady=False GPULost: fallen off the bus (action RESTART_BM)",
		"Warning GpuFault GPU " + uuid3 + ": NVMLReady=False EccDoubleBitError: dbe (action RESET_GPU)",
		"Warning GpuUnhealthy GpuHealthy is False: " + wantMsg,
		"Warning GpuUnknown GPU " + uuid1 + ": health unknown (NVMLReady ProviderLeaseExpired)",
	}
	if ev := e.events(); !slices.Equal(ev, wantEvents) {
		t.Errorf("unhealthy: events\n%q\nwant\n%q", ev, wantEvents)
	}
	if got := counter(t, metrics, "devicetaintrules", "apply"); got != 2 {
		t.Errorf("%v rule applies counted, want 2", got)
	}
	if got := counter(t, metrics, "devicetaintrules", "delete"); got != 1 {
		t.Errorf("%v rule deletes counted, want 1", got)
	}

	// 3. Nothing changed: no write at all.
	e.syncCaches()
	kw, rw := e.writes()
	e.reconcile()
	if kw2, rw2 := e.writes(); kw2 != kw || rw2 != rw {
		t.Errorf("an unchanged node cost %d node writes and %d rule writes", kw2-kw, rw2-rw)
	}
	if ev := e.events(); len(ev) != 0 {
		t.Errorf("unchanged: events %q", ev)
	}

	// 4. One GPU recovers: its rule goes, the condition stays False (transition time kept).
	e.setTransitionTime(old.Time)
	e.setGPU(uuid0, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))
	e.reconcile()
	c = e.condition()
	if c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Equal(&old) ||
		c.Message != "1 of 4 GPUs unhealthy: "+uuid3+" NVMLReady=False EccDoubleBitError (action RESET_GPU); 1 unknown: "+uuid1+" NVMLReady=Unknown ProviderLeaseExpired" {
		t.Errorf("one recovered: condition %+v", c)
	}
	if got := e.ruleNames(""); !slices.Equal(got, sorted(otherNode.GetName(), rule1, rule3)) {
		t.Errorf("one recovered: rules %v", got)
	}
	if ev := e.events(); !slices.Equal(ev, []string{"Normal GpuRecovered GPU " + uuid0 + " is healthy again"}) {
		t.Errorf("one recovered: events %q", ev)
	}

	// 5. The last unhealthy GPU recovers while one is unknown: Unknown, the node taint stays.
	e.syncCaches()
	e.setGPU(uuid3, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))
	e.reconcile()
	if c = e.condition(); c.Status != corev1.ConditionUnknown || c.Reason != ReasonUnknown {
		t.Errorf("unknown: condition %+v", c)
	}
	if got := e.ruleNames(""); !slices.Equal(got, sorted(otherNode.GetName(), rule1)) {
		t.Errorf("unknown: rules %v", got)
	}
	if taints := e.node().Spec.Taints; len(taints) != 2 {
		t.Errorf("unknown: the node taint changed: %+v", taints)
	}

	// 6. All healthy: True, every rule of the node gone, the node taint removed, others' kept.
	e.syncCaches()
	e.setGPU(uuid1, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))
	e.reconcile()
	if c = e.condition(); c.Status != corev1.ConditionTrue || c.Reason != ReasonAllHealthy || c.Message != "all 4 GPUs healthy" {
		t.Errorf("healthy: condition %+v", c)
	}
	if got := e.ruleNames(""); !slices.Equal(got, sorted(otherNode.GetName())) {
		t.Errorf("healthy: rules %v", got)
	}
	if taints := e.node().Spec.Taints; len(taints) != 1 || taints[0] != others {
		t.Errorf("healthy: taints %+v", taints)
	}
	ev := e.events()
	if !slices.Contains(ev, "Normal AllGpusHealthy GpuHealthy is True: all 4 GPUs healthy") ||
		!slices.Contains(ev, "Normal GpuRecovered GPU "+uuid1+" is healthy again") {
		t.Errorf("healthy: events %q", ev)
	}
	if _, rule2Exists := slices.BinarySearch(e.ruleNames(""), rule2); rule2Exists {
		t.Errorf("stale rule %s is back", rule2)
	}

	// 6b. A new healthy GPU is no news: the message counts it, no event is recorded and the
	// condition's transition time stays.
	e.syncCaches()
	e.setTransitionTime(old.Time)
	g := newGPU("GPU-88888888-1111-2222-3333-444444444444", "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))
	if _, err := e.devices.DeviceV1alpha1().GPUs("default").Create(e.ctx, g, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the new GPU", func() bool { return len(e.b.GPUs()) == 5 })
	e.reconcile()
	if c = e.condition(); c.Status != corev1.ConditionTrue || c.Message != "all 5 GPUs healthy" || !c.LastTransitionTime.Equal(&old) {
		t.Errorf("new GPU: condition %+v", c)
	}
	if ev := e.events(); len(ev) != 0 {
		t.Errorf("new healthy GPU: events %q", ev)
	}

	// 6c. A new unhealthy GPU is.
	e.syncCaches()
	uuid9 := "GPU-99999999-1111-2222-3333-444444444444"
	if _, err := e.devices.DeviceV1alpha1().GPUs("default").Create(e.ctx, lost(uuid9), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the new GPU", func() bool { return len(e.b.GPUs()) == 6 })
	e.reconcile()
	if ev := e.events(); len(ev) != 2 || ev[0] != "Warning GpuFault GPU "+uuid9+": NVMLReady=False GPULost: fallen off the bus (action RESTART_BM)" ||
		!strings.HasPrefix(ev[1], "Warning GpuUnhealthy GpuHealthy is False: 1 of 6 GPUs unhealthy: "+uuid9) {
		t.Errorf("new unhealthy GPU: events %q", ev)
	}
	if got := e.ruleNames(""); !slices.Equal(got, sorted(otherNode.GetName(), RuleName(strings.ToLower(uuid9)))) {
		t.Errorf("new unhealthy GPU: rules %v", got)
	}

	// 7. The server goes away: Unknown, and the node taint is not touched.
	e.syncCaches()
	e.setGPU(uuid0, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, "GPULost", ""))
	e.serving(fmt.Errorf("health check: connection refused"))
	kw, rw = e.writes()
	e.reconcile()
	if c = e.condition(); c.Status != corev1.ConditionUnknown || c.Reason != ReasonServerUnavailable ||
		c.Message != "the node's Device API server is unavailable: health check: connection refused" {
		t.Errorf("server gone: condition %+v", c)
	}
	if kw2, rw2 := e.writes(); kw2 != kw+1 || rw2 != rw {
		t.Errorf("server gone: %d node writes and %d rule writes; want only the condition", kw2-kw, rw2-rw)
	}
}

func TestReconcileWaitsForTheRuleAPI(t *testing.T) {
	e := newTestEnv(t, Config{NodeName: "node-a"}, []*devicev1alpha1.GPU{lost(uuid0)}, []runtime.Object{node("node-a")})
	// An informer that never lists stands for an API server without the DeviceTaintRule API.
	e.b.cfg.DeviceTaintRules = true
	e.b.ruleInformer = cache.NewSharedIndexInformer(&cache.ListWatch{
		ListFunc: func(metav1.ListOptions) (runtime.Object, error) { return nil, fmt.Errorf("not found") },
	}, &unstructured.Unstructured{}, 0, cache.Indexers{})
	e.serving(nil)
	err := e.b.reconcile(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "DeviceTaintRules (resource.k8s.io/v1alpha3, Resource=devicetaintrules) not listed yet") {
		t.Errorf("reconcile: %v", err)
	}
	// The condition is written before the rules are needed.
	if c := e.condition(); c.Status != corev1.ConditionFalse {
		t.Errorf("condition %+v", c)
	}
}

// A condition that cannot be written (nodes/status refused: a missing RBAC verb, a webhook)
// holds back neither the GPU's rule nor the node taint; the pass still fails, so it is
// retried with back-off.
func TestRefusedConditionHoldsBackNeitherRulesNorTaint(t *testing.T) {
	nodeTaint, err := ParseNodeTaint("nvidia.com/gpu-unhealthy=true:NoSchedule")
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true, NodeTaint: nodeTaint},
		[]*devicev1alpha1.GPU{lost(uuid0)}, []runtime.Object{node("node-a")})
	e.kube.PrependReactor("patch", "nodes", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(corev1.Resource("nodes/status"), "node-a", fmt.Errorf("RBAC: patch not allowed"))
	})
	e.serving(nil)
	err = e.b.reconcile(e.ctx)
	if !apierrors.IsForbidden(err) {
		t.Errorf("reconcile: %v, want the condition's 403", err)
	}
	if got, want := e.ruleNames(""), []string{RuleName(uuid0)}; !slices.Equal(got, want) {
		t.Errorf("rules %v, want %v", got, want)
	}
	if taints := e.node().Spec.Taints; len(taints) != 1 || taints[0].Key != nodeTaint.Key {
		t.Errorf("taints %+v, want the node taint", taints)
	}
}

func TestReady(t *testing.T) {
	e := newTestEnv(t, Config{NodeName: "node-a"}, nil, []runtime.Object{node("node-b")})
	if err := e.b.Ready(); err == nil || err.Error() != `node "node-a" not found` {
		t.Errorf("Ready without the node: %v", err)
	}
	if _, err := e.kube.CoreV1().Nodes().Create(e.ctx, node("node-a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("Ready", func() bool { return e.b.Ready() == nil })

	// Without rules, no DeviceTaintRule is read or written; no GPU is NoGpusRegistered.
	e.serving(nil)
	e.reconcile()
	if c := e.condition(); c.Status != corev1.ConditionUnknown || c.Reason != ReasonNoGPUs {
		t.Errorf("condition %+v", c)
	}
	if a := e.dyn.Actions(); len(a) != 0 {
		t.Errorf("DeviceTaintRules off, yet %d rule requests", len(a))
	}
}

// One pass writes at most WritesPerPass rules, those of unhealthy GPUs first and in UUID
// order, then deletions, and says so (errMoreWork) when work is left; reconcile treats that
// as progress, not as a failure, and writes the condition on every pass.
func TestRuleWritesPerPass(t *testing.T) {
	uuid4 := "GPU-44444444-1111-2222-3333-444444444444"
	gpus := []*devicev1alpha1.GPU{lost(uuid3), lost(uuid1), lost(uuid0), lost(uuid4),
		newGPU(uuid2, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))}
	stale := ruleFor("node-a", strings.ToLower(uuid2), "stale")
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true, WritesPerPass: 2}, gpus,
		[]runtime.Object{node("node-a")}, stale)
	e.serving(nil)
	rule := func(uuid string) string { return RuleName(strings.ToLower(uuid)) }
	h, _ := e.b.assess()

	// syncRules itself: the budget, the order, and what it returns.
	for i, want := range []struct {
		rules []string
		err   error
	}{
		{[]string{rule(uuid0), rule(uuid1), stale.GetName()}, errMoreWork},
		{[]string{rule(uuid0), rule(uuid1), rule(uuid3), rule(uuid4), stale.GetName()}, errMoreWork},
		{[]string{rule(uuid0), rule(uuid1), rule(uuid3), rule(uuid4)}, nil},
		{[]string{rule(uuid0), rule(uuid1), rule(uuid3), rule(uuid4)}, nil},
	} {
		e.syncCaches()
		_, before := e.writes()
		err := e.b.syncRules(e.ctx, h, 2)
		_, after := e.writes()
		if err != want.err || after-before > 2 {
			t.Errorf("pass %d: %v after %d writes, want %v after at most 2", i+1, err, after-before, want.err)
		}
		if got := e.ruleNames(""); !slices.Equal(got, sorted(want.rules...)) {
			t.Errorf("pass %d: rules %v, want %v", i+1, got, sorted(want.rules...))
		}
	}
	// Through reconcile: the same budget, no error, the condition on the first pass.
	for _, name := range e.ruleNames("") {
		if err := e.dyn.Resource(DeviceTaintRuleGVR).Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.syncCaches()
	_, before := e.writes()
	e.reconcile()
	if _, after := e.writes(); after-before != 2 {
		t.Errorf("reconcile: %d rule writes, want 2", after-before)
	}
	if got := e.ruleNames(""); !slices.Equal(got, sorted(rule(uuid0), rule(uuid1))) {
		t.Errorf("reconcile: rules %v", got)
	}
	if c := e.condition(); c.Status != corev1.ConditionFalse || !strings.HasPrefix(c.Message, "4 of 5 GPUs unhealthy") {
		t.Errorf("condition %+v", c)
	}
	if e.b.queue.Len() != 1 {
		t.Errorf("the next pass is not queued")
	}
	e.syncCaches()
	e.reconcile()
	if got := e.ruleNames(""); !slices.Equal(got, sorted(rule(uuid0), rule(uuid1), rule(uuid3), rule(uuid4))) {
		t.Errorf("second pass: rules %v", got)
	}
}

// A server that is up but holds no GPU (in memory mode, just restarted, before the provider
// has registered them again) says nothing about the node's GPUs: the condition is Unknown
// NoGpusRegistered, and, as for any Unknown, no rule is deleted and the node taint stays;
// the broken GPU's rule must not lapse while its provider is still starting.
func TestNoGPUsRegisteredKeepsTheRules(t *testing.T) {
	nodeTaint, err := ParseNodeTaint("nvidia.com/gpu-unhealthy=true:NoSchedule")
	if err != nil {
		t.Fatal(err)
	}
	n := node("node-a")
	n.Spec.Taints = []corev1.Taint{nodeTaint}
	broken := ruleFor("node-a", strings.ToLower(uuid0), "broken")
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true, NodeTaint: nodeTaint}, nil, []runtime.Object{n}, broken)
	e.serving(nil)
	e.reconcile()
	if c := e.condition(); c.Status != corev1.ConditionUnknown || c.Reason != ReasonNoGPUs {
		t.Errorf("condition %+v", c)
	}
	if got := e.ruleNames(""); !slices.Equal(got, []string{broken.GetName()}) {
		t.Errorf("no GPU registered: rules %v, want %s kept", got, broken.GetName())
	}
	if taints := e.node().Spec.Taints; len(taints) != 1 {
		t.Errorf("no GPU registered: taints %+v", taints)
	}

	// The provider registers the GPU, still broken: the rule stays; once healthy, it goes.
	e.syncCaches()
	if _, err := e.devices.DeviceV1alpha1().GPUs("default").Create(e.ctx, lost(uuid0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the GPU", func() bool { return len(e.b.GPUs()) == 1 })
	e.reconcile()
	if got := e.ruleNames(""); !slices.Equal(got, []string{broken.GetName()}) {
		t.Errorf("registered, broken: rules %v", got)
	}
	e.syncCaches()
	e.setGPU(uuid0, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))
	e.reconcile()
	if got := e.ruleNames(""); len(got) != 0 {
		t.Errorf("registered, healthy: rules %v", got)
	}
}

// Once the GPU list has been read, the condition says what it holds at once, also when it
// holds no GPU (no informer event then): not "the GPU list has not been read yet" until
// the next resync.
func TestRunReconcilesOnceTheGPUListIsRead(t *testing.T) {
	devices := devicefake.NewSimpleClientset()
	release := make(chan struct{})
	devices.PrependReactor("list", "gpus", func(clienttesting.Action) (bool, runtime.Object, error) {
		<-release
		return false, nil, nil
	})
	factory := externalversions.NewSharedInformerFactory(devices, 0)
	gpuInformer := factory.Device().V1alpha1().GPUs().Informer()
	kube := kubefake.NewClientset(node("node-a"))
	ok := proberFunc(func(context.Context) error { return nil })
	b, err := New(Config{NodeName: "node-a", ProbeInterval: 10 * time.Millisecond}, kube, nil, gpuInformer, ok, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := runBridge(t, b, factory)
	e := &testEnv{t: t, ctx: ctx, b: b, kube: kube}
	message := func() string {
		c := e.storedCondition()
		if c.Status == "" {
			return ""
		}
		return string(c.Status) + " " + c.Reason + ": " + c.Message
	}
	// The bridge waits probeTimeout for the list after the probe has answered, then says so.
	e.waitFor("the condition before the GPU list is read", func() bool {
		return message() == "Unknown DeviceAPIUnavailable: the node's Device API server is unavailable: the GPU list has not been read yet"
	})
	// The node informer's echo of that write queues one more reconcile; let it pass, so
	// that nothing but the GPU list being read is left to trigger the next one.
	time.Sleep(500 * time.Millisecond)
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for message() != "Unknown NoGpusRegistered: the node's Device API server holds no GPU" {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the GPU list was read, the condition says %q", message())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A bridge that (re)starts leaves the condition the last one wrote as it is until its first
// probe of the server has answered: no Unknown "not probed yet" in between, which would
// move lastTransitionTime twice and record two events on every restart. Once the probe
// has answered, the bridge follows the GPUs as usual.
func TestStartLeavesTheConditionUntilTheFirstProbeAnswers(t *testing.T) {
	healthy := cond("NVMLReady", metav1.ConditionTrue, "Healthy", "")
	devices := devicefake.NewSimpleClientset(newGPU(uuid0, "", healthy))
	factory := externalversions.NewSharedInformerFactory(devices, 0)
	gpuInformer := factory.Device().V1alpha1().GPUs().Informer()
	now := metav1.Now()
	kube := newKubeAPI(node("node-a", corev1.NodeCondition{Type: "GpuHealthy", Status: corev1.ConditionTrue,
		Reason: ReasonAllHealthy, Message: "all 1 GPUs healthy", LastHeartbeatTime: now, LastTransitionTime: now}))
	kube.PrependReactor("patch", "nodes", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if patch := string(a.(clienttesting.PatchAction).GetPatch()); strings.Contains(patch, `"status":"Unknown"`) {
			t.Errorf("patched the node with Unknown: %s", patch)
		}
		return false, nil, nil
	})
	var answered atomic.Bool
	slow := proberFunc(func(ctx context.Context) error {
		select {
		case <-time.After(50 * time.Millisecond):
			answered.Store(true)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	b, err := New(Config{NodeName: "node-a", ProbeInterval: 10 * time.Millisecond}, kube, nil, gpuInformer, slow, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(100)
	b.recorder = rec
	ctx := runBridge(t, b, factory)
	e := &testEnv{t: t, ctx: ctx, b: b, kube: kube, devices: devices, recorder: rec}
	e.waitFor("the first probe", answered.Load)
	time.Sleep(300 * time.Millisecond) // the passes the answer queues
	for _, a := range kube.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("node written for an unchanged, fresh condition: %s %s", a.GetResource().Resource, a.GetSubresource())
		}
	}
	if ev := e.events(); len(ev) != 0 {
		t.Errorf("events %q for an unchanged condition", ev)
	}

	e.setGPU(uuid0, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, "GPULost", "fallen off the bus"))
	e.waitFor("the condition False", func() bool { return e.storedCondition().Status == corev1.ConditionFalse })
}

// A server that never answers is reported as such once the first probe gives up (after
// probeTimeout): the wait for the first answer is bounded by the probe's own timeout.
func TestStartWritesUnknownWhenTheFirstProbeTimesOut(t *testing.T) {
	factory := externalversions.NewSharedInformerFactory(devicefake.NewSimpleClientset(), 0)
	kube := newKubeAPI(node("node-a"))
	hang := proberFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	b, err := New(Config{NodeName: "node-a"}, kube, nil, factory.Device().V1alpha1().GPUs().Informer(), hang, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.recorder = record.NewFakeRecorder(100)
	ctx := runBridge(t, b, factory)
	e := &testEnv{t: t, ctx: ctx, b: b, kube: kube}
	e.waitFor("the condition Unknown", func() bool {
		c := e.storedCondition()
		return c.Status == corev1.ConditionUnknown && c.Reason == ReasonServerUnavailable
	})
	if c := e.storedCondition(); c.Message != "the node's Device API server is unavailable: "+context.DeadlineExceeded.Error() {
		t.Errorf("condition %q, want the probe's timeout", c.Message)
	}
}

// A failed reconcile is retried with a back-off capped at MaxRetryDelay: a GPU that fails
// while the Kubernetes API is unreachable reaches the Node within about that long once the
// API answers again, however long the outage lasted (the uncapped controller back-off
// doubles to 1000 s, and nothing else triggers a reconcile until the resync).
func TestRetryBackOffIsCapped(t *testing.T) {
	devices := devicefake.NewSimpleClientset(newGPU(uuid0, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", "")))
	factory := externalversions.NewSharedInformerFactory(devices, 0)
	gpuInformer := factory.Device().V1alpha1().GPUs().Informer()
	kube := kubefake.NewClientset(node("node-a"))
	var down atomic.Bool
	kube.PrependReactor("patch", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, fmt.Errorf("connection refused")
		}
		return false, nil, nil
	})
	ok := proberFunc(func(context.Context) error { return nil })
	b, err := New(Config{NodeName: "node-a", MaxRetryDelay: 200 * time.Millisecond}, kube, nil, gpuInformer, ok, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.recorder = record.NewFakeRecorder(100)
	ctx := runBridge(t, b, factory)
	e := &testEnv{t: t, ctx: ctx, b: b, kube: kube, devices: devices}
	status := func() corev1.ConditionStatus { return e.storedCondition().Status }
	e.waitFor("the condition True", func() bool { return status() == corev1.ConditionTrue })

	// A 3 s outage, during which the GPU fails: the uncapped back-off would next retry
	// about 5 s after it began.
	down.Store(true)
	e.setGPU(uuid0, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, "GPULost", "fallen off the bus"))
	time.Sleep(3 * time.Second)
	down.Store(false)
	back := time.Now()
	e.waitFor("the condition False", func() bool { return status() == corev1.ConditionFalse })
	if d := time.Since(back); d > time.Second {
		t.Errorf("the fault reached the Node %.1fs after the API answered again; the back-off is capped at 200ms", d.Seconds())
	}
}

// gpuNamed is a GPU whose object name is not its UUID, as a provider that names GPUs by
// index registers it: names are unique only in a namespace of one node's server.
func gpuNamed(name string, g *devicev1alpha1.GPU) *devicev1alpha1.GPU {
	g.Name = name
	return g
}

// Rules are named from the GPU's UUID, unique in the cluster, not from its object name:
// two nodes whose providers both name a GPU "gpu-0" get a rule each, and each bridge
// leaves the other's alone (no rule overwritten back and forth).
func TestRuleNamesComeFromTheUUID(t *testing.T) {
	uuidA, uuidB := "GPU-aaaaaaaa-1111-2222-3333-444444444444", "GPU-bbbbbbbb-1111-2222-3333-444444444444"
	dyn := newRuleAPI()
	cfg := Config{DeviceTaintRules: true}
	cfg.NodeName = "node-a"
	a := newTestEnvOn(t, cfg, []*devicev1alpha1.GPU{gpuNamed("gpu-0", lost(uuidA))}, []runtime.Object{node("node-a")}, dyn)
	cfg.NodeName = "node-b"
	b := newTestEnvOn(t, cfg, []*devicev1alpha1.GPU{gpuNamed("gpu-0", lost(uuidB))}, []runtime.Object{node("node-b")}, dyn)
	a.serving(nil)
	b.serving(nil)
	// (No syncCaches: with one name for both rules, each bridge's informer would wait for
	// a view that the other bridge keeps changing; the informers get 100 ms instead.)
	for round := 0; round < 3; round++ {
		a.reconcile()
		time.Sleep(100 * time.Millisecond)
		b.reconcile()
		time.Sleep(100 * time.Millisecond)
	}
	want := sorted(RuleName(uuidA), RuleName(uuidB))
	if got := a.ruleNames(""); !slices.Equal(got, want) {
		t.Fatalf("rules %v, want %v", got, want)
	}
	for node, uuid := range map[string]string{"node-a": uuidA, "node-b": uuidB} {
		if u := a.rule(RuleName(uuid)); u.GetLabels()[NodeLabel] != node || u.GetAnnotations()[UUIDAnnotation] != uuid {
			t.Errorf("rule %s: labels %v, annotations %v", u.GetName(), u.GetLabels(), u.GetAnnotations())
		}
	}
	if _, rw := a.writes(); rw != 2 {
		t.Errorf("%d rule writes in three rounds, want 2", rw)
	}
}

// A bridge that named rules from the GPU object's name left rules that the new names do
// not reach: they carry the node's label, so the bridge finds them and replaces them (the
// new rule first), and a GPU whose health is unknown keeps the rule it has, whatever its name.
func TestRulesOfTheOldNamingAreReplaced(t *testing.T) {
	uuidA, uuidB := "GPU-aaaaaaaa-1111-2222-3333-444444444444", "GPU-bbbbbbbb-1111-2222-3333-444444444444"
	oldRule := func(name, uuid string) *unstructured.Unstructured {
		u := ruleFor("node-a", uuid, name)
		u.SetName(name)
		return u
	}
	gpus := []*devicev1alpha1.GPU{
		gpuNamed("gpu-0", lost(uuidA)),
		gpuNamed("gpu-1", newGPU(uuidB, "", cond("NVMLReady", metav1.ConditionUnknown, "ProviderLeaseExpired", ""))),
	}
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true}, gpus, []runtime.Object{node("node-a")},
		oldRule("gpu-health-gpu-0", uuidA), oldRule("gpu-health-gpu-1", uuidB))
	e.serving(nil)
	e.reconcile()
	if got, want := e.ruleNames(""), sorted(RuleName(uuidA), "gpu-health-gpu-1"); !slices.Equal(got, want) {
		t.Errorf("rules %v, want %v", got, want)
	}
	e.syncCaches()
	g := gpuNamed("gpu-1", newGPU(uuidB, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", "")))
	if _, err := e.devices.DeviceV1alpha1().GPUs("default").UpdateStatus(e.ctx, g, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the GPU informer", func() bool {
		h, _ := e.b.assess()
		return len(h.GPUs) == 2 && h.GPUs[1].State == GPUHealthy
	})
	e.reconcile()
	if got, want := e.ruleNames(""), []string{RuleName(uuidA)}; !slices.Equal(got, want) {
		t.Errorf("once the GPU is healthy: rules %v, want %v", got, want)
	}
}

// The rule of the new name replaces an old-named one only once it is written: while its
// apply fails (a timeout, a 429, a webhook), the old-named rule of the still unhealthy GPU
// stays, so the GPU is never left without a rule.
func TestOldNamedRuleStaysWhileItsReplacementFails(t *testing.T) {
	uuidA := "GPU-aaaaaaaa-1111-2222-3333-444444444444"
	old := ruleFor("node-a", uuidA, "old-uid")
	old.SetName("gpu-health-gpu-0")
	dyn := newRuleAPI(old)
	failing := true
	dyn.PrependReactor("patch", "devicetaintrules", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if failing && a.(clienttesting.PatchAction).GetPatchType() == types.ApplyPatchType {
			return true, nil, apierrors.NewTimeoutError("request timed out", 1)
		}
		return false, nil, nil
	})
	e := newTestEnvOn(t, Config{NodeName: "node-a", DeviceTaintRules: true},
		[]*devicev1alpha1.GPU{gpuNamed("gpu-0", lost(uuidA))}, []runtime.Object{node("node-a")}, dyn)
	e.serving(nil)
	if err := e.b.reconcile(e.ctx); err == nil {
		t.Fatal("reconcile succeeded with the apply failing")
	}
	if got, want := e.ruleNames(""), []string{"gpu-health-gpu-0"}; !slices.Equal(got, want) {
		t.Fatalf("apply failed: rules %v, want %v", got, want)
	}
	failing = false
	e.reconcile()
	if got, want := e.ruleNames(""), []string{RuleName(uuidA)}; !slices.Equal(got, want) {
		t.Errorf("apply succeeded: rules %v, want %v", got, want)
	}
}

// A server that holds some of its GPUs but not all (in memory mode after a restart, its
// providers registering them again one by one) says nothing yet about the missing ones: a
// missing GPU keeps its rule until it has been missing for AbsentGPUGrace while the server
// was available, and the time starts again when the server is unavailable meanwhile.
func TestAbsentGPUKeepsItsRuleForAGrace(t *testing.T) {
	broken := ruleFor("node-a", uuid0, "broken")
	healthy := newGPU(uuid1, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true, AbsentGPUGrace: time.Minute},
		[]*devicev1alpha1.GPU{healthy}, []runtime.Object{node("node-a")}, broken)
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e.b.now = func() time.Time { return clock }
	e.serving(nil)
	e.reconcile()
	if got := e.ruleNames(""); !slices.Equal(got, []string{broken.GetName()}) {
		t.Fatalf("GPU %s not registered yet: rules %v, want its rule kept", uuid0, got)
	}
	clock = clock.Add(59 * time.Second)
	e.reconcile()
	if got := e.ruleNames(""); len(got) != 1 {
		t.Fatalf("missing for 59 s: rules %v", got)
	}
	// The server restarts: the grace starts again once it is back.
	e.serving(fmt.Errorf("connection refused"))
	e.reconcile()
	e.serving(nil)
	clock = clock.Add(30 * time.Second)
	e.reconcile()
	clock = clock.Add(59 * time.Second)
	e.reconcile()
	if got := e.ruleNames(""); len(got) != 1 {
		t.Fatalf("missing for 59 s since the server was back: rules %v", got)
	}
	clock = clock.Add(time.Second)
	e.reconcile()
	if got := e.ruleNames(""); len(got) != 0 {
		t.Errorf("missing for the grace: rules %v, want none", got)
	}
}

// The same grace holds the node condition and the node taint: while the failed GPU is
// missing, a server that holds only healthy GPUs (its providers registering them again one
// by one after a restart) does not make the node True nor remove its taint; the condition
// is Unknown and names the missing GPU. Both clear once its rule is deleted.
func TestAbsentGPUKeepsTheNodeFromTrueForAGrace(t *testing.T) {
	nodeTaint, err := ParseNodeTaint("nvidia.com/gpu-unhealthy=true:NoSchedule")
	if err != nil {
		t.Fatal(err)
	}
	n := node("node-a", corev1.NodeCondition{Type: "GpuHealthy", Status: corev1.ConditionFalse, Reason: ReasonUnhealthy,
		Message: "1 of 2 GPUs unhealthy: " + uuid0 + " NVMLReady=False GPULost (action RESTART_BM)"})
	n.Spec.Taints = []corev1.Taint{nodeTaint}
	broken := ruleFor("node-a", uuid0, "broken")
	healthy := newGPU(uuid1, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true, NodeTaint: nodeTaint, AbsentGPUGrace: time.Minute},
		[]*devicev1alpha1.GPU{healthy}, []runtime.Object{n}, broken)
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e.b.now = func() time.Time { return clock }
	e.serving(nil)
	e.reconcile()
	c := e.condition()
	if want := "1 of 2 GPUs unknown: " + uuid0 + " AbsentFromServer"; c.Status != corev1.ConditionUnknown ||
		c.Reason != ReasonUnknown || c.Message != want {
		t.Errorf("GPU %s missing: condition %s %s %q, want Unknown %s %q", uuid0, c.Status, c.Reason, c.Message, ReasonUnknown, want)
	}
	if taints := e.node().Spec.Taints; len(taints) != 1 || taints[0].Key != nodeTaint.Key {
		t.Errorf("GPU %s missing: taints %+v, want the node taint kept", uuid0, taints)
	}

	e.syncCaches()
	clock = clock.Add(time.Minute)
	e.reconcile()
	if c := e.condition(); c.Status != corev1.ConditionTrue || c.Message != "all 1 GPUs healthy" {
		t.Errorf("missing for the grace: condition %s %q, want True", c.Status, c.Message)
	}
	if taints := e.node().Spec.Taints; len(taints) != 0 {
		t.Errorf("missing for the grace: taints %+v, want none", taints)
	}
	if got := e.ruleNames(""); len(got) != 0 {
		t.Errorf("missing for the grace: rules %v, want none", got)
	}
}

// The Node informer may not have seen the bridge's own last patch yet when the next
// reconcile reads it: the condition the last patch returned counts, so a False that stays
// False (a second GPU failing) keeps its transition time and records no second
// transition event.
func TestConditionTransitionDespiteAStaleNodeCache(t *testing.T) {
	healthy := cond("NVMLReady", metav1.ConditionTrue, "Healthy", "")
	e := newTestEnv(t, Config{NodeName: "node-a"},
		[]*devicev1alpha1.GPU{newGPU(uuid0, "", healthy), newGPU(uuid1, "", healthy)}, []runtime.Object{node("node-a")})
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e.b.now = func() time.Time { return clock }
	e.serving(nil)
	e.reconcile()
	e.syncCaches()
	stale, err := e.b.node() // the cache as it is before the next patch
	if err != nil {
		t.Fatal(err)
	}
	stale = stale.DeepCopy()
	e.setGPU(uuid0, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, "GPULost", "x"))
	failed := clock.Add(time.Minute)
	clock = failed
	e.reconcile()
	e.events()

	clock = clock.Add(time.Minute)
	e.setGPU(uuid1, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, "GPULost", "y"))
	h, _ := e.b.assess()
	if err := e.b.syncCondition(e.ctx, stale, h); err != nil {
		t.Fatal(err)
	}
	c := e.condition()
	if c.Status != corev1.ConditionFalse || !strings.HasPrefix(c.Message, "2 of 2 GPUs unhealthy") || !c.LastTransitionTime.Time.Equal(failed) {
		t.Errorf("condition %s %q since %s, want False since %s", c.Status, c.Message, c.LastTransitionTime.UTC(), failed)
	}
	if ev := e.events(); len(ev) != 0 {
		t.Errorf("False to False recorded events %q", ev)
	}
}

// newClockedEnv is a bridge of node-a with a 5-minute heartbeat over gpu, on a clock the
// test moves, once its first pass is written and shown by the informers.
func newClockedEnv(t *testing.T, gpu *devicev1alpha1.GPU, start time.Time) (*testEnv, *time.Time) {
	t.Helper()
	e := newTestEnv(t, Config{NodeName: "node-a", HeartbeatInterval: 5 * time.Minute},
		[]*devicev1alpha1.GPU{gpu}, []runtime.Object{node("node-a")})
	clock := start
	e.b.now = func() time.Time { return clock }
	e.serving(nil)
	e.reconcile()
	e.syncCaches()
	e.events()
	return e, &clock
}

// Another writer that changes the condition (a revert with an older heartbeat, a removal,
// a re-created Node) is answered at the next pass, not at the next heartbeat: the last
// patch's result counts only while the informer shows an older Node than that patch.
func TestConditionChangedByAnotherWriterIsWrittenBack(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e, clock := newClockedEnv(t, lost(uuid0), start)
	rewrite := func(change func(n *corev1.Node)) {
		t.Helper()
		n := e.node().DeepCopy()
		change(n)
		if _, err := e.kube.CoreV1().Nodes().UpdateStatus(e.ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.syncCaches()
		*clock = clock.Add(10 * time.Second)
		e.reconcile()
	}

	rewrite(func(n *corev1.Node) {
		for i := range n.Status.Conditions {
			c := &n.Status.Conditions[i]
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, ReasonAllHealthy, "all 1 GPUs healthy"
			c.LastHeartbeatTime, c.LastTransitionTime = metav1.NewTime(start.Add(-time.Minute)), metav1.NewTime(start.Add(-time.Minute))
		}
	})
	if c := e.condition(); c.Status != corev1.ConditionFalse || c.Reason != ReasonUnhealthy || !c.LastTransitionTime.Time.Equal(*clock) {
		t.Errorf("reverted to True: condition %s %s since %s, want False since %s", c.Status, c.Reason, c.LastTransitionTime.UTC(), *clock)
	}
	if ev := e.events(); len(ev) != 1 {
		t.Errorf("reverted to True: events %q, want one transition", ev)
	}

	e.syncCaches()
	rewrite(func(n *corev1.Node) { n.Status.Conditions = nil })
	if c := e.storedCondition(); c.Status != corev1.ConditionFalse {
		t.Errorf("removed: condition %+v, want False written back", c)
	}

	e.syncCaches()
	kw, _ := e.writes()
	*clock = clock.Add(10 * time.Second)
	e.reconcile()
	if kw2, _ := e.writes(); kw2 != kw {
		t.Errorf("%d node writes once the informer shows the condition, want none", kw2-kw)
	}
}

// An unchanged condition is written again once its lastHeartbeatTime is HeartbeatInterval
// old, with only the heartbeat moved: its age tells a consumer whether the bridge still
// runs. In between, an unchanged condition costs no write.
func TestConditionHeartbeat(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e, clock := newClockedEnv(t, newGPU(uuid0, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", "")), start)
	kw, _ := e.writes()
	*clock = start.Add(5*time.Minute - time.Second)
	e.reconcile()
	if kw2, _ := e.writes(); kw2 != kw {
		t.Errorf("%d node writes before the heartbeat was due", kw2-kw)
	}
	*clock = start.Add(5 * time.Minute)
	e.reconcile()
	c := e.condition()
	if kw2, _ := e.writes(); kw2 != kw+1 || !c.LastHeartbeatTime.Time.Equal(*clock) || !c.LastTransitionTime.Time.Equal(start) ||
		c.Status != corev1.ConditionTrue {
		t.Errorf("heartbeat due: %d node writes, condition %+v; want 1, heartbeat %s, transition %s", kw2-kw, c, *clock, start)
	}
	if ev := e.events(); len(ev) != 0 {
		t.Errorf("a heartbeat recorded events %q", ev)
	}
}

// The rule informer shows a pass's writes only some time after them, and the next pass
// (queued at once when the budget ran out) may come first: the rules applied or deleted
// lately are remembered until the informer shows them, so a pass spends its budget on
// the rules still to write, not on writing the last pass's again.
func TestNextPassSkipsWritesTheInformerHasNotShown(t *testing.T) {
	uuid4 := "GPU-44444444-1111-2222-3333-444444444444"
	gpus := []*devicev1alpha1.GPU{lost(uuid0), lost(uuid1), lost(uuid3), lost(uuid4),
		newGPU(uuid2, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))}
	stale := ruleFor("node-a", uuid2, "stale")
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true, WritesPerPass: 2}, gpus,
		[]runtime.Object{node("node-a")}, stale)
	e.serving(nil)
	h, _ := e.b.assess()
	store := e.b.ruleInformer.GetStore()
	pass := func(wantErr error) (writes []string) {
		t.Helper()
		before := len(e.dyn.Actions())
		if err := e.b.syncRules(e.ctx, h, 2); err != wantErr {
			t.Fatalf("syncRules: %v, want %v", err, wantErr)
		}
		for _, a := range e.dyn.Actions()[before:] {
			switch a := a.(type) {
			case clienttesting.PatchAction:
				writes = append(writes, "apply "+a.GetName())
			case clienttesting.DeleteAction:
				writes = append(writes, "delete "+a.GetName())
			}
		}
		return writes
	}
	if got, want := pass(errMoreWork), []string{"apply " + RuleName(uuid0), "apply " + RuleName(uuid1)}; !slices.Equal(got, want) {
		t.Fatalf("pass 1: %q, want %q", got, want)
	}
	// The informer has not shown pass 1's rules yet.
	e.syncCaches()
	for _, uuid := range []string{uuid0, uuid1} {
		obj, _, _ := store.GetByKey(RuleName(uuid))
		if err := store.Delete(obj); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := pass(errMoreWork), []string{"apply " + RuleName(uuid3), "apply " + RuleName(uuid4)}; !slices.Equal(got, want) {
		t.Errorf("pass 2: %q, want %q", got, want)
	}
	if got, want := pass(nil), []string{"delete " + stale.GetName()}; !slices.Equal(got, want) {
		t.Errorf("pass 3: %q, want %q", got, want)
	}
	// Nor the delete.
	e.waitFor("the rule informer", func() bool { _, ok, _ := store.GetByKey(stale.GetName()); return !ok })
	if err := store.Add(stale); err != nil {
		t.Fatal(err)
	}
	if got := pass(nil); len(got) != 0 {
		t.Errorf("pass 4: %q, want no write", got)
	}
}

// A delete carries the rule's UID and resourceVersion: a rule written again meanwhile by
// another writer (a bridge of an older version during a rollout) is not deleted on a
// stale view. The conflict is not retried while the informer shows the same rule; once it
// shows the new version, the next pass decides again.
func TestRuleDeleteKeepsARuleWrittenMeanwhile(t *testing.T) {
	stale := ruleFor("node-a", uuid2, "uid-stale")
	stale.SetResourceVersion("100")
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true},
		[]*devicev1alpha1.GPU{newGPU(uuid2, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))},
		[]runtime.Object{node("node-a")}, stale)
	e.serving(nil)
	h, _ := e.b.assess()
	store := e.b.ruleInformer.GetStore()
	// Another writer applies the rule again; the informer has not shown it yet.
	rewritten := stale.DeepCopy()
	rewritten.SetResourceVersion("101")
	if err := e.dyn.Tracker().Update(DeviceTaintRuleGVR, rewritten, ""); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the rule informer", func() bool {
		obj, ok, _ := store.GetByKey(stale.GetName())
		return ok && obj.(*unstructured.Unstructured).GetResourceVersion() == "101"
	})
	if err := store.Update(stale); err != nil {
		t.Fatal(err)
	}
	pass := func() (deletes int) {
		t.Helper()
		before := len(e.dyn.Actions())
		if err := e.b.syncRules(e.ctx, h, 10); err != nil {
			t.Fatalf("syncRules: %v", err)
		}
		for _, a := range e.dyn.Actions()[before:] {
			if a.GetVerb() == "delete" {
				deletes++
			}
		}
		return deletes
	}
	if n := pass(); n != 1 {
		t.Fatalf("pass 1: %d deletes, want 1", n)
	}
	if got := e.rule(stale.GetName()).GetResourceVersion(); got != "101" {
		t.Fatalf("the rule written meanwhile: resourceVersion %q, want 101 kept", got)
	}
	if n := pass(); n != 0 {
		t.Errorf("pass 2 on the same view: %d deletes, want none", n)
	}
	if err := store.Update(rewritten); err != nil {
		t.Fatal(err)
	}
	if n := pass(); n != 1 {
		t.Errorf("pass 3, the informer shows the new version: %d deletes, want 1", n)
	}
	if got := e.ruleNames(""); len(got) != 0 {
		t.Errorf("pass 3: rules %v, want none", got)
	}
}

// A rule deleted by hand before the bridge's informer had shown it applied is put back at
// the next pass: the informer's delete ends what the bridge remembers of its apply.
func TestRuleDeletedBeforeTheInformerShowedItIsPutBack(t *testing.T) {
	e := newTestEnv(t, Config{NodeName: "node-a", DeviceTaintRules: true},
		[]*devicev1alpha1.GPU{lost(uuid0)}, []runtime.Object{node("node-a")})
	e.serving(nil)
	h, _ := e.b.assess()
	// Pass 1 applies the rule; the next pass runs only once the informer has shown it
	// applied and deleted.
	if err := e.b.syncRules(e.ctx, h, 10); err != nil {
		t.Fatal(err)
	}
	store := e.b.ruleInformer.GetStore()
	e.waitFor("the rule informer", func() bool { _, ok, _ := store.GetByKey(RuleName(uuid0)); return ok })
	if err := e.dyn.Resource(DeviceTaintRuleGVR).Delete(e.ctx, RuleName(uuid0), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.syncCaches()
	if err := e.b.syncRules(e.ctx, h, 10); err != nil {
		t.Fatal(err)
	}
	if got, want := e.ruleNames(""), []string{RuleName(uuid0)}; !slices.Equal(got, want) {
		t.Errorf("after the delete: rules %v, want %v", got, want)
	}
}
