package k8sbridge

import (
	"context"
	"errors"
	"testing"
)

type proberFunc func(context.Context) error

func (f proberFunc) Check(ctx context.Context) error { return f(ctx) }

// The bridge trusts the server only when every prober passes (the gRPC health check, then
// the GPU cache's freshness), and says why with the first that does not.
func TestProbersPassOnlyWhenAllPass(t *testing.T) {
	calls := 0
	ok := proberFunc(func(context.Context) error { calls++; return nil })
	stale := proberFunc(func(context.Context) error { calls++; return errors.New("cache behind") })
	if err := (Probers{ok, ok}).Check(context.Background()); err != nil {
		t.Fatalf("all pass: %v", err)
	}
	calls = 0
	if err := (Probers{ok, stale, ok}).Check(context.Background()); err == nil || err.Error() != "cache behind" {
		t.Fatalf("one fails: %v", err)
	}
	if calls != 2 {
		t.Errorf("%d probers asked, want 2 (none after the first failure)", calls)
	}
}
