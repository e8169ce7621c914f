package k8s

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/nvidia/device-api-server/clients/go/internal/kubetest"
	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
	"github.com/nvidia/device-api-server/clients/go/k8sbridge"
)

func jsonOf(v any) ([]byte, error)   { return json.Marshal(v) }
func fromJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// admin clients of the control plane.
func adminClients(t *testing.T) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	kube, err := kubernetes.NewForConfig(cp.Config(kubetest.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cp.Config(kubetest.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	return kube, dyn
}

var rbacOnce sync.Once

// installRBAC creates the shipped ClusterRole and ClusterRoleBinding once.
func installRBAC(t *testing.T, kube kubernetes.Interface) {
	t.Helper()
	var err error
	rbacOnce.Do(func() {
		ctx := context.Background()
		if _, err = kube.RbacV1().ClusterRoles().Create(ctx, rbacRole.DeepCopy(), metav1.CreateOptions{}); err != nil {
			return
		}
		_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, rbacBinding.DeepCopy(), metav1.CreateOptions{})
	})
	if err != nil {
		t.Fatalf("install RBAC: %v", err)
	}
}

// createNode registers a Node as a kubelet would (without one).
func createNode(t *testing.T, kube kubernetes.Interface, name string) {
	t.Helper()
	_, err := kube.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// proc is a child process with its output in a file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProc(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("--- %s log (tail):\n%s", name, p.tail(3000))
		}
	})
	return p
}

func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitLog waits for a line matching re in the process's log and returns its submatches.
func (p *proc) waitLog(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.log)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: no log line matching %s within %v\n%s", p.name, re, timeout, p.tail(3000))
	return nil
}

// buildDir is the C++ build tree holding the server, the provider and the fake NVML.
func buildDir(t *testing.T) string {
	t.Helper()
	server := testserver.Binary(t)
	return filepath.Dir(filepath.Dir(filepath.Dir(server)))
}

// provider is the real nvml-provider on the fake NVML library.
type provider struct {
	*proc
	ctl string
}

func startProvider(t *testing.T, socket string, gpus int, extra ...string) *provider {
	t.Helper()
	build := buildDir(t)
	bin := filepath.Join(build, "cmd/nvml-provider/nvml-provider")
	ctl := filepath.Join(t.TempDir(), "fake-nvml.sock")
	args := append([]string{"--server", "unix://" + socket, "--driver-root", filepath.Join(build, "fake-driver-root"),
		"--admin-address", "127.0.0.1:0", "--reconcile-interval", "1s", "--event-wait-timeout", "50ms",
		"--backoff-max", "300ms"}, extra...)
	p := &provider{proc: startProc(t, "nvml-provider", []string{"FAKE_NVML_CONTROL=" + ctl, fmt.Sprintf("FAKE_NVML_GPUS=%d", gpus)}, bin, args...), ctl: ctl}
	p.waitLog(t, regexp.MustCompile(`first sync done`), 30*time.Second)
	return p
}

// control sends one command to the fake NVML library's control socket.
func (p *provider) control(t *testing.T, cmd string) {
	t.Helper()
	c, err := net.DialTimeout("unix", p.ctl, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(reply) != "ok" {
		t.Fatalf("fake NVML %s: %q %v", cmd, reply, err)
	}
}

func (p *provider) xid(t *testing.T, gpu, xid int) {
	p.control(t, fmt.Sprintf(`{"op":"xid","gpu":%d,"xid":%d}`, gpu, xid))
}

// reset is what clears a fatal fault: the driver asks for a reset, then the reset is done.
func (p *provider) reset(t *testing.T, gpu int) {
	p.control(t, fmt.Sprintf(`{"op":"recovery","gpu":%d,"action":1}`, gpu))
	time.Sleep(300 * time.Millisecond) // the provider must see the request before the reset
	p.control(t, fmt.Sprintf(`{"op":"reset","gpu":%d}`, gpu))
}

// startBridge runs the bridge binary as user token for node.
func startBridge(t *testing.T, name, token, node, server string, extra ...string) *proc {
	t.Helper()
	kc, err := cp.WriteKubeconfig(name, token)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--kubeconfig", kc, "--node-name", node, "--server", server,
		"--probe-interval", "200ms", "--health-probe-bind-address", "127.0.0.1:0"}, extra...)
	p := startProc(t, name, nil, bridgeBin, args...)
	return p
}

// condition is the Node's bridge condition, or nil.
func condition(t *testing.T, kube kubernetes.Interface, node string) *corev1.NodeCondition {
	t.Helper()
	n, err := kube.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == "GpuHealthy" {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// waitCondition waits until pred holds for the Node's condition; returns the time it took.
func waitCondition(t *testing.T, kube kubernetes.Interface, node string, timeout time.Duration, what string,
	pred func(c *corev1.NodeCondition) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last *corev1.NodeCondition
	for time.Since(start) < timeout {
		last = condition(t, kube, node)
		if last != nil && pred(last) {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node %s: %s not reached within %v; condition is %+v", node, what, timeout, last)
	return 0
}

// rules lists the node's DeviceTaintRules by the bridge's label.
func rules(t *testing.T, dyn dynamic.Interface, node string) map[string]unstructured.Unstructured {
	t.Helper()
	l, err := dyn.Resource(k8sbridge.DeviceTaintRuleGVR).List(context.Background(),
		metav1.ListOptions{LabelSelector: k8sbridge.NodeLabel + "=" + k8sbridge.NodeLabelValue(node)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]unstructured.Unstructured{}
	for _, r := range l.Items {
		out[r.GetAnnotations()[k8sbridge.UUIDAnnotation]] = r
	}
	return out
}

func waitRules(t *testing.T, dyn dynamic.Interface, node string, timeout time.Duration, uuids ...string) map[string]unstructured.Unstructured {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var have map[string]unstructured.Unstructured
	for time.Now().Before(deadline) {
		have = rules(t, dyn, node)
		if len(have) == len(uuids) {
			ok := true
			for _, u := range uuids {
				if _, found := have[u]; !found {
					ok = false
				}
			}
			if ok {
				return have
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	keys := []string{}
	for k := range have {
		keys = append(keys, k)
	}
	t.Fatalf("node %s: want rules for %v, have %v", node, uuids, keys)
	return nil
}

// events lists the Node's events with this reason.
func events(t *testing.T, kube kubernetes.Interface, node, reason string) []corev1.Event {
	t.Helper()
	l, err := kube.CoreV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + node + ",reason=" + reason})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// grant gives user an extra ClusterRole with these rules.
func grant(t *testing.T, kube kubernetes.Interface, name, user string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	_, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
