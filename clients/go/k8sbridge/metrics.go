package k8sbridge

import (
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Metrics are the bridge's Prometheus metrics (served by the command on /metrics).
type Metrics struct {
	Reconciles       prometheus.Counter
	ReconcileErrors  prometheus.Counter
	ReconcileSeconds prometheus.Histogram
	// Writes counts the bridge's writes to the Kubernetes API by resource and verb: the
	// figure to watch for load on the API server.
	Writes *prometheus.CounterVec
	// Rules is the number of DeviceTaintRules the node should have.
	Rules      prometheus.Gauge
	nodeStatus *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg (none when reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Reconciles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "device_api_k8s_bridge_reconciles_total", Help: "Reconciles of the node's state in the Kubernetes API."}),
		ReconcileErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "device_api_k8s_bridge_reconcile_errors_total", Help: "Reconciles that failed and were retried with back-off."}),
		ReconcileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "device_api_k8s_bridge_reconcile_duration_seconds", Help: "Time one reconcile took, writes included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
		Writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "device_api_k8s_bridge_api_writes_total", Help: "Writes to the Kubernetes API, by resource and verb (events not included)."},
			[]string{"resource", "verb"}),
		Rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "device_api_k8s_bridge_device_taint_rules", Help: "DeviceTaintRules the node should have (one per unhealthy GPU)."}),
		nodeStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "device_api_k8s_bridge_node_condition", Help: "1 for the status the node condition should have, 0 for the others."},
			[]string{"status"}),
	}
	if reg != nil {
		reg.MustRegister(m.Reconciles, m.ReconcileErrors, m.ReconcileSeconds, m.Writes, m.Rules, m.nodeStatus)
	}
	return m
}

// SetNodeStatus records the condition's status.
func (m *Metrics) SetNodeStatus(s metav1.ConditionStatus) {
	for _, v := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
		x := 0.0
		if v == s {
			x = 1
		}
		m.nodeStatus.WithLabelValues(string(v)).Set(x)
	}
}
