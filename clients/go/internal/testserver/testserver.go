// Package testserver runs the real device-api-server binary for this module's tests: on a
// private Unix socket, without probe or metrics ports, with flags a test chooses. The
// binary is $DEVICE_API_SERVER_BIN (scripts/test.sh sets it to the suite's build), else
// the normal suite's build tree; a test that needs it skips only when neither exists and
// the variable is unset, and fails when the variable names something missing.
package testserver

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/connection"
)

// BinaryEnv names the variable holding the server binary's path.
const BinaryEnv = "DEVICE_API_SERVER_BIN"

// Server is one server process (restartable) on a fixed socket.
type Server struct {
	t      testing.TB
	bin    string
	Socket string
	Flags  []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *lockedBuffer
}

// Binary finds the server binary or skips/fails t as the package comment says.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", BinaryEnv, p, err)
		}
		return p
	}
	// Tests run in their package directory, somewhere below the repository root.
	for dir, _ := os.Getwd(); dir != "/"; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "build/test/cmd/device-api-server/device-api-server")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("no device-api-server binary: build it (scripts/build.sh build/test) or set %s", BinaryEnv)
	return ""
}

// Supports reports whether the server binary has flag (e.g. "--storage-type"), for tests
// of features that other parts of the project add.
func Supports(t testing.TB, flag string) bool {
	t.Helper()
	out, err := exec.Command(Binary(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v", Binary(t), err)
	}
	return bytes.Contains(out, []byte(flag+" "))
}

// Start runs a server with flags (on top of the socket and disabled ports) and stops it
// when t ends. The server is ready to serve reads when Start returns.
func Start(t testing.TB, flags ...string) *Server {
	t.Helper()
	s := StartUnready(t, flags...)
	s.waitReady()
	return s
}

// StartUnready is Start without waiting for readiness (the socket exists when it returns).
func StartUnready(t testing.TB, flags ...string) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "dapi-go-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{t: t, bin: Binary(t), Socket: filepath.Join(dir, "api.sock"), Flags: flags}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// Target is the gRPC target of the server's socket.
func (s *Server) Target() string { return "unix://" + s.Socket }

// Config is a connection.Config for the server.
func (s *Server) Config() *connection.Config { return &connection.Config{Target: s.Target()} }

// Client is a clientset connected to the server, closed when the test ends.
func (s *Server) Client() *versioned.Clientset {
	cs, err := versioned.NewForConfig(s.Config())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { cs.Close() })
	return cs
}

// Restart starts the process again (after Stop or Kill) and waits until it serves reads.
func (s *Server) Restart() {
	s.t.Helper()
	s.start()
	s.waitReady()
}

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	args := append([]string{"--bind-address=unix://" + s.Socket, "--health-probe-bind-address=0",
		"--metrics-bind-address=0", "--log-format=text", "--shutdown-grace-period=2s",
		// A fresh store per test unless the test names its storage (a later flag wins).
		"--storage-type=memory"}, s.Flags...)
	cmd := exec.Command(s.bin, args...)
	s.logs = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("start %s: %v", s.bin, err)
	}
	s.cmd = cmd
	s.mu.Unlock()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(s.Socket); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no socket after 15 s\n%s", s.Logs())
		}
	}
}

func (s *Server) waitReady() {
	s.t.Helper()
	cs, err := versioned.NewForConfig(s.Config())
	if err != nil {
		s.t.Fatal(err)
	}
	defer cs.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cs.DeviceV1alpha1().GPUs("").List(ctx, metav1.ListOptions{})
		cancel()
		if err == nil {
			return
		}
		if !apierrors.IsServiceUnavailable(err) && !apierrors.IsTimeout(err) || time.Now().After(deadline) {
			s.t.Fatalf("server did not become ready: %v\n%s", err, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the process with SIGTERM (a graceful shutdown, S22) and waits for it.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// Kill ends the process with SIGKILL.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.t.Errorf("server did not exit within 10 s of %v (S34); its log:\n%s", sig, tail(s.logs.String(), 4000))
	}
	s.cmd = nil
	os.Remove(s.Socket) // after SIGKILL the file stays behind
}

// Logs is what the current process printed so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		return ""
	}
	return s.logs.String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
