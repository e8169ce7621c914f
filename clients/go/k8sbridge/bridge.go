// Package k8sbridge projects the GPU health held by a node's Device API server into the
// Kubernetes API: a Node condition, Node events, DRA DeviceTaintRules per unhealthy GPU
// and, optionally, a Node taint.
//
// The flow is one way: an informer over the local server's GPUs and a health probe of the
// server feed one reconcile loop, which compares what it wants with what the Kubernetes API
// holds (read from informers on the node and on the bridge's own rules) and writes only
// the difference. Writes are idempotent (strategic-merge patches of the node's status,
// server-side apply of rules), go through client-go's rate limiter, and one queue key
// coalesces any number of GPU changes into one reconcile, so a flapping GPU, or a thousand,
// costs a bounded number of API writes per second.
//
// Fail-safe: while the local server is unreachable, not ready or not yet listed, the
// condition is Unknown and no rule or taint is removed; a server that holds no GPU (its
// providers have not registered yet) removes no rule either, and a GPU missing from a
// server that holds others keeps its rule for a grace period (Config.AbsentGPUGrace), and
// keeps the condition from True (so the node taint stays) as long. A GPU whose conditions
// are Unknown (its provider's lease expired) keeps the rule it has.
package k8sbridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	listers "github.com/nvidia/device-api-server/clients/go/listers/device/v1alpha1"
)

// queueKey is the only key: every change leads to one reconcile of the whole node.
const queueKey = "node"

// Bridge is one node's bridge. Create it with New, then Run it.
type Bridge struct {
	cfg    Config
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	prober Prober

	gpuInformer  cache.SharedIndexInformer
	gpuLister    listers.GPULister
	kubeFactory  informers.SharedInformerFactory
	nodeInformer cache.SharedIndexInformer
	ruleFactory  dynamicinformer.DynamicSharedInformerFactory
	ruleInformer cache.SharedIndexInformer

	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	queue       workqueue.TypedRateLimitingInterface[string]
	metrics     *Metrics

	now func() time.Time // the clock (tests set it)
	// absentSince is when each GPU that has a rule but is not on the server was first seen
	// missing (by lower-case UUID); reset while the server is unavailable or holds no GPU.
	absentSince map[string]time.Time
	// applied and deleted are the rules written lately that the rule informer may not
	// show yet (syncRules), so that the next pass does not write them again.
	applied map[string]appliedRule
	deleted map[string]ruleVersion
	// lastCond is the node's condition as the bridge's last patch returned it, lastRV the
	// Node's resourceVersion in that answer.
	lastCond *corev1.NodeCondition
	lastRV   string

	mu        sync.Mutex
	ruleGone  map[string]bool     // rules the informer showed deleted since the last pass
	probeErr  error               // last probe result; nil = serving
	probed    bool                // the probe has answered at least once
	probedAt  time.Time           // when it first answered
	lastGPUs  map[string]GPUState // GPU states at the last reconcile (for per-GPU events)
	lastState metav1.ConditionStatus
}

