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
	f.cached = "" // a relist in progress does not undo it
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
