package v1alpha1

import (
	"google.golang.org/protobuf/types/known/timestamppb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nvidia/device-api-server/clients/go/pb"
)

// Conversions between the types of this package and the wire messages. They are total and
// lossless for every field the wire carries: ToProto(FromProto(m)) equals m, and
// FromProto(ToProto(o)) equals o restricted to the carried fields (ObjectMeta fields the
// server does not store, such as finalizers or owner references, are not sent).
// Results never share memory with their argument (maps and slices are copied).

// GPUFromProto converts a wire Gpu into a GPU. A nil message gives an empty GPU.
func GPUFromProto(m *pb.Gpu) *GPU {
	out := &GPU{}
	if m == nil {
		return out
	}
	out.ObjectMeta = ObjectMetaFromProto(m.GetMetadata())
	out.Spec.UUID = m.GetSpec().GetUuid()
	s := m.GetStatus()
	out.Status.RecommendedAction = s.GetRecommendedAction()
	if len(s.GetConditions()) > 0 {
		out.Status.Conditions = make([]metav1.Condition, len(s.GetConditions()))
		for i, c := range s.GetConditions() {
			out.Status.Conditions[i] = ConditionFromProto(c)
		}
	}
	if d := s.GetDeviceInfo(); d != nil {
		out.Status.DeviceInfo = &DeviceInfo{
			ProductName:       d.GetProductName(),
			PCIBusID:          d.GetPciBusId(),
			MemoryTotalBytes:  d.GetMemoryTotalBytes(),
			DriverVersion:     d.GetDriverVersion(),
			CUDADriverVersion: d.GetCudaDriverVersion(),
			Serial:            d.GetSerial(),
			Architecture:      d.GetArchitecture(),
			MinorNumber:       d.GetMinorNumber(),
			Index:             d.GetIndex(),
			VBIOSVersion:      d.GetVbiosVersion(),
			BoardPartNumber:   d.GetBoardPartNumber(),
		}
	}
	return out
}

// GPUToProto converts a GPU into a wire Gpu.
func GPUToProto(g *GPU) *pb.Gpu {
	if g == nil {
		return &pb.Gpu{}
	}
	out := &pb.Gpu{
		Metadata: ObjectMetaToProto(&g.ObjectMeta),
		Spec:     &pb.GpuSpec{Uuid: g.Spec.UUID},
		Status:   &pb.GpuStatus{RecommendedAction: g.Status.RecommendedAction},
	}
	if len(g.Status.Conditions) > 0 {
		out.Status.Conditions = make([]*pb.Condition, len(g.Status.Conditions))
		for i := range g.Status.Conditions {
			out.Status.Conditions[i] = ConditionToProto(&g.Status.Conditions[i])
		}
	}
	if d := g.Status.DeviceInfo; d != nil {
		out.Status.DeviceInfo = &pb.DeviceInfo{
			ProductName:       d.ProductName,
			PciBusId:          d.PCIBusID,
			MemoryTotalBytes:  d.MemoryTotalBytes,
			DriverVersion:     d.DriverVersion,
			CudaDriverVersion: d.CUDADriverVersion,
			Serial:            d.Serial,
			Architecture:      d.Architecture,
			MinorNumber:       d.MinorNumber,
			Index:             d.Index,
			VbiosVersion:      d.VBIOSVersion,
			BoardPartNumber:   d.BoardPartNumber,
		}
	}
	return out
}

// GPUListFromProto converts a wire GpuList into a GPUList.
func GPUListFromProto(m *pb.GpuList) *GPUList {
	return &GPUList{ListMeta: listMetaFromProto(m.GetMetadata()), Items: itemsFromProto(m.GetItems(), GPUFromProto)}
}

// GPUListToProto converts a GPUList into a wire GpuList.
func GPUListToProto(l *GPUList) *pb.GpuList {
	return &pb.GpuList{Metadata: listMetaToProto(&l.ListMeta), Items: itemsToProto(l.Items, GPUToProto)}
}

// LeaseFromProto converts a wire Lease into a Lease. A nil message gives an empty Lease.
func LeaseFromProto(m *pb.Lease) *Lease {
	out := &Lease{}
	if m == nil {
		return out
	}
	out.ObjectMeta = ObjectMetaFromProto(m.GetMetadata())
	s := m.GetSpec()
	out.Spec = LeaseSpec{
		HolderIdentity:       s.GetHolderIdentity(),
		LeaseDurationSeconds: s.GetLeaseDurationSeconds(),
		AcquireTime:          microTimeFromProto(s.GetAcquireTime()),
		RenewTime:            microTimeFromProto(s.GetRenewTime()),
		LeaseTransitions:     s.GetLeaseTransitions(),
		ConditionTypes:       copyStrings(s.GetConditionTypes()),
	}
	return out
}

