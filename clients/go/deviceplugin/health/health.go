// Package health turns the Device API's GPU objects into the per-device health a
// Kubernetes device plugin reports to the kubelet.
//
// A device is what the plugin advertises: a full GPU, or a MIG device that lives on a GPU.
// Its health is its parent GPU's, looked up by spec.uuid among the objects of a GPU
// informer:
//
//   - Unhealthy when no GPU object has the parent's UUID (never registered, or deleted);
//   - Unhealthy when any condition of the GPU has status False or Unknown (Unknown is also
//     what the server sets when a provider's lease expires);
//   - Healthy otherwise, including a GPU without conditions.
//
// Health follows the objects both ways: a GPU whose fault clears is Healthy again, with
// no restart of anything.
package health

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

// Device is one device a plugin advertises.
type Device struct {
	// ID is the device's ID towards the kubelet: a GPU UUID as NVML reports it
	// ("GPU-8f3c..."), or a MIG device's UUID.
	ID string
	// ParentUUID is the UUID of the GPU the device lives on, whose health it has. Empty
	// means the device is a full GPU: its own parent, ID.
	ParentUUID string
}

// parent is the UUID whose GPU object decides the device's health.
func (d Device) parent() string {
	if d.ParentUUID == "" {
		return d.ID
	}
	return d.ParentUUID
}

// Health is one device's health at a moment.
type Health struct {
	ID      string
	Healthy bool
	// Reason says why the device is unhealthy, for logs and people; empty when Healthy.
	// Its wording is not a contract.
	Reason string
}

// gpuVerdict is the health of one GPU object: a reason when unhealthy, "" when healthy.
func gpuVerdict(g *devicev1alpha1.GPU) string {
	var bad []string
	for _, c := range g.Status.Conditions {
		if c.Status == metav1.ConditionFalse || c.Status == metav1.ConditionUnknown {
			bad = append(bad, fmt.Sprintf("%s=%s (%s)", c.Type, c.Status, c.Reason))
		}
	}
	return strings.Join(bad, ", ")
}
