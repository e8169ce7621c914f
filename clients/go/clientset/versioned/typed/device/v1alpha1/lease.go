package v1alpha1

import (
	"context"

	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/internal/wire"
	"github.com/nvidia/device-api-server/clients/go/pb"
)

// LeasesGetter returns the Lease client of a namespace.
type LeasesGetter interface {
	Leases(namespace string) LeaseInterface
}

// LeaseInterface is the client of provider leases (S28-S30), with the methods and
// signatures of client-go's generated clients. Leases have no status: Update writes the
// whole lease (labels, annotations, spec). Leases have a revision sequence of their own,
// separate from the GPUs'.
type LeaseInterface interface {
	// Create takes a lease. Nil times are filled by the server (RenewTime and AcquireTime:
	// now). IsInvalid for a duration outside 1-3600 s or a condition type another live
	// lease owns; IsAlreadyExists when the name is taken.
	Create(ctx context.Context, lease *devicev1alpha1.Lease, opts metav1.CreateOptions) (*devicev1alpha1.Lease, error)
	// Update writes labels, annotations and spec. A non-empty resourceVersion is a
	// precondition (IsConflict when stale, S5): how a new holder takes over an expired
	// lease (the server then counts LeaseTransitions). A renewal is an Update with
	// Spec.RenewTime nil (the server's clock) or set by the holder.
	Update(ctx context.Context, lease *devicev1alpha1.Lease, opts metav1.UpdateOptions) (*devicev1alpha1.Lease, error)
	// Delete honours opts.Preconditions (uid, resourceVersion): IsConflict when they fail.
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*devicev1alpha1.Lease, error)
	List(ctx context.Context, opts metav1.ListOptions) (*devicev1alpha1.LeaseList, error)
	// Watch streams changes as GPUInterface.Watch does.
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	// Patch applies a JSON merge patch (types.MergePatchType, RFC 7386) or a strategic
	// merge patch (types.StrategicMergePatchType; a lease has no lists that merge by key,
	// so it acts as a merge patch) to a lease. The server has no patch call for leases, so
	// the patch is applied here, with optimistic concurrency: Get, apply data to the
	// lease's JSON form (this package's field names: {"spec":{"holderIdentity":"node-2"}}),
	// Update with the resourceVersion that was read, and on IsConflict (another writer came
	// between) all again, at most LeasePatchAttempts times; then the last IsConflict is
	// returned. Each attempt is one Get and at most one Update, under ctx.
	//
	// The rules are PatchGpu's (S31) for a kind without status: labels, annotations and
	// spec may change, any other metadata may not (IsInvalid); a metadata.resourceVersion
	// in data is the caller's precondition (IsConflict at once when it is not the current
	// one, never retried); malformed JSON, a field the lease does not have or a value of
	// the wrong type is IsInvalid; subresources are IsInvalid (a lease has none). A patch
	// that changes nothing writes nothing. {"spec":{"renewTime":null}} renews the lease at
	// the server's clock.
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions,
		subresources ...string) (*devicev1alpha1.Lease, error)
}

type leases struct {
	client pb.LeaseServiceClient
	resource[*pb.Lease, *devicev1alpha1.Lease]
}

var leaseResource = devicev1alpha1.Resource("leases")

// toProto is the wire form of a lease in the namespace it is written to.
func (c *leases) toProto(lease *devicev1alpha1.Lease) (*pb.Lease, error) {
	m := devicev1alpha1.LeaseToProto(lease)
	return m, c.namespace(m.Metadata)
}

func (c *leases) Create(ctx context.Context, lease *devicev1alpha1.Lease, opts metav1.CreateOptions) (*devicev1alpha1.Lease, error) {
	m, err := c.toProto(lease)
	if err != nil {
		return nil, err
	}
	return write(ctx, &c.resource, lease.Name, opts, wire.CreateOptions, func(ctx context.Context, o *pb.CreateOptions) (*pb.Lease, error) {
		return c.client.CreateLease(ctx, &pb.CreateLeaseRequest{Lease: m, Opts: o})
	})
}

func (c *leases) Update(ctx context.Context, lease *devicev1alpha1.Lease, opts metav1.UpdateOptions) (*devicev1alpha1.Lease, error) {
	m, err := c.toProto(lease)
	if err != nil {
		return nil, err
	}
	forUpdate(m.Metadata)
	return write(ctx, &c.resource, lease.Name, opts, wire.UpdateOptions, func(ctx context.Context, o *pb.UpdateOptions) (*pb.Lease, error) {
		return c.client.UpdateLease(ctx, &pb.UpdateLeaseRequest{Lease: m, Opts: o})
	})
}

func (c *leases) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return c.delete(ctx, name, opts, func(ctx context.Context, o *pb.DeleteOptions) error {
		_, err := c.client.DeleteLease(ctx, &pb.DeleteLeaseRequest{Name: name, Namespace: c.ns, Opts: o})
		return err
	})
}

func (c *leases) Get(ctx context.Context, name string, opts metav1.GetOptions) (*devicev1alpha1.Lease, error) {
	return c.get(ctx, name, opts, func(ctx context.Context, o *pb.GetOptions) (*pb.Lease, error) {
		out, err := c.client.GetLease(ctx, &pb.GetLeaseRequest{Name: name, Namespace: c.ns, Opts: o})
		return out.GetLease(), err
	})
}

func (c *leases) List(ctx context.Context, opts metav1.ListOptions) (*devicev1alpha1.LeaseList, error) {
	return list(ctx, &c.resource, opts, func(ctx context.Context, o *pb.ListOptions) (*pb.LeaseList, error) {
		out, err := c.client.ListLeases(ctx, &pb.ListLeasesRequest{Namespace: c.ns, Opts: o})
		return out.GetLeaseList(), err
	}, devicev1alpha1.LeaseListFromProto)
}

func (c *leases) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return watchStream(ctx, &c.resource, opts, func(ctx context.Context, o *pb.ListOptions, co ...grpc.CallOption) (grpc.ServerStreamingClient[pb.WatchLeasesResponse], error) {
		return c.client.WatchLeases(ctx, &pb.WatchLeasesRequest{Namespace: c.ns, Opts: o}, co...)
	})
}
