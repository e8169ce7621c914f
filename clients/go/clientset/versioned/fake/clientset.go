// Package fake is a clientset for consumers' unit tests, on client-go's testing machinery:
// an object tracker answers the calls, reactors (PrependReactor, PrependWatchReactor)
// inject results and errors, Actions() records what was called. Like client-go's own fake
// clientsets it applies no server semantics (no validation, no generation, no resource
// versions beyond the tracker's) and declines WatchList, so informers over it list and
// then watch.
//
//	cs := fake.NewSimpleClientset(&v1alpha1.GPU{ObjectMeta: metav1.ObjectMeta{Name: "gpu-0", Namespace: "default"}})
//	factory := externalversions.NewSharedInformerFactory(cs, 0)
package fake

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/testing"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	typed "github.com/nvidia/device-api-server/clients/go/clientset/versioned/typed/device/v1alpha1"
	typedfake "github.com/nvidia/device-api-server/clients/go/clientset/versioned/typed/device/v1alpha1/fake"
)

// Scheme knows the Device API's kinds; the tracker stores objects through it.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(devicev1alpha1.AddToScheme(Scheme))
}

var codecs = serializer.NewCodecFactory(Scheme)

// Clientset implements versioned.Interface on an object tracker.
type Clientset struct {
	testing.Fake
	tracker testing.ObjectTracker
}

var _ versioned.Interface = (*Clientset)(nil)

// NewSimpleClientset returns a clientset whose tracker holds objects.
func NewSimpleClientset(objects ...runtime.Object) *Clientset {
	o := testing.NewObjectTracker(Scheme, codecs.UniversalDecoder())
	for _, obj := range objects {
		if err := o.Add(obj); err != nil {
			panic(err)
		}
	}
	cs := &Clientset{tracker: o}
	cs.AddReactor("*", "*", testing.ObjectReaction(o))
	cs.AddWatchReactor("*", func(action testing.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := action.(testing.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := o.Watch(action.GetResource(), action.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		return true, w, nil
	})
	return cs
}

// Tracker is the object tracker behind the clientset.
func (c *Clientset) Tracker() testing.ObjectTracker { return c.tracker }

// IsWatchListSemanticsUnSupported tells client-go's reflector that the tracker cannot send
// initial events, as client-go's own fake clientsets do.
func (c *Clientset) IsWatchListSemanticsUnSupported() bool { return true }

// DeviceV1alpha1 returns the fake client of group device.nvidia.com, version v1alpha1.
func (c *Clientset) DeviceV1alpha1() typed.DeviceV1alpha1Interface {
	return &typedfake.FakeDeviceV1alpha1{Fake: &c.Fake}
}