// New wires a bridge. gpuInformer is the Device API GPU informer (its factory is started
// by the caller); kube and dyn talk to the Kubernetes API.
func New(cfg Config, kube kubernetes.Interface, dyn dynamic.Interface, gpuInformer cache.SharedIndexInformer,
	prober Prober, metrics *Metrics) (*Bridge, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	b := &Bridge{
		cfg: cfg, kube: kube, dyn: dyn, prober: prober, metrics: metrics,
		gpuInformer: gpuInformer, gpuLister: listers.NewGPULister(gpuInformer.GetIndexer()),
		probeErr: fmt.Errorf("not probed yet"), now: time.Now,
	}
	// client-go's controller rate limiter, but with the per-key back-off capped at
	// MaxRetryDelay rather than 1000 s: a failure of the Kubernetes API lets the back-off
	// grow while it lasts, and nothing else queues a reconcile when the API answers again,
	// so the cap bounds how late a change made meanwhile is written.
	b.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, cfg.MaxRetryDelay),
			&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)}),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "device-api-k8s-bridge"})

	b.kubeFactory = informers.NewSharedInformerFactoryWithOptions(kube, cfg.ResyncPeriod,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + cfg.NodeName }))
	b.nodeInformer = b.kubeFactory.Core().V1().Nodes().Informer()
	if cfg.DeviceTaintRules {
		b.ruleFactory = dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, cfg.ResyncPeriod, metav1.NamespaceAll,
			func(o *metav1.ListOptions) { o.LabelSelector = NodeLabel + "=" + NodeLabelValue(cfg.NodeName) })
		b.ruleInformer = b.ruleFactory.ForResource(DeviceTaintRuleGVR).Informer()
	}

	enqueue := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { b.queue.Add(queueKey) },
		UpdateFunc: func(any, any) { b.queue.Add(queueKey) },
		DeleteFunc: func(any) { b.queue.Add(queueKey) },
	}
	for _, inf := range []cache.SharedIndexInformer{gpuInformer, b.nodeInformer} {
		if _, err := inf.AddEventHandler(enqueue); err != nil {
			return nil, err
		}
	}
	if b.ruleInformer != nil {
		// A rule's delete is noted before the pass it queues, which then forgets the
		// rule's apply even when the informer never showed the rule in a pass.
		ruleEvents := enqueue
		ruleEvents.DeleteFunc = func(obj any) { b.noteRuleDeleted(obj); b.queue.Add(queueKey) }
		if _, err := b.ruleInformer.AddEventHandler(ruleEvents); err != nil {
			return nil, err
		}
	}

	// Events are bounded by client-go's correlator: a burst of 25, then one per 5 minutes,
	// per key. The key adds the reason to the default (source, object, type), so the
	// node condition's transitions are never crowded out by per-GPU events of many GPUs.
	b.broadcaster = record.NewBroadcaster(record.WithCorrelatorOptions(record.CorrelatorOptions{
		SpamKeyFunc: func(e *corev1.Event) string {
			return strings.Join([]string{e.Source.Component, e.Source.Host, e.InvolvedObject.Kind, e.InvolvedObject.Namespace,
				e.InvolvedObject.Name, string(e.InvolvedObject.UID), e.InvolvedObject.APIVersion, e.Type, e.Reason}, "/")
		},
	}))
	b.recorder = b.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: cfg.FieldManager, Host: cfg.NodeName})
	return b, nil
}

// Ready reports whether the bridge can write: the node is known to its informer.
func (b *Bridge) Ready() error {
	if !b.nodeInformer.HasSynced() {
		return fmt.Errorf("node informer not synced")
	}
	if _, exists, _ := b.nodeInformer.GetStore().GetByKey(b.cfg.NodeName); !exists {
		return fmt.Errorf("node %q not found", b.cfg.NodeName)
	}
	return nil
}

// Run starts the informers it owns, the probe and the worker, and blocks until ctx ends.
func (b *Bridge) Run(ctx context.Context) error {
	defer b.queue.ShutDown()
	b.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: b.kube.CoreV1().Events("")})
	defer b.broadcaster.Shutdown()

	b.kubeFactory.Start(ctx.Done())
	defer b.kubeFactory.Shutdown()
	if b.ruleFactory != nil {
		b.ruleFactory.Start(ctx.Done())
		defer b.ruleFactory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), b.nodeInformer.HasSynced) {
		return ctx.Err()
	}
	go b.probeLoop(ctx)
	// Reading the GPU list changes what the condition says even when it brings no event
	// (a server without GPUs): reconcile once it has been read.
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), b.gpuInformer.HasSynced) {
			b.queue.Add(queueKey)
		}
	}()
	go func() {
		t := time.NewTicker(b.cfg.ResyncPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.queue.Add(queueKey)
			}
		}
	}()
	go func() { <-ctx.Done(); b.queue.ShutDown() }()
	b.queue.Add(queueKey)
	for b.processNext(ctx) {
	}
	return nil
}

