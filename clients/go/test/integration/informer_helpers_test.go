package integration

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/connection"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

// dial connects to target with a short reconnect back-off (tests cut connections on
// purpose) plus extra options; closed when the test ends.
func dial(t *testing.T, target string, extra ...grpc.DialOption) versioned.Interface {
	t.Helper()
	opts := append([]grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, MaxDelay: 500 * time.Millisecond},
		MinConnectTimeout: time.Second,
	})}, extra...)
	conn, err := connection.Dial(&connection.Config{Target: target}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return versioned.NewForConn(conn, nil)
}

// informerRun is one GPU informer from a shared informer factory, on a counting client.
type informerRun struct {
	informer cache.SharedIndexInformer
	calls    *calls
}

func startInformer(t *testing.T, cs versioned.Interface, options ...externalversions.SharedInformerOption) *informerRun {
	t.Helper()
	c := &calls{}
	factory := externalversions.NewSharedInformerFactoryWithOptions(countingClientset{cs, c}, 0, options...)
	informer := factory.Device().V1alpha1().GPUs().Informer()
	syncFactory(t, factory, informer)
	return &informerRun{informer: informer, calls: c}
}

// syncFactory starts factory (after the test asked it for its informers) and waits until
// informer has synced; the factory stops when the test ends.
func syncFactory(t *testing.T, factory externalversions.SharedInformerFactory, informer cache.SharedIndexInformer) {
	t.Helper()
	stop, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	factory.Start(stop.Done())
	syncCtx, syncCancel := context.WithTimeout(stop, 30*time.Second)
	defer syncCancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), informer.HasSynced) {
		t.Fatal("informer did not sync within 30 s")
	}
}

func (r *informerRun) String() string {
	c := r.calls
	return fmt.Sprintf("watch-lists %d, lists %d, exact lists %d, resumed watches %d, error events %d (429: %d, 410: %d)",
		c.watchLists.Load(), c.lists.Load(), c.exactLists.Load(), c.resumes.Load(), c.errorEvents.Load(),
		c.evictions.Load(), c.expirations.Load())
}

// converged waits until the informer's cache equals a fresh List of the server, object
// for object, and fails the test with the difference when it does not within 60 s.
func converged(t *testing.T, r *informerRun, direct versioned.Interface) {
	t.Helper()
	var diff string
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := direct.DeviceV1alpha1().GPUs("").List(context.Background(), metav1.ListOptions{})
		if err == nil {
			if diff = cacheDiff(r.informer.GetStore().List(), list); diff == "" {
				return
			}
		} else {
			diff = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("informer cache differs from the server's List after 60 s: %s (%s)", diff, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cacheDiff(cached []any, list *devicev1alpha1.GPUList) string {
	if len(cached) != len(list.Items) {
		return fmt.Sprintf("%d cached, %d listed (rv %s)", len(cached), len(list.Items), list.ResourceVersion)
	}
	byKey := map[string]*devicev1alpha1.GPU{}
	for _, o := range cached {
		g := o.(*devicev1alpha1.GPU)
		byKey[g.Namespace+"/"+g.Name] = g
	}
	for i := range list.Items {
		want := &list.Items[i]
		got := byKey[want.Namespace+"/"+want.Name]
		if got == nil {
			return "missing " + want.Name
		}
		if !equality.Semantic.DeepEqual(got, want) {
			return fmt.Sprintf("%s: cached rv %s, listed rv %s", want.Name, got.ResourceVersion, want.ResourceVersion)
		}
	}
	return ""
}

// createGPUs creates n GPUs named prefix-0..n-1 with conditions conditions each.
func createGPUs(t *testing.T, cs versioned.Interface, prefix string, n, conditions int) {
	t.Helper()
	parallel(t, n, 4, func(i int) error {
		g := newGPU(prefix+"-"+strconv.Itoa(i), i)
		g.Labels = map[string]string{"index": strconv.Itoa(i)}
		created, err := cs.DeviceV1alpha1().GPUs("").Create(context.Background(), g, metav1.CreateOptions{})
		if err != nil || conditions == 0 {
			return err
		}
		created.Status.Conditions = make([]metav1.Condition, conditions)
		for c := range created.Status.Conditions {
			created.Status.Conditions[c] = metav1.Condition{Type: "Check" + strconv.Itoa(c), Status: metav1.ConditionTrue,
				Reason: "Passed", Message: "check passed"}
		}
		_, err = cs.DeviceV1alpha1().GPUs("").UpdateStatus(context.Background(), created, metav1.UpdateOptions{})
		return err
	})
}

// writeStatuses makes n status writes spread over the named GPUs, each a real change.
func writeStatuses(t *testing.T, cs versioned.Interface, names []string, n int) {
	t.Helper()
	parallel(t, n, 4, func(i int) error {
		g := &devicev1alpha1.GPU{ObjectMeta: metav1.ObjectMeta{Name: names[i%len(names)]}}
		g.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, "Probed")}
		g.Status.Conditions[0].Message = "write " + strconv.Itoa(i)
		_, err := cs.DeviceV1alpha1().GPUs("").UpdateStatus(context.Background(), g, metav1.UpdateOptions{})
		return err
	})
}

// parallel runs fn(0..n-1) on workers goroutines; the first error fails the test.
func parallel(t *testing.T, n, workers int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					select {
					case errs <- fmt.Errorf("item %d: %w", i, err):
					default:
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func gpuNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + "-" + strconv.Itoa(i)
	}
	sort.Strings(out)
	return out
}

// settle writes a little and waits for the informer to follow, so its watch has been
// running with events before a test breaks it. (client-go's reflector treats a watch
// that ends within a second without any event as broken and relists.)
func settle(t *testing.T, r *informerRun, cs versioned.Interface, names []string) {
	t.Helper()
	writeStatuses(t, cs, names, 20)
	converged(t, r, cs)
	time.Sleep(1100 * time.Millisecond)
}
