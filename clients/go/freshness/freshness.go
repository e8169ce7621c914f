// Package freshness tells whether an informer's cache of the Device API's GPUs can be
// trusted right now.
//
// An informer keeps the last state it saw while its server is gone, and after the server
// returns its reflector may take seconds (its back-off) to list or watch again: a cache
// read in that window reports a GPU as healthy that the server, or a provider since its
// restart, says is not. The same happens while the server keeps answering: a reflector
// evicted as a too-slow watcher, or told that its revision is too old, backs off before it
// watches or lists again, and a restart can fall between two checks. A Checker closes
// those windows. It asks the server for its current revision (a List that matches no
// object, so it costs a round trip, not a copy of every GPU):
//
//   - while that fails the cache is not trusted, and after it fails the cache is trusted
//     again only once the informer has reached the revision the server had at its first
//     answer since;
//   - otherwise the cache is trusted when the informer has reached the revision the server
//     had at the previous check, or has at least moved since then (it is receiving a
//     backlog of events). Events take a moment to arrive, so the informer is not held to
//     the revision of the check itself; a cache that stops following is reported at the
//     next check.
//
// The informer's revision moves with the events it receives, so it should watch every GPU
// (a factory without namespace or selector): one that filters reaches a revision taken by
// a write it does not select only with the server's next bookmark, up to a minute later.
package freshness

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	typed "github.com/nvidia/device-api-server/clients/go/clientset/versioned/typed/device/v1alpha1"
)

// NoObjects is a label selector no object matches: the key present and absent.
const NoObjects = "device-api.nvidia.com/revision-probe,!device-api.nvidia.com/revision-probe"

// Checker follows one server and one informer of its GPUs. Its methods are safe for
// concurrent use.
type Checker struct {
	revision func(ctx context.Context) (string, error) // the server's current revision
	cached   func() string                             // the informer's last synced revision

	mu     sync.Mutex
	outage bool   // the last revision read failed
	strict bool   // mark is the server's first revision after an outage
	mark   uint64 // the revision the informer must have reached at the next check; 0: none
	last   uint64 // the informer's revision at the last check that read the server's
}

// New checks the informer of gpus (all namespaces or one, as the informer's factory).
func New(gpus typed.GPUInterface, informer cache.SharedIndexInformer) *Checker {
	return NewFuncs(func(ctx context.Context) (string, error) {
		list, err := gpus.List(ctx, metav1.ListOptions{LabelSelector: NoObjects})
		if err != nil {
			return "", err
		}
		return list.ResourceVersion, nil
	}, informer.LastSyncResourceVersion)
}

// NewFuncs is New with the two readings as functions: the server's current revision and
// the informer's last synced one.
func NewFuncs(revision func(ctx context.Context) (string, error), cached func() string) *Checker {
	return &Checker{revision: revision, cached: cached}
}

// Check returns nil when the server answers and the informer's cache follows it: it holds
// the server's state as of the previous Check or later, or has moved since (after a failed
// Check: it holds the state as of the first answer since). Else it says why the cache
// cannot be trusted. Call it periodically: the informer catches up on its own, and only a
// Check notices; a cache that stopped following is reported one interval later.
func (c *Checker) Check(ctx context.Context) error {
	rv, err := c.revision(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.outage, c.strict, c.mark = true, false, 0
		return fmt.Errorf("device API server: %w", err)
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return fmt.Errorf("device API server answered revision %q: %w", rv, err)
	}
	if c.outage {
		// Nothing the cache holds is known to be the server's state since it failed:
		// trusted only once it reaches the server's state now.
		c.outage, c.strict, c.mark = false, true, n
	}
	have, _ := strconv.ParseUint(c.cached(), 10, 64) // "" or unparsable: nothing synced
	moved := have != c.last
	c.last = have
	if c.mark != 0 && have < c.mark {
		if c.strict {
			return fmt.Errorf("the GPU cache is at revision %d, the server was at %d when it answered again", have, c.mark)
		}
		if !moved {
			return fmt.Errorf("the GPU cache stays at revision %d, the server was at %d one check ago: it does not follow the server", have, c.mark)
		}
	}
	// Trusted. The cache may still lack the newest events, which take a moment to
	// arrive; it must hold them by the next check.
	c.strict, c.mark = false, 0
	if have < n {
		c.mark = n
	}
	return nil
}
