package v1alpha1

import (
	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions/internalinterfaces"
	listers "github.com/nvidia/device-api-server/clients/go/listers/device/v1alpha1"
)

// Interface gives the informer of each kind of device.nvidia.com/v1alpha1. A new kind
// adds its accessor here.
type Interface interface {
	GPUs() GPUInformer
	Leases() LeaseInformer
}

type version struct {
	shared
}

// New returns the version's informers, shared through f.
func New(f internalinterfaces.SharedInformerFactory, namespace string, tweak internalinterfaces.TweakListOptionsFunc) Interface {
	return &version{shared{factory: f, namespace: namespace, tweakListOptions: tweak}}
}

func (v *version) GPUs() GPUInformer {
	return &kindInformer[listers.GPULister]{v.shared, &devicev1alpha1.GPU{}, NewFilteredGPUInformer, listers.NewGPULister}
}

func (v *version) Leases() LeaseInformer {
	return &kindInformer[listers.LeaseLister]{v.shared, &devicev1alpha1.Lease{}, NewFilteredLeaseInformer, listers.NewLeaseLister}
}