// LeaseToProto converts a Lease into a wire Lease. Nil times are sent unset, which the
// server fills.
func LeaseToProto(l *Lease) *pb.Lease {
	if l == nil {
		return &pb.Lease{}
	}
	return &pb.Lease{
		Metadata: ObjectMetaToProto(&l.ObjectMeta),
		Spec: &pb.LeaseSpec{
			HolderIdentity:       l.Spec.HolderIdentity,
			LeaseDurationSeconds: l.Spec.LeaseDurationSeconds,
			AcquireTime:          microTimeToProto(l.Spec.AcquireTime),
			RenewTime:            microTimeToProto(l.Spec.RenewTime),
			LeaseTransitions:     l.Spec.LeaseTransitions,
			ConditionTypes:       copyStrings(l.Spec.ConditionTypes),
		},
	}
}

// LeaseListFromProto converts a wire LeaseList into a LeaseList.
func LeaseListFromProto(m *pb.LeaseList) *LeaseList {
	return &LeaseList{ListMeta: listMetaFromProto(m.GetMetadata()), Items: itemsFromProto(m.GetItems(), LeaseFromProto)}
}

// LeaseListToProto converts a LeaseList into a wire LeaseList.
func LeaseListToProto(l *LeaseList) *pb.LeaseList {
	return &pb.LeaseList{Metadata: listMetaToProto(&l.ListMeta), Items: itemsToProto(l.Items, LeaseToProto)}
}

// listMetaFromProto and listMetaToProto carry a list's revision, the one field of the
// wire's ListMeta; shared by every kind.
func listMetaFromProto(m *pb.ListMeta) metav1.ListMeta {
	return metav1.ListMeta{ResourceVersion: m.GetResourceVersion()}
}

func listMetaToProto(m *metav1.ListMeta) *pb.ListMeta {
	return &pb.ListMeta{ResourceVersion: m.ResourceVersion}
}

// itemsFromProto converts a list's items with the kind's conversion; nil when empty, as
// a list decoded from JSON without items.
func itemsFromProto[M any, O any](items []M, convert func(M) *O) []O {
	if len(items) == 0 {
		return nil
	}
	out := make([]O, len(items))
	for i, item := range items {
		out[i] = *convert(item)
	}
	return out
}

// itemsToProto converts a list's items to the wire; nil when empty.
func itemsToProto[O any, M any](items []O, convert func(*O) M) []M {
	if len(items) == 0 {
		return nil
	}
	out := make([]M, len(items))
	for i := range items {
		out[i] = convert(&items[i])
	}
	return out
}

// ObjectMetaFromProto converts wire metadata; shared by every kind.
func ObjectMetaFromProto(m *pb.ObjectMeta) metav1.ObjectMeta {
	if m == nil {
		return metav1.ObjectMeta{}
	}
	return metav1.ObjectMeta{
		Name:              m.GetName(),
		Namespace:         m.GetNamespace(),
		UID:               types.UID(m.GetUid()),
		ResourceVersion:   m.GetResourceVersion(),
		Generation:        m.GetGeneration(),
		CreationTimestamp: timeFromProto(m.GetCreationTimestamp()),
		Labels:            copyMap(m.GetLabels()),
		Annotations:       copyMap(m.GetAnnotations()),
	}
}

// ObjectMetaToProto converts the carried fields of metadata to the wire; shared by every kind.
func ObjectMetaToProto(m *metav1.ObjectMeta) *pb.ObjectMeta {
	return &pb.ObjectMeta{
		Name:              m.Name,
		Namespace:         m.Namespace,
		Uid:               string(m.UID),
		ResourceVersion:   m.ResourceVersion,
		Generation:        m.Generation,
		CreationTimestamp: timeToProto(m.CreationTimestamp),
		Labels:            copyMap(m.Labels),
		Annotations:       copyMap(m.Annotations),
	}
}

// ConditionFromProto converts a wire condition into a metav1.Condition.
func ConditionFromProto(c *pb.Condition) metav1.Condition {
	return metav1.Condition{
		Type:               c.GetType(),
		Status:             metav1.ConditionStatus(c.GetStatus()),
		ObservedGeneration: c.GetObservedGeneration(),
		LastTransitionTime: timeFromProto(c.GetLastTransitionTime()),
		Reason:             c.GetReason(),
		Message:            c.GetMessage(),
	}
}

// ConditionToProto converts a metav1.Condition into a wire condition. A zero
// LastTransitionTime is sent as unset, which the server fills (S6).
func ConditionToProto(c *metav1.Condition) *pb.Condition {
	return &pb.Condition{
		Type:               c.Type,
		Status:             string(c.Status),
		ObservedGeneration: c.ObservedGeneration,
		LastTransitionTime: timeToProto(c.LastTransitionTime),
		Reason:             c.Reason,
		Message:            c.Message,
	}
}

func timeFromProto(t *timestamppb.Timestamp) metav1.Time {
	if t == nil {
		return metav1.Time{}
	}
	return metav1.NewTime(t.AsTime())
}

func timeToProto(t metav1.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t.Time)
}

// microTimeFromProto keeps the wire's presence: an unset time is nil.
func microTimeFromProto(t *timestamppb.Timestamp) *metav1.MicroTime {
	if t == nil {
		return nil
	}
	m := metav1.NewMicroTime(t.AsTime())
	return &m
}

func microTimeToProto(t *metav1.MicroTime) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(t.Time)
}

// copyStrings copies a slice; nil when empty.
func copyStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
