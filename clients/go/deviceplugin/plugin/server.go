package plugin

import (
	"context"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/nvidia/device-api-server/clients/go/deviceplugin/health"
)

// VisibleDevicesEnv is the variable Allocate sets to the allocated device IDs, which the
// NVIDIA container runtime reads to expose those GPUs to the container.
const VisibleDevicesEnv = "NVIDIA_VISIBLE_DEVICES"

// options is what the plugin asks of the kubelet: neither PreStartContainer nor
// GetPreferredAllocation is needed to place GPUs that are interchangeable.
var options = &pluginapi.DevicePluginOptions{}

// server is the DevicePlugin service. Its snapshot is the tracker's newest, fanned out to
// every ListAndWatch stream (the kubelet opens a new one after reconnecting).
type server struct {
	pluginapi.UnimplementedDevicePluginServer
	tracker *health.Tracker
	done    <-chan struct{} // the plugin is stopping: streams end
	logf    func(string, ...any)

	mu      sync.Mutex
	current []health.Health
	changed chan struct{} // closed when current is replaced
}

func newServer(tracker *health.Tracker, done <-chan struct{}, logf func(string, ...any)) *server {
	return &server{tracker: tracker, done: done, logf: logf, current: tracker.Snapshot(), changed: make(chan struct{})}
}

// follow copies the tracker's snapshots into s until ctx ends, logging each change.
func (s *server) follow(ctx context.Context) {
	for {
		select {
		case snap := <-s.tracker.Updates():
			s.mu.Lock()
			old := s.current
			s.current = snap
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
			logChanges(s.logf, old, snap)
		case <-ctx.Done():
			return
		}
	}
}

func (s *server) snapshot() []health.Health {
	snap, _ := s.state()
	return snap
}

// state is the current snapshot and the channel closed when it is replaced.
func (s *server) state() ([]health.Health, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current, s.changed
}

func (s *server) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return options, nil
}

// ListAndWatch sends the device list at once, then again whenever a device's health
// changes or a device is added, until the kubelet hangs up or the plugin stops.
func (s *server) ListAndWatch(_ *pluginapi.Empty, stream grpc.ServerStreamingServer[pluginapi.ListAndWatchResponse]) error {
	var sent []*pluginapi.Device
	first := true
	for {
		snap, changed := s.state()
		devices := toDevices(snap)
		// Snapshots also change with a reason the kubelet does not see: send only news.
		if first || !slices.EqualFunc(devices, sent, sameDevice) {
			if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: devices}); err != nil {
				return err
			}
			sent, first = devices, false
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		case <-s.done:
			return nil
		}
	}
}

// Allocate gives each container the devices the kubelet chose, as NVIDIA_VISIBLE_DEVICES.
// An ID the plugin never advertised is refused.
func (s *server) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	known := map[string]bool{}
	for _, h := range s.snapshot() {
		known[h.ID] = true
	}
	resp := &pluginapi.AllocateResponse{}
	for _, c := range req.GetContainerRequests() {
		for _, id := range c.GetDevicesIds() {
			if !known[id] {
				return nil, status.Errorf(codes.InvalidArgument, "unknown device %q", id)
			}
		}
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{VisibleDevicesEnv: strings.Join(c.GetDevicesIds(), ",")},
		})
	}
	return resp, nil
}

// GetPreferredAllocation prefers the devices that must be included, then the available
// ones in the kubelet's order. The options do not ask the kubelet to call it.
func (s *server) GetPreferredAllocation(_ context.Context, req *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	resp := &pluginapi.PreferredAllocationResponse{}
	for _, c := range req.GetContainerRequests() {
		ids := slices.Clone(c.GetMustIncludeDeviceIDs())
		for _, id := range c.GetAvailableDeviceIDs() {
			if len(ids) >= int(c.GetAllocationSize()) {
				break
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerPreferredAllocationResponse{DeviceIDs: ids})
	}
	return resp, nil
}

// PreStartContainer has nothing to do: a GPU needs no preparation per container. The
// options do not ask the kubelet to call it.
func (s *server) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

func toDevices(snap []health.Health) []*pluginapi.Device {
	out := make([]*pluginapi.Device, len(snap))
	for i, h := range snap {
		state := pluginapi.Healthy
		if !h.Healthy {
			state = pluginapi.Unhealthy
		}
		out[i] = &pluginapi.Device{ID: h.ID, Health: state}
	}
	return out
}

func sameDevice(a, b *pluginapi.Device) bool { return a.ID == b.ID && a.Health == b.Health }

// logChanges logs the devices whose health differs between two snapshots.
func logChanges(logf func(string, ...any), old, cur []health.Health) {
	was := map[string]health.Health{}
	for _, h := range old {
		was[h.ID] = h
	}
	for _, h := range cur {
		if p, ok := was[h.ID]; ok && p == h {
			continue
		}
		if h.Healthy {
			logf("%s Healthy", h.ID)
		} else {
			logf("%s Unhealthy: %s", h.ID, h.Reason)
		}
	}
}
