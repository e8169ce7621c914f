package v1alpha1

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nvidia/device-api-server/clients/go/pb"
)

// Every field the wire carries survives wire -> GPU -> wire, and the result shares no
// memory with its source (S11 on the client side).
func TestGPURoundTripKeepsEveryWireField(t *testing.T) {
	ts := timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC))
	in := &pb.Gpu{
		Metadata: &pb.ObjectMeta{Name: "gpu-0", Namespace: "ns", Uid: "u-1", ResourceVersion: "42",
			Generation: 3, CreationTimestamp: ts, Labels: map[string]string{"a": "b"},
			Annotations: map[string]string{"c": "d"}},
		Spec: &pb.GpuSpec{Uuid: "GPU-00000000-1111-2222-3333-444444444444"},
		Status: &pb.GpuStatus{
			Conditions: []*pb.Condition{{Type: "Ready", Status: "False", LastTransitionTime: ts,
				Reason: "XidError", Message: "xid 79", ObservedGeneration: 3}},
			RecommendedAction: "RESTART_BM",
			DeviceInfo: &pb.DeviceInfo{ProductName: "H100", PciBusId: "0000:3b:00.0", MemoryTotalBytes: 1 << 36,
				DriverVersion: "580.1", CudaDriverVersion: "13.0", Serial: "123", Architecture: "Hopper",
				MinorNumber: 1, Index: 2, VbiosVersion: "96.00", BoardPartNumber: "900-2"},
		},
	}
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
