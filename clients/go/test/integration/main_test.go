package integration

import (
	"os"
	"syscall"
	"testing"
)

// TestMain makes sure client-go's watch-list consistency detector is on: it reads
// KUBE_WATCHLIST_INCONSISTENCY_DETECTOR once, when the binary starts, so a run without it
// re-executes itself with it. With it on, every informer sync through WatchList is
// followed by an exact List that must equal the informer's cache, or the test panics.
func TestMain(m *testing.M) {
	if os.Getenv("KUBE_WATCHLIST_INCONSISTENCY_DETECTOR") == "" {
		os.Setenv("KUBE_WATCHLIST_INCONSISTENCY_DETECTOR", "1")
		if exe, err := os.Executable(); err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
			panic(err)
		}
	}
	os.Exit(m.Run())
}
