// Package k8s tests the node bridge end to end: a real etcd and kube-apiserver
// (internal/kubetest), the real device-api-server, the real nvml-provider on the fake NVML
// library, and the real device-api-k8s-bridge binary, authorized by exactly the RBAC rules
// that deploy/ ships.
package k8s

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/nvidia/device-api-server/clients/go/internal/kubetest"
)

var (
	// skipReason is set when the control plane's binaries are not available.
	skipReason string
	cp         *kubetest.ControlPlane
	bridgeBin  string
	// rbac is the ClusterRole and ClusterRoleBinding of deploy/static, and bridgeUser the
	// identity of the ServiceAccount they bind.
	rbacRole    rbacv1.ClusterRole
	rbacBinding rbacv1.ClusterRoleBinding
	bridgeUser  kubetest.User
)

const bridgeToken = "bridge-token"

// repoRoot is the repository's root, found from the package directory.
func repoRoot() string {
	dir, _ := os.Getwd()
	return filepath.Clean(filepath.Join(dir, "../../../.."))
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, _, ok, err := kubetest.Binaries(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	} else if !ok {
		skipReason = fmt.Sprintf("no kube-apiserver/etcd (set %s and %s; scripts/test-go.sh does)", kubetest.APIServerEnv, kubetest.EtcdEnv)
		return m.Run()
	}
	if err := loadRBAC(filepath.Join(repoRoot(), "deploy/static/device-api-k8s-bridge-rbac.yaml")); err != nil {
		fmt.Fprintln(os.Stderr, "RBAC manifest:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "k8s-bridge-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bridgeBin = filepath.Join(dir, "device-api-k8s-bridge")
	build := exec.Command("go", "build", "-o", bridgeBin, "../../cmd/device-api-k8s-bridge")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build the bridge: %v\n%s", err, out)
		return 1
	}
	cp, err = kubetest.Start(dir, bridgeUser, taintUser)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cp.Stop()
	return m.Run()
}

// loadRBAC reads the ClusterRole and ClusterRoleBinding from the shipped manifest.
func loadRBAC(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		raw, _ := jsonOf(doc)
		switch doc["kind"] {
		case "ClusterRole":
			if err := fromJSON(raw, &rbacRole); err != nil {
				return err
			}
		case "ClusterRoleBinding":
			if err := fromJSON(raw, &rbacBinding); err != nil {
				return err
			}
		}
	}
	if rbacRole.Name == "" || rbacBinding.Name == "" {
		return fmt.Errorf("%s: want a ClusterRole and a ClusterRoleBinding", path)
	}
	for _, s := range rbacBinding.Subjects {
		if s.Kind == rbacv1.ServiceAccountKind {
			bridgeUser = kubetest.ServiceAccountUser(bridgeToken, s.Namespace, s.Name)
			return nil
		}
	}
	return fmt.Errorf("%s: the binding has no ServiceAccount subject", path)
}

func requireControlPlane(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// taintUser runs the bridge with a node taint: the shipped role plus the Node update that
// the chart grants only when a node taint is configured.
var taintUser = kubetest.User{Token: "taint-bridge-token", Name: "taint-bridge", Groups: []string{"system:authenticated"}}
