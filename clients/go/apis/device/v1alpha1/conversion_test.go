package v1alpha1

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nvidia/device-api-server/clients/go/pb"
)

// Every field the wire carries survives wire -> GPU -> wire, and the result shares no
// memory with its source (S11 on the client side).
func TestGPURoundTripKeepsEveryWireField(t *testing.T) {
	in := sampleGPU()
	g := GPUFromProto(in)
	if out := GPUToProto(g); !proto.Equal(in, out) {
		t.Fatalf("round trip lost fields:\n in: %v\nout: %v", in, out)
	}
	g.Labels["a"] = "changed"
	if in.Metadata.Labels["a"] != "b" {
		t.Fatal("converted labels share the message's map")
	}
	list := &pb.GpuList{Metadata: &pb.ListMeta{ResourceVersion: "43"}, Items: []*pb.Gpu{in, in}}
	if out := GPUListToProto(GPUListFromProto(list)); !proto.Equal(list, out) {
		t.Fatalf("list round trip: %v", out)
	}
	// Deep copies are independent too.
	c := g.DeepCopy()
	c.Status.Conditions[0].Reason = "Other"
	c.Status.DeviceInfo.Serial = "other"
	if g.Status.Conditions[0].Reason != "XidError" || g.Status.DeviceInfo.Serial != "123" {
		t.Fatal("DeepCopy shares memory")
	}
}

func TestEmptyMessagesConvertToZeroValues(t *testing.T) {
	g := GPUFromProto(nil)
	if g.Name != "" || g.Status.DeviceInfo != nil || g.Status.Conditions != nil {
		t.Fatalf("%+v", g)
	}
	m := GPUToProto(&GPU{})
	if m.Metadata.CreationTimestamp != nil || m.Status.DeviceInfo != nil {
		t.Fatalf("zero times and absent device info must stay unset on the wire: %v", m)
	}
}

func TestLeaseRoundTripKeepsEveryWireField(t *testing.T) {
	in := sampleLease()
	l := LeaseFromProto(in)
	if out := LeaseToProto(l); !proto.Equal(in, out) {
		t.Fatalf("round trip lost fields:\n in: %v\nout: %v", in, out)
	}
	l.Spec.ConditionTypes[0] = "Changed"
	if in.Spec.ConditionTypes[0] != "NVMLReady" {
		t.Fatal("converted condition types share the message's slice")
	}
	list := &pb.LeaseList{Metadata: &pb.ListMeta{ResourceVersion: "9"}, Items: []*pb.Lease{in, in}}
	if out := LeaseListToProto(LeaseListFromProto(list)); !proto.Equal(list, out) {
		t.Fatalf("list round trip: %v", out)
	}
	c := l.DeepCopy()
	c.Spec.RenewTime.Time = time.Unix(0, 0)
	if l.Spec.RenewTime.Equal(c.Spec.RenewTime) {
		t.Fatal("DeepCopy shares the renew time")
	}
	// Unset times stay unset both ways: the server fills them (renewal, acquisition).
	if m := LeaseToProto(&Lease{}); m.Spec.RenewTime != nil || m.Spec.AcquireTime != nil {
		t.Fatalf("nil times must stay unset on the wire: %v", m)
	}
	if l := LeaseFromProto(&pb.Lease{Spec: &pb.LeaseSpec{}}); l.Spec.RenewTime != nil || l.Spec.AcquireTime != nil {
		t.Fatalf("unset times must convert to nil: %+v", l.Spec)
	}
}

// The JSON form of the Go types has the wire's JSON names (the proto's lowerCamelCase),
// so a patch document written against the Go types means the same to the server's
// PatchGpu (S31), and a lease patch means the same as a GPU patch.
func TestJSONFieldNamesAreTheWireNames(t *testing.T) {
	for name, c := range map[string]struct {
		wire proto.Message
		obj  any
	}{
		"GPU":   {sampleGPU(), GPUFromProto(sampleGPU())},
		"Lease": {sampleLease(), LeaseFromProto(sampleLease())},
	} {
		w, err := protojson.Marshal(c.wire)
		if err != nil {
			t.Fatal(err)
		}
		o, err := json.Marshal(c.obj)
		if err != nil {
			t.Fatal(err)
		}
		wantKeys, gotKeys := jsonPaths(t, w), jsonPaths(t, o)
		if !reflect.DeepEqual(wantKeys, gotKeys) {
			t.Errorf("%s: JSON field paths differ from the wire's:\nwire: %v\n  Go: %v", name, wantKeys, gotKeys)
		}
	}
}

// jsonPaths lists the paths of a JSON document's object keys (arrays as "[]").
func jsonPaths(t *testing.T, doc []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, item := range x {
				out = append(out, prefix+k)
				walk(prefix+k+".", item)
			}
		case []any:
			for _, item := range x {
				walk(prefix+"[].", item)
			}
		}
	}
	walk("", v)
	sort.Strings(out)
	return slices.Compact(out)
}

// sampleTime has sub-second digits, which the wire keeps.
var sampleTime = timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC))

// sampleMeta is metadata with every field the wire carries set.
func sampleMeta(name, uid, rv string, generation int64) *pb.ObjectMeta {
	return &pb.ObjectMeta{Name: name, Namespace: "ns", Uid: uid, ResourceVersion: rv, Generation: generation,
		CreationTimestamp: sampleTime, Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"c": "d"}}
}

func sampleLease() *pb.Lease {
	ts := sampleTime
	return &pb.Lease{
		Metadata: sampleMeta("nvml-provider", "u-2", "7", 1),
		Spec: &pb.LeaseSpec{HolderIdentity: "node-1", LeaseDurationSeconds: 40, AcquireTime: ts,
			RenewTime: timestamppb.New(ts.AsTime().Add(time.Second)), LeaseTransitions: 2,
			ConditionTypes: []string{"NVMLReady", "example.com/Probe"}},
	}
}

func sampleGPU() *pb.Gpu {
	ts := sampleTime
	return &pb.Gpu{
		Metadata: sampleMeta("gpu-0", "u-1", "42", 3),
		Spec:     &pb.GpuSpec{Uuid: "GPU-00000000-1111-2222-3333-444444444444"},
		Status: &pb.GpuStatus{
			Conditions: []*pb.Condition{{Type: "Ready", Status: "False", LastTransitionTime: ts,
				Reason: "XidError", Message: "xid 79", ObservedGeneration: 3}},
			RecommendedAction: "RESTART_BM",
			DeviceInfo: &pb.DeviceInfo{ProductName: "H100", PciBusId: "0000:3b:00.0", MemoryTotalBytes: 1 << 36,
				DriverVersion: "580.1", CudaDriverVersion: "13.0", Serial: "123", Architecture: "Hopper",
				MinorNumber: 1, Index: 2, VbiosVersion: "96.00", BoardPartNumber: "900-2"},
		},
	}
}
