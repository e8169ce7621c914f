// Package v1alpha1 holds the Go types of the Device API (group device.nvidia.com, version
// v1alpha1) as Kubernetes-style runtime.Objects, their scheme registration, deep copies and
// the conversions to and from the wire messages of package pb.
//
// The types are what the clientset, informers, listers and fake clientset of this module
// speak; the wire messages stay an implementation detail of the transport.
//
// +k8s:deepcopy-gen=package
// +groupName=device.nvidia.com
package v1alpha1
