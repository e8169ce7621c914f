package k8sbridge

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/klog/v2"
)

// syncCondition makes the Node's condition say h, writing when status, reason or message
// differ or its lastHeartbeatTime is HeartbeatInterval old, and records an event when the
// status changes. A heartbeat write moves only lastHeartbeatTime: its age is how a
// consumer tells that the bridge has stopped (the condition would stay as it was).
//
// What the node holds is the informer's condition, unless the informer shows an older
// Node than the one the bridge's last patch returned (by resourceVersion): it has not seen
// that patch yet, and taking its older condition for the current one would move
// lastTransitionTime and record a second transition event; the patch's result counts
// then. Once the informer has caught up, what it shows counts, so a condition that
// another writer changed or removed since (or a re-created Node) is written back at once.
func (b *Bridge) syncCondition(ctx context.Context, node *corev1.Node, h NodeHealth) error {
	var have *corev1.NodeCondition
	for i := range node.Status.Conditions {
		if string(node.Status.Conditions[i].Type) == b.cfg.ConditionType {
			have = &node.Status.Conditions[i]
		}
	}
	if b.lastCond != nil {
		if cmp, err := resourceversion.CompareResourceVersion(node.ResourceVersion, b.lastRV); err == nil && cmp < 0 {
			have = b.lastCond
		}
	}
	status := corev1.ConditionStatus(h.Status)
	now := metav1.NewTime(b.now())
	if have != nil && have.Status == status && have.Reason == h.Reason && have.Message == h.Message {
		if left := have.LastHeartbeatTime.Add(b.cfg.HeartbeatInterval).Sub(now.Time); left > 0 {
			b.queue.AddAfter(queueKey, left)
			return nil
		}
	}
	transition := now
	if have != nil && have.Status == status {
		transition = have.LastTransitionTime
	}
	// A strategic merge patch of status.conditions merges by type: the kubelet's and other
	// controllers' conditions are left alone, and no resourceVersion is needed.
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{{
		Type: corev1.NodeConditionType(b.cfg.ConditionType), Status: status, Reason: h.Reason, Message: h.Message,
		LastHeartbeatTime: now, LastTransitionTime: transition,
	}}}})
	if err != nil {
		return err
	}
	patched, err := b.kube.CoreV1().Nodes().PatchStatus(ctx, b.cfg.NodeName, patch)
	if err != nil {
		return fmt.Errorf("patch node %s condition %s: %w", b.cfg.NodeName, b.cfg.ConditionType, err)
	}
	b.lastCond, b.lastRV = nil, patched.ResourceVersion
	for i := range patched.Status.Conditions {
		if string(patched.Status.Conditions[i].Type) == b.cfg.ConditionType {
			b.lastCond = patched.Status.Conditions[i].DeepCopy()
		}
	}
	b.metrics.Writes.WithLabelValues("nodes/status", "patch").Inc()
	if have == nil || have.Status != status {
		klog.InfoS("node condition changed", "node", b.cfg.NodeName, "type", b.cfg.ConditionType,
			"status", status, "reason", h.Reason, "message", h.Message)
		kind := corev1.EventTypeWarning
		if status == corev1.ConditionTrue {
			kind = corev1.EventTypeNormal
		}
		b.recorder.Eventf(node, kind, h.Reason, "%s is %s: %s", b.cfg.ConditionType, status, h.Message)
	}
	return nil
}
