package k8sbridge

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// syncNodeTaint puts the configured taint on the Node while the condition is False and
// takes it off when it is True. Unknown changes nothing (fail-safe). node is the informer's
// Node; when it is not in step, the update reads the Node again, carries the
// resourceVersion it read and is retried on conflict, so others' taints survive. The key
// is the bridge's: a taint with it and another value or effect (left by an earlier
// configuration) is replaced, or removed; taints of other keys are never touched.
func (b *Bridge) syncNodeTaint(ctx context.Context, node *corev1.Node, status metav1.ConditionStatus) error {
	if status == metav1.ConditionUnknown {
		return nil
	}
	want := status == metav1.ConditionFalse
	if taintInSync(node, b.cfg.NodeTaint, want) {
		return nil
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := b.kube.CoreV1().Nodes().Get(ctx, b.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if taintInSync(n, b.cfg.NodeTaint, want) {
			return nil
		}
		n = n.DeepCopy()
		var taints []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key != b.cfg.NodeTaint.Key {
				taints = append(taints, t)
			}
		}
		if want {
			t := b.cfg.NodeTaint
			now := metav1.Now()
			t.TimeAdded = &now
			taints = append(taints, t)
		}
		n.Spec.Taints = taints
		_, err = b.kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{FieldManager: b.cfg.FieldManager})
		if err == nil {
			b.metrics.Writes.WithLabelValues("nodes", "update").Inc()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("node %s taint %s: %w", b.cfg.NodeName, b.cfg.NodeTaint.Key, err)
	}
	klog.InfoS("node taint changed", "node", b.cfg.NodeName, "taint", b.cfg.NodeTaint.ToString(), "present", want)
	return nil
}

// taintInSync says whether n's taints with t's key are what the bridge wants: exactly t
// when want, none when not. A taint with the key but another value or effect (left by a
// configuration with another value or effect) is replaced, or removed.
func taintInSync(n *corev1.Node, t corev1.Taint, want bool) bool {
	same, exact := 0, 0
	for _, have := range n.Spec.Taints {
		if have.Key == t.Key {
			same++
			if have.Value == t.Value && have.Effect == t.Effect {
				exact++
			}
		}
	}
	if want {
		return same == 1 && exact == 1
	}
	return same == 0
}
