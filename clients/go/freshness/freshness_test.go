package freshness

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fakes: the server's revision (or an error) and the informer's.
type fakes struct {
	rv     string
	err    error
	cached string
}

func (f *fakes) checker() *Checker {
	return NewFuncs(func(context.Context) (string, error) { return f.rv, f.err }, func() string { return f.cached })
}

func TestTrustedUntilTheServerFailsThenOnceTheCacheCaughtUp(t *testing.T) {
	f := &fakes{rv: "10", cached: "10"}
	c := f.checker()
	ctx := context.Background()
	if err := c.Check(ctx); err != nil {
		t.Fatalf("a cache that never lost its server: %v", err)
	}
	f.err = errors.New("connection refused")
	if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("server down: %v", err)
	}
	// Back at revision 14 (writes while the cache was cut off): not trusted until the
	// informer reaches 14, however often it is asked.
	f.err, f.rv = nil, "14"
	for i := 0; i < 3; i++ {
		if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), "at revision 10") {
			t.Fatalf("check %d before catching up: %v", i, err)
		}
		f.rv = "20" // later writes do not move the mark
	}
	f.cached = "14"
	if err := c.Check(ctx); err != nil {
		t.Fatalf("caught up: %v", err)
	}
	f.cached = "20" // following the server
	if err := c.Check(ctx); err != nil {
		t.Fatalf("after catching up: %v", err)
	}
}

func TestNothingSyncedOrAnUnreadableRevisionIsNotTrusted(t *testing.T) {
	f := &fakes{err: errors.New("not ready")}
	c := f.checker()
	ctx := context.Background()
	if err := c.Check(ctx); err == nil {
		t.Fatal("server not ready, cache trusted")
	}
	f.err, f.rv = nil, "x"
	if err := c.Check(ctx); err == nil {
		t.Fatal("unparsable revision, cache trusted")
	}
	f.rv, f.cached = "5", ""
	if err := c.Check(ctx); err == nil {
		t.Fatal("nothing synced, cache trusted")
	}
}

// A cache that stops following while the server keeps answering (its reflector backing off
// after an eviction as a too-slow watcher, or waiting to relist after a 410; a restart
// between two checks) is not trusted: by the next check it must have reached the
// revision the server had at this one.
func TestACacheThatStopsFollowingAnAnsweringServerIsNotTrusted(t *testing.T) {
	f := &fakes{rv: "10", cached: "10"}
	c := f.checker()
	ctx := context.Background()
	if err := c.Check(ctx); err != nil {
		t.Fatalf("a cache at the server's revision: %v", err)
	}
	// A write the cache has not seen yet: events take a moment to arrive.
	f.rv = "11"
	if err := c.Check(ctx); err != nil {
		t.Fatalf("a cache one event behind, for the first time: %v", err)
	}
	// It arrived, and more writes came: still following.
	f.cached, f.rv = "11", "14"
	if err := c.Check(ctx); err != nil {
		t.Fatalf("a cache that reached the previous check's revision: %v", err)
	}
	// A backlog of events arriving more slowly than the checks: still following.
	f.cached, f.rv = "12", "15"
	if err := c.Check(ctx); err != nil {
		t.Fatalf("a cache that moved since the previous check: %v", err)
	}
	// The informer stops receiving events; the server answers every check.
	for i, rv := range []string{"20", "25", "30"} {
		f.rv = rv
		if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), "at revision 12") {
			t.Fatalf("check %d while the cache stays at 12 and the server moved on: %v", i, err)
		}
	}
	f.cached = "30"
	if err := c.Check(ctx); err != nil {
		t.Fatalf("caught up: %v", err)
	}
}
