package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned/fake"
	"github.com/nvidia/device-api-server/clients/go/deviceplugin/health"
	"github.com/nvidia/device-api-server/clients/go/freshness"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

// A server that accepts calls but does not answer them (stopped, deadlocked, starved)
// makes each check last as long as the client's call timeout (10 s by default). The
// devices must still turn Unhealthy UnknownAfter after the server stopped answering, not
// after two such timeouts.
func TestAServerThatDoesNotAnswerMakesDevicesUnhealthyWithinUnknownAfter(t *testing.T) {
	const callTimeout = 3 * time.Second // the client's default call timeout, scaled down
	informer := externalversions.NewSharedInformerFactory(fake.NewSimpleClientset(), 0).Device().V1alpha1().GPUs().Informer()
	tracker, err := health.NewTracker(informer, []health.Device{{ID: "GPU-0"}})
	if err != nil {
		t.Fatal(err)
	}
	checker := freshness.NewFuncs(func(ctx context.Context) (string, error) {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(callTimeout):
			return "", errors.New("deadline exceeded")
		}
	}, func() string { return "1" })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	o := Options{ServerCheckInterval: 50 * time.Millisecond, UnknownAfter: 300 * time.Millisecond, Logf: t.Logf}
	start := time.Now()
	go func() {
		defer close(done)
		checkServer(ctx, checker, tracker, o)
	}()
	for {
		if snap := tracker.Snapshot(); strings.HasPrefix(snap[0].Reason, "health unknown") {
			if took := time.Since(start); took > o.UnknownAfter+time.Second {
				t.Fatalf("devices Unhealthy only after %v (UnknownAfter %v)", took, o.UnknownAfter)
			}
			return
		}
		if time.Since(start) > 2*callTimeout+time.Second {
			t.Fatalf("devices never Unhealthy: %+v", tracker.Snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// When Run cannot serve (here: its socket's directory does not exist, so listening fails)
// it returns the error while ctx is still live, so the plugin's command can exit non-zero;
// the informers it started must not keep it waiting for ctx.
func TestRunReturnsTheErrorWhenItCannotServe(t *testing.T) {
	dir := t.TempDir()
	o := Options{
		Client:        fake.NewSimpleClientset(),
		PluginSocket:  filepath.Join(dir, "missing", "plugin.sock"),
		KubeletSocket: filepath.Join(dir, "kubelet.sock"),
		Logf:          t.Logf,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, o) }()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Run returned nil although it could not listen on its socket")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of failing to listen on its socket")
	}
}

// A ListAndWatch client that stops reading (a kubelet that hangs) while health keeps
// changing fills the stream's flow-control window, and Send then blocks until the stream
// ends. Stopping must not wait for that: the plugin stops within drainTimeout.
func TestStoppingDoesNotWaitForAListAndWatchThatIsNotRead(t *testing.T) {
	// Each device list is about 100 KB, more than a stream's window (64 KB here).
	const gpus = 2000
	var objs []runtime.Object
	for i := range gpus {
		objs = append(objs, &devicev1alpha1.GPU{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gpu-%d", i)},
			Spec:       devicev1alpha1.GPUSpec{UUID: fmt.Sprintf("GPU-%08x-1111-2222-3333-444444444444", i)},
		})
	}
	factory := externalversions.NewSharedInformerFactory(fake.NewSimpleClientset(objs...), 0)
	informer := factory.Device().V1alpha1().GPUs().Informer()
	devices := make([]health.Device, gpus)
	for i := range devices {
		devices[i].ID = fmt.Sprintf("GPU-%08x-1111-2222-3333-444444444444", i)
	}
	tracker, err := health.NewTracker(informer, devices)
	if err != nil {
		t.Fatal(err)
	}
	informerStop := make(chan struct{})
	defer factory.Shutdown()
	defer close(informerStop)
	factory.Start(informerStop)
	if !cache.WaitForCacheSync(informerStop, tracker.HasSynced) {
		t.Fatal("the tracker did not sync")
	}

	// Unix socket paths are short (108 bytes): t.TempDir() may be too deep.
	dir, err := os.MkdirTemp("", "dp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// No kubelet: registration keeps retrying, which does not matter here.
	o := Options{PluginSocket: filepath.Join(dir, "plugin.sock"), KubeletSocket: filepath.Join(dir, "kubelet.sock"), Logf: t.Logf}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := newServer(tracker, ctx.Done(), func(string, ...any) {}) // 2000 lines a change
	go srv.follow(ctx)
	served := make(chan error, 1)
	go func() { served <- serve(ctx, srv, o) }()

	// A fixed window (it disables the window's growth) that the client never reopens.
	conn, err := grpc.NewClient("unix://"+o.PluginSocket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		_, err := pluginapi.NewDevicePluginClient(conn).ListAndWatch(context.Background(), &pluginapi.Empty{})
		if err == nil {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("ListAndWatch: %v", err)
		}
	}
	for i := range 30 {
		if i%2 == 0 {
			tracker.SetServerError(errors.New("server gone"))
		} else {
			tracker.SetServerError(nil)
		}
		time.Sleep(20 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve returned %v, want nil", err)
		}
	case <-time.After(drainTimeout + 2*time.Second):
		// Ending the connection unblocks Send, so serve ends before the test (it logs to t).
		conn.Close()
		<-served
		t.Fatalf("serve did not return within %v of its context ending", drainTimeout+2*time.Second)
	}
}
