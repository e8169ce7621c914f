// Package deviceplugin tests the example device plugin (package deviceplugin/plugin, run
// in-process) between the real device-api-server binary (internal/testserver) and a fake
// kubelet: registration, the device list, health changes on one ListAndWatch stream,
// Allocate, a kubelet restart, a GPU added later, a clean stop and two instances that
// overlap on one socket.
package deviceplugin

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/deviceplugin/plugin"
	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

const resourceName = "example.com/gpu"

// A health change reaches the kubelet within this (the plugin's contract is "promptly";
// the path is one watch event, an informer and a channel).
const healthLatency = 2 * time.Second

func uuid(i int) string { return fmt.Sprintf("GPU-%08x-1111-2222-3333-444444444444", i) }

// setReady writes gpu-i's Ready condition with UpdateStatus, creating the GPU first when
// create is set, as a provider does.
func setReady(t *testing.T, ctx context.Context, cs versioned.Interface, i int, status metav1.ConditionStatus, create bool) {
	t.Helper()
	if err := writeReady(ctx, cs, i, status, create); err != nil {
		t.Fatal(err)
	}
}

// writeReady is setReady returning its error; with create, a GPU that exists already (a
// retried registration) is updated.
func writeReady(ctx context.Context, cs versioned.Interface, i int, status metav1.ConditionStatus, create bool) error {
	gpus := cs.DeviceV1alpha1().GPUs("")
	name := fmt.Sprintf("gpu-%d", i)
	var g *devicev1alpha1.GPU
	var err error
	if create {
		g, err = gpus.Create(ctx, &devicev1alpha1.GPU{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       devicev1alpha1.GPUSpec{UUID: uuid(i)},
		}, metav1.CreateOptions{})
	}
	if !create || apierrors.IsAlreadyExists(err) {
		g, err = gpus.Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	g.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: status, Reason: "Probe" + string(status)}}
	_, err = gpus.UpdateStatus(ctx, g, metav1.UpdateOptions{})
	return err
}

// fakeKubelet serves the Registration service and hands over every request.
type fakeKubelet struct {
	pluginapi.UnimplementedRegistrationServer
	requests chan *pluginapi.RegisterRequest
}

func (k *fakeKubelet) Register(_ context.Context, req *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	k.requests <- req
	return &pluginapi.Empty{}, nil
}

func startKubelet(t *testing.T, socket string) *fakeKubelet {
	t.Helper()
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKubelet{requests: make(chan *pluginapi.RegisterRequest, 16)}
	gs := grpc.NewServer()
	pluginapi.RegisterRegistrationServer(gs, k)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return k
}

// awaitRegistration checks the next Register request names the plugin's resource and socket.
func (k *fakeKubelet) awaitRegistration(t *testing.T, endpoint string) {
	t.Helper()
	select {
	case req := <-k.requests:
		if req.Version != pluginapi.Version || req.Endpoint != endpoint || req.ResourceName != resourceName {
			t.Fatalf("Register(%+v), want version %s, endpoint %s, resource %s", req, pluginapi.Version, endpoint, resourceName)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the plugin did not register within 15 s")
	}
}

// node is a server, a fake kubelet and the plugin running in-process, in one directory.
type node struct {
	ctx           context.Context
	srv           *testserver.Server
	cs            versioned.Interface
	kubelet       *fakeKubelet
	kubeletSocket string
	pluginSocket  string
	stopPlugin    func() error // cancels Run and returns its result
}

// startNode starts the server with gpus GPUs Ready, then the kubelet and the plugin.
func startNode(t *testing.T, gpus int) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	srv := testserver.Start(t)
	cs := srv.Client()
	for i := range gpus {
		setReady(t, ctx, cs, i, metav1.ConditionTrue, true)
	}
	// Unix socket paths are short (108 bytes): t.TempDir() may be too deep.
	dir, err := os.MkdirTemp("", "dp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	kubeletSocket := filepath.Join(dir, "kubelet.sock")
	n := &node{ctx: ctx, srv: srv, cs: cs, kubelet: startKubelet(t, kubeletSocket),
		kubeletSocket: kubeletSocket, pluginSocket: filepath.Join(dir, "device-api-gpu.sock")}
	n.stopPlugin = n.runPlugin(t, "")
	return n
}

// runPlugin starts an instance of the plugin on the node's sockets, logging with prefix,
// and returns the function that cancels its Run and returns its result.
func (n *node) runPlugin(t *testing.T, prefix string) func() error {
	t.Helper()
	runCtx, stop := context.WithCancel(n.ctx)
	done := make(chan error, 1)
	go func() {
		done <- plugin.Run(runCtx, plugin.Options{Client: n.cs, ResourceName: resourceName,
			KubeletSocket: n.kubeletSocket, PluginSocket: n.pluginSocket,
			Logf:                func(f string, args ...any) { t.Logf(prefix+f, args...) },
			ServerCheckInterval: serverCheckInterval, UnknownAfter: unknownAfter})
	}()
	stopped := false
	var result error
	stopPlugin := func() error {
		if stopped {
			return result
		}
		stopped = true
		stop()
		select {
		case result = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("plugin.Run did not return within 10 s of its context ending")
		}
		return result
	}
	// Before the server stops (cleanups run last-in first-out), and before t ends: Run logs to t.
	t.Cleanup(func() { stopPlugin() })
	return stopPlugin
}

// listAndWatch dials the plugin and returns the responses of one ListAndWatch stream.
func (n *node) listAndWatch(t *testing.T) <-chan *pluginapi.ListAndWatchResponse {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+n.pluginSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := pluginapi.NewDevicePluginClient(conn).ListAndWatch(n.ctx, &pluginapi.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *pluginapi.ListAndWatchResponse, 64)
	go func() {
		defer close(out)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			out <- resp
		}
	}()
	return out
}

