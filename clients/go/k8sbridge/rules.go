package k8sbridge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// desiredRules are the rules the node should have: one per unhealthy GPU whose effect is
// not None, named from its UUID. keep holds the UUIDs (in lower case, as rule names have
// them) of GPUs whose health is unknown: their rules (found by the UUID annotation,
// whatever their name) are left as they are. Should the server hold one UUID twice (in
// two namespaces), the first unhealthy object in the list (by namespace, then name)
// decides its rule, the same one on every pass.
func (b *Bridge) desiredRules(h NodeHealth) (want map[string]DesiredRule, keep map[string]bool) {
	want, keep = map[string]DesiredRule{}, map[string]bool{}
	for _, g := range h.GPUs {
		name := RuleName(g.UUID)
		switch g.State {
		case GPUUnknown:
			keep[strings.ToLower(g.UUID)] = true
		case GPUUnhealthy:
			effect := b.cfg.TaintEffects.For(g.Action)
			if _, dup := want[name]; dup || effect == EffectNone {
				continue
			}
			want[name] = DesiredRule{Name: name, UUID: g.UUID, Node: b.cfg.NodeName, Effect: effect, Value: taintValue(g.Reason)}
		}
	}
	return want, keep
}

// errMoreWork says a pass used its write budget before the rules were in step.
var errMoreWork = errors.New("more rules to write")

// syncRules applies missing or outdated rules and deletes the node's rules that select no
// unhealthy GPU: those of GPUs that recovered or are gone, also from before a restart, and
// those named otherwise than the bridge names them now (an earlier version named rules
// from the GPU object's name); they carry the node's label like any other.
//
// One pass writes at most budget rules, then returns errMoreWork: the caller queues the
// next pass, which starts from the GPUs' newest state. Under a storm of changes the bridge
// therefore never spends minutes writing rules that are already obsolete, and the node
// condition (written before the rules) is never older than one pass. Rules of unhealthy
// GPUs are written before deletions, and in UUID order, so progress is fair and a GPU that
// fails is tainted before one that recovered is untainted.
//
// The rules of h.Absent, GPUs missing from the server within their grace, are kept.
func (b *Bridge) syncRules(ctx context.Context, h NodeHealth, budget int) error {
	want, keep := b.desiredRules(h)
	have := b.nodeRules()
	absent := make(map[string]bool, len(h.Absent))
	for _, g := range h.Absent {
		absent[strings.ToLower(g.UUID)] = true
	}
	b.forgetShownWrites(want, have)
	rules := b.dyn.Resource(DeviceTaintRuleGVR)
	var firstErr error
	note := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	b.metrics.Rules.Set(float64(len(want)))
	// A pass that ran out of budget reports a failed write first: errMoreWork would re-queue
	// it at once, without back-off, and the failure would never be logged.
	moreWork := func() error {
		if firstErr != nil {
			return firstErr
		}
		return errMoreWork
	}
	writes := 0
	spend := func() bool {
		if writes == budget {
			return false
		}
		writes++
		return true
	}
	now := b.now()
	// covered holds the wanted UUIDs (in lower case) whose rule the informer shows or this
	// pass applied: only then may another rule of the same UUID (one of an older naming) be
	// deleted, lest a failed apply leave the GPU without any rule.
	covered := map[string]bool{}
	for _, name := range sortedKeys(want) {
		r := want[name]
		cur, ok := have[name]
		if ok && r.Matches(&b.cfg, cur) {
			covered[strings.ToLower(r.UUID)] = true
			continue
		}
		if p, ok := b.applied[name]; ok && p.rule == r && p.before == resourceVersion(cur) {
			// Applied lately; the informer still shows what was there before.
			if left := p.at.Add(unshownWriteTTL).Sub(now); left > 0 {
				b.queue.AddAfter(queueKey, left)
				continue
			}
		}
		if !spend() {
			return moreWork()
		}
		_, err := rules.Apply(ctx, name, r.Object(&b.cfg), metav1.ApplyOptions{FieldManager: b.cfg.FieldManager, Force: true})
		if err != nil {
			note(fmt.Errorf("apply DeviceTaintRule %s: %w", name, err))
			continue
		}
		b.applied[name] = appliedRule{rule: r, before: resourceVersion(cur), at: now}
		covered[strings.ToLower(r.UUID)] = true
		b.metrics.Writes.WithLabelValues("devicetaintrules", "apply").Inc()
		klog.InfoS("device taint rule applied", "rule", name, "gpu", r.UUID, "effect", r.Effect, "value", r.Value)
	}
	wantedUUIDs := make(map[string]bool, len(want))
	for _, r := range want {
		wantedUUIDs[strings.ToLower(r.UUID)] = true
	}
	for _, name := range sortedKeys(have) {
		cur := have[name]
		uuid := strings.ToLower(cur.GetAnnotations()[UUIDAnnotation])
		if _, wanted := want[name]; wanted || keep[uuid] {
			continue
		}
		if wantedUUIDs[uuid] && !covered[uuid] {
			// The GPU's rule under its wanted name is not written yet (its apply failed, or
			// the informer does not show it yet): this one covers the GPU meanwhile. The
			// failed apply is retried with back-off; the informer's add queues a pass.
			continue
		}
		if absent[uuid] {
			continue
		}
		version := ruleVersionOf(cur)
		if v, ok := b.deleted[name]; ok && v == version {
			continue // deleted lately (or found changed); the informer still shows it
		}
		if !spend() {
			return moreWork()
		}
		// Only the node's own rules are listed (label selector); the preconditions keep a
		// rule that was re-created, or written again by another writer (a bridge of an
		// older version during a rollout), meanwhile from being deleted by a stale view.
		pre := &metav1.Preconditions{UID: &version.uid}
		if version.rv != "" {
			pre.ResourceVersion = &version.rv
		}
		err := rules.Delete(ctx, name, metav1.DeleteOptions{Preconditions: pre})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			note(fmt.Errorf("delete DeviceTaintRule %s: %w", name, err))
			continue
		}
		// Gone, replaced or changed: no object has this UID and resourceVersion any more.
		// The informer's next view of the rule (a delete, or its new version) queues the
		// pass that decides again; until then the rule is not deleted again.
		b.deleted[name] = version
		if apierrors.IsConflict(err) {
			klog.InfoS("device taint rule changed since the informer showed it; decided again once it shows the change",
				"rule", name, "gpu", cur.GetAnnotations()[UUIDAnnotation])
			continue
		}
		b.metrics.Writes.WithLabelValues("devicetaintrules", "delete").Inc()
		klog.InfoS("device taint rule deleted", "rule", name, "gpu", cur.GetAnnotations()[UUIDAnnotation])
	}
	return firstErr
}

