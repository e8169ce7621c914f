package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

// client-go's own informer syncs through WatchList (one watch with sendInitialEvents,
// ended by the initial-events-end bookmark, never a plain List), the consistency
// detector's exact List agrees with it, and it follows later writes. S13, S15, S9, S12.
func TestInformerSyncsThroughWatchListS9S12S13S15(t *testing.T) {
	srv := testserver.Start(t)
	direct := srv.Client()
	createGPUs(t, direct, "gpu", 64, 4)
	r := startInformer(t, direct)
	if r.calls.watchLists.Load() != 1 || r.calls.lists.Load() != 0 {
		t.Fatalf("sync did not go through WatchList: %s", r)
	}
	converged(t, r, direct)
	writeStatuses(t, direct, gpuNames("gpu", 64), 500)
	if err := direct.DeviceV1alpha1().GPUs("").Delete(context.Background(), "gpu-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	converged(t, r, direct)
	// The detector's exact List runs asynchronously after the sync; it must have run.
	for deadline := time.Now().Add(10 * time.Second); r.calls.exactLists.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the watch-list consistency detector did not list: %s", r)
		}
	}
	if r.calls.watchLists.Load() != 1 || r.calls.lists.Load() != 0 || r.calls.errorEvents.Load() != 0 {
		t.Fatalf("unexpected relist or error: %s", r)
	}
}

