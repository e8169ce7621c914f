package k8sbridge

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	kubefake "k8s.io/client-go/kubernetes/fake"

	devicefake "github.com/nvidia/device-api-server/clients/go/clientset/versioned/fake"
	"github.com/nvidia/device-api-server/clients/go/freshness"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

type proberFunc func(context.Context) error

func (f proberFunc) Check(ctx context.Context) error { return f(ctx) }

// The bridge trusts the server only when every prober passes (the gRPC health check, then
// the GPU cache's freshness), and says why with the first that does not; every prober is
// asked each time, also after one failed.
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
	if calls != 3 {
		t.Errorf("%d probers asked, want 3 (all, also after a failure)", calls)
	}
}

// The composition the command uses: the gRPC health check, then the GPU cache's freshness.
// When the server goes down, the health check fails first; the freshness checker must
// still see that outage, or once the server is back it trusts a cache the informer has not
// refreshed yet, and the bridge writes health from before the outage.
func TestProbersLetFreshnessSeeAnOutageTheHealthCheckReports(t *testing.T) {
	ctx := context.Background()
	var down bool
	serverRV, cachedRV := "10", "10"
	health := proberFunc(func(context.Context) error {
		if down {
			return errors.New("health check: connection refused")
		}
		return nil
	})
	fresh := freshness.NewFuncs(func(context.Context) (string, error) {
		if down {
			return "", errors.New("connection refused")
		}
		return serverRV, nil
	}, func() string { return cachedRV })
	p := Probers{health, fresh}
	if err := p.Check(ctx); err != nil {
		t.Fatalf("server up, cache current: %v", err)
	}
	down = true
	if err := p.Check(ctx); err == nil {
		t.Fatal("server down, yet trusted")
	}
	// Back, restarted at revision 500 (say, GPU 1 now False); the informer still holds
	// revision 10 (GPU 1 True) until its reflector lists again.
	down, serverRV = false, "500"
	if err := p.Check(ctx); err == nil || !strings.Contains(err.Error(), "at revision 10") {
		t.Fatalf("server back, cache behind it: %v; want the cache not trusted", err)
	}
	cachedRV = "500"
	if err := p.Check(ctx); err != nil {
		t.Fatalf("cache caught up: %v", err)
	}
}

// startProbeLoop runs the probe loop of a bridge (over fakes) that asks prober every
// interval, until the test ends.
func startProbeLoop(t *testing.T, interval time.Duration, prober Prober) *Bridge {
	t.Helper()
	informer := externalversions.NewSharedInformerFactory(devicefake.NewSimpleClientset(), 0).Device().V1alpha1().GPUs().Informer()
	b, err := New(Config{NodeName: "node-a", ProbeInterval: interval}, kubefake.NewClientset(), nil, informer, prober, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.probeLoop(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

// A server that accepts but never answers is reported unavailable after probeTimeout,
// whatever the probers do with a context without a deadline.
func TestProbeLoopBoundsAHangingCheck(t *testing.T) {
	hang := proberFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	b := startProbeLoop(t, time.Hour, hang)
	deadline := time.Now().Add(probeTimeout + 3*time.Second)
	for {
		b.mu.Lock()
		perr := b.probeErr
		b.mu.Unlock()
		if errors.Is(perr, context.DeadlineExceeded) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe error %v after %v, want a deadline", perr, probeTimeout+3*time.Second)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The condition's message says why the server cannot be trusted; when the reason changes
// (not probed yet, then connection refused, then NOT_SERVING, then the cache catching up) a
// reconcile is queued, so the message follows, not only when availability flips.
func TestProbeLoopQueuesAReconcileWhenTheReasonChanges(t *testing.T) {
	asking, answers := make(chan struct{}), make(chan error)
	p := proberFunc(func(ctx context.Context) error {
		select {
		case asking <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-answers:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	b := startProbeLoop(t, time.Millisecond, p)
	<-asking
	for i, step := range []struct {
		answer error
		queued bool
	}{
		{errors.New("health check: connection refused"), true}, // after "not probed yet"
		{errors.New("health check: connection refused"), false},
		{errors.New("server reports NOT_SERVING"), true},
		{errors.New("the GPU cache is at revision 10, the server was at 14 when it answered again"), true},
		{nil, true},
		{nil, false},
	} {
		answers <- step.answer
		<-asking // the loop is done with this answer
		if got := b.queue.Len() > 0; got != step.queued {
			t.Errorf("step %d (%v): reconcile queued %v, want %v", i, step.answer, got, step.queued)
		}
		for b.queue.Len() > 0 {
			k, _ := b.queue.Get()
			b.queue.Done(k)
		}
	}
}
