package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/freshness"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

// S24, S25: after the server was killed and started again, and a provider changed a GPU
// before the informer's reflector (in its back-off) watched again, the freshness check
// trusts the informer's cache only once it holds that change: never the state from
// before the restart.
func TestFreshnessTrustsTheCacheOnlyOnceItCaughtUpAfterARestartS24S25(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.Start(t, "--storage-type=sqlite", "--storage-endpoint=sqlite://"+filepath.Join(dir, "state.db"))
	cs := srv.Client()
	gpus := cs.DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)
	g := newGPU("gpu-0", 0)
	g.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, "Probed")}
	if _, err := gpus.Create(ctx, g, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	factory := externalversions.NewSharedInformerFactory(cs, 0)
	informer := factory.Device().V1alpha1().GPUs().Informer()
	// Stop the informer before waiting for it: the test's context ends only at its
	// cleanup, after the deferred calls, and Shutdown would wait out its 60 s timeout.
	informerCtx, stopInformer := context.WithCancel(ctx)
	factory.Start(informerCtx.Done())
	defer func() { stopInformer(); factory.Shutdown() }()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("informer never synced")
	}
	checker := freshness.New(gpus, informer)
	if err := checker.Check(ctx); err != nil {
		t.Fatalf("a synced cache of a serving server: %v", err)
	}
	cachedReady := func() metav1.ConditionStatus {
		obj, ok, _ := informer.GetStore().GetByKey("default/gpu-0")
		if !ok {
			return ""
		}
		return obj.(*devicev1alpha1.GPU).Status.Conditions[0].Status
	}

	srv.Kill()
	if err := checker.Check(ctx); err == nil {
		t.Fatal("server killed, cache trusted")
	}
	time.Sleep(1500 * time.Millisecond) // the reflector fails and backs off
	srv.Restart()
	// A provider reconnects (its connection may still be in back-off) and reports a fault.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		cur, err := gpus.Get(ctx, "gpu-0", metav1.GetOptions{})
		if err == nil {
			cur.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionFalse, "XidError")}
			if _, err = gpus.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err == nil {
				break
			}
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("no write after the restart: %v", err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := checker.Check(ctx)
		if err == nil {
			break
		}
		if got := cachedReady(); got != metav1.ConditionTrue && got != metav1.ConditionFalse {
			t.Fatalf("cache lost the GPU: %q", got)
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache never trusted again: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := cachedReady(); got != metav1.ConditionFalse {
		t.Fatalf("cache trusted while it still says Ready=%s from before the restart", got)
	}
}
