package health

import (
	"slices"
	"sort"
	"sync"

	"k8s.io/client-go/tools/cache"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

// Tracker keeps the health of a set of declared devices current from a GPU informer (the
// SharedInformerFactory's Device().V1alpha1().GPUs().Informer(), in whatever namespace
// and with whatever selector the factory was given).
//
// It reads the informer's cache on every event of its handler, so each snapshot reflects
// the cache as it stands, never a stale copy; until the informer has synced, GPUs it has
// not listed yet count as missing (Unhealthy). Wait for HasSynced before trusting a
// Snapshot.
//
// A Tracker lives as long as its informer; its methods are safe for concurrent use.
type Tracker struct {
	store   cache.Store
	reg     cache.ResourceEventHandlerRegistration
	updates chan []Health

	mu        sync.Mutex
	devices   []Device // sorted by ID, one per ID
	serverErr error    // SetServerError's; non-nil: every device is Unhealthy
	current   []Health // sorted by ID; never modified once published
}

// NewTracker tracks devices (a device declared twice counts once, the last declaration
// winning) over informer. The error is the informer's refusal of a handler: it has been
// stopped.
func NewTracker(informer cache.SharedIndexInformer, devices []Device) (*Tracker, error) {
	t := &Tracker{store: informer.GetStore(), updates: make(chan []Health, 1)}
	t.devices = normalize(devices)
	t.current = t.compute()
	refresh := func(any) { t.refresh() }
	reg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    refresh,
		UpdateFunc: func(_, _ any) { t.refresh() },
		DeleteFunc: refresh,
	})
	if err != nil {
		return nil, err
	}
	t.reg = reg
	return t, nil
}

// HasSynced reports whether the tracker has seen every GPU of the informer's initial list:
// from then on Snapshot is the cache's state.
func (t *Tracker) HasSynced() bool { return t.reg.HasSynced() }

// Snapshot is every declared device's health, sorted by ID: the newest snapshot, the one
// Updates last sent or is about to send. The caller may modify it.
func (t *Tracker) Snapshot() []Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.current)
}

// Updates delivers a full snapshot (every declared device, sorted by ID) each time the
// health or reason of any device changes. Nothing is sent for the state at construction:
// read Snapshot, then Updates, and no change is missed.
//
// The channel holds one snapshot. A newer one replaces a snapshot the consumer has not
// read yet, so a slow consumer skips intermediate states and always receives the newest;
// the informer's handler never waits for the consumer. Updates is meant for one consumer
// (a second one would steal snapshots from the first); it is never closed.
func (t *Tracker) Updates() <-chan []Health { return t.updates }

// SetDevices replaces the declared devices, e.g. to add a GPU that appeared after the
// tracker was made. A device's health is computed from the cache at once, so a GPU the
// cache holds is not reported missing in between. When the snapshot changes it is sent
// on Updates.
func (t *Tracker) SetDevices(devices []Device) {
	devices = normalize(devices)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.devices = devices
	t.publishLocked(t.compute())
}

// SetServerError says whether the informer's cache can be trusted (package freshness):
// nil when it follows the server, else why not. While it is not nil every device is
// Unhealthy with that reason, since a cache that stopped following its server keeps
// reporting a GPU healthy after a provider said otherwise. When the snapshot changes it is
// sent on Updates.
func (t *Tracker) SetServerError(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.serverErr = err
	t.publishLocked(t.compute())
}

// refresh recomputes the snapshot after an informer event.
func (t *Tracker) refresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.publishLocked(t.compute())
}

// publishLocked makes next current and sends it when it differs. Only publishLocked sends
// and it runs under t.mu, so after draining the channel the send cannot block.
func (t *Tracker) publishLocked(next []Health) {
	if slices.Equal(next, t.current) {
		return
	}
	t.current = next
	select {
	case <-t.updates:
	default:
	}
	t.updates <- slices.Clone(next)
}

// compute derives the declared devices' health from the informer's cache. It reads
// t.devices: callers hold t.mu, except NewTracker before the tracker is shared.
func (t *Tracker) compute() []Health {
	if t.serverErr != nil {
		out := make([]Health, len(t.devices))
		for i, d := range t.devices {
			out[i] = Health{ID: d.ID, Reason: "health unknown: " + t.serverErr.Error()}
		}
		return out
	}
	// UUID -> "" (healthy) or a reason. The server does not make UUIDs unique: should
	// two objects carry one, either being unhealthy makes the GPU unhealthy.
	verdicts := map[string]string{}
	for _, obj := range t.store.List() {
		g, ok := obj.(*devicev1alpha1.GPU)
		if !ok {
			continue
		}
		v := gpuVerdict(g)
		if prev, seen := verdicts[g.Spec.UUID]; !seen || prev == "" {
			verdicts[g.Spec.UUID] = v
		}
	}
	out := make([]Health, len(t.devices))
	for i, d := range t.devices {
		v, found := verdicts[d.parent()]
		switch {
		case !found:
			v = "GPU " + d.parent() + " not found in the Device API"
		case v != "" && d.parent() != d.ID:
			v = "parent GPU " + d.parent() + ": " + v
		}
		out[i] = Health{ID: d.ID, Healthy: found && v == "", Reason: v}
	}
	return out
}

// normalize sorts devices by ID and keeps the last declaration of each ID.
func normalize(devices []Device) []Device {
	byID := make(map[string]Device, len(devices))
	for _, d := range devices {
		byID[d.ID] = d
	}
	out := make([]Device, 0, len(byID))
	for _, d := range byID {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
