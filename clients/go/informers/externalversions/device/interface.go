// Package device groups the informers of the Device API group's versions.
package device

import (
	v1alpha1 "github.com/nvidia/device-api-server/clients/go/informers/externalversions/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions/internalinterfaces"
)

// Interface gives each version of group device.nvidia.com.
type Interface interface {
	V1alpha1() v1alpha1.Interface
}

type group struct {
	factory          internalinterfaces.SharedInformerFactory
	namespace        string
	tweakListOptions internalinterfaces.TweakListOptionsFunc
}

// New returns the group's informers, shared through f.
func New(f internalinterfaces.SharedInformerFactory, namespace string, tweak internalinterfaces.TweakListOptionsFunc) Interface {
	return &group{factory: f, namespace: namespace, tweakListOptions: tweak}
}

func (g *group) V1alpha1() v1alpha1.Interface {
	return v1alpha1.New(g.factory, g.namespace, g.tweakListOptions)
}
