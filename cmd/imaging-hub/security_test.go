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
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"imagingstatus/server/config"
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
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	tok, hash, _ := config.GenerateToken()
	tokFile := filepath.Join(dir, "agent.token")
	_ = os.WriteFile(tokFile, []byte(tok), 0o600)
	cfgPath := filepath.Join(dir, "hub.json")
	cfg := `{"listen":"127.0.0.1:0","interval":"200ms","tls":{"cert":"` + cert + `","key":"` + key + `"},
		"entities":[{"id":"UUID0","name":"General","server":{"name":"srv","token_sha256":"` + hash + `"}}]}`
	_ = os.WriteFile(cfgPath, []byte(cfg), 0o600)

	hub := startProc(t, "imaging-hub", "serve", "--config", cfgPath)
	re := regexp.MustCompile(`msg="hub listening" addr=(\S+) scheme=https`)
	waitUntil(t, 10*time.Second, "the hub to listen over TLS", func() bool { return re.MatchString(hub.output()) })
	hubURL := "https://" + re.FindStringSubmatch(hub.output())[1]
	repo := filepath.Join(dir, "repo")
	_ = os.MkdirAll(filepath.Join(repo, "masters"), 0o755)

	// Without the CA the agent refuses the hub's certificate and says so.
	untrusting := startProc(t, "imaging-agent", "run", "--hub", hubURL, "--entity", "UUID0", "--token-file", tokFile, "--repo", repo, "--interval", "200ms")
	waitUntil(t, 10*time.Second, "a certificate error in the agent's log", func() bool {
		return strings.Contains(untrusting.output(), "certificate signed by unknown authority")
	})
	untrusting.kill(15)

	// With --ca-file it connects over WSS.
	startProc(t, "imaging-agent", "run", "--hub", hubURL, "--entity", "UUID0", "--token-file", tokFile, "--repo", repo, "--interval", "200ms", "--ca-file", cert)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(cert)
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	waitUntil(t, 10*time.Second, "available over TLS", func() bool {
		resp, err := client.Get(hubURL + "/api/v1/entities/UUID0")
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
	if resp, err := http.Get(strings.Replace(hubURL, "https", "http", 1) + "/api/v1/entities"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the TLS port answered plain HTTP with data")
		}
	}
	if strings.Contains(hub.output(), tok) || strings.Contains(untrusting.output(), tok) {
		t.Fatal("a token appears in a log")
	}
}

func TestHubRefusesPlainHTTPUnlessAsked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hub.json")
	_ = os.WriteFile(p, []byte(`{"listen":"127.0.0.1:0","entities":[{"id":"a","name":"A"}]}`), 0o600)
	out, err := exec.Command(filepath.Join(binDir, "imaging-hub"), "serve", "--config", p).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `"plain_http": true`) {
		t.Fatalf("plain HTTP without asking: %v\n%s", err, out)
	}
}
