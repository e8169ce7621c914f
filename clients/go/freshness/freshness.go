// Package freshness tells whether an informer's cache of the Device API's GPUs can be
// trusted right now.
//
// An informer keeps the last state it saw while its server is gone, and after the server
// returns its reflector may take seconds (its back-off) to list or watch again: a cache
// read in that window reports a GPU as healthy that the server, or a provider since its
// restart, says is not. A Checker closes that window. It asks the server for its current
// revision (a List that matches no object, so it costs a round trip, not a copy of every
// GPU); while that fails the cache is not trusted, and after it fails the cache is trusted
// again only once the informer has reached the revision the server had at its first answer
// since. What the informer saw up to then is the server's state, not an older one.
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

	mu      sync.Mutex
	outage  bool   // the last revision read failed
	catchUp uint64 // the revision the informer must reach; 0: none
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

// Check returns nil when the server answers and the informer's cache holds its state as of
// now or later, else why the cache cannot be trusted. Call it periodically: the informer
// catches up on its own, and only a Check notices.
func (c *Checker) Check(ctx context.Context) error {
	rv, err := c.revision(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.outage = true
		c.catchUp = 0
		return fmt.Errorf("device API server: %w", err)
	}
	if c.outage {
		n, perr := strconv.ParseUint(rv, 10, 64)
		if perr != nil {
			return fmt.Errorf("device API server answered revision %q: %w", rv, perr)
		}
		c.outage = false
		c.catchUp = n
	}
	if c.catchUp == 0 {
		return nil
	}
	have, _ := strconv.ParseUint(c.cached(), 10, 64) // "" or unparsable: nothing synced
	if have < c.catchUp {
		return fmt.Errorf("the GPU cache is at revision %d, the server was at %d when it answered again", have, c.catchUp)
	}
	c.catchUp = 0
	return nil
}
