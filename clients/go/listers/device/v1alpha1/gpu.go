// Package v1alpha1 has the listers of the Device API's kinds: reads answered from an
// informer's cache (k8s.io/client-go/listers generics), in the shape of client-go's
// generated listers. Returned objects belong to the cache: never modify them (DeepCopy
// first).
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

// GPULister lists GPUs of every namespace, or of one with GPUs(namespace).
type GPULister interface {
	// List lists all GPUs in the indexer whose labels match selector.
	List(selector labels.Selector) (ret []*devicev1alpha1.GPU, err error)
	// GPUs returns a lister for the GPUs of one namespace.
	GPUs(namespace string) GPUNamespaceLister
}

// GPUNamespaceLister reads the GPUs of one namespace.
type GPUNamespaceLister interface {
	List(selector labels.Selector) (ret []*devicev1alpha1.GPU, err error)
	// Get returns the GPU named name, or an IsNotFound error.
	Get(name string) (*devicev1alpha1.GPU, error)
}

type gpuLister struct {
	listers.ResourceIndexer[*devicev1alpha1.GPU]
}

// NewGPULister returns a lister over an informer's indexer.
func NewGPULister(indexer cache.Indexer) GPULister {
	return &gpuLister{listers.New[*devicev1alpha1.GPU](indexer, devicev1alpha1.Resource("gpu"))}
}

func (s *gpuLister) GPUs(namespace string) GPUNamespaceLister {
	return gpuNamespaceLister{listers.NewNamespaced[*devicev1alpha1.GPU](s.ResourceIndexer, namespace)}
}

type gpuNamespaceLister struct {
	listers.ResourceIndexer[*devicev1alpha1.GPU]
}
