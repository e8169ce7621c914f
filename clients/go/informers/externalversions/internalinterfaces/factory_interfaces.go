// Package internalinterfaces holds the types the informer factory and the per-kind
// informers share (as in client-go's generated informers).
package internalinterfaces

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
)

// NewInformerFunc makes the informer of one kind.
type NewInformerFunc func(versioned.Interface, time.Duration) cache.SharedIndexInformer

// SharedInformerFactory is what a kind's informer needs of the factory.
type SharedInformerFactory interface {
	Start(stopCh <-chan struct{})
	InformerFor(obj runtime.Object, newFunc NewInformerFunc) cache.SharedIndexInformer
}

// TweakListOptionsFunc changes the options of an informer's lists and watches.
type TweakListOptionsFunc func(*metav1.ListOptions)
