package v1alpha1

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/apis/device/v1alpha1"
)

// LeaseLister lists provider leases of every namespace, or of one with Leases(namespace).
type LeaseLister interface {
	List(selector labels.Selector) (ret []*devicev1alpha1.Lease, err error)
	Leases(namespace string) LeaseNamespaceLister
}

// LeaseNamespaceLister reads the leases of one namespace.
type LeaseNamespaceLister = NamespaceLister[*devicev1alpha1.Lease]

// NewLeaseLister returns a lister over an informer's indexer.
func NewLeaseLister(indexer cache.Indexer) LeaseLister {
	return leaseLister{newKindLister[*devicev1alpha1.Lease](indexer, "lease")}
}

type leaseLister struct {
	kindLister[*devicev1alpha1.Lease]
}

func (s leaseLister) Leases(namespace string) LeaseNamespaceLister { return s.namespace(namespace) }
