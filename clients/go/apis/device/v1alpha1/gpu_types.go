package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GPU is one GPU of the node as the Device API Server keeps it: metadata with a resource
// version, the identity the provider registered (spec) and the health the providers report
// (status).
//
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type GPU struct {
	metav1.TypeMeta `json:",inline"`
	// Carried on the wire: name, namespace, uid, resourceVersion, generation,
	// creationTimestamp, labels and annotations. Other ObjectMeta fields are not stored by
	// the server and are dropped on writes.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GPUSpec   `json:"spec,omitempty"`
	Status GPUStatus `json:"status,omitempty"`
}

// GPUSpec is the identity of a GPU.
type GPUSpec struct {
	// UUID as NVML reports it: "GPU-" followed by 8-4-4-4-12 hexadecimal digits.
	UUID string `json:"uuid"`
}

// GPUStatus is what providers observe about a GPU.
type GPUStatus struct {
	// Conditions, one per type. metav1.Condition carries exactly the wire's fields (type,
	// status, observedGeneration, lastTransitionTime, reason, message), so the helpers of
	// k8s.io/apimachinery/pkg/api/meta (IsStatusConditionTrue, SetStatusCondition, ...) work.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// What an operator or remediation controller should do, e.g. RESTART_APP, RESET_GPU,
	// RESTART_BM; empty when nothing is needed.
	RecommendedAction string `json:"recommendedAction,omitempty"`
	// Attributes of the device as observed by a provider; nil when none was reported.
	DeviceInfo *DeviceInfo `json:"deviceInfo,omitempty"`
}

// DeviceInfo is the observed attributes of a GPU.
type DeviceInfo struct {
	ProductName       string `json:"productName,omitempty"`
	PCIBusID          string `json:"pciBusId,omitempty"`
	MemoryTotalBytes  uint64 `json:"memoryTotalBytes,omitempty"`
	DriverVersion     string `json:"driverVersion,omitempty"`
	CUDADriverVersion string `json:"cudaDriverVersion,omitempty"`
	Serial            string `json:"serial,omitempty"`
	Architecture      string `json:"architecture,omitempty"`
	MinorNumber       int32  `json:"minorNumber,omitempty"`
	Index             int32  `json:"index,omitempty"`
	VBIOSVersion      string `json:"vbiosVersion,omitempty"`
	BoardPartNumber   string `json:"boardPartNumber,omitempty"`
}

// GPUList is a list of GPUs with the revision it was taken at.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type GPUList struct {
	metav1.TypeMeta `json:",inline"`
	// ResourceVersion is the store revision the list was taken at.
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []GPU `json:"items"`
}
