// Package v1alpha1 is the typed client of the Device API's group device.nvidia.com,
// version v1alpha1, in the shape client-go's generated clients have:
// DeviceV1alpha1().GPUs(namespace).Get/List/Watch/Create/Update/UpdateStatus/Patch/Delete
// and DeviceV1alpha1().Leases(namespace).Get/List/Watch/Create/Update/Patch/Delete with
// metav1 options, Kubernetes API errors (k8s.io/apimachinery/pkg/api/errors) and
// watch.Interface. All methods are safe for concurrent use.
package v1alpha1

import (
	"context"
	"time"

	"google.golang.org/grpc"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/pb"
)

// DeviceV1alpha1Interface gives the clients of each kind of the group. A new kind adds
// its getter here.
type DeviceV1alpha1Interface interface {
	GPUsGetter
	LeasesGetter
}

// DeviceV1alpha1Client talks to one server over one gRPC connection.
type DeviceV1alpha1Client struct {
	gpus    pb.GpuServiceClient
	leases  pb.LeaseServiceClient
	timeout time.Duration
}

// New returns a client over conn; timeout bounds unary calls whose context has no deadline
// (0: unbounded). The caller keeps ownership of conn.
func New(conn grpc.ClientConnInterface, timeout time.Duration) *DeviceV1alpha1Client {
	return &DeviceV1alpha1Client{gpus: pb.NewGpuServiceClient(conn), leases: pb.NewLeaseServiceClient(conn), timeout: timeout}
}

// GPUs returns the client of GPUs in namespace ("" on List and Watch: all namespaces; on
// single-object calls: the object's own namespace, else "default").
func (c *DeviceV1alpha1Client) GPUs(namespace string) GPUInterface {
	return &gpus{client: c.gpus, resource: resource[*pb.Gpu, *devicev1alpha1.GPU]{
		gr: gpuResource, ns: namespace, timeout: c.timeout, convert: devicev1alpha1.GPUFromProto}}
}

// Leases returns the client of provider leases in namespace, with the same namespace
// rules as GPUs.
func (c *DeviceV1alpha1Client) Leases(namespace string) LeaseInterface {
	return &leases{client: c.leases, resource: resource[*pb.Lease, *devicev1alpha1.Lease]{
		gr: leaseResource, ns: namespace, timeout: c.timeout, convert: devicev1alpha1.LeaseFromProto}}
}

// unary bounds ctx by timeout when it has no deadline of its own.
func unary(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}
