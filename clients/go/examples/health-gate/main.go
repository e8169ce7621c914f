// Command health-gate is an example consumer of the Device API's Go client: it runs
// client-go's informer over the node's GPUs, waits for its cache to sync, prints every
// change of a condition (default Ready) as it happens, and acts as a gate:
//
//	health-gate --once      exit 0 when every selected GPU has the condition True and at
//	                        least --min-gpus (default 1) are selected, else 1
//	health-gate             keep printing transitions until interrupted
//
// An empty selection never opens the gate: a node whose GPUs are not published yet (or a
// selector that matches none) exits 1 unless --min-gpus=0.
//
// Exit code 2: the cache did not sync in time (server unreachable or not ready).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/connection"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
)

func main() {
	target := flag.String("target", "", "server target (default $"+connection.TargetEnv+", else "+connection.DefaultTarget+")")
	selector := flag.String("selector", "", "label selector of the GPUs to gate on")
	condition := flag.String("condition", "Ready", "condition type that must be True")
	syncTimeout := flag.Duration("sync-timeout", 10*time.Second, "how long to wait for the cache to sync")
	once := flag.Bool("once", false, "exit after the sync: 0 when all selected GPUs are healthy and there are at least --min-gpus, else 1")
	minGPUs := flag.Int("min-gpus", 1, "fewest selected GPUs that open the gate with --once")
	flag.Parse()
	os.Exit(run(*target, *selector, *condition, *syncTimeout, *once, *minGPUs))
}

func run(target, selector, condition string, syncTimeout time.Duration, once bool, minGPUs int) int {
	sel, err := labels.Parse(selector)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad --selector: %v\n", err)
		return 2
	}
	if minGPUs < 0 {
		fmt.Fprintf(os.Stderr, "bad --min-gpus: %d is negative\n", minGPUs)
		return 2
	}
	cs, err := versioned.NewForConfig(&connection.Config{Target: target})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer cs.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	factory := externalversions.NewSharedInformerFactoryWithOptions(cs, 0,
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
	gpus := factory.Device().V1alpha1().GPUs()
	_, _ = gpus.Informer().AddEventHandler(transitionPrinter(condition))
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer stop()

	syncCtx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), gpus.Informer().HasSynced) {
		fmt.Fprintf(os.Stderr, "cache not synced within %v\n", syncTimeout)
		return 2
	}
	list, _ := gpus.Lister().List(labels.Everything())
	sort.Slice(list, func(i, j int) bool { return key(list[i]) < key(list[j]) })
	healthy := 0
	for _, g := range list {
		if meta.IsStatusConditionTrue(g.Status.Conditions, condition) {
			healthy++
		}
	}
	fmt.Printf("synced: %d/%d GPUs %s\n", healthy, len(list), condition)
	if once {
		if len(list) < minGPUs {
			fmt.Fprintf(os.Stderr, "gate closed: %d GPUs selected, fewer than --min-gpus=%d\n", len(list), minGPUs)
			return 1
		}
		if healthy == len(list) {
			return 0
		}
		return 1
	}
	<-ctx.Done()
	return 0
}

// transitionPrinter prints adds, deletes and every change of the condition's status.
func transitionPrinter(condition string) cache.ResourceEventHandler {
	state := func(g *devicev1alpha1.GPU) string {
		if c := meta.FindStatusCondition(g.Status.Conditions, condition); c != nil {
			return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
		}
		return "absent"
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			g := obj.(*devicev1alpha1.GPU)
			fmt.Printf("%s %s=%s\n", key(g), condition, state(g))
		},
		UpdateFunc: func(oldObj, newObj any) {
			was, is := state(oldObj.(*devicev1alpha1.GPU)), state(newObj.(*devicev1alpha1.GPU))
			if was != is {
				fmt.Printf("%s %s: %s -> %s\n", key(newObj.(*devicev1alpha1.GPU)), condition, was, is)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if g, ok := obj.(*devicev1alpha1.GPU); ok {
				fmt.Printf("%s removed\n", key(g))
			}
		},
	}
}

func key(g *devicev1alpha1.GPU) string { return g.Namespace + "/" + g.Name }
