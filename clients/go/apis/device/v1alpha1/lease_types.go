package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Lease is a provider's claim on the GPU conditions it reports (S28-S30): Kubernetes'
// coordination.k8s.io/v1 Lease plus the condition types its holder owns. While the holder
// renews it in time those conditions stand; when it stops, the server turns each owned
// condition of every GPU Unknown with reason ProviderLeaseExpired.
//
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type Lease struct {
	metav1.TypeMeta `json:",inline"`
	// Carried on the wire as for GPU: name, namespace, uid, resourceVersion, generation,
	// creationTimestamp, labels and annotations.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec LeaseSpec `json:"spec,omitempty"`
}

// LeaseSpec mirrors coordination/v1's LeaseSpec. The wire's scalars have no presence, so
// the identity, duration and transition count are plain values here (coordination/v1 has
// pointers); the times keep their presence: nil asks the server to fill them.
type LeaseSpec struct {
	// Who holds the lease (a pod or host name); empty: released.
	HolderIdentity string `json:"holderIdentity,omitempty"`
	// 1-3600: how long after RenewTime the lease stays valid.
	LeaseDurationSeconds int32 `json:"leaseDurationSeconds,omitempty"`
	// When the current holder acquired it; nil on a change of holder: the server's clock.
	AcquireTime *metav1.MicroTime `json:"acquireTime,omitempty"`
	// When the holder last renewed it; nil: the server's clock, so a renewal is an update
	// with RenewTime cleared.
	RenewTime *metav1.MicroTime `json:"renewTime,omitempty"`
	// How many times the holder changed; the server counts take-overs.
	LeaseTransitions int32 `json:"leaseTransitions,omitempty"`
	// The condition types the holder owns on every GPU of the node: valid condition
	// types, none owned by another live lease.
	ConditionTypes []string `json:"conditionTypes,omitempty"`
}

// LeaseList is a list of Leases with the revision it was taken at.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type LeaseList struct {
	metav1.TypeMeta `json:",inline"`
	// ResourceVersion is the lease store's revision the list was taken at.
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Lease `json:"items"`
}
