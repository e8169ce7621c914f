package k8sbridge

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

const (
	uuid0 = "GPU-00000000-1111-2222-3333-444444444444"
	uuid1 = "GPU-11111111-1111-2222-3333-444444444444"
	uuid2 = "GPU-22222222-1111-2222-3333-444444444444"
)

func cond(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message}
}

// newGPU is a GPU as nvml-provider registers it: named by the lower-case UUID.
func newGPU(uuid, action string, conds ...metav1.Condition) *devicev1alpha1.GPU {
	return &devicev1alpha1.GPU{
		ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(uuid), Namespace: "default"},
		Spec:       devicev1alpha1.GPUSpec{UUID: uuid},
		Status:     devicev1alpha1.GPUStatus{Conditions: conds, RecommendedAction: action},
	}
}

func TestAssessGPU(t *testing.T) {
	name0 := strings.ToLower(uuid0)
	for _, tc := range []struct {
		name string
		gpu  *devicev1alpha1.GPU
		want GPUHealth
	}{{
		name: "no conditions is Unknown",
		gpu:  newGPU(uuid0, ""),
		want: GPUHealth{Namespace: "default", Name: name0, UUID: uuid0, State: GPUUnknown, Reason: "NoConditions"},
	}, {
		name: "every condition True is Healthy",
		gpu: newGPU(uuid0, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", "ok"),
			cond("DCGMReady", metav1.ConditionTrue, "Healthy", "ok")),
		want: GPUHealth{Namespace: "default", Name: name0, UUID: uuid0, State: GPUHealthy},
	}, {
		name: "a True condition with an action (a warning) is still Healthy",
		gpu:  newGPU(uuid0, "RESTART_APP", cond("NVMLReady", metav1.ConditionTrue, "XidWarning", "warning only")),
		want: GPUHealth{Namespace: "default", Name: name0, UUID: uuid0, State: GPUHealthy, Action: "RESTART_APP"},
	}, {
		name: "False is Unhealthy with the condition that decided",
		gpu: newGPU(uuid0, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, "GPULost", "Xid 79"),
			cond("DCGMReady", metav1.ConditionTrue, "Healthy", "")),
		want: GPUHealth{Namespace: "default", Name: name0, UUID: uuid0, State: GPUUnhealthy, Action: "RESTART_BM",
			Condition: "NVMLReady", Reason: "GPULost", Message: "Xid 79"},
	}, {
		name: "False beats an earlier Unknown",
		gpu: newGPU(uuid0, "RESET_GPU", cond("NVMLReady", metav1.ConditionUnknown, "ProviderLeaseExpired", "lease"),
			cond("DCGMReady", metav1.ConditionFalse, "EccDoubleBitError", "dbe")),
		want: GPUHealth{Namespace: "default", Name: name0, UUID: uuid0, State: GPUUnhealthy, Action: "RESET_GPU",
			Condition: "DCGMReady", Reason: "EccDoubleBitError", Message: "dbe"},
	}, {
		name: "the first False in the object's order decides",
		gpu: newGPU(uuid0, "", cond("A", metav1.ConditionFalse, "FirstReason", "first"),
			cond("B", metav1.ConditionFalse, "SecondReason", "second")),
		want: GPUHealth{Namespace: "default", Name: name0, UUID: uuid0, State: GPUUnhealthy, Condition: "A", Reason: "FirstReason", Message: "first"},
	}, {
		name: "Unknown without False is Unknown, the first Unknown decides",
		gpu: newGPU(uuid0, "", cond("A", metav1.ConditionTrue, "Healthy", ""),
			cond("B", metav1.ConditionUnknown, "ProviderLeaseExpired", "lease expired"),
			cond("C", metav1.ConditionUnknown, "Other", "")),
		want: GPUHealth{Namespace: "default", Name: name0, UUID: uuid0, State: GPUUnknown, Condition: "B", Reason: "ProviderLeaseExpired", Message: "lease expired"},
	}, {
		name: "an empty status counts as Unknown",
		gpu:  newGPU(uuid0, "", cond("A", "", "", "")),
		want: GPUHealth{Namespace: "default", Name: name0, UUID: uuid0, State: GPUUnknown, Condition: "A"},
	}, {
		name: "no spec.uuid falls back to the name",
		gpu: &devicev1alpha1.GPU{ObjectMeta: metav1.ObjectMeta{Name: "gpu-x"},
			Status: devicev1alpha1.GPUStatus{Conditions: []metav1.Condition{cond("A", metav1.ConditionTrue, "", "")}}},
		want: GPUHealth{Name: "gpu-x", UUID: "gpu-x", State: GPUHealthy},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AssessGPU(tc.gpu); got != tc.want {
				t.Errorf("AssessGPU =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

func TestGPUStateString(t *testing.T) {
	for s, want := range map[GPUState]string{GPUHealthy: "Healthy", GPUUnknown: "Unknown", GPUUnhealthy: "Unhealthy"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestAssessNode(t *testing.T) {
	healthy := func(uuid string) *devicev1alpha1.GPU {
		return newGPU(uuid, "", cond("NVMLReady", metav1.ConditionTrue, "Healthy", ""))
	}
	lost := func(uuid string) *devicev1alpha1.GPU {
		return newGPU(uuid, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, "GPULost", "fallen off the bus"))
	}
	expired := func(uuid string) *devicev1alpha1.GPU {
		return newGPU(uuid, "", cond("NVMLReady", metav1.ConditionUnknown, "ProviderLeaseExpired", ""))
	}
	for _, tc := range []struct {
		name            string
		gpus            []*devicev1alpha1.GPU
		status          metav1.ConditionStatus
		reason, message string
		wantUUIDs       []string
	}{{
		name:   "no GPUs is Unknown NoGpusRegistered",
		status: metav1.ConditionUnknown, reason: ReasonNoGPUs,
		message: "the node's Device API server holds no GPU",
	}, {
		name: "all healthy", gpus: []*devicev1alpha1.GPU{healthy(uuid1), healthy(uuid0)},
		status: metav1.ConditionTrue, reason: ReasonAllHealthy, message: "all 2 GPUs healthy",
		wantUUIDs: []string{uuid0, uuid1},
	}, {
		name: "one unknown", gpus: []*devicev1alpha1.GPU{healthy(uuid0), expired(uuid1)},
		status: metav1.ConditionUnknown, reason: ReasonUnknown,
		message: "1 of 2 GPUs unknown: " + uuid1 + " NVMLReady=Unknown ProviderLeaseExpired",
	}, {
		name: "a GPU without conditions is unknown", gpus: []*devicev1alpha1.GPU{newGPU(uuid0, "")},
		status: metav1.ConditionUnknown, reason: ReasonUnknown,
		message: "1 of 1 GPUs unknown: " + uuid0 + " NoConditions",
	}, {
		name: "False beats Unknown", gpus: []*devicev1alpha1.GPU{expired(uuid0), lost(uuid2), healthy(uuid1)},
		status: metav1.ConditionFalse, reason: ReasonUnhealthy,
		message: "1 of 3 GPUs unhealthy: " + uuid2 + " NVMLReady=False GPULost (action RESTART_BM)" +
			"; 1 unknown: " + uuid0 + " NVMLReady=Unknown ProviderLeaseExpired",
		wantUUIDs: []string{uuid0, uuid1, uuid2},
	}, {
		name: "unhealthy GPUs are listed in UUID order", gpus: []*devicev1alpha1.GPU{lost(uuid2), lost(uuid0)},
		status: metav1.ConditionFalse, reason: ReasonUnhealthy,
		message: "2 of 2 GPUs unhealthy: " + uuid0 + " NVMLReady=False GPULost (action RESTART_BM), " +
			uuid2 + " NVMLReady=False GPULost (action RESTART_BM)",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n := AssessNode(tc.gpus)
			if n.Status != tc.status || n.Reason != tc.reason || n.Message != tc.message {
				t.Errorf("AssessNode = %s %s %q\nwant        %s %s %q", n.Status, n.Reason, n.Message, tc.status, tc.reason, tc.message)
			}
			if len(n.GPUs) != len(tc.gpus) {
				t.Fatalf("%d GPUs, want %d", len(n.GPUs), len(tc.gpus))
			}
			for i, u := range tc.wantUUIDs {
				if n.GPUs[i].UUID != u {
					t.Errorf("GPUs[%d] = %s, want %s (sorted by UUID)", i, n.GPUs[i].UUID, u)
				}
			}
		})
	}
}

// A server that holds one UUID twice (in two namespaces) lists the two in one order,
// whatever order the informer's cache returns them in: by namespace, then name, so the
// same object decides the GPU's rule on every pass.
func TestAssessNodeOrdersADuplicateUUIDByObject(t *testing.T) {
	gpu := func(namespace, name, reason string) *devicev1alpha1.GPU {
		g := newGPU(uuid0, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, reason, ""))
		g.Namespace, g.Name = namespace, name
		return g
	}
	a, b, c := gpu("default", "gpu-1", "GPULost"), gpu("other", "gpu-0", "XidError"), gpu("default", "gpu-2", "EccError")
	for _, gpus := range [][]*devicev1alpha1.GPU{{a, b, c}, {b, c, a}, {c, b, a}, {b, a, c}} {
		h := AssessNode(gpus)
		var got []string
		for _, g := range h.GPUs {
			got = append(got, g.Reason)
		}
		if want := []string{"GPULost", "EccError", "XidError"}; !slices.Equal(got, want) {
			t.Errorf("AssessNode(%s, %s, %s): reasons %q, want %q", gpus[0].Name, gpus[1].Name, gpus[2].Name, got, want)
		}
	}
}

// A GPU missing from the server within its grace counts as unknown: it is listed among the
// unknown ones, in UUID order, and counted in the total; False still wins.
func TestAbsentGPUCountsAsUnknown(t *testing.T) {
	present := AssessNode([]*devicev1alpha1.GPU{
		newGPU(uuid2, "", cond("NVMLReady", metav1.ConditionUnknown, "ProviderLeaseExpired", "")),
		newGPU(uuid0, "RESTART_BM", cond("NVMLReady", metav1.ConditionFalse, "GPULost", "")),
	}).GPUs
	absent := []GPUHealth{{UUID: uuid1, State: GPUUnknown, Reason: reasonAbsent}}
	n := nodeHealth(present, absent)
	want := "1 of 3 GPUs unhealthy: " + uuid0 + " NVMLReady=False GPULost (action RESTART_BM); 2 unknown: " +
		uuid1 + " AbsentFromServer, " + uuid2 + " NVMLReady=Unknown ProviderLeaseExpired"
	if n.Status != metav1.ConditionFalse || n.Reason != ReasonUnhealthy || n.Message != want || len(n.GPUs) != 2 {
		t.Errorf("nodeHealth = %s %s %q, %d GPUs\nwant False %s %q, 2 GPUs", n.Status, n.Reason, n.Message, len(n.GPUs), ReasonUnhealthy, want)
	}
}

func TestAssessNodeMessageIsBounded(t *testing.T) {
	uuidN := func(i int) string { return fmt.Sprintf("GPU-%08d-0000-0000-0000-000000000000", i) }
	for _, tc := range []struct {
		bad, unknown int
		listed       int
		more         string
	}{
		{bad: 16, listed: 16},
		{bad: 17, listed: 16, more: "and 1 more"},
		{bad: 1000, listed: 16, more: "and 984 more"},
	} {
		t.Run(fmt.Sprint(tc.bad), func(t *testing.T) {
			var gpus []*devicev1alpha1.GPU
			for i := 0; i < tc.bad; i++ {
				gpus = append(gpus, newGPU(uuidN(i), "RESET_GPU", cond("NVMLReady", metav1.ConditionFalse, "XidError", "Xid 48")))
			}
			n := AssessNode(gpus)
			if n.Status != metav1.ConditionFalse || n.Reason != ReasonUnhealthy {
				t.Fatalf("got %s %s", n.Status, n.Reason)
			}
			prefix := fmt.Sprintf("%d of %d GPUs unhealthy: ", tc.bad, tc.bad)
			if !strings.HasPrefix(n.Message, prefix) {
				t.Fatalf("message %q does not start with %q", n.Message, prefix)
			}
			for i := 0; i < tc.bad; i++ {
				in := strings.Contains(n.Message, uuidN(i))
				if in != (i < tc.listed) {
					t.Errorf("GPU %d listed = %v, want %v", i, in, i < tc.listed)
				}
			}
			if got := strings.Count(n.Message, "(action RESET_GPU)"); got != tc.listed {
				t.Errorf("%d GPUs listed with their action, want %d", got, tc.listed)
			}
			if tc.more == "" {
				if strings.Contains(n.Message, "more") {
					t.Errorf("message %q says more", n.Message)
				}
			} else if !strings.HasSuffix(n.Message, ", "+tc.more) {
				t.Errorf("message %q does not end with %q", n.Message, tc.more)
			}
			// 16 entries of about 80 bytes: the node's status stays small however many fail.
			if len(n.Message) > 16*100+100 {
				t.Errorf("message is %d bytes", len(n.Message))
			}
		})
	}

	// The unknown list is bounded as well.
	var gpus []*devicev1alpha1.GPU
	gpus = append(gpus, newGPU("GPU-zzzz", "RESET_GPU", cond("NVMLReady", metav1.ConditionFalse, "XidError", "")))
	for i := 0; i < 20; i++ {
		gpus = append(gpus, newGPU(uuidN(i), "", cond("NVMLReady", metav1.ConditionUnknown, "ProviderLeaseExpired", "")))
	}
	n := AssessNode(gpus)
	want := "1 of 21 GPUs unhealthy: GPU-zzzz NVMLReady=False XidError (action RESET_GPU); 20 unknown: "
	if !strings.HasPrefix(n.Message, want) || !strings.HasSuffix(n.Message, ", and 4 more") {
		t.Errorf("message %q", n.Message)
	}
}

func TestServerUnavailable(t *testing.T) {
	n := ServerUnavailable("health check: connection refused")
	if n.Status != metav1.ConditionUnknown || n.Reason != "DeviceAPIUnavailable" ||
		n.Message != "the node's Device API server is unavailable: health check: connection refused" || n.GPUs != nil {
		t.Errorf("ServerUnavailable = %+v", n)
	}
}

func TestReasonConstants(t *testing.T) {
	// The documented values: schedulers and alerts match on them.
	for got, want := range map[string]string{
		ReasonAllHealthy: "AllGpusHealthy", ReasonUnhealthy: "GpuUnhealthy", ReasonUnknown: "GpuHealthUnknown",
		ReasonNoGPUs: "NoGpusRegistered", ReasonServerUnavailable: "DeviceAPIUnavailable",
	} {
		if got != want {
			t.Errorf("reason %q, want %q", got, want)
		}
	}
}
