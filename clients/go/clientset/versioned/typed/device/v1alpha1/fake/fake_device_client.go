// Package fake has the typed fake clients behind the fake clientset: client-go's
// gentype fakes, which turn each call into a testing.Action for the reactors.
package fake

import (
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/testing"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	typed "github.com/nvidia/device-api-server/clients/go/clientset/versioned/typed/device/v1alpha1"
)

// FakeDeviceV1alpha1 is the fake of typed.DeviceV1alpha1Interface.
type FakeDeviceV1alpha1 struct {
	*testing.Fake
}

// GPUs returns the fake GPU client of namespace.
func (c *FakeDeviceV1alpha1) GPUs(namespace string) typed.GPUInterface {
	return gentype.NewFakeClientWithList[*devicev1alpha1.GPU, *devicev1alpha1.GPUList](
		c.Fake,
		namespace,
		devicev1alpha1.SchemeGroupVersion.WithResource("gpus"),
		devicev1alpha1.SchemeGroupVersion.WithKind("GPU"),
		func() *devicev1alpha1.GPU { return &devicev1alpha1.GPU{} },
		func() *devicev1alpha1.GPUList { return &devicev1alpha1.GPUList{} },
		func(dst, src *devicev1alpha1.GPUList) { dst.ListMeta = src.ListMeta },
		func(list *devicev1alpha1.GPUList) []*devicev1alpha1.GPU { return gentype.ToPointerSlice(list.Items) },
		func(list *devicev1alpha1.GPUList, items []*devicev1alpha1.GPU) {
			list.Items = gentype.FromPointerSlice(items)
		},
	)
}