// ruleVersion is one version of a rule: its UID and resourceVersion.
type ruleVersion struct {
	uid types.UID
	rv  string
}

func ruleVersionOf(u *unstructured.Unstructured) ruleVersion {
	return ruleVersion{uid: u.GetUID(), rv: u.GetResourceVersion()}
}

// unshownWriteTTL bounds how long an applied rule that the informer does not show yet is
// taken for written: the informer may have missed it altogether (a rule deleted right
// after it was applied), and the drift must be repaired.
const unshownWriteTTL = 30 * time.Second

// appliedRule is a rule the bridge applied, remembered until the informer shows it.
type appliedRule struct {
	rule   DesiredRule
	before string // the resourceVersion the informer showed then ("" for none)
	at     time.Time
}

// forgetShownWrites drops the lately applied and deleted rules that the informer shows
// now: an applied rule once the informer shows it, or another version than the one it
// replaced, or the rule is no longer wanted, or the informer showed it deleted since the
// last pass (deleted by hand before a pass saw it); a deleted one once the informer no
// longer shows the version it deleted (by UID and resourceVersion).
func (b *Bridge) forgetShownWrites(want map[string]DesiredRule, have map[string]*unstructured.Unstructured) {
	if b.applied == nil {
		b.applied, b.deleted = map[string]appliedRule{}, map[string]ruleVersion{}
	}
	b.mu.Lock()
	gone := b.ruleGone
	b.ruleGone = nil
	b.mu.Unlock()
	for name := range gone {
		delete(b.applied, name)
	}
	for name, p := range b.applied {
		_, wanted := want[name]
		cur := have[name]
		if !wanted || resourceVersion(cur) != p.before || (cur != nil && p.rule.Matches(&b.cfg, cur)) {
			delete(b.applied, name)
		}
	}
	for name, version := range b.deleted {
		if cur, ok := have[name]; !ok || ruleVersionOf(cur) != version {
			delete(b.deleted, name)
		}
	}
}

