// Command device-api-k8s-bridge projects the GPU health held by a node's Device API server
// into the Kubernetes API: a Node condition (default GpuHealthy), Node events, a DRA
// DeviceTaintRule per unhealthy GPU and, optionally, a Node taint. One runs per node
// (a container of the server's DaemonSet); docs/kubernetes.md describes what it writes.
//
// Every flag can also be set by an environment variable: DEVICE_API_K8S_BRIDGE_ and the
// flag's name in upper case with '-' as '_' (the node name also from NODE_NAME). A flag
// given on the command line wins. Exit codes: 0 after SIGTERM/SIGINT, 1 on a runtime
// failure, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"

	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/connection"
	"github.com/nvidia/device-api-server/clients/go/freshness"
	"github.com/nvidia/device-api-server/clients/go/informers/externalversions"
	"github.com/nvidia/device-api-server/clients/go/k8sbridge"
)

const envPrefix = "DEVICE_API_K8S_BRIDGE_"

type options struct {
	cfg                  k8sbridge.Config
	server, kubeconfig   string
	taintEffects         string
	nodeTaint            string
	qps                  float64
	burst                int
	healthAddr, logLevel string
}

func main() {
	os.Exit(run())
}

func run() int {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "device-api-k8s-bridge:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, o); err != nil {
		klog.ErrorS(err, "device-api-k8s-bridge failed")
		klog.Flush()
		return 1
	}
	klog.InfoS("stopped")
	klog.Flush()
	return 0
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("device-api-k8s-bridge", flag.ContinueOnError)
	fs.StringVar(&o.cfg.NodeName, "node-name", "", "this node's name (default $NODE_NAME; from the downward API's spec.nodeName)")
	fs.StringVar(&o.server, "server", "", "Device API server target (default $"+connection.TargetEnv+", else "+connection.DefaultTarget+")")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else the in-cluster ServiceAccount)")
	fs.StringVar(&o.cfg.ConditionType, "condition-type", "GpuHealthy", "type of the Node condition")
	fs.BoolVar(&o.cfg.DeviceTaintRules, "device-taint-rules", true, "keep a DRA DeviceTaintRule per unhealthy GPU")
	fs.StringVar(&o.cfg.DRADriver, "dra-driver", "gpu.nvidia.com", "DRA driver that publishes the node's GPUs (the rules' driver)")
	fs.StringVar(&o.cfg.UUIDAttribute, "uuid-attribute", "gpu.nvidia.com/uuid", "device attribute DOMAIN/NAME that holds the GPU UUID")
	fs.StringVar(&o.taintEffects, "taint-effects", "*=NoSchedule", "ACTION=EFFECT,... from a GPU's recommended action to the rule's effect (NoSchedule, NoExecute, None); * is every other action")
	fs.StringVar(&o.nodeTaint, "node-taint", "", "KEY[=VALUE]:EFFECT put on the Node while the condition is False (empty: none)")
	fs.Float64Var(&o.qps, "kube-api-qps", 5, "Kubernetes API requests per second, sustained")
	fs.IntVar(&o.burst, "kube-api-burst", 10, "Kubernetes API requests in a burst")
	fs.DurationVar(&o.cfg.ResyncPeriod, "resync-period", 5*time.Minute, "re-check everything this often, repairing drift")
	fs.DurationVar(&o.cfg.ProbeInterval, "probe-interval", time.Second, "how often the local server's health is checked")
	fs.DurationVar(&o.cfg.HeartbeatInterval, "heartbeat-interval", 5*time.Minute, "write an unchanged Node condition again this often (its lastHeartbeatTime)")
	fs.DurationVar(&o.cfg.AbsentGPUGrace, "absent-gpu-grace", 5*time.Minute, "how long a GPU missing from the server keeps its DeviceTaintRule, and keeps the node condition from True")
	fs.DurationVar(&o.cfg.MaxRetryDelay, "max-retry-delay", 15*time.Second, "longest back-off before a failed reconcile is retried")
	fs.StringVar(&o.healthAddr, "health-probe-bind-address", ":8083", "address of /healthz, /readyz and /metrics (empty: off)")
	fs.StringVar(&o.logLevel, "log-level", "info", "info or debug")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v, ok := os.LookupEnv(envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")))
		if !ok && f.Name == "node-name" {
			v, ok = os.LookupEnv("NODE_NAME")
		}
		if ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("environment for --%s: %w", f.Name, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	var err error
	if o.cfg.TaintEffects, err = k8sbridge.ParseEffectMap(o.taintEffects); err != nil {
		return nil, err
	}
	if o.cfg.NodeTaint, err = k8sbridge.ParseNodeTaint(o.nodeTaint); err != nil {
		return nil, err
	}
	if o.qps <= 0 || o.burst < 1 {
		return nil, fmt.Errorf("--kube-api-qps must be > 0 and --kube-api-burst >= 1")
	}
	if o.cfg.ProbeInterval <= 0 || o.cfg.ResyncPeriod <= 0 {
		return nil, fmt.Errorf("--probe-interval and --resync-period must be > 0")
	}
	if o.cfg.HeartbeatInterval < time.Second {
		return nil, fmt.Errorf("--heartbeat-interval must be at least 1s: the API keeps lastHeartbeatTime in whole seconds")
	}
	if o.cfg.MaxRetryDelay <= 0 || o.cfg.AbsentGPUGrace <= 0 {
		return nil, fmt.Errorf("--max-retry-delay and --absent-gpu-grace must be > 0")
	}
	switch o.logLevel {
	case "info":
	case "debug":
		var kfs flag.FlagSet
		klog.InitFlags(&kfs)
		_ = kfs.Set("v", "4")
	default:
		return nil, fmt.Errorf("--log-level %q: want info or debug", o.logLevel)
	}
	// A pass writes no more rules than one burst of the rate limiter allows at once.
	o.cfg.WritesPerPass = o.burst
	o.cfg.Defaults()
	return o, o.cfg.Validate()
}

func kubeConfig(path string) (*rest.Config, error) {
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	if path == "" {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", path)
}

func serve(ctx context.Context, o *options) error {
	rc, err := kubeConfig(o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}
	// One token bucket for every client (typed, dynamic, events): the flags bound all of
	// the bridge's requests together, whatever mix of writes a reconcile needs.
	rc.QPS, rc.Burst = float32(o.qps), o.burst
	rc.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(rc.QPS, rc.Burst)
	rc.UserAgent = "device-api-k8s-bridge/" + o.cfg.NodeName
	// The API server warns on every request to a deprecated version (v1alpha3 rules): once is enough.
	rc.WarningHandler = rest.NewWarningWriter(os.Stderr, rest.WarningWriterOptions{Deduplicate: true})
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}

	dc := &connection.Config{Target: o.server}
	conn, err := connection.Dial(dc)
	if err != nil {
		return err
	}
	defer conn.Close()
	devices := versioned.NewForConn(conn, dc)
	factory := externalversions.NewSharedInformerFactory(devices, 0)
	gpuInformer := factory.Device().V1alpha1().GPUs().Informer()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The server must be serving, and the GPU cache must have caught up with it since it
	// was last unavailable, before the bridge writes anything from that cache.
	prober := k8sbridge.Probers{k8sbridge.GRPCHealthProber{Conn: conn}, freshness.New(devices.DeviceV1alpha1().GPUs(""), gpuInformer)}
	b, err := k8sbridge.New(o.cfg, kube, dyn, gpuInformer, prober, k8sbridge.NewMetrics(reg))
	if err != nil {
		return err
	}
	if o.healthAddr != "" {
		ln, err := net.Listen("tcp", o.healthAddr)
		if err != nil {
			return fmt.Errorf("--health-probe-bind-address: %w", err)
		}
		srv := healthServer(b, reg)
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		klog.InfoS("health and metrics listening", "address", ln.Addr().String())
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	klog.InfoS("bridge starting", "node", o.cfg.NodeName, "server", dc.ResolvedTarget(), "kubernetes", rc.Host,
		"condition", o.cfg.ConditionType, "deviceTaintRules", o.cfg.DeviceTaintRules, "nodeTaint", o.nodeTaint,
		"qps", o.qps, "burst", o.burst)
	if err := b.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func healthServer(b *k8sbridge.Bridge, reg *prometheus.Registry) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := b.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Whole-request deadlines and a header cap: a stuck client costs one goroutine briefly.
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
}
