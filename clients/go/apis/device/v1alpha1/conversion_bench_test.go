package v1alpha1

import (
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nvidia/device-api-server/clients/go/pb"
)

// benchGPU is a GPU as the benchmarks seed it: 8 conditions, labels.
func benchGPU() *pb.Gpu {
	m := &pb.Gpu{
		Metadata: &pb.ObjectMeta{Name: "gpu-1", Namespace: "bench", Uid: "0b0c7a3e-0000-4000-8000-000000000000",
			ResourceVersion: "1764600000000123", Generation: 1, CreationTimestamp: timestamppb.Now(),
			Labels: map[string]string{"index": "1"}},
		Spec:   &pb.GpuSpec{Uuid: "GPU-00000001-0000-4000-8000-000000000000"},
		Status: &pb.GpuStatus{},
	}
	for c := 0; c < 8; c++ {
		m.Status.Conditions = append(m.Status.Conditions, &pb.Condition{Type: "Check" + strconv.Itoa(c),
			Status: "True", Reason: "Passed", Message: "health check passed", LastTransitionTime: timestamppb.Now()})
	}
	return m
}

// The client-side cost of one Get beyond gRPC: decoding the response and converting it.
func BenchmarkDecodeAndConvertGPU(b *testing.B) {
	raw, _ := proto.Marshal(&pb.GetGpuResponse{Gpu: benchGPU()})
	b.ReportAllocs()
	for b.Loop() {
		var resp pb.GetGpuResponse
		if err := proto.Unmarshal(raw, &resp); err != nil {
			b.Fatal(err)
		}
		_ = GPUFromProto(resp.GetGpu())
	}
}
