package v1alpha1

import (
	"context"
	"time"

	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/internal/apierrs"
	"github.com/nvidia/device-api-server/clients/go/internal/streamwatch"
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
}

type gpus struct {
	client  pb.GpuServiceClient
	ns      string
	timeout time.Duration
}

var gpuResource = devicev1alpha1.Resource("gpus")

// objectNamespace is the namespace of a single-object call: the object's own, else the
// client's (the server defaults an empty one to "default").
func (c *gpus) objectNamespace(gpu *devicev1alpha1.GPU) *pb.Gpu {
	m := devicev1alpha1.GPUToProto(gpu)
	if m.Metadata.Namespace == "" {
		m.Metadata.Namespace = c.ns
	}
	return m
}

func (c *gpus) Create(ctx context.Context, gpu *devicev1alpha1.GPU, opts metav1.CreateOptions) (*devicev1alpha1.GPU, error) {
	o, err := wire.CreateOptions(opts)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, gpu.Name, func(ctx context.Context) (*pb.Gpu, error) {
		return c.client.CreateGpu(ctx, &pb.CreateGpuRequest{Gpu: c.objectNamespace(gpu), Opts: o})
	})
}

func (c *gpus) Update(ctx context.Context, gpu *devicev1alpha1.GPU, opts metav1.UpdateOptions) (*devicev1alpha1.GPU, error) {
	o, err := wire.UpdateOptions(opts)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, gpu.Name, func(ctx context.Context) (*pb.Gpu, error) {
		return c.client.UpdateGpu(ctx, &pb.UpdateGpuRequest{Gpu: c.objectNamespace(gpu), Opts: o})
	})
}

func (c *gpus) UpdateStatus(ctx context.Context, gpu *devicev1alpha1.GPU, opts metav1.UpdateOptions) (*devicev1alpha1.GPU, error) {
	o, err := wire.UpdateOptions(opts)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, gpu.Name, func(ctx context.Context) (*pb.Gpu, error) {
		return c.client.UpdateGpuStatus(ctx, &pb.UpdateGpuStatusRequest{Gpu: c.objectNamespace(gpu), Opts: o})
	})
}

// write runs one unary call that answers the object, under the default deadline.
func (c *gpus) write(ctx context.Context, name string, call func(context.Context) (*pb.Gpu, error)) (*devicev1alpha1.GPU, error) {
	ctx, cancel := unary(ctx, c.timeout)
	defer cancel()
	out, err := call(ctx)
	if err != nil {
		return nil, apierrs.From(err, gpuResource, name)
	}
	return devicev1alpha1.GPUFromProto(out), nil
}

func (c *gpus) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	o, err := wire.DeleteOptions(opts)
	if err != nil {
		return err
	}
	ctx, cancel := unary(ctx, c.timeout)
	defer cancel()
	_, err = c.client.DeleteGpu(ctx, &pb.DeleteGpuRequest{Name: name, Namespace: c.ns, Opts: o})
	return apierrs.From(err, gpuResource, name)
}

func (c *gpus) Get(ctx context.Context, name string, opts metav1.GetOptions) (*devicev1alpha1.GPU, error) {
	ctx, cancel := unary(ctx, c.timeout)
	defer cancel()
	out, err := c.client.GetGpu(ctx, &pb.GetGpuRequest{Name: name, Namespace: c.ns, Opts: wire.GetOptions(opts)})
	if err != nil {
		return nil, apierrs.From(err, gpuResource, name)
	}
	return devicev1alpha1.GPUFromProto(out.GetGpu()), nil
}

func (c *gpus) List(ctx context.Context, opts metav1.ListOptions) (*devicev1alpha1.GPUList, error) {
	o, err := wire.ListOptions(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := unary(ctx, c.timeout)
	defer cancel()
	out, err := c.client.ListGpus(ctx, &pb.ListGpusRequest{Namespace: c.ns, Opts: o})
	if err != nil {
		return nil, apierrs.From(err, gpuResource, "")
	}
	return devicev1alpha1.GPUListFromProto(out.GetGpuList()), nil
}

func (c *gpus) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	o, err := wire.WatchOptions(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	open := func() (func() (*pb.WatchGpusResponse, error), error) {
		stream, err := c.client.WatchGpus(ctx, &pb.WatchGpusRequest{Namespace: c.ns, Opts: o}, grpc.WaitForReady(true))
		if err != nil {
			return nil, err
		}
		return stream.Recv, nil
	}
	recv, err := open()
	if err != nil {
		cancel()
		return nil, apierrs.From(err, gpuResource, "")
	}
	return streamwatch.New(recv, open, func(m *pb.Gpu) runtime.Object { return devicev1alpha1.GPUFromProto(m) },
		cancel, gpuResource), nil
}
