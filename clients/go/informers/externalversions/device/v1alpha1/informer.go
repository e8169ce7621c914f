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

// kindClient is what an informer needs of a kind's typed client (L: the kind's list).
type kindClient[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// newInformer is client-go's SharedIndexInformer of the objects like example that kc
// lists and watches, with tweak applied to every list and watch.
func newInformer[L runtime.Object](client versioned.Interface, kc kindClient[L], example runtime.Object,
	resync time.Duration, indexers cache.Indexers, tweak internalinterfaces.TweakListOptionsFunc) cache.SharedIndexInformer {
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
				return kc.List(context.Background(), opts(o))
			},
			WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
				return kc.Watch(context.Background(), opts(o))
			},
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return kc.List(ctx, opts(o))
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return kc.Watch(ctx, opts(o))
			},
		}, client),
		example,
		resync,
		indexers,
	)
}

// filteredInformerFunc is a kind's NewFiltered...Informer.
type filteredInformerFunc func(client versioned.Interface, namespace string, resync time.Duration,
	indexers cache.Indexers, tweak internalinterfaces.TweakListOptionsFunc) cache.SharedIndexInformer

// shared is what every kind's informer takes from the factory.
type shared struct {
	factory          internalinterfaces.SharedInformerFactory
	tweakListOptions internalinterfaces.TweakListOptionsFunc
	namespace        string
}

// informer is the factory's one informer of example's kind, made by newFiltered with the
// factory's namespace and tweak and a namespace index.
func (s shared) informer(example runtime.Object, newFiltered filteredInformerFunc) cache.SharedIndexInformer {
	return s.factory.InformerFor(example, func(client versioned.Interface, resync time.Duration) cache.SharedIndexInformer {
		return newFiltered(client, s.namespace, resync,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, s.tweakListOptions)
	})
}

// KindInformer gives the shared informer of one kind and a lister (L) over its cache.
type KindInformer[L any] interface {
	Informer() cache.SharedIndexInformer
	Lister() L
}

// kindInformer is the factory's informer of one kind: example is an object of the kind,
// newFiltered makes its informer, newLister its lister.
type kindInformer[L any] struct {
	shared
	example     runtime.Object
	newFiltered filteredInformerFunc
	newLister   func(cache.Indexer) L
}

func (f *kindInformer[L]) Informer() cache.SharedIndexInformer {
	return f.informer(f.example, f.newFiltered)
}

func (f *kindInformer[L]) Lister() L {
	return f.newLister(f.Informer().GetIndexer())
}

// GPUInformer gives the shared informer of GPUs and a lister over its cache.
type GPUInformer = KindInformer[listers.GPULister]

// NewGPUInformer makes an unshared GPU informer; prefer the factory's, which shares one
// watch among all its users.
func NewGPUInformer(client versioned.Interface, namespace string, resync time.Duration, indexers cache.Indexers) cache.SharedIndexInformer {
	return NewFilteredGPUInformer(client, namespace, resync, indexers, nil)
}

// NewFilteredGPUInformer is NewGPUInformer whose list and watch options tweak changes
// (a label selector, typically).
func NewFilteredGPUInformer(client versioned.Interface, namespace string, resync time.Duration,
	indexers cache.Indexers, tweak internalinterfaces.TweakListOptionsFunc) cache.SharedIndexInformer {
	return newInformer[*devicev1alpha1.GPUList](client, client.DeviceV1alpha1().GPUs(namespace), &devicev1alpha1.GPU{},
		resync, indexers, tweak)
}

// LeaseInformer gives the shared informer of provider leases and a lister over its cache.
type LeaseInformer = KindInformer[listers.LeaseLister]

// NewFilteredLeaseInformer makes an unshared Lease informer (prefer the factory's, which
// shares one watch among all its users) whose list and watch options tweak changes; nil
// changes nothing.
func NewFilteredLeaseInformer(client versioned.Interface, namespace string, resync time.Duration,
	indexers cache.Indexers, tweak internalinterfaces.TweakListOptionsFunc) cache.SharedIndexInformer {
	return newInformer[*devicev1alpha1.LeaseList](client, client.DeviceV1alpha1().Leases(namespace), &devicev1alpha1.Lease{},
		resync, indexers, tweak)
}
