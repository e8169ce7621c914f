package k8sbridge

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

// GPUState is what the bridge concludes about one GPU from its conditions.
type GPUState int

const (
	// GPUHealthy: every condition is True.
	GPUHealthy GPUState = iota
	// GPUUnknown: no condition is False, but one is Unknown (e.g. its provider's lease
	// expired) or the GPU has no conditions yet. Nothing is known either way, so the bridge
	// neither adds nor removes a taint for it.
	GPUUnknown
	// GPUUnhealthy: at least one condition is False.
	GPUUnhealthy
)

func (s GPUState) String() string {
	switch s {
	case GPUHealthy:
		return "Healthy"
	case GPUUnknown:
		return "Unknown"
	default:
		return "Unhealthy"
	}
}

// GPUHealth is one GPU's state with the condition that decided it.
type GPUHealth struct {
	Namespace string // the object's namespace
	Name      string // the object's name (the lower-case UUID)
	UUID      string // spec.uuid as NVML reports it: what DRA drivers publish
	State     GPUState
	Action    string // status.recommendedAction
	// The deciding condition (first False, else first Unknown, in the object's order).
	Condition, Reason, Message string
}

// AssessGPU derives a GPU's health from its conditions.
func AssessGPU(g *devicev1alpha1.GPU) GPUHealth {
	h := GPUHealth{Namespace: g.Namespace, Name: g.Name, UUID: g.Spec.UUID, Action: g.Status.RecommendedAction}
	if h.UUID == "" {
		h.UUID = g.Name
	}
	if len(g.Status.Conditions) == 0 {
		h.State, h.Reason = GPUUnknown, "NoConditions"
		return h
	}
	var unknown *metav1.Condition
	for i := range g.Status.Conditions {
		c := &g.Status.Conditions[i]
		switch c.Status {
		case metav1.ConditionFalse:
			h.State, h.Condition, h.Reason, h.Message = GPUUnhealthy, c.Type, c.Reason, c.Message
			return h
		case metav1.ConditionTrue:
		default:
			if unknown == nil {
				unknown = c
			}
		}
	}
	if unknown != nil {
		h.State, h.Condition, h.Reason, h.Message = GPUUnknown, unknown.Type, unknown.Reason, unknown.Message
	}
	return h
}

// NodeHealth is the node condition the bridge wants, with the GPUs behind it.
type NodeHealth struct {
	Status  metav1.ConditionStatus
	Reason  string
	Message string
	GPUs    []GPUHealth // every GPU, sorted by UUID, then namespace and name
	// Absent are the GPUs that have a rule but are missing from the server, within their
	// grace (Config.AbsentGPUGrace), sorted by UUID; they count as unknown.
	Absent []GPUHealth
}

// Reasons of the node condition.
const (
	ReasonAllHealthy        = "AllGpusHealthy"
	ReasonUnhealthy         = "GpuUnhealthy"
	ReasonUnknown           = "GpuHealthUnknown"
	ReasonNoGPUs            = "NoGpusRegistered"
	ReasonServerUnavailable = "DeviceAPIUnavailable"
)

// reasonAbsent is what the node condition's message says of a GPU in NodeHealth.Absent,
// where a present GPU's deciding reason would stand.
const reasonAbsent = "AbsentFromServer"

// maxListedGPUs bounds the node condition's message: a node's status is read by every
// scheduler and controller, so it must stay small however many GPUs fail.
const maxListedGPUs = 16

// AssessNode derives the node condition from the GPUs of a reachable, ready server. False
// wins over Unknown: a GPU known to be broken must be reported even while others are
// unknown. A node whose server holds no GPU is Unknown (the provider has not registered).
func AssessNode(gpus []*devicev1alpha1.GPU) NodeHealth {
	hs := make([]GPUHealth, 0, len(gpus))
	for _, g := range gpus {
		hs = append(hs, AssessGPU(g))
	}
	// The lister's order is a map's: a UUID held twice (in two namespaces) is ordered by
	// its objects' namespace and name, so the same object comes first on every pass.
	sort.Slice(hs, func(i, j int) bool {
		a, b := hs[i], hs[j]
		if a.UUID != b.UUID {
			return a.UUID < b.UUID
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return nodeHealth(hs, nil)
}

// nodeHealth is AssessNode over assessed GPUs (sorted as AssessNode sorts them) and the
// absent ones (sorted by UUID). An absent GPU had a rule, so it was unhealthy when last
// seen, and nothing is known of it now: it counts as unknown, which keeps the node from
// True, and its node taint as it is, as long as its rule is kept.
func nodeHealth(gpus, absent []GPUHealth) NodeHealth {
	n := NodeHealth{GPUs: gpus, Absent: absent}
	var bad, unknown []GPUHealth
	for _, h := range n.GPUs {
		switch h.State {
		case GPUUnhealthy:
			bad = append(bad, h)
		case GPUUnknown:
			unknown = append(unknown, h)
		}
	}
	if len(absent) > 0 {
		unknown = append(unknown, absent...)
		sort.SliceStable(unknown, func(i, j int) bool { return unknown[i].UUID < unknown[j].UUID })
	}
	total := len(n.GPUs) + len(absent)
	switch {
	case len(bad) > 0:
		n.Status, n.Reason = metav1.ConditionFalse, ReasonUnhealthy
		n.Message = fmt.Sprintf("%d of %d GPUs unhealthy: %s", len(bad), total, listGPUs(bad))
		if len(unknown) > 0 {
			n.Message += fmt.Sprintf("; %d unknown: %s", len(unknown), listGPUs(unknown))
		}
	case len(unknown) > 0:
		n.Status, n.Reason = metav1.ConditionUnknown, ReasonUnknown
		n.Message = fmt.Sprintf("%d of %d GPUs unknown: %s", len(unknown), total, listGPUs(unknown))
	case total == 0:
		n.Status, n.Reason = metav1.ConditionUnknown, ReasonNoGPUs
		n.Message = "the node's Device API server holds no GPU"
	default:
		n.Status, n.Reason = metav1.ConditionTrue, ReasonAllHealthy
		n.Message = fmt.Sprintf("all %d GPUs healthy", total)
	}
	return n
}

// ServerUnavailable is the node condition while the local server cannot be trusted.
func ServerUnavailable(why string) NodeHealth {
	return NodeHealth{Status: metav1.ConditionUnknown, Reason: ReasonServerUnavailable,
		Message: "the node's Device API server is unavailable: " + why}
}

// listGPUs renders "UUID Condition=Status Reason (action ACTION)" per GPU, at most
// maxListedGPUs of them.
func listGPUs(hs []GPUHealth) string {
	parts := make([]string, 0, maxListedGPUs+1)
	for i, h := range hs {
		if i == maxListedGPUs {
			parts = append(parts, fmt.Sprintf("and %d more", len(hs)-i))
			break
		}
		s := h.UUID
		if h.Condition != "" {
			status := "False"
			if h.State == GPUUnknown {
				status = "Unknown"
			}
			s += " " + h.Condition + "=" + status
		}
		if h.Reason != "" {
			s += " " + h.Reason
		}
		if h.Action != "" {
			s += " (action " + h.Action + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
