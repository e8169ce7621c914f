package k8sbridge

import (
	"context"
	"fmt"

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

// syncRules applies missing or outdated rules and deletes the node's rules that select no
// unhealthy GPU: those of GPUs that recovered or are gone, also from before a restart.
func (b *Bridge) syncRules(ctx context.Context, h NodeHealth) error {
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
	for name, r := range want {
		if cur, ok := have[name]; ok && r.Matches(&b.cfg, cur) {
			continue
		}
		_, err := rules.Apply(ctx, name, r.Object(&b.cfg), metav1.ApplyOptions{FieldManager: b.cfg.FieldManager, Force: true})
		if err != nil {
			note(fmt.Errorf("apply DeviceTaintRule %s: %w", name, err))
			continue
		}
		b.metrics.Writes.WithLabelValues("devicetaintrules", "apply").Inc()
		klog.InfoS("device taint rule applied", "rule", name, "gpu", r.UUID, "effect", r.Effect, "value", r.Value)
	}
	for name, cur := range have {
		if _, wanted := want[name]; wanted || keep[name] {
			continue
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
	b.metrics.Rules.Set(float64(len(want)))
	return firstErr
}
