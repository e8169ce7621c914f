// Package v1alpha1 has the informers of the Device API's kinds: client-go's own
// SharedIndexInformer over a cache.ListWatch of the clientset, with WatchList semantics
// (a watch with sendInitialEvents, ended by the k8s.io/initial-events-end bookmark) left
// to client-go's default.
package v1alpha1

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions/internalinterfaces"
	listers "github.com/nvidia/device-api-server/clients/go/listers/device/v1alpha1"
)

// GPUInformer gives the shared informer of GPUs and a lister over its cache.
type GPUInformer interface {
	Informer() cache.SharedIndexInformer
	Lister() listers.GPULister
}

type gpuInformer struct {
	factory          internalinterfaces.SharedInformerFactory
	tweakListOptions internalinterfaces.TweakListOptionsFunc
	namespace        string
}

// NewGPUInformer makes an unshared GPU informer; prefer the factory's, which shares one
// watch among all its users.
func NewGPUInformer(client versioned.Interface, namespace string, resync time.Duration, indexers cache.Indexers) cache.SharedIndexInformer {
	return NewFilteredGPUInformer(client, namespace, resync, indexers, nil)
}

// NewFilteredGPUInformer is NewGPUInformer whose list and watch options tweak changes
// (a label selector, typically).
func NewFilteredGPUInformer(client versioned.Interface, namespace string, resync time.Duration,
	indexers cache.Indexers, tweak internalinterfaces.TweakListOptionsFunc) cache.SharedIndexInformer {
	gpus := client.DeviceV1alpha1().GPUs(namespace)
	opts := func(o metav1.ListOptions) metav1.ListOptions {
		if tweak != nil {
			tweak(&o)
		}
		return o
	}
	return cache.NewSharedIndexInformer(
		// The client says whether it supports WatchList semantics: the real clientset
		// does; the fake clientset (client-go's object tracker) says it does not.
		cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
				return gpus.List(context.Background(), opts(o))
			},
			WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
				return gpus.Watch(context.Background(), opts(o))
			},
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return gpus.List(ctx, opts(o))
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return gpus.Watch(ctx, opts(o))
			},
		}, client),
		&devicev1alpha1.GPU{},
		resync,
		indexers,
	)
}

func (f *gpuInformer) defaultInformer(client versioned.Interface, resync time.Duration) cache.SharedIndexInformer {
	return NewFilteredGPUInformer(client, f.namespace, resync,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, f.tweakListOptions)
}

func (f *gpuInformer) Informer() cache.SharedIndexInformer {
	return f.factory.InformerFor(&devicev1alpha1.GPU{}, f.defaultInformer)
}

func (f *gpuInformer) Lister() listers.GPULister {
	return listers.NewGPULister(f.Informer().GetIndexer())
}
