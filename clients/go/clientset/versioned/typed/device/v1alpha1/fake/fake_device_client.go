// Package fake has the typed fake clients behind the fake clientset: client-go's
// gentype fakes, which turn each call into a testing.Action for the reactors.
package fake

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
	return newFakeClient[devicev1alpha1.GPU](c.Fake, namespace, "gpus", "GPU",
		func(l *devicev1alpha1.GPUList) *[]devicev1alpha1.GPU { return &l.Items })
}

// Leases returns the fake Lease client of namespace. Its Patch is the object tracker's,
// applied at once, without the real client's read-patch-write rounds.
func (c *FakeDeviceV1alpha1) Leases(namespace string) typed.LeaseInterface {
	return newFakeClient[devicev1alpha1.Lease](c.Fake, namespace, "leases", "Lease",
		func(l *devicev1alpha1.LeaseList) *[]devicev1alpha1.Lease { return &l.Items })
}

// object is what gentype's fakes need of a kind's object.
type object interface {
	runtime.Object
	metav1.Object
}

// newFakeClient is gentype's fake client of a kind whose objects are *O and whose lists
// are *L, with the items of a list at items(list).
func newFakeClient[O, L any, PO interface {
	*O
	object
}, PL interface {
	*L
	runtime.Object
	metav1.ListMetaAccessor
}](fake *testing.Fake, namespace, resource, kind string, items func(PL) *[]O) *gentype.FakeClientWithList[PO, PL] {
	return gentype.NewFakeClientWithList[PO, PL](
		fake,
		namespace,
		devicev1alpha1.SchemeGroupVersion.WithResource(resource),
		devicev1alpha1.SchemeGroupVersion.WithKind(kind),
		func() PO { return PO(new(O)) },
		func() PL { return PL(new(L)) },
		func(dst, src PL) { *listMeta(dst) = *listMeta(src) },
		func(list PL) []PO {
			s := *items(list)
			out := make([]PO, len(s))
			for i := range s {
				out[i] = &s[i]
			}
			return out
		},
		func(list PL, objs []PO) {
			s := make([]O, len(objs))
			for i, o := range objs {
				s[i] = *o
			}
			*items(list) = s
		},
	)
}

// listMeta is a list's ListMeta: metav1.ListMeta's GetListMeta answers itself.
func listMeta(l metav1.ListMetaAccessor) *metav1.ListMeta {
	return l.GetListMeta().(*metav1.ListMeta)
}
