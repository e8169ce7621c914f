// Package externalversions is the SharedInformerFactory of the Device API, in the shape of
// client-go's generated factories: factory.Device().V1alpha1().GPUs() gives client-go's
// own SharedIndexInformer (shared by every caller of the same factory) and a lister.
//
//	factory := externalversions.NewSharedInformerFactory(clientset, 0)
//	gpus := factory.Device().V1alpha1().GPUs()
//	gpus.Informer().AddEventHandler(handler)
//	factory.Start(ctx.Done())
//	factory.WaitForCacheSync(ctx.Done())
//	gpu, err := gpus.Lister().GPUs("default").Get("gpu-0")
package externalversions

import (
	"reflect"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions/device"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions/internalinterfaces"
)

// SharedInformerFactory makes and runs the informers of every kind of the Device API.
type SharedInformerFactory interface {
	internalinterfaces.SharedInformerFactory
	// Start runs every informer requested so far that is not running yet; it returns at
	// once. Informers stop when stopCh closes.
	Start(stopCh <-chan struct{})
	// WaitForCacheSync waits until every started informer's cache has synced (or stopCh
	// closes) and says which did.
	WaitForCacheSync(stopCh <-chan struct{}) map[reflect.Type]bool
	// Shutdown waits for the informers started so far to stop (close their stopCh first).
	// Start does nothing afterwards.
	Shutdown()
	// InformerFor returns the shared informer of obj's type, made by newFunc once.
	InformerFor(obj runtime.Object, newFunc internalinterfaces.NewInformerFunc) cache.SharedIndexInformer

	Device() device.Interface
}

// SharedInformerOption configures a factory.
type SharedInformerOption func(*sharedInformerFactory)

// WithNamespace limits the factory's informers to one namespace.
func WithNamespace(namespace string) SharedInformerOption {
	return func(f *sharedInformerFactory) { f.namespace = namespace }
}

// WithTweakListOptions changes every list and watch of the factory's informers.
func WithTweakListOptions(tweak internalinterfaces.TweakListOptionsFunc) SharedInformerOption {
	return func(f *sharedInformerFactory) { f.tweakListOptions = tweak }
}

// WithCustomResyncConfig sets the resync period of some kinds.
func WithCustomResyncConfig(resync map[metav1.Object]time.Duration) SharedInformerOption {
	return func(f *sharedInformerFactory) {
		for obj, d := range resync {
			f.customResync[reflect.TypeOf(obj)] = d
		}
	}
}

// WithTransform sets a transform applied to every object before it enters a cache.
func WithTransform(transform cache.TransformFunc) SharedInformerOption {
	return func(f *sharedInformerFactory) { f.transform = transform }
}

type sharedInformerFactory struct {
	client           versioned.Interface
	namespace        string
	tweakListOptions internalinterfaces.TweakListOptionsFunc
	defaultResync    time.Duration
	customResync     map[reflect.Type]time.Duration
	transform        cache.TransformFunc

	lock             sync.Mutex
	informers        map[reflect.Type]cache.SharedIndexInformer
	startedInformers map[reflect.Type]bool
	wg               sync.WaitGroup
	shuttingDown     bool
}

// NewSharedInformerFactory returns a factory for all namespaces; defaultResync 0 means no
// periodic resync.
func NewSharedInformerFactory(client versioned.Interface, defaultResync time.Duration) SharedInformerFactory {
	return NewSharedInformerFactoryWithOptions(client, defaultResync)
}

// NewSharedInformerFactoryWithOptions returns a factory configured by options.
func NewSharedInformerFactoryWithOptions(client versioned.Interface, defaultResync time.Duration, options ...SharedInformerOption) SharedInformerFactory {
	f := &sharedInformerFactory{
		client:           client,
		namespace:        metav1.NamespaceAll,
		defaultResync:    defaultResync,
		customResync:     map[reflect.Type]time.Duration{},
		informers:        map[reflect.Type]cache.SharedIndexInformer{},
		startedInformers: map[reflect.Type]bool{},
	}
	for _, opt := range options {
		opt(f)
	}
	return f
}

func (f *sharedInformerFactory) Start(stopCh <-chan struct{}) {
	f.lock.Lock()
	defer f.lock.Unlock()
	if f.shuttingDown {
		return
	}
	for t, informer := range f.informers {
		if f.startedInformers[t] {
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			informer.Run(stopCh)
		}()
		f.startedInformers[t] = true
	}
}

func (f *sharedInformerFactory) Shutdown() {
	f.lock.Lock()
	f.shuttingDown = true
	f.lock.Unlock()
	f.wg.Wait()
}

func (f *sharedInformerFactory) WaitForCacheSync(stopCh <-chan struct{}) map[reflect.Type]bool {
	informers := func() map[reflect.Type]cache.SharedIndexInformer {
		f.lock.Lock()
		defer f.lock.Unlock()
		out := map[reflect.Type]cache.SharedIndexInformer{}
		for t, informer := range f.informers {
			if f.startedInformers[t] {
				out[t] = informer
			}
		}
		return out
	}()
	res := map[reflect.Type]bool{}
	for t, informer := range informers {
		res[t] = cache.WaitForCacheSync(stopCh, informer.HasSynced)
	}
	return res
}

func (f *sharedInformerFactory) InformerFor(obj runtime.Object, newFunc internalinterfaces.NewInformerFunc) cache.SharedIndexInformer {
	f.lock.Lock()
	defer f.lock.Unlock()
	t := reflect.TypeOf(obj)
	if informer, ok := f.informers[t]; ok {
		return informer
	}
	resync, ok := f.customResync[t]
	if !ok {
		resync = f.defaultResync
	}
	informer := newFunc(f.client, resync)
	if f.transform != nil {
		_ = informer.SetTransform(f.transform)
	}
	f.informers[t] = informer
	return informer
}

func (f *sharedInformerFactory) Device() device.Interface {
	return device.New(f, f.namespace, f.tweakListOptions)
}
