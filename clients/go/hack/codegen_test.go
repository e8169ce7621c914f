// Package hack holds the code generation of this module and the test that keeps the
// checked-in generated code equal to what hack/update-codegen.sh makes from api/*.proto.
package hack

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates into a copy of the module and compares: it fails
// when api/device_api.proto, a type or a pinned generator changed without
// hack/update-codegen.sh being run.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatal("protoc not found: install Debian's protobuf-compiler (scripts/install-deps.sh)")
	}
	mod, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, p := range []string{"go.mod", "go.sum", "pb", "apis"} {
		copyTree(t, filepath.Join(mod, p), filepath.Join(tmp, p))
	}
	// Generated files are removed first so a file that is no longer generated shows too.
	generated := func(root string) map[string][]byte {
		out := map[string][]byte{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && isGenerated(p) {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(root, p)
				out[rel] = b
			}
			return nil
		})
		return out
	}
	for rel := range generated(tmp) {
		os.Remove(filepath.Join(tmp, rel))
	}
	cmd := exec.Command(filepath.Join(mod, "hack/update-codegen.sh"), tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/update-codegen.sh: %v\n%s", err, out)
	}
	want, got := generated(tmp), map[string][]byte{}
	for _, p := range []string{"pb", "apis"} {
		for rel, b := range generated(filepath.Join(mod, p)) {
			got[filepath.Join(p, rel)] = b
		}
	}
	for rel, b := range want {
		if !bytes.Equal(got[rel], b) {
			t.Errorf("%s is stale: run clients/go/hack/update-codegen.sh and commit the result", rel)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s is no longer generated: remove it", rel)
		}
	}
}

func isGenerated(p string) bool {
	return strings.HasSuffix(p, ".pb.go") || strings.HasPrefix(filepath.Base(p), "zz_generated.")
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
