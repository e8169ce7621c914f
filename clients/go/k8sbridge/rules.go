package k8sbridge

import (
	"context"
	"errors"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"
)

// desiredRules are the rules the node should have: one per unhealthy GPU whose effect is
// not None. keep names the rules of GPUs whose health is unknown: left as they are.
func (b *Bridge) desiredRules(h NodeHealth) (want map[string]DesiredRule, keep map[string]bool) {
	want, keep = map[string]DesiredRule{}, map[string]bool{}
	for _, g := range h.GPUs {
		name := RuleName(g.Name)
		switch g.State {
		case GPUUnknown:
			keep[name] = true
		case GPUUnhealthy:
			effect := b.cfg.TaintEffects.For(g.Action)
			if effect == EffectNone {
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
// unhealthy GPU: those of GPUs that recovered or are gone, also from before a restart.
//
// One pass writes at most budget rules, then returns errMoreWork: the caller queues the
// next pass, which starts from the GPUs' newest state. Under a storm of changes the bridge
// therefore never spends minutes writing rules that are already obsolete, and the node
// condition (written before the rules) is never older than one pass. Rules of unhealthy
// GPUs are written before deletions, and in UUID order, so progress is fair and a GPU that
// fails is tainted before one that recovered is untainted.
func (b *Bridge) syncRules(ctx context.Context, h NodeHealth, budget int) error {
	want, keep := b.desiredRules(h)
	have := map[string]*unstructured.Unstructured{}
	for _, obj := range b.ruleInformer.GetStore().List() {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			have[u.GetName()] = u
		}
	}
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
	for _, name := range sortedKeys(want) {
		r := want[name]
		if cur, ok := have[name]; ok && r.Matches(&b.cfg, cur) {
			continue
		}
		if !spend() {
			return moreWork()
		}
		_, err := rules.Apply(ctx, name, r.Object(&b.cfg), metav1.ApplyOptions{FieldManager: b.cfg.FieldManager, Force: true})
		if err != nil {
			note(fmt.Errorf("apply DeviceTaintRule %s: %w", name, err))
			continue
		}
		b.metrics.Writes.WithLabelValues("devicetaintrules", "apply").Inc()
		klog.InfoS("device taint rule applied", "rule", name, "gpu", r.UUID, "effect", r.Effect, "value", r.Value)
	}
	for _, name := range sortedKeys(have) {
		cur := have[name]
		if _, wanted := want[name]; wanted || keep[name] {
			continue
		}
		if !spend() {
			return moreWork()
		}
		// Only the node's own rules are listed (label selector); the precondition keeps a
		// rule that was re-created meanwhile from being deleted by a stale view.
		uid := cur.GetUID()
		err := rules.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			note(fmt.Errorf("delete DeviceTaintRule %s: %w", name, err))
			continue
		}
		b.metrics.Writes.WithLabelValues("devicetaintrules", "delete").Inc()
		klog.InfoS("device taint rule deleted", "rule", name, "gpu", cur.GetAnnotations()[UUIDAnnotation])
	}
	return firstErr
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
