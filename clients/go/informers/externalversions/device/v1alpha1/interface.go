package v1alpha1

import "github.com/nvidia/device-api-server/clients/go/informers/externalversions/internalinterfaces"

// Interface gives the informer of each kind of device.nvidia.com/v1alpha1. A new kind
// adds its accessor here.
type Interface interface {
	GPUs() GPUInformer
}

type version struct {
	factory          internalinterfaces.SharedInformerFactory
	namespace        string
	tweakListOptions internalinterfaces.TweakListOptionsFunc
}

// New returns the version's informers, shared through factory.
func New(f internalinterfaces.SharedInformerFactory, namespace string, tweak internalinterfaces.TweakListOptionsFunc) Interface {
	return &version{factory: f, namespace: namespace, tweakListOptions: tweak}
}

func (v *version) GPUs() GPUInformer {
	return &gpuInformer{factory: v.factory, namespace: v.namespace, tweakListOptions: v.tweakListOptions}
}
