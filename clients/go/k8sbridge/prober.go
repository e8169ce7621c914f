package k8sbridge

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Prober says whether the node's Device API server can be trusted right now.
type Prober interface {
	// Check returns nil when the server answers and is ready to serve, else why not.
	Check(ctx context.Context) error
}

// GRPCHealthProber asks the server's gRPC health service (the same check the kubelet's
// probe and devicectl use): unreachable or NOT_SERVING means the bridge knows nothing.
type GRPCHealthProber struct {
	Conn    grpc.ClientConnInterface
	Timeout time.Duration
}

// Check implements Prober.
func (p GRPCHealthProber) Check(ctx context.Context) error {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(p.Conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("server reports %s", resp.GetStatus())
	}
	return nil
}

// Probers checks every prober, each time: the first error, or nil when all pass.
//
// None is skipped after a failure: a prober may keep state across checks (the GPU cache's
// freshness checker must see each outage to distrust the cache until the informer has
// caught up), and an outage that only an earlier prober reported would otherwise go
// unnoticed by it.
type Probers []Prober

// Check implements Prober.
func (ps Probers) Check(ctx context.Context) error {
	var first error
	for _, p := range ps {
		if err := p.Check(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}
