// Package versioned is the clientset of the Device API, in the shape of client-go's
// kubernetes.Clientset: one client per group version, built from a connection.Config.
package versioned

import (
	"fmt"

	"google.golang.org/grpc"

	devicev1alpha1 "github.com/nvidia/device-api-server/clients/go/clientset/versioned/typed/device/v1alpha1"
	"github.com/nvidia/device-api-server/clients/go/connection"
)

// Interface is what consumers depend on, so the fake clientset can stand in.
type Interface interface {
	DeviceV1alpha1() devicev1alpha1.DeviceV1alpha1Interface
}

// Clientset is the real clientset over one gRPC connection; safe for concurrent use.
type Clientset struct {
	deviceV1alpha1 *devicev1alpha1.DeviceV1alpha1Client
	conn           *grpc.ClientConn // owned when made by NewForConfig
}

var _ Interface = (*Clientset)(nil)

// DeviceV1alpha1 returns the client of group device.nvidia.com, version v1alpha1.
func (c *Clientset) DeviceV1alpha1() devicev1alpha1.DeviceV1alpha1Interface {
	return c.deviceV1alpha1
}

// NewForConfig connects as c says (see package connection). It does not block: an
// unreachable server shows up as IsServiceUnavailable on the first call. Close releases
// the connection.
func NewForConfig(c *connection.Config) (*Clientset, error) {
	conn, err := connection.Dial(c)
	if err != nil {
		return nil, err
	}
	cs := NewForConn(conn, c)
	cs.conn = conn
	return cs, nil
}

// NewForConfigOrDie is NewForConfig that panics on a bad configuration.
func NewForConfigOrDie(c *connection.Config) *Clientset {
	cs, err := NewForConfig(c)
	if err != nil {
		panic(fmt.Sprintf("device API clientset: %v", err))
	}
	return cs
}

// NewForConn uses a connection the caller made and keeps owning; c supplies only the
// default call timeout (nil: connection.DefaultTimeout).
func NewForConn(conn grpc.ClientConnInterface, c *connection.Config) *Clientset {
	return &Clientset{deviceV1alpha1: devicev1alpha1.New(conn, c.ResolvedTimeout())}
}

// Close releases the connection NewForConfig made; it does nothing for NewForConn.
func (c *Clientset) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}
