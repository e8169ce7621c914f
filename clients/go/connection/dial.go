package connection

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Dial creates a client connection for c. Like grpc.NewClient it does not block: an
// unreachable server shows up as an UNAVAILABLE error on the first call. extra options
// come last, so they override the ones derived from c.
func Dial(c *Config, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	if c == nil {
		c = &Config{}
	}
	opts, err := DialOptions(c)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(c.ResolvedTarget(), append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("device API target %q: %w", c.ResolvedTarget(), err)
	}
	return conn, nil
}

// DialOptions are the gRPC dial options for c: credentials, keepalive, user agent, the
// largest response accepted and the reconnect backoff.
func DialOptions(c *Config) ([]grpc.DialOption, error) {
	creds := insecure.NewCredentials()
	if c.TLS != nil && !isUnixTarget(c.ResolvedTarget()) {
		tc, err := c.TLS.build()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent()
	}
	maxRecv := c.MaxRecvMsgSize
	if maxRecv <= 0 {
		maxRecv = DefaultMaxRecvMsgSize
	}
	bo := backoff.DefaultConfig
	bo.BaseDelay, bo.MaxDelay = DefaultReconnectBackoff, DefaultMaxReconnectBackoff
	if c.MaxReconnectBackoff > 0 {
		bo.MaxDelay = c.MaxReconnectBackoff
	}
	bo.BaseDelay = min(bo.BaseDelay, bo.MaxDelay)
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithUserAgent(ua),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecv)),
		// MinConnectTimeout must be set: left zero, gRPC bounds each attempt by the
		// backoff alone (100 ms at first).
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: DefaultConnectTimeout})}
	if c.KeepaliveTime >= 0 {
		kp := keepalive.ClientParameters{Time: DefaultKeepaliveTime, Timeout: DefaultKeepaliveTimeout}
		if c.KeepaliveTime > 0 {
			kp.Time = c.KeepaliveTime
		}
		if c.KeepaliveTimeout > 0 {
			kp.Timeout = c.KeepaliveTimeout
		}
		opts = append(opts, grpc.WithKeepaliveParams(kp))
	}
	return opts, nil
}

// isUnixTarget says whether target names a Unix socket, which Config.TLS does not apply
// to: the server serves its socket in plaintext (TLS is for --tcp-bind-address).
func isUnixTarget(target string) bool {
	return strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:")
}

func (t *TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA file %s: no PEM certificate in it", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("TLS: a client certificate needs both CertFile and KeyFile")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
