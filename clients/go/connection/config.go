// Package connection turns a Config into a gRPC connection to the Device API Server: the
// target, TLS or mutual TLS for TCP listeners, keepalive, the user agent and the default
// deadline of unary calls. The clientset is built from a Config (NewForConfig) or from a
// connection made here.
package connection

import (
	"os"
	"path/filepath"
	"time"
)

const (
	// TargetEnv names the environment variable read when Config.Target is empty.
	TargetEnv = "NVIDIA_DEVICE_API_TARGET"
	// DefaultTarget is the node's default socket, used when neither Config.Target nor
	// TargetEnv say otherwise.
	DefaultTarget = "unix:///var/run/nvidia-device-api/device-api.sock"
	// DefaultTimeout bounds unary calls whose context has no deadline.
	DefaultTimeout = 10 * time.Second
	// DefaultKeepaliveTime is the idle time after which the client pings the server. It is
	// above the server's keepalive enforcement minimum (10 s), which disconnects clients
	// that ping more often.
	DefaultKeepaliveTime = 30 * time.Second
	// DefaultKeepaliveTimeout is how long an unanswered ping may take before the
	// connection is considered dead.
	DefaultKeepaliveTimeout = 10 * time.Second
	// DefaultMaxRecvMsgSize is the largest response a client accepts. gRPC's own default,
	// 4 MiB, is less than a List of the largest nodes (1,024 GPUs with 32 conditions of
	// 200-byte messages: about 7.3 MiB), which would fail on every relist; this is four
	// times the server's default --max-send-msg-size.
	DefaultMaxRecvMsgSize = 64 << 20
	// DefaultReconnectBackoff is the first wait before reconnecting to a server that went
	// away, growing 1.6 times per failed attempt up to Config.MaxReconnectBackoff. The
	// server is node-local: gRPC's own first wait is a second.
	DefaultReconnectBackoff = 100 * time.Millisecond
	// DefaultMaxReconnectBackoff is the longest wait between connection attempts (±20%
	// jitter). gRPC's own, 120 s, left clients disconnected for up to two minutes after a
	// server that had been down for a while came back.
	DefaultMaxReconnectBackoff = 3 * time.Second
	// DefaultConnectTimeout is the least time one connection attempt gets (gRPC's own
	// default), however short the backoff: a server slow to answer a new connection (a
	// loaded node) must not fail every call as unreachable.
	DefaultConnectTimeout = 20 * time.Second
)

// Config says how to reach a Device API Server. The zero value connects to the node's
// default socket (or $NVIDIA_DEVICE_API_TARGET) in plaintext.
type Config struct {
	// Target is a gRPC target: "unix:///path/to.sock", "host:port" or "dns:///host:port".
	Target string
	// TLS, when set, secures a TCP connection. Unix sockets use no TLS: for a unix: or
	// unix-abstract: target it is ignored (its files are not read).
	TLS *TLSConfig
	// UserAgent is sent with every call; empty: DefaultUserAgent().
	UserAgent string
	// Timeout bounds each unary call whose context has no deadline; 0: DefaultTimeout,
	// negative: no bound. Watches are never bounded by it (use their context).
	Timeout time.Duration
	// KeepaliveTime and KeepaliveTimeout tune HTTP/2 keepalive pings; 0: the defaults
	// above, negative KeepaliveTime: no pings.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// MaxRecvMsgSize is the largest response accepted (a List, a watch event); larger
	// ones fail with ResourceExhausted. 0: DefaultMaxRecvMsgSize.
	MaxRecvMsgSize int
	// MaxReconnectBackoff is the longest wait between attempts to reconnect to a server
	// that went away; 0: DefaultMaxReconnectBackoff.
	MaxReconnectBackoff time.Duration
}

// TLSConfig is the client side of TLS: the CA that signs the server's certificate and, for
// mutual TLS, the client's own certificate and key. Files are PEM.
type TLSConfig struct {
	// CAFile verifies the server; empty: the system's roots.
	CAFile string
	// CertFile and KeyFile identify the client (mTLS); both or neither.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
}

// ResolvedTarget is the target a connection made from c dials: c.Target, else
// $NVIDIA_DEVICE_API_TARGET, else DefaultTarget.
func (c *Config) ResolvedTarget() string {
	if c != nil && c.Target != "" {
		return c.Target
	}
	if t := os.Getenv(TargetEnv); t != "" {
		return t
	}
	return DefaultTarget
}

// ResolvedTimeout is the deadline given to unary calls without one (0: none).
func (c *Config) ResolvedTimeout() time.Duration {
	switch {
	case c == nil || c.Timeout == 0:
		return DefaultTimeout
	case c.Timeout < 0:
		return 0
	default:
		return c.Timeout
	}
}

// DefaultUserAgent is "<program> device-api-client-go", in the spirit of client-go's
// default, so the server's logs tell consumers apart.
func DefaultUserAgent() string {
	prog := "unknown"
	if len(os.Args) > 0 && os.Args[0] != "" {
		prog = filepath.Base(os.Args[0])
	}
	return prog + " device-api-client-go"
}
