package connection

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvidia/device-api-server/clients/go/pb"
)

// serve runs a plaintext gRPC server on lis until the test ends; its GpuService answers
// every call Unimplemented.
func serve(t *testing.T, lis net.Listener) {
	t.Helper()
	s := grpc.NewServer()
	pb.RegisterGpuServiceServer(s, pb.UnimplementedGpuServiceServer{})
	go s.Serve(lis)
	t.Cleanup(s.Stop)
}

func listenUnix(t *testing.T) (net.Listener, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	return lis, "unix://" + sock
}

// call makes one ListGpus call; a server's answer is Unimplemented, a transport failure
// Unavailable (or DeadlineExceeded).
func call(conn *grpc.ClientConn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := pb.NewGpuServiceClient(conn).ListGpus(ctx, &pb.ListGpusRequest{})
	return err
}

// Config.TLS secures TCP only: a Unix socket is dialled in plaintext even when it is set
// (a shared Config whose target is switched to the node's socket).
func TestTLSIsNotAppliedToUnixSockets(t *testing.T) {
	lis, target := listenUnix(t)
	serve(t, lis)
	conn, err := Dial(&Config{Target: target, TLS: &TLSConfig{ServerName: "device-api"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := call(conn, 5*time.Second); status.Code(err) != codes.Unimplemented {
		t.Fatalf("call over the Unix socket with Config.TLS set: %v", err)
	}
}

// slowListener hands out each accepted connection after delay: a server slow to answer
// a new connection (a loaded node).
type slowListener struct {
	net.Listener
	delay time.Duration
}

func (l slowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		time.Sleep(l.delay)
	}
	return c, err
}

// A connection attempt gets the whole connect timeout, not just the reconnect backoff:
// the first call waits for a server that takes 1.5 s to answer a new connection.
func TestASlowHandshakeIsWaitedFor(t *testing.T) {
	lis, target := listenUnix(t)
	serve(t, slowListener{lis, 1500 * time.Millisecond})
	conn, err := Dial(&Config{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := call(conn, 10*time.Second); status.Code(err) != codes.Unimplemented {
		t.Fatalf("first call to a server slow to accept: %v", err)
	}
}

// While the server is down, a client retries connecting at least every few seconds,
// however long the outage (gRPC's own backoff grows to 120 s), so it reaches a server
// that is back within seconds: the device plugin reports every GPU Unhealthy until then.
// The "server" here accepts each connection and closes it, so every attempt is seen.
func TestReconnectAttemptsStayFrequentDuringAnOutage(t *testing.T) {
	const maxGap = 4500 * time.Millisecond // DefaultMaxReconnectBackoff with its jitter, and margin
	lis, target := listenUnix(t)
	var mu sync.Mutex
	last := time.Now()
	attempts := 0
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.Close()
			mu.Lock()
			last = time.Now()
			attempts++
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { lis.Close() })
	conn, err := Dial(&Config{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// gRPC's default backoff waits 1, 1.6, 2.6, 4.1, 6.6 s (±20%): its first wait over
	// maxGap begins within 11.2 s, so 16 s tell it apart.
	start := time.Now()
	for time.Since(start) < 16*time.Second {
		call(conn, 200*time.Millisecond) // polls as the device plugin's freshness check does
		mu.Lock()
		gap, n := time.Since(last), attempts
		mu.Unlock()
		if gap > maxGap {
			t.Fatalf("no connection attempt for %v after %d attempts (%v into the outage)", gap.Round(100*time.Millisecond), n, time.Since(start).Round(time.Second))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