// noteRuleDeleted notes a rule the informer shows deleted, for the next pass.
func (b *Bridge) noteRuleDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ruleGone == nil {
		b.ruleGone = map[string]bool{}
	}
	b.ruleGone[u.GetName()] = true
}

// resourceVersion is u's resourceVersion, "" for no object.
func resourceVersion(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	return u.GetResourceVersion()
}

// nodeRules are the node's rules in the rule informer, by name.
func (b *Bridge) nodeRules() map[string]*unstructured.Unstructured {
	have := map[string]*unstructured.Unstructured{}
	nodeLabel := NodeLabelValue(b.cfg.NodeName)
	for _, obj := range b.ruleInformer.GetStore().List() {
		// The informer lists by the node's label; the check keeps another node's rule from
		// being deleted should one reach the cache all the same.
		if u, ok := obj.(*unstructured.Unstructured); ok && u.GetLabels()[NodeLabel] == nodeLabel {
			have[u.GetName()] = u
		}
	}
	return have
}

// withAbsent is h with the GPUs that have a rule but are missing from the server within
// their grace (trackAbsent) counted as unknown: the rule says the GPU was unhealthy when
// last seen, so until the rule goes, the node condition is not True and the node taint
// stays, lest a server that is registering its GPUs again clear the node on the healthy
// ones while a broken one is still to come.
func (b *Bridge) withAbsent(h NodeHealth) NodeHealth {
	want, keep := b.desiredRules(h)
	absent := b.trackAbsent(h, want, keep, b.nodeRules())
	if len(absent) == 0 {
		return h
	}
	return nodeHealth(h.GPUs, absent)
}

// trackAbsent notes since when each GPU that has a rule but is not on the server has been
// missing, and returns the GPUs (sorted by UUID) that have been missing for less than
// AbsentGPUGrace: their rules are kept meanwhile, and a reconcile is queued for when the
// first of them runs out. A server that holds some GPUs but not all may still be
// registering them (in memory mode after a restart); a GPU that is gone for good loses its
// rule after the grace. The clock runs only while the server is available and holds GPUs
// (reconcile resets it otherwise), so each restart of the server grants the full grace
// again.
func (b *Bridge) trackAbsent(h NodeHealth, want map[string]DesiredRule, keep map[string]bool,
	have map[string]*unstructured.Unstructured) []GPUHealth {
	present := make(map[string]bool, len(h.GPUs))
	for _, g := range h.GPUs {
		present[strings.ToLower(g.UUID)] = true
	}
	now := b.now()
	since := map[string]time.Time{}
	waiting := map[string]GPUHealth{}
	var next time.Duration
	for name, cur := range have {
		uuid := cur.GetAnnotations()[UUIDAnnotation]
		lower := strings.ToLower(uuid)
		if _, wanted := want[name]; wanted || keep[lower] || present[lower] {
			continue
		}
		t, seen := b.absentSince[lower]
		if !seen {
			t = now
		}
		since[lower] = t
		if left := t.Add(b.cfg.AbsentGPUGrace).Sub(now); left > 0 {
			waiting[lower] = GPUHealth{UUID: uuid, State: GPUUnknown, Reason: reasonAbsent}
			if next == 0 || left < next {
				next = left
			}
		}
	}
	b.absentSince = since
	if next > 0 {
		b.queue.AddAfter(queueKey, next)
	}
	absent := make([]GPUHealth, 0, len(waiting))
	for _, g := range waiting {
		absent = append(absent, g)
	}
	sort.Slice(absent, func(i, j int) bool { return absent[i].UUID < absent[j].UUID })
	return absent
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
