// Package plugin is a Kubernetes device plugin (the kubelet's deviceplugin/v1beta1 API)
// whose devices are the GPUs of the Device API and whose health is theirs, as package
// health computes it. examples/device-plugin is its command.
//
// The devices are the full GPUs the Device API lists (device ID = spec.uuid), growing as
// GPUs are added; a GPU once advertised stays advertised, and Unhealthy while its object
// is missing, until the plugin restarts. MIG devices are not advertised.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/deviceplugin/health"
	"github.com/nvidia/device-api-server/clients/go/freshness"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

// Defaults of Options.
const (
	DefaultResourceName  = "nvidia.com/gpu"
	DefaultKubeletSocket = pluginapi.KubeletSocket
	DefaultPluginSocket  = pluginapi.DevicePluginPath + "device-api-gpu.sock"
	// DefaultServerCheckInterval and DefaultUnknownAfter: see Options.
	DefaultServerCheckInterval = time.Second
	DefaultUnknownAfter        = 5 * time.Second
)

// Options configure Run. Zero values take the defaults.
type Options struct {
	// Client reaches the Device API. Required.
	Client versioned.Interface
	// ResourceName is the extended resource the devices are advertised as.
	ResourceName string
	// KubeletSocket is the kubelet's Registration service.
	KubeletSocket string
	// PluginSocket is where the plugin serves. The kubelet dials its base name in the
	// directory of its own socket, so both must be in the same directory.
	PluginSocket string
	// Logf logs what the plugin does (default log.Printf).
	Logf func(format string, args ...any)
	// ServerCheckInterval is how often the plugin checks that its GPU cache follows the
	// Device API server (package freshness); default DefaultServerCheckInterval.
	ServerCheckInterval time.Duration
	// UnknownAfter is how long the cache may fail that check before every device is
	// reported Unhealthy (a server restart takes seconds); a check the server does not
	// answer within it fails. Default DefaultUnknownAfter.
	UnknownAfter time.Duration
}

func (o *Options) setDefaults() error {
	if o.Client == nil {
		return errors.New("plugin: Options.Client is required")
	}
	if o.ResourceName == "" {
		o.ResourceName = DefaultResourceName
	}
	if o.KubeletSocket == "" {
		o.KubeletSocket = DefaultKubeletSocket
	}
	if o.PluginSocket == "" {
		o.PluginSocket = DefaultPluginSocket
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	if o.ServerCheckInterval <= 0 {
		o.ServerCheckInterval = DefaultServerCheckInterval
	}
	if o.UnknownAfter <= 0 {
		o.UnknownAfter = DefaultUnknownAfter
	}
	var err error
	if o.KubeletSocket, err = filepath.Abs(o.KubeletSocket); err != nil {
		return err
	}
	o.PluginSocket, err = filepath.Abs(o.PluginSocket)
	return err
}

// Run serves the plugin until ctx ends, then stops serving (calls in flight get up to
// 3 s to end), removes its socket (if the path is still its own socket) and returns nil;
// when it cannot serve (listening on PluginSocket fails) it returns the error at once. It
// waits for the Device API's GPUs to be listed (however long the server takes to come
// up), serves on PluginSocket and registers with the kubelet, retrying until the kubelet
// accepts. When the kubelet restarts it deletes the plugins' sockets: Run notices its
// socket gone, serves on a new one and registers again. When another socket replaces its
// own (a newer instance of the plugin took the path over), Run stops serving and does not
// register again until ctx ends or that socket is deleted (then it serves and registers
// again).
func Run(ctx context.Context, o Options) error {
	if err := o.setDefaults(); err != nil {
		return err
	}
	factory := externalversions.NewSharedInformerFactory(o.Client, 0)
	informer := factory.Device().V1alpha1().GPUs().Informer()
	tracker, err := health.NewTracker(informer, nil)
	if err != nil {
		return err
	}
	disc := &discovery{tracker: tracker, known: map[string]bool{}, logf: o.Logf}
	discReg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    disc.see,
		UpdateFunc: func(_, obj any) { disc.see(obj) },
	})
	if err != nil {
		return err
	}
	// The informers stop with ctx, and factory.Shutdown waits for them: when serve fails
	// while the caller's ctx is live, Run must end them itself before it can return.
	ctx, cancel := context.WithCancel(ctx)
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer cancel()

	o.Logf("waiting for the Device API's GPUs")
	if !cache.WaitForCacheSync(ctx.Done(), discReg.HasSynced, tracker.HasSynced) {
		return nil // ctx ended first
	}
	go checkServer(ctx, freshness.New(o.Client.DeviceV1alpha1().GPUs(""), informer), tracker, o)
	srv := newServer(tracker, ctx.Done(), o.Logf)
	o.Logf("GPUs: %s", summary(srv.snapshot()))
	go srv.follow(ctx)
	return serve(ctx, srv, o)
}

// checkServer reports every device Unhealthy once the GPU cache has failed to follow the
// server for o.UnknownAfter (the server is down or not ready, or the cache has not caught
// up since it returned), and their own health again once it follows, until ctx ends.
func checkServer(ctx context.Context, checker *freshness.Checker, tracker *health.Tracker, o Options) {
	ticker := time.NewTicker(o.ServerCheckInterval)
	defer ticker.Stop()
	var failingSince time.Time
	unknown := false
	for {
		// A server that accepts the call but does not answer would hold the check for
		// the client's call timeout (10 s by default): bound it by UnknownAfter, and count
		// a failure from when its check began, so the devices turn Unhealthy UnknownAfter
		// after the server stopped answering.
		start := time.Now()
		checkCtx, cancel := context.WithTimeout(ctx, o.UnknownAfter)
		err := checker.Check(checkCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			failingSince = time.Time{}
			if unknown {
				o.Logf("GPU health follows the Device API again")
				unknown = false
				tracker.SetServerError(nil)
			}
		default:
			if failingSince.IsZero() {
				failingSince = start
			}
			if time.Since(failingSince) < o.UnknownAfter {
				break
			}
			if !unknown {
				o.Logf("every device Unhealthy: %v", err)
				unknown = true
			}
			tracker.SetServerError(err) // the newest reason
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// discovery declares every GPU the informer has seen to the tracker, so GPUs added after
// startup are advertised. It never removes one: a deleted GPU stays, Unhealthy.
type discovery struct {
	tracker *health.Tracker
	logf    func(string, ...any)

	mu    sync.Mutex
	known map[string]bool
}

func (d *discovery) see(obj any) {
	g, ok := obj.(*devicev1alpha1.GPU)
	if !ok || g.Spec.UUID == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.known[g.Spec.UUID] {
		return
	}
	d.known[g.Spec.UUID] = true
	devices := make([]health.Device, 0, len(d.known))
	for uuid := range d.known {
		devices = append(devices, health.Device{ID: uuid})
	}
	// Under d.mu, so two GPUs seen at once cannot each declare a set without the other.
	d.tracker.SetDevices(devices)
	d.logf("device %s (GPU %s/%s)", g.Spec.UUID, g.Namespace, g.Name)
}

func summary(snap []health.Health) string {
	healthy := 0
	for _, h := range snap {
		if h.Healthy {
			healthy++
		}
	}
	return fmt.Sprintf("%d healthy, %d unhealthy", healthy, len(snap)-healthy)
}
