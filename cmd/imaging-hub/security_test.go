package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"imagingstatus/server/hubtest"
	"imagingstatus/wire"
)

// selfSigned writes a certificate for 127.0.0.1 and its key; the cert is
// its own CA.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imaging hub test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "hub.crt"), filepath.Join(dir, "hub.key")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func TestTLSHubAndAgentVerification(t *testing.T) {
	e := hubtest.NewEnv(t, "", interval)
	cert, key := selfSigned(t, e.Dir)
	hash := e.NewToken(t, "UUID0")
	tok := e.Tokens["UUID0"]
	e.WriteConfig(t, `{"listen":"127.0.0.1:0","interval":"`+interval.String()+`","tls":{"cert":"`+cert+`","key":"`+key+`"},
		"entities":[{"id":"UUID0","name":"General","server":{"name":"srv","token_sha256":"`+hash+`"}}]}`)
	hub := e.StartHub(t)
	if !strings.HasPrefix(hub.URL, "https://") {
		t.Fatalf("the hub listens on %s, want https", hub.URL)
	}
	e.Repo = filepath.Join(e.Dir, "repo")
	if err := os.MkdirAll(filepath.Join(e.Repo, "masters"), 0o755); err != nil {
		t.Fatal(err)
	}

	// Without the CA the agent refuses the hub's certificate and says so.
	untrusting := e.Agent(t, "UUID0")
	untrusting.WaitOutput(t, "certificate signed by unknown authority")
	untrusting.Kill(syscall.SIGTERM)

	// With --ca-file it connects over WSS.
	e.Agent(t, "UUID0", "--ca-file", cert)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(cert)
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	hubtest.WaitFor(t, "available over TLS", func() bool {
		resp, err := client.Get(hub.URL + "/api/v1/entities/UUID0")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var e wire.Entity
		_ = json.NewDecoder(resp.Body).Decode(&e)
		if resp.Header.Get("Strict-Transport-Security") == "" {
			t.Error("no HSTS header over TLS")
		}
		return e.Status == wire.StatusAvailable
	})
	// Plain HTTP to the TLS port does not leak anything.
	if resp, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + hub.Addr + "/api/v1/entities"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the TLS port answered plain HTTP with data")
		}
	}
	if strings.Contains(hub.Output(), tok) || strings.Contains(untrusting.Output(), tok) {
		t.Fatal("a token appears in a log")
	}
}

func TestHubRefusesPlainHTTPUnlessAsked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hub.json")
	_ = os.WriteFile(p, []byte(`{"listen":"127.0.0.1:0","entities":[{"id":"a","name":"A"}]}`), 0o600)
	if r := hubtest.Run(t, nil, "imaging-hub", "serve", "--config", p); r.Code == 0 || !strings.Contains(r.Output(), `"plain_http": true`) {
		t.Fatalf("plain HTTP without asking: exit %d\n%s", r.Code, r.Output())
	}
}
