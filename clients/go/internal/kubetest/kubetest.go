// Package kubetest runs a real Kubernetes control plane for this module's tests: etcd and
// a kube-apiserver of the pinned release (scripts/build-kube-apiserver.sh builds it from
// the Go module proxy), on loopback ports, with static tokens for authentication, RBAC for
// authorization and the DRA device-taint API enabled. No kubelet, scheduler or controller
// manager runs: Nodes are created by the test.
//
// Binaries: $KUBE_APISERVER_BIN and $ETCD_BIN (scripts/test-go.sh sets both), else etcd on
// PATH. A test skips only when the variable is unset and no binary is found, and fails
// when a variable names something missing.
package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// Env names of the binaries.
const (
	APIServerEnv = "KUBE_APISERVER_BIN"
	EtcdEnv      = "ETCD_BIN"
)

// AdminToken authenticates as a member of system:masters.
const AdminToken = "admin-token"

// User is a static-token identity the control plane accepts.
type User struct {
	Token, Name string
	Groups      []string
}

// ServiceAccountUser is the identity of namespace/name's ServiceAccount, as RBAC subjects
// of kind ServiceAccount match it.
func ServiceAccountUser(token, namespace, name string) User {
	return User{Token: token, Name: "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}}
}

// ControlPlane is a running etcd and kube-apiserver.
type ControlPlane struct {
	Dir             string
	Host            string // https://127.0.0.1:PORT
	etcd, apiserver *exec.Cmd
	apiserverExited chan struct{}
}

// Binaries finds the two binaries; ok is false when they are not configured or found.
func Binaries() (apiserver, etcd string, ok bool, err error) {
	apiserver, etcd = os.Getenv(APIServerEnv), os.Getenv(EtcdEnv)
	if etcd == "" {
		etcd, _ = exec.LookPath("etcd")
	}
	if apiserver == "" || etcd == "" {
		return apiserver, etcd, false, nil
	}
	for _, p := range []string{apiserver, etcd} {
		if _, err := os.Stat(p); err != nil {
			return apiserver, etcd, false, err
		}
	}
	return apiserver, etcd, true, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs etcd and a kube-apiserver under dir and waits until the API server is ready.
// users may authenticate besides the admin.
func Start(dir string, users ...User) (*ControlPlane, error) {
	apiserverBin, etcdBin, ok, err := Binaries()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no kube-apiserver/etcd: set %s and %s (scripts/test-go.sh does)", APIServerEnv, EtcdEnv)
	}
	cp := &ControlPlane{Dir: dir}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cp.etcd, _, err = startLogged(filepath.Join(dir, "etcd.log"), etcdBin,
		"--name", "test", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "test="+peerURL, "--log-level", "warn")
	if err != nil {
		return nil, err
	}

	keyFile := filepath.Join(dir, "sa.key")
	if err := writeKey(keyFile); err != nil {
		cp.Stop()
		return nil, err
	}
	tokens := fmt.Sprintf("%s,admin,admin,\"system:masters,system:authenticated\"\n", AdminToken)
	for _, u := range users {
		tokens += fmt.Sprintf("%s,%s,%s,\"%s\"\n", u.Token, u.Name, u.Name, strings.Join(u.Groups, ","))
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		cp.Stop()
		return nil, err
	}
	cp.Host = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	cp.apiserver, cp.apiserverExited, err = startLogged(filepath.Join(dir, "kube-apiserver.log"), apiserverBin,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", fmt.Sprint(ports[2]),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", keyFile, "--service-account-signing-key-file", keyFile,
		"--token-auth-file", tokenFile, "--authorization-mode", "RBAC",
		// The device-taint API: alpha in the pinned release, off unless asked for.
		"--feature-gates", "DRADeviceTaints=true", "--runtime-config", "resource.k8s.io/v1alpha3=true",
		"--service-cluster-ip-range", "10.96.0.0/24", "--endpoint-reconciler-type", "none",
		"--enable-priority-and-fairness=false")
	if err != nil {
		cp.Stop()
		return nil, err
	}
	if err := cp.waitReady(90 * time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "kube-apiserver.log"))
		elog, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
		cp.Stop()
		return nil, fmt.Errorf("%w\n--- kube-apiserver log (tail):\n%s\n--- etcd log (tail):\n%s", err, tail(log, 4000), tail(elog, 2000))
	}
	return cp, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func startLogged(logPath, bin string, args ...string) (*exec.Cmd, chan struct{}, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, and killed with the test binary: a failed test run leaves
	// no control plane behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(exited) }()
	return cmd, exited, nil
}

func writeKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return os.WriteFile(path, b, 0o600)
}

// Config is a client configuration for the user holding token.
func (cp *ControlPlane) Config(token string) *rest.Config {
	// The tests use the v1alpha3 device-taint API on purpose; its deprecation warning is noise.
	return &rest.Config{Host: cp.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS: 200, Burst: 400, WarningHandler: rest.NoWarnings{}}
}

// WriteKubeconfig writes a kubeconfig for the user holding token and returns its path.
func (cp *ControlPlane) WriteKubeconfig(name, token string) (string, error) {
	path := filepath.Join(cp.Dir, name+".kubeconfig")
	doc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: %s
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: %s}
current-context: test
`, cp.Host, name, token, name)
	return path, os.WriteFile(path, []byte(doc), 0o600)
}

func (cp *ControlPlane) waitReady(timeout time.Duration) error {
	rc := cp.Config(AdminToken)
	tr, err := rest.TransportFor(rc)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-cp.apiserverExited:
			return fmt.Errorf("kube-apiserver exited")
		default:
		}
		resp, err := client.Get(cp.Host + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready within %v: %s", timeout, last)
}

// Metrics fetches the API server's /metrics text as the admin.
func (cp *ControlPlane) Metrics(ctx context.Context) (string, error) {
	tr, err := rest.TransportFor(cp.Config(AdminToken))
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cp.Host+"/metrics", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String(), nil
}

// Stop ends both processes.
func (cp *ControlPlane) Stop() {
	for _, c := range []*exec.Cmd{cp.apiserver, cp.etcd} {
		if c != nil && c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
}