func (b *Bridge) processNext(ctx context.Context) bool {
	key, quit := b.queue.Get()
	if quit {
		return false
	}
	defer b.queue.Done(key)
	if err := b.reconcile(ctx); err != nil {
		b.metrics.ReconcileErrors.Inc()
		klog.ErrorS(err, "reconcile failed; retrying with back-off", "node", b.cfg.NodeName)
		b.queue.AddRateLimited(key)
		return true
	}
	b.queue.Forget(key)
	return true
}

// probeTimeout bounds one check of the local server, all probers together: a server that
// hangs is reported unavailable after this long, however many probers ask it.
const probeTimeout = 2 * time.Second

// probeLoop checks the local server and queues a reconcile at its first answer (which ends
// the wait of a starting bridge) and whenever the answer changes: availability, and also
// the reason it is unavailable, which the condition's message names (connection refused,
// NOT_SERVING, the GPU cache catching up).
func (b *Bridge) probeLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.ProbeInterval)
	defer t.Stop()
	for {
		checkCtx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := b.prober.Check(checkCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		b.mu.Lock()
		changed := !b.probed || (err == nil) != (b.probeErr == nil) || (err != nil && err.Error() != b.probeErr.Error())
		if !b.probed {
			b.probed, b.probedAt = true, time.Now()
		}
		b.probeErr = err
		b.mu.Unlock()
		if changed {
			if err != nil {
				klog.InfoS("local Device API server unavailable", "err", err)
			} else {
				klog.InfoS("local Device API server available")
			}
			b.queue.Add(queueKey)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// starting says whether the bridge, just started, has yet to learn what the server holds:
// its first probe has not answered, or it answered that the server is available and the
// GPU list has not been read yet. Meanwhile the Node keeps the condition the last bridge
// wrote, which a routine restart of the pod leaves right; an Unknown "not probed yet" in
// between would move lastTransitionTime twice and record two events on every restart.
// The wait is bounded: the probe answers within probeTimeout (a server that hangs is an
// error then), and the GPU list gets probeTimeout more. after is when to look again (0:
// the probe's answer, or the list's, queues the pass).
func (b *Bridge) starting() (after time.Duration, starting bool) {
	b.mu.Lock()
	probed, at, probeErr := b.probed, b.probedAt, b.probeErr
	b.mu.Unlock()
	if !probed {
		return 0, true
	}
	if probeErr != nil || b.gpuInformer.HasSynced() {
		return 0, false
	}
	after = time.Until(at.Add(probeTimeout))
	return after, after > 0
}

// assess is the node's health as the bridge sees it now.
func (b *Bridge) assess() (NodeHealth, bool) {
	b.mu.Lock()
	probeErr := b.probeErr
	b.mu.Unlock()
	if probeErr != nil {
		return ServerUnavailable(probeErr.Error()), false
	}
	if !b.gpuInformer.HasSynced() {
		return ServerUnavailable("the GPU list has not been read yet"), false
	}
	gpus, err := b.gpuLister.List(labels.Everything())
	if err != nil {
		return ServerUnavailable(err.Error()), false
	}
	return AssessNode(gpus), true
}

func (b *Bridge) reconcile(ctx context.Context) error {
	start := time.Now()
	defer func() { b.metrics.ReconcileSeconds.Observe(time.Since(start).Seconds()) }()
	b.metrics.Reconciles.Inc()

	if after, starting := b.starting(); starting {
		// Nothing else would be written: the server counts as unavailable until then, so
		// no rule or taint changes either.
		if after > 0 {
			b.queue.AddAfter(queueKey, after)
		}
		return nil
	}
	more := false
	health, available := b.assess()
	if b.cfg.DeviceTaintRules {
		if !available || health.Reason == ReasonNoGPUs {
			// A missing GPU's grace counts only while the server is available and holds GPUs.
			b.absentSince = nil
		} else if b.ruleInformer.HasSynced() {
			// Before the condition and the node taint are decided: a failed GPU missing
			// within its grace keeps the node from True.
			health = b.withAbsent(health)
		}
	}
	b.metrics.SetNodeStatus(health.Status)
	// The condition, the rules and the node taint are independent: a failure of one must
	// not hold the others back. A cluster without the DeviceTaintRule API still gets its
	// condition and node taint, and a refused condition (nodes/status without the RBAC
	// verb, a webhook, a Node the informer does not show yet) still lets a failed GPU be
	// tainted. The pass fails with every error, and is retried with back-off.
	var errs []error
	node, err := b.node()
	if err != nil {
		errs = append(errs, err)
	} else {
		if err := b.syncCondition(ctx, node, health); err != nil {
			errs = append(errs, err)
		}
		if available {
			b.gpuEvents(node, health)
		}
	}
	if b.cfg.DeviceTaintRules {
		if !available {
			// Fail-safe: what the bridge cannot see, it does not clear.
		} else if health.Reason == ReasonNoGPUs {
			// A server without any GPU has not heard from its providers yet (in memory mode,
			// after a restart): nothing is known about the GPUs whose rules exist, so they
			// are kept, as the rules of GPUs whose health is unknown are.
		} else if !b.ruleInformer.HasSynced() {
			errs = append(errs, fmt.Errorf("DeviceTaintRules (%s) not listed yet: is the DRADeviceTaints feature and API version enabled?", DeviceTaintRuleGVR))
		} else if err := b.syncRules(ctx, health, b.cfg.WritesPerPass); errors.Is(err, errMoreWork) {
			more = true
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	// Without the Node there is nothing to taint; its error is already counted.
	if b.cfg.NodeTaint.Key != "" && node != nil {
		if err := b.syncNodeTaint(ctx, node, health.Status); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if more {
		// Normal progress, not a failure: the rate limiter paces the next pass.
		b.queue.Add(queueKey)
	}
	return nil
}

// node is the Node from the informer's cache.
func (b *Bridge) node() (*corev1.Node, error) {
	obj, exists, err := b.nodeInformer.GetStore().GetByKey(b.cfg.NodeName)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("node %q not found", b.cfg.NodeName)
	}
	return obj.(*corev1.Node), nil
}

// gpuEvents records an event on the Node for each GPU that changed state since the last
// reconcile. The first reconcile records only the GPUs that are not healthy.
func (b *Bridge) gpuEvents(node *corev1.Node, h NodeHealth) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := make(map[string]GPUState, len(h.GPUs))
	for _, g := range h.GPUs {
		now[g.UUID] = g.State
		before, seen := b.lastGPUs[g.UUID]
		if b.lastGPUs == nil {
			seen, before = true, GPUHealthy
		}
		if seen && before == g.State {
			continue
		}
		if !seen && g.State == GPUHealthy {
			continue // a new healthy GPU is not news
		}
		switch g.State {
		case GPUUnhealthy:
			b.recorder.Eventf(node, corev1.EventTypeWarning, "GpuFault", "GPU %s: %s=False %s: %s (action %s)",
				g.UUID, g.Condition, g.Reason, g.Message, orNone(g.Action))
		case GPUUnknown:
			b.recorder.Eventf(node, corev1.EventTypeWarning, "GpuUnknown", "GPU %s: health unknown (%s %s)",
				g.UUID, g.Condition, g.Reason)
		default:
			b.recorder.Eventf(node, corev1.EventTypeNormal, "GpuRecovered", "GPU %s is healthy again", g.UUID)
		}
	}
	b.lastGPUs = now
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// GPUs returns the GPU objects the bridge currently sees (for tests and debugging).
func (b *Bridge) GPUs() []*devicev1alpha1.GPU {
	gpus, _ := b.gpuLister.List(labels.Everything())
	return gpus
}
