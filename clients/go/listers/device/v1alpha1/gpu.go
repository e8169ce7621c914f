// Package v1alpha1 has the listers of the Device API's kinds: reads answered from an
// informer's cache (k8s.io/client-go/listers generics), in the shape of client-go's
// generated listers. Returned objects belong to the cache: never modify them (DeepCopy
// first).
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

// NamespaceLister reads the objects of one kind in one namespace.
type NamespaceLister[T runtime.Object] interface {
	// List lists the objects whose labels match selector.
	List(selector labels.Selector) (ret []T, err error)
	// Get returns the object named name, or an IsNotFound error.
	Get(name string) (T, error)
}

// kindLister is the lister of one kind in every namespace, over an informer's indexer;
// each kind's lister adds its namespace accessor (GPUs, Leases).
type kindLister[T runtime.Object] struct {
	listers.ResourceIndexer[T]
}

func newKindLister[T runtime.Object](indexer cache.Indexer, resource string) kindLister[T] {
	return kindLister[T]{listers.New[T](indexer, devicev1alpha1.Resource(resource))}
}

func (s kindLister[T]) namespace(namespace string) NamespaceLister[T] {
	return listers.NewNamespaced(s.ResourceIndexer, namespace)
}

// GPULister lists GPUs of every namespace, or of one with GPUs(namespace).
type GPULister interface {
	// List lists all GPUs in the indexer whose labels match selector.
	List(selector labels.Selector) (ret []*devicev1alpha1.GPU, err error)
	// GPUs returns a lister for the GPUs of one namespace.
	GPUs(namespace string) GPUNamespaceLister
}

// GPUNamespaceLister reads the GPUs of one namespace.
type GPUNamespaceLister = NamespaceLister[*devicev1alpha1.GPU]

type gpuLister struct {
	kindLister[*devicev1alpha1.GPU]
}

// NewGPULister returns a lister over an informer's indexer.
func NewGPULister(indexer cache.Indexer) GPULister {
	return gpuLister{newKindLister[*devicev1alpha1.GPU](indexer, "gpu")}
}

func (s gpuLister) GPUs(namespace string) GPUNamespaceLister { return s.namespace(namespace) }
