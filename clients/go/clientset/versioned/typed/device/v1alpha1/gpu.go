package v1alpha1

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/internal/wire"
	"github.com/nvidia/device-api-server/clients/go/pb"
)

// GPUsGetter returns the GPU client of a namespace.
type GPUsGetter interface {
	GPUs(namespace string) GPUInterface
}

// GPUInterface is the client of GPUs: the methods and signatures of client-go's generated
// clients (a subset of gentype.ClientWithList), so code and fakes written for those fit.
type GPUInterface interface {
	Create(ctx context.Context, gpu *devicev1alpha1.GPU, opts metav1.CreateOptions) (*devicev1alpha1.GPU, error)
	// Update changes spec, labels and annotations, never status (S4). A non-empty
	// resourceVersion is a precondition: IsConflict when stale (S5).
	Update(ctx context.Context, gpu *devicev1alpha1.GPU, opts metav1.UpdateOptions) (*devicev1alpha1.GPU, error)
	// UpdateStatus replaces status only; the server reads name, namespace,
	// resourceVersion and status.
	UpdateStatus(ctx context.Context, gpu *devicev1alpha1.GPU, opts metav1.UpdateOptions) (*devicev1alpha1.GPU, error)
	// Delete honours opts.Preconditions (uid, resourceVersion): IsConflict when they fail.
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*devicev1alpha1.GPU, error)
	List(ctx context.Context, opts metav1.ListOptions) (*devicev1alpha1.GPUList, error)
	// Watch streams changes; see package streamwatch for how it ends. It waits for the
	// connection to be (re-)established, so bound it with ctx.
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	// Patch applies data to the current GPU atomically on the server (PatchGpu, S31): no
	// resourceVersion and no retry needed, so providers that own different conditions
	// never lose each other's writes.
	//
	// pt is types.MergePatchType (RFC 7386: objects merge, null removes, arrays are
	// replaced whole) or types.StrategicMergePatchType (the same, except that
	// status.conditions merge by type and {"type": X, "$patch": "delete"} removes
	// condition X). Other types are refused before anything is sent, with
	// IsUnsupportedMediaType. data is JSON in the field names of this package's GPU, which
	// are the wire's: {"metadata":{"labels":{"zone":"a"}}} or
	// {"status":{"conditions":[{"type":"Ready","status":"False","reason":"XidError"}]}}.
	//
	// subresources: none patches labels, annotations and spec; "status" patches status
	// only. A patch that touches anything else, a field the GPU does not have, malformed
	// JSON or an invalid result is IsInvalid and changes nothing; a
	// metadata.resourceVersion in data is a precondition (IsConflict when stale); a
	// missing GPU is IsNotFound.
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions,
		subresources ...string) (*devicev1alpha1.GPU, error)
}

type gpus struct {
	client pb.GpuServiceClient
	resource[*pb.Gpu, *devicev1alpha1.GPU]
}

var gpuResource = devicev1alpha1.Resource("gpus")

// toProto is the wire form of a GPU in the namespace it is written to.
func (c *gpus) toProto(gpu *devicev1alpha1.GPU) (*pb.Gpu, error) {
	m := devicev1alpha1.GPUToProto(gpu)
	return m, c.namespace(m.Metadata)
}

func (c *gpus) Create(ctx context.Context, gpu *devicev1alpha1.GPU, opts metav1.CreateOptions) (*devicev1alpha1.GPU, error) {
	m, err := c.toProto(gpu)
	if err != nil {
		return nil, err
	}
	return write(ctx, &c.resource, gpu.Name, opts, wire.CreateOptions, func(ctx context.Context, o *pb.CreateOptions) (*pb.Gpu, error) {
		return c.client.CreateGpu(ctx, &pb.CreateGpuRequest{Gpu: m, Opts: o})
	})
}

func (c *gpus) Update(ctx context.Context, gpu *devicev1alpha1.GPU, opts metav1.UpdateOptions) (*devicev1alpha1.GPU, error) {
	m, err := c.toProto(gpu)
	if err != nil {
		return nil, err
	}
	forUpdate(m.Metadata)
	return write(ctx, &c.resource, gpu.Name, opts, wire.UpdateOptions, func(ctx context.Context, o *pb.UpdateOptions) (*pb.Gpu, error) {
		return c.client.UpdateGpu(ctx, &pb.UpdateGpuRequest{Gpu: m, Opts: o})
	})
}

func (c *gpus) UpdateStatus(ctx context.Context, gpu *devicev1alpha1.GPU, opts metav1.UpdateOptions) (*devicev1alpha1.GPU, error) {
	m, err := c.toProto(gpu)
	if err != nil {
		return nil, err
	}
	forUpdate(m.Metadata)
	return write(ctx, &c.resource, gpu.Name, opts, wire.UpdateOptions, func(ctx context.Context, o *pb.UpdateOptions) (*pb.Gpu, error) {
		return c.client.UpdateGpuStatus(ctx, &pb.UpdateGpuStatusRequest{Gpu: m, Opts: o})
	})
}

func (c *gpus) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions,
	subresources ...string) (*devicev1alpha1.GPU, error) {
	if err := wire.PatchType(pt); err != nil {
		return nil, err
	}
	return write(ctx, &c.resource, name, opts, wire.PatchOptions, func(ctx context.Context, o *pb.UpdateOptions) (*pb.Gpu, error) {
		// More than one subresource names a path the server does not have; it answers
		// INVALID_ARGUMENT, as for any subresource but "status".
		return c.client.PatchGpu(ctx, &pb.PatchGpuRequest{Name: name, Namespace: c.ns, PatchType: string(pt),
			Data: data, Opts: o, Subresource: strings.Join(subresources, "/")})
	})
}

func (c *gpus) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return c.delete(ctx, name, opts, func(ctx context.Context, o *pb.DeleteOptions) error {
		_, err := c.client.DeleteGpu(ctx, &pb.DeleteGpuRequest{Name: name, Namespace: c.ns, Opts: o})
		return err
	})
}

func (c *gpus) Get(ctx context.Context, name string, opts metav1.GetOptions) (*devicev1alpha1.GPU, error) {
	return c.get(ctx, name, opts, func(ctx context.Context, o *pb.GetOptions) (*pb.Gpu, error) {
		out, err := c.client.GetGpu(ctx, &pb.GetGpuRequest{Name: name, Namespace: c.ns, Opts: o})
		return out.GetGpu(), err
	})
}

func (c *gpus) List(ctx context.Context, opts metav1.ListOptions) (*devicev1alpha1.GPUList, error) {
	return list(ctx, &c.resource, opts, func(ctx context.Context, o *pb.ListOptions) (*pb.GpuList, error) {
		out, err := c.client.ListGpus(ctx, &pb.ListGpusRequest{Namespace: c.ns, Opts: o})
		return out.GetGpuList(), err
	}, devicev1alpha1.GPUListFromProto)
}

func (c *gpus) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return watchStream(ctx, &c.resource, opts, func(ctx context.Context, o *pb.ListOptions, co ...grpc.CallOption) (grpc.ServerStreamingClient[pb.WatchGpusResponse], error) {
		return c.client.WatchGpus(ctx, &pb.WatchGpusRequest{Namespace: c.ns, Opts: o}, co...)
	})
}