// await reads responses until one has exactly want (ID -> health), within d.
func await(t *testing.T, responses <-chan *pluginapi.ListAndWatchResponse, d time.Duration, want map[string]string) {
	t.Helper()
	timeout := time.After(d)
	var last *pluginapi.ListAndWatchResponse
	for {
		select {
		case resp, ok := <-responses:
			if !ok {
				t.Fatalf("ListAndWatch ended; waiting for %v, last %v", want, last)
			}
			last = resp
			got := map[string]string{}
			for _, d := range resp.Devices {
				got[d.ID] = d.Health
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
		case <-timeout:
			t.Fatalf("no device list %v within %v; last %v", want, d, last)
		}
	}
}

// The plugin registers, lists both GPUs Healthy, turns one Unhealthy and back on the same
// stream as its condition changes, allocates, and stops cleanly.
func TestDevicePluginFollowsGPUHealth(t *testing.T) {
	t.Parallel()
	n := startNode(t, 2)
	n.kubelet.awaitRegistration(t, filepath.Base(n.pluginSocket))

	lw := n.listAndWatch(t)
	await(t, lw, 5*time.Second, map[string]string{uuid(0): pluginapi.Healthy, uuid(1): pluginapi.Healthy})

	setReady(t, n.ctx, n.cs, 1, metav1.ConditionFalse, false)
	await(t, lw, healthLatency, map[string]string{uuid(0): pluginapi.Healthy, uuid(1): pluginapi.Unhealthy})

	setReady(t, n.ctx, n.cs, 1, metav1.ConditionTrue, false)
	await(t, lw, healthLatency, map[string]string{uuid(0): pluginapi.Healthy, uuid(1): pluginapi.Healthy})

	conn, err := grpc.NewClient("unix://"+n.pluginSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := pluginapi.NewDevicePluginClient(conn).Allocate(n.ctx, &pluginapi.AllocateRequest{
		ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{uuid(1), uuid(0)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if env := resp.ContainerResponses[0].Envs[plugin.VisibleDevicesEnv]; env != uuid(1)+","+uuid(0) {
		t.Errorf("%s=%q, want the allocated IDs comma-joined", plugin.VisibleDevicesEnv, env)
	}

	n.stopCleanly(t, n.stopPlugin, "the plugin")
	select {
	case _, ok := <-lw:
		if ok {
			t.Fatal("a device list after the plugin stopped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListAndWatch still open after the plugin stopped")
	}
}

// stopCleanly stops a plugin instance with stop and checks that its Run returned nil and
// removed its socket.
func (n *node) stopCleanly(t *testing.T, stop func() error, who string) {
	t.Helper()
	if err := stop(); err != nil {
		t.Fatalf("%s: Run returned %v on stop, want nil", who, err)
	}
	if _, err := os.Stat(n.pluginSocket); !os.IsNotExist(err) {
		t.Errorf("%s left its socket behind: %v", who, err)
	}
}

// A GPU created after the plugin started is advertised on the open stream; when the
// kubelet restarts (it deletes the plugins' sockets) the plugin serves and registers again.
func TestDevicePluginAddsGPUsAndSurvivesKubeletRestart(t *testing.T) {
	t.Parallel()
	n := startNode(t, 1)
	n.kubelet.awaitRegistration(t, filepath.Base(n.pluginSocket))
	lw := n.listAndWatch(t)
	await(t, lw, 5*time.Second, map[string]string{uuid(0): pluginapi.Healthy})

	setReady(t, n.ctx, n.cs, 1, metav1.ConditionFalse, true)
	await(t, lw, healthLatency, map[string]string{uuid(0): pluginapi.Healthy, uuid(1): pluginapi.Unhealthy})

	if err := os.Remove(n.pluginSocket); err != nil {
		t.Fatal(err)
	}
	n.kubelet.awaitRegistration(t, filepath.Base(n.pluginSocket))
	await(t, n.listAndWatch(t), 5*time.Second, map[string]string{uuid(0): pluginapi.Healthy, uuid(1): pluginapi.Unhealthy})
}

// unknownAfter and serverCheckInterval are the plugin's Options.UnknownAfter and
// Options.ServerCheckInterval in these tests.
const (
	unknownAfter        = time.Second
	serverCheckInterval = 100 * time.Millisecond
)

// A GPU cache that stops following the server is not trusted: with the server killed,
// every device turns Unhealthy within UnknownAfter (plus a check or two), not the Healthy
// the cache still holds; with the server back, each device has its own health again.
func TestDevicePluginReportsUnhealthyWhileTheServerIsGone(t *testing.T) {
	t.Parallel()
	n := startNode(t, 2)
	n.kubelet.awaitRegistration(t, filepath.Base(n.pluginSocket))
	lw := n.listAndWatch(t)
	await(t, lw, 5*time.Second, map[string]string{uuid(0): pluginapi.Healthy, uuid(1): pluginapi.Healthy})

	killed := time.Now()
	n.srv.Kill()
	await(t, lw, unknownAfter+3*time.Second, map[string]string{uuid(0): pluginapi.Unhealthy, uuid(1): pluginapi.Unhealthy})
	// A failure counts from the start of the check that saw it, and the check in flight
	// when the server died began before the kill: up to one check interval earlier.
	if since := time.Since(killed); since < unknownAfter-serverCheckInterval {
		t.Errorf("devices Unhealthy %v after the kill, before UnknownAfter (%v) less one check (%v): a brief outage should not flap them",
			since, unknownAfter, serverCheckInterval)
	}

	// Memory storage: the restarted server is empty until a provider registers the GPUs.
	n.srv.Restart()
	for i := 0; i < 2; i++ {
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			err := writeReady(n.ctx, n.cs, i, metav1.ConditionTrue, true)
			if err == nil {
				break
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("no create after the restart: %v", err)
			}
		}
	}
	await(t, lw, 60*time.Second, map[string]string{uuid(0): pluginapi.Healthy, uuid(1): pluginapi.Healthy})
}

// In a DaemonSet rollout the new pod's plugin can start before the old one has ended: it
// takes the socket path over and registers. The older instance, while it runs on and when
// it stops, must leave the newer one's socket, registration and stream alone: the kubelet
// would otherwise lose the GPUs until the newer instance noticed and registered again.
func TestAnOlderInstanceLeavesTheNewerOnesSocketAlone(t *testing.T) {
	t.Parallel()
	n, stopNewer := startOverlap(t)
	lw := n.listAndWatch(t)
	await(t, lw, 5*time.Second, map[string]string{uuid(0): pluginapi.Healthy})

	// Each instance checks its socket every second: the older one sees it replaced.
	n.undisturbed(t, lw, 1500*time.Millisecond, "while the older instance runs")
	if err := n.stopPlugin(); err != nil {
		t.Fatalf("the older instance's Run returned %v on stop, want nil", err)
	}
	n.undisturbed(t, lw, 3*time.Second, "after the older instance stopped")

	n.stopCleanly(t, stopNewer, "the newer instance")
}

// An older instance whose socket was taken over serves and registers again when the
// newer instance ends (its pod deleted in a rollback), so the node keeps a plugin.
func TestAnOlderInstanceServesAgainWhenTheNewerOneEnds(t *testing.T) {
	t.Parallel()
	n, stopNewer := startOverlap(t)
	n.undisturbed(t, n.listAndWatch(t), 1500*time.Millisecond, "while the older instance runs")
	if err := stopNewer(); err != nil {
		t.Fatalf("the newer instance's Run returned %v on stop, want nil", err)
	}
	n.kubelet.awaitRegistration(t, filepath.Base(n.pluginSocket))
	await(t, n.listAndWatch(t), 5*time.Second, map[string]string{uuid(0): pluginapi.Healthy})
}

// startOverlap starts a node with one GPU and, once its plugin has registered, a newer
// instance on the same sockets, which takes the socket over; it returns when the newer
// one has registered.
func startOverlap(t *testing.T) (n *node, stopNewer func() error) {
	t.Helper()
	n = startNode(t, 1)
	n.kubelet.awaitRegistration(t, filepath.Base(n.pluginSocket))
	stopNewer = n.runPlugin(t, "newer: ")
	n.kubelet.awaitRegistration(t, filepath.Base(n.pluginSocket))
	return n, stopNewer
}

// undisturbed checks for d that the plugin socket stays, nothing registers and the
// ListAndWatch stream lw stays open.
func (n *node) undisturbed(t *testing.T, lw <-chan *pluginapi.ListAndWatchResponse, d time.Duration, when string) {
	t.Helper()
	deadline := time.After(d)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case req := <-n.kubelet.requests:
			t.Fatalf("registered again %s: %+v", when, req)
		case _, ok := <-lw:
			if !ok {
				t.Fatalf("ListAndWatch ended %s", when)
			}
		case <-poll.C:
			if _, err := os.Stat(n.pluginSocket); err != nil {
				t.Fatalf("plugin socket %s: %v", when, err)
			}
		case <-deadline:
			return
		}
	}
}
