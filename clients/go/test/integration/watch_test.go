package integration

import (
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

// S10/S9: label selectors of every syntax, exact lists and not-older-than lists.
func TestListOptionsS9S10(t *testing.T) {
	srv := testserver.Start(t)
	gpus := srv.Client().DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)
	products := []string{"H100", "H200", "A100", ""}
	for i, p := range products {
		g := newGPU("gpu-"+strconv.Itoa(i), i)
		if p != "" {
			g.Labels = map[string]string{"product": p}
		}
		if _, err := gpus.Create(ctx, g, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := gpus.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for sel, want := range map[string]int{
		"product=H100": 1, "product==H100": 1, "product!=H100": 3, "product in (H100,H200)": 2,
		"product notin (H100)": 3, "product": 3, "!product": 1, "product,product!=A100": 2,
	} {
		l, err := gpus.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatalf("%q: %v", sel, err)
		}
		if len(l.Items) != want {
			t.Errorf("%q: %v, want %d items", sel, names(l), want)
		}
	}
	if _, err := gpus.List(ctx, metav1.ListOptions{LabelSelector: "product in ("}); !apierrors.IsInvalid(err) {
		t.Errorf("malformed selector: %v, want IsInvalid", err)
	}
	if err := gpus.Delete(ctx, "gpu-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// S9: Exact serves the state at the revision from history.
	exact, err := gpus.List(ctx, metav1.ListOptions{ResourceVersion: before.ResourceVersion,
		ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err != nil {
		t.Fatal(err)
	}
	if len(exact.Items) != 4 || exact.ResourceVersion != before.ResourceVersion {
		t.Fatalf("exact list at %s: rv %s, %v", before.ResourceVersion, exact.ResourceVersion, names(exact))
	}
	now, err := gpus.List(ctx, metav1.ListOptions{ResourceVersion: before.ResourceVersion,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil || len(now.Items) != 3 {
		t.Fatalf("not-older-than list: %v %v", err, now)
	}
}

// S13/S15: sendInitialEvents delivers the current objects, then the bookmark that ends
// them, annotated k8s.io/initial-events-end; then live events. S15: periodic bookmarks.
// S12: a watch from a revision delivers every later change in order, exactly once; S7:
// DELETED carries the deletion's revision.
func TestWatchS7S12S13S15(t *testing.T) {
	srv := testserver.Start(t, "--bookmark-interval=200ms")
	gpus := srv.Client().DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)
	for i := 0; i < 3; i++ {
		if _, err := gpus.Create(ctx, newGPU("gpu-"+strconv.Itoa(i), i), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := gpus.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// What client-go's reflector sends for a watch-list, also when it re-establishes one
	// from a revision it holds.
	for _, rv := range []string{"", list.ResourceVersion} {
		w, err := gpus.Watch(ctx, metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true,
			ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			ev := nextEvent(t, w)
			if ev.Type != watch.Added || gpuOf(t, ev).Name != "gpu-"+strconv.Itoa(i) {
				t.Fatalf("initial event %d: %s %s", i, ev.Type, gpuOf(t, ev).Name)
			}
		}
		ev := nextEvent(t, w)
		m, _ := meta.Accessor(ev.Object)
		if ev.Type != watch.Bookmark || m.GetAnnotations()[metav1.InitialEventsAnnotationKey] != "true" {
			t.Fatalf("after initial events: %s %v, want the initial-events-end bookmark", ev.Type, m.GetAnnotations())
		}
		if rvNum(t, m.GetResourceVersion()) < rvNum(t, list.ResourceVersion) {
			t.Fatalf("bookmark revision %s older than %s", m.GetResourceVersion(), list.ResourceVersion)
		}
		w.Stop()
		expectClosed(t, w, 5*time.Second)
	}

	w, err := gpus.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	g, _ := gpus.Get(ctx, "gpu-1", metav1.GetOptions{})
	g.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionFalse, "XidError")}
	written, err := gpus.UpdateStatus(ctx, g, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := gpus.Delete(ctx, "gpu-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []watch.Event
	for len(got) < 2 {
		if ev := nextEvent(t, w); ev.Type != watch.Bookmark {
			got = append(got, ev)
		}
	}
	if got[0].Type != watch.Modified || gpuOf(t, got[0]).ResourceVersion != written.ResourceVersion {
		t.Fatalf("first event %s rv %s, want MODIFIED rv %s", got[0].Type, gpuOf(t, got[0]).ResourceVersion, written.ResourceVersion)
	}
	del := gpuOf(t, got[1])
	if got[1].Type != watch.Deleted || del.Name != "gpu-2" || rvNum(t, del.ResourceVersion) <= rvNum(t, written.ResourceVersion) {
		t.Fatalf("second event %s %s rv %s", got[1].Type, del.Name, del.ResourceVersion)
	}
	// S15: an idle watch gets bookmarks carrying the current revision.
	ev := nextEvent(t, w)
	if ev.Type != watch.Bookmark {
		t.Fatalf("idle watch: %s, want BOOKMARK", ev.Type)
	}
	if m, _ := meta.Accessor(ev.Object); m.GetResourceVersion() != del.ResourceVersion {
		t.Fatalf("bookmark revision %s, want %s", m.GetResourceVersion(), del.ResourceVersion)
	}
}

// S10: a watch with a label selector sees an object that stops matching as DELETED and
// one that starts matching as ADDED. S18: timeoutSeconds ends the watch cleanly, and a
// server shutdown closes watches without an error event (the reflector re-watches).
func TestWatchSelectorTimeoutShutdownS10S18(t *testing.T) {
	srv := testserver.Start(t)
	gpus := srv.Client().DeviceV1alpha1().GPUs("")
	ctx := ctxT(t)
	g := newGPU("gpu-0", 0)
	g.Labels = map[string]string{"zone": "a"}
	g, err := gpus.Create(ctx, g, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := gpus.Watch(ctx, metav1.ListOptions{LabelSelector: "zone=a", ResourceVersion: g.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	g.Labels["zone"] = "b"
	if g, err = gpus.Update(ctx, g, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	g.Labels["zone"] = "a"
	if _, err = gpus.Update(ctx, g, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Type != watch.Deleted {
		t.Fatalf("stopped matching: %s, want DELETED", ev.Type)
	}
	if ev := nextEvent(t, w); ev.Type != watch.Added {
		t.Fatalf("matching again: %s, want ADDED", ev.Type)
	}
	w.Stop()

	start := time.Now()
	w, err = gpus.Watch(ctx, metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)})
	if err != nil {
		t.Fatal(err)
	}
	evs := expectClosed(t, w, 10*time.Second)
	if len(evs) != 1 || evs[0].Type != watch.Added || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("timeoutSeconds=1: %d events after %v", len(evs), time.Since(start))
	}

	w, err = gpus.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, w)
	srv.Stop()
	if evs := expectClosed(t, w, 10*time.Second); len(evs) != 0 {
		t.Fatalf("shutdown: %+v, want the channel closed without an event", evs)
	}
}
