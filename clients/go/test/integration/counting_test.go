package integration

import (
	"context"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	typed "github.com/nvidia/device-api-server/clients/go/clientset/versioned/typed/device/v1alpha1"
)

// calls counts what an informer asks of the server, to tell a re-watch from a relist.
type calls struct {
	lists       atomic.Int64 // plain lists (the reflector's fallback relist)
	exactLists  atomic.Int64 // the consistency detector's exact lists
	watchLists  atomic.Int64 // watches with sendInitialEvents: the informer's (re)lists
	resumes     atomic.Int64 // watches from a revision: re-watches without relist
	errorEvents atomic.Int64 // ERROR events delivered to the reflector
	evictions   atomic.Int64 // of which 429 TooManyRequests (slow watcher, S16)
	expirations atomic.Int64 // of which 410 Expired
}

// countingClientset wraps the real clientset; it implements only versioned.Interface, so
// the informer sees a client that supports WatchList, as with the real one.
type countingClientset struct {
	versioned.Interface
	c *calls
}

func (cs countingClientset) DeviceV1alpha1() typed.DeviceV1alpha1Interface {
	return countingGroup{cs.Interface.DeviceV1alpha1(), cs.c}
}

type countingGroup struct {
	typed.DeviceV1alpha1Interface
	c *calls
}

func (g countingGroup) GPUs(ns string) typed.GPUInterface {
	return countingGPUs{g.DeviceV1alpha1Interface.GPUs(ns), g.c}
}

type countingGPUs struct {
	typed.GPUInterface
	c *calls
}

func (g countingGPUs) List(ctx context.Context, o metav1.ListOptions) (*devicev1alpha1.GPUList, error) {
	if o.ResourceVersionMatch == metav1.ResourceVersionMatchExact {
		g.c.exactLists.Add(1)
	} else {
		g.c.lists.Add(1)
	}
	return g.GPUInterface.List(ctx, o)
}

func (g countingGPUs) Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	if o.SendInitialEvents != nil && *o.SendInitialEvents {
		g.c.watchLists.Add(1)
	} else {
		g.c.resumes.Add(1)
	}
	w, err := g.GPUInterface.Watch(ctx, o)
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
		if ev.Type == watch.Error {
			g.c.errorEvents.Add(1)
			if st, ok := ev.Object.(*metav1.Status); ok {
				switch st.Code {
				case 429:
					g.c.evictions.Add(1)
				case 410:
					g.c.expirations.Add(1)
				}
			}
		}
		return ev, true
	}), nil
}