// A watcher evicted as too slow (RESOURCE_EXHAUSTED) is re-watched from its last revision
// without a relist, and the cache converges. S16, S12.
func TestInformerResumesAfterEvictionWithoutRelistS12S16(t *testing.T) {
	srv := testserver.Start(t, "--watch-queue-size=8")
	direct := srv.Client()
	createGPUs(t, direct, "gpu", 32, 0)
	// A small, fixed HTTP/2 window and a slow transform (it runs in the reflector's read
	// loop) make this informer read slower than the writers write.
	slow := dial(t, srv.Target(), grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	r := startInformer(t, slow, externalversions.WithTransform(func(o any) (any, error) {
		time.Sleep(300 * time.Microsecond)
		return o, nil
	}))
	for round := 0; r.calls.evictions.Load() == 0; round++ {
		if round == 10 {
			t.Fatalf("no eviction after %d writes: %s", round*1000, r)
		}
		writeStatuses(t, direct, gpuNames("gpu", 32), 1000)
	}
	converged(t, r, direct)
	if r.calls.watchLists.Load() != 1 || r.calls.lists.Load() != 0 || r.calls.resumes.Load() == 0 {
		t.Fatalf("eviction was not followed by a re-watch from the last revision alone: %s", r)
	}
	t.Log(r)
}

// A revision the server no longer retains (410 Expired) makes the informer relist; the
// cache converges, deletions and creations during the gap included. S14.
func TestInformerRelistsOnExpiredRevisionS14(t *testing.T) {
	r := informerThroughCut(t, []string{"--history-max-events=50"}, 16, func(direct versioned.Interface) {
		writeStatuses(t, direct, gpuNames("gpu", 16), 300)
		if err := direct.DeviceV1alpha1().GPUs("").Delete(context.Background(), "gpu-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		createGPUs(t, direct, "new", 4, 1)
	})
	if r.calls.expirations.Load() == 0 || r.calls.watchLists.Load() < 2 {
		t.Fatalf("no relist after the revision expired: %s", r)
	}
	t.Log(r)
}

// 10,000 writes while the informer's connection is cut: it reconnects and converges,
// re-watching from its revision while the history holds it, else relisting. S12, S14.
func TestInformerConvergesAfter10000WritesDuringCutS12(t *testing.T) {
	r := informerThroughCut(t, nil, 64, func(direct versioned.Interface) {
		writeStatuses(t, direct, gpuNames("gpu", 64), 10000)
	})
	// The default history keeps 10,000 events: the revision the informer holds is just
	// out of it, so the informer relists, and only after the server said so.
	if r.calls.watchLists.Load() > 1 && r.calls.expirations.Load() == 0 {
		t.Fatalf("relisted without being told the revision expired: %s", r)
	}
	t.Log(r)
}

// A server restart (memory storage: the new process starts empty, with revisions above
// the old ones, S2) is a revision the informer cannot resume from: it relists and its
// cache drops the old objects and holds the new ones. S2, S22.
func TestInformerConvergesAfterServerRestartS2S22(t *testing.T) {
	srv := testserver.Start(t)
	direct := srv.Client()
	createGPUs(t, direct, "old", 16, 2)
	r := startInformer(t, direct)
	settle(t, r, direct, gpuNames("old", 16))
	srv.Stop()
	srv.Restart()
	direct = srv.Client() // the old connection is in its reconnect back-off
	createGPUs(t, direct, "new", 8, 2)
	converged(t, r, direct)
	writeStatuses(t, direct, gpuNames("new", 8), 100)
	converged(t, r, direct)
	// The relist comes from the new server's 410 for the old revision, or from the
	// watch that the stopping server refused (UNAVAILABLE) while the informer re-watched.
	if r.calls.watchLists.Load() < 2 {
		t.Fatalf("no relist after the restart: %s", r)
	}
	t.Log(r)
}

// With the durable backend the history survives a restart (S25): the informer re-watches
// from its revision on the new process, without a relist, and converges. S24, S25.
func TestInformerResumesAcrossDurableRestartS24S25(t *testing.T) {
	if !testserver.Supports(t, "--storage-type") {
		t.Skip("this server has no --storage-type (durable backend)")
	}
	db := filepath.Join(t.TempDir(), "state.db")
	srv := testserver.Start(t, "--storage-type=sqlite", "--storage-endpoint=sqlite://"+db)
	direct := srv.Client()
	createGPUs(t, direct, "gpu", 16, 2)
	r := startInformer(t, direct)
	settle(t, r, direct, gpuNames("gpu", 16))
	srv.Stop()
	srv.Restart()
	direct = srv.Client() // the old connection is in its reconnect back-off
	writeStatuses(t, direct, gpuNames("gpu", 16), 200)
	if err := direct.DeviceV1alpha1().GPUs("").Delete(context.Background(), "gpu-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	converged(t, r, direct)
	if r.calls.lists.Load() != 0 || r.calls.resumes.Load() == 0 {
		t.Fatalf("the restart was not followed by a re-watch from the last revision: %s", r)
	}
	// Known race, left open: when the resumed stream ends within a second
	// without an item (the old process still closing), client-go's reflector
	// calls it a "very short watch" and starts over with a second watch-list.
	// It converges either way; the relist is reported, not failed.
	if r.calls.watchLists.Load() != 1 {
		t.Logf("relisted after the restart (client-go's very-short-watch rule): %s", r)
	}
	t.Log(r)
}

// A connection cut with fewer writes than the history keeps: the informer reconnects and
// re-watches from its revision, without a relist, and sees every change. S12.
func TestInformerResumesAfterConnectionCutS12(t *testing.T) {
	r := informerThroughCut(t, nil, 16, func(direct versioned.Interface) {
		writeStatuses(t, direct, gpuNames("gpu", 16), 500)
		if err := direct.DeviceV1alpha1().GPUs("").Delete(context.Background(), "gpu-1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if r.calls.watchLists.Load() != 1 || r.calls.lists.Load() != 0 || r.calls.resumes.Load() == 0 {
		t.Fatalf("the cut was not followed by a re-watch from the last revision alone: %s", r)
	}
	t.Log(r)
}

// informerThroughCut starts a server (flags) with n GPUs named gpu-i and an informer that
// reaches it through a cutProxy; once the informer has settled it cuts the connection,
// runs during with a direct client, restores the connection and waits for the informer's
// cache to equal the server's List.
func informerThroughCut(t *testing.T, flags []string, n int, during func(direct versioned.Interface)) *informerRun {
	t.Helper()
	srv := testserver.Start(t, flags...)
	direct := srv.Client()
	createGPUs(t, direct, "gpu", n, 2)
	proxy := startProxy(t, srv.Socket)
	r := startInformer(t, dial(t, proxy.Target()))
	settle(t, r, direct, gpuNames("gpu", n))
	proxy.Cut()
	during(direct)
	proxy.Resume()
	converged(t, r, direct)
	return r
}
