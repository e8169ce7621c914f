package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nvidia/device-api-server/clients/go/clientset/versioned"
	"github.com/nvidia/device-api-server/clients/go/connection"
	"github.com/nvidia/device-api-server/clients/go/internal/testserver"
)

// connection.TLSConfig reaches a TCP listener with mutual TLS (S35); without the client
// certificate the server refuses the connection.
func TestMutualTLSConnectionS35(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil, true)
	newCert(t, dir, "server", ca, caKey, false)
	newCert(t, dir, "client", ca, caKey, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	testserver.Start(t, "--tcp-bind-address="+addr,
		"--tls-cert-file="+filepath.Join(dir, "server.crt"), "--tls-key-file="+filepath.Join(dir, "server.key"),
		"--tls-client-ca-file="+filepath.Join(dir, "ca.crt"))

	connect := func(tc *connection.TLSConfig) error {
		cs, err := versioned.NewForConfig(&connection.Config{Target: addr, TLS: tc, Timeout: 5 * time.Second})
		if err != nil {
			return err
		}
		defer cs.Close()
		_, err = cs.DeviceV1alpha1().GPUs("").List(ctxT(t), metav1.ListOptions{})
		return err
	}
	mtls := &connection.TLSConfig{CAFile: filepath.Join(dir, "ca.crt"), ServerName: "localhost",
		CertFile: filepath.Join(dir, "client.crt"), KeyFile: filepath.Join(dir, "client.key")}
	if err := connect(mtls); err != nil {
		t.Fatalf("mTLS: %v", err)
	}
	if err := connect(&connection.TLSConfig{CAFile: mtls.CAFile, ServerName: "localhost"}); !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("without a client certificate: %v, want IsServiceUnavailable", err)
	}
	if _, err := versioned.NewForConfig(&connection.Config{Target: addr, TLS: &connection.TLSConfig{CertFile: mtls.CertFile}}); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
}

// newCert writes name.crt and name.key into dir: a CA when isCA, else a leaf for
// localhost/127.0.0.1 signed by parent.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		parent, parentKey = tmpl, key
	} else {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".crt", "CERTIFICATE", der)
	write(name+".key", "EC PRIVATE KEY", keyDER)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}
