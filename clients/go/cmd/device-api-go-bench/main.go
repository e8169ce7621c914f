// Command device-api-go-bench measures the Go client against a running server, for
// comparison with device-api-bench (the C++ bench) on the same server:
//
//	get            GetGpu of a random seeded GPU through the clientset, closed loop,
//	               one worker: p50/p99 latency and operations per second
//	informer-sync  a fresh SharedInformerFactory's GPU informer from Start to HasSynced
//	               (WatchList: one watch with initial events), --runs times: median and max
//
// It seeds --gpus GPUs with --conditions conditions each in --namespace first (kept when
// they exist) and prints one JSON object per scenario.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/connection"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

func main() {
	target := flag.String("target", "", "server target (default $"+connection.TargetEnv+", else the node's socket)")
	ns := flag.String("namespace", "bench-go", "namespace of the seeded GPUs")
	gpus := flag.Int("gpus", 1024, "GPUs to seed")
	conditions := flag.Int("conditions", 8, "conditions per GPU")
	duration := flag.Duration("duration", 5*time.Second, "measuring time of get")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "unmeasured time before get")
	runs := flag.Int("runs", 5, "informer syncs to time")
	flag.Parse()

	cs, err := versioned.NewForConfig(&connection.Config{Target: *target})
	if err != nil {
		fail(err)
	}
	defer cs.Close()
	ctx := context.Background()
	if err := seed(ctx, cs, *ns, *gpus, *conditions); err != nil {
		fail(fmt.Errorf("seed: %w", err))
	}
	emit(benchGet(ctx, cs, *ns, *gpus, *warmup, *duration))
	emit(benchInformerSync(cs, *ns, *gpus, *runs))
}

func seed(ctx context.Context, cs versioned.Interface, ns string, n, conditions int) error {
	client := cs.DeviceV1alpha1().GPUs(ns)
	for i := 0; i < n; i++ {
		g := &devicev1alpha1.GPU{
			ObjectMeta: metav1.ObjectMeta{Name: gpuName(i), Labels: map[string]string{"index": strconv.Itoa(i)}},
			Spec:       devicev1alpha1.GPUSpec{UUID: fmt.Sprintf("GPU-%08x-0000-4000-8000-000000000000", i)},
		}
		created, err := client.Create(ctx, g, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return err
		}
		for c := 0; c < conditions; c++ {
			created.Status.Conditions = append(created.Status.Conditions, metav1.Condition{
				Type: "Check" + strconv.Itoa(c), Status: metav1.ConditionTrue, Reason: "Passed",
				Message: "health check " + strconv.Itoa(c) + " passed"})
		}
		if _, err := client.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

func gpuName(i int) string { return "gpu-" + strconv.Itoa(i) }

type result map[string]any

func benchGet(ctx context.Context, cs versioned.Interface, ns string, n int, warmup, duration time.Duration) result {
	client := cs.DeviceV1alpha1().GPUs(ns)
	rng := rand.New(rand.NewSource(1))
	var lat []time.Duration
	errors := 0
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	for now := start; now.Before(end); now = time.Now() {
		t0 := time.Now()
		_, err := client.Get(ctx, gpuName(rng.Intn(n)), metav1.GetOptions{})
		d := time.Since(t0)
		if t0.Before(measureFrom) {
			continue
		}
		if err != nil {
			errors++
		}
		lat = append(lat, d)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{"scenario": "get", "concurrency": 1, "operations": len(lat), "errors": errors,
		"ops_per_s": float64(len(lat)) / duration.Seconds(),
		"p50_us":    us(rank(lat, 0.50)), "p99_us": us(rank(lat, 0.99))}
}

func benchInformerSync(cs versioned.Interface, ns string, n, runs int) result {
	var times []time.Duration
	for r := 0; r < runs; r++ {
		factory := externalversions.NewSharedInformerFactoryWithOptions(cs, 0, externalversions.WithNamespace(ns))
		informer := factory.Device().V1alpha1().GPUs().Informer()
		stop := make(chan struct{})
		t0 := time.Now()
		factory.Start(stop)
		// Polled every 200 µs: cache.WaitForCacheSync polls every 100 ms, which would be
		// most of the figure.
		for !informer.HasSynced() {
			if time.Since(t0) > time.Minute {
				fail(fmt.Errorf("informer did not sync within a minute"))
			}
			time.Sleep(200 * time.Microsecond)
		}
		times = append(times, time.Since(t0))
		if got := len(informer.GetStore().List()); got != n {
			fail(fmt.Errorf("informer synced %d GPUs, want %d", got, n))
		}
		close(stop)
		factory.Shutdown()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return result{"scenario": "informer-sync", "gpus": n, "runs": runs,
		"median_ms": ms(times[len(times)/2]), "max_ms": ms(times[len(times)-1])}
}

// rank is the nearest-rank percentile of sorted samples.
func rank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func emit(r result) {
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "device-api-go-bench:", err)
	os.Exit(1)
}
