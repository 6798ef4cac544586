package alert

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"imagingstatus/wire"
)

// smtpServer is a real SMTP server (go-smtp) that offers STARTTLS and
// accepts PLAIN authentication only over TLS.
type smtpServer struct {
	addr  string
	roots *x509.CertPool
	mu    sync.Mutex
	mails []mailGot
}

type mailGot struct {
	from string
	to   []string
	data string
	user string
}

func startSMTP(t *testing.T, offerTLS bool) *smtpServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	s := &smtpServer{roots: x509.NewCertPool()}
	s.roots.AddCert(cert)
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if offerTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return s
}

type smtpSession struct {
	s    *smtpServer
	user string
	m    mailGot
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "imaging" || pass != "pa55" {
			return errors.New("invalid credentials")
		}
		ss.user = user
		return nil
	}), nil
}
func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.m.from = from
	return nil
}
func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.m.to = append(ss.m.to, to)
	return nil
}
func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.m.data, ss.m.user = string(b), ss.user
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, ss.m)
	ss.s.mu.Unlock()
	return nil
}
func (ss *smtpSession) Reset()        { ss.m = mailGot{} }
func (ss *smtpSession) Logout() error { return nil }

func (s *smtpServer) received() []mailGot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mailGot(nil), s.mails...)
}

func emailConfig(t *testing.T, addr string) string {
	pw := filepath.Join(t.TempDir(), "smtp.pass")
	if err := os.WriteFile(pw, []byte("pa55\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return `{"email":{"smtp":"` + addr + `","starttls":true,"from":"imaging@example.org","to":["it@example.org","noc@example.org"],
		"username":"imaging","password_file":"` + pw + `"},"rules":{"connection_error_after":"0s"}}`
}

func TestEmailOverStartTLS(t *testing.T) {
	srv := startSMTP(t, true)
	cfg := alertConfig(t, emailConfig(t, srv.addr))
	h := newFakeHub(cfg)
	clk := &clock{t: t0}
	startEngine(t, h, Options{Now: clk.Now, SMTPTLS: &tls.Config{RootCAs: srv.roots, ServerName: "localhost"}})
	h.send(t, true, upDown(wire.StatusConnectionError, t0)...)
	waitFor(t, "one e-mail", func() bool { return len(srv.received()) == 1 })
	m := srv.received()[0]
	if m.from != "imaging@example.org" || strings.Join(m.to, ",") != "it@example.org,noc@example.org" || m.user != "imaging" {
		t.Fatalf("envelope %+v", m)
	}
	if !strings.Contains(m.data, "Subject: [imaging status] srv-a is in Connection error: Public, Workshop") ||
		!strings.Contains(m.data, "https://imaging.example/entities/A2") {
		t.Fatalf("mail:\n%s", m.data)
	}
}

func TestEmailRefusesAServerWithoutStartTLS(t *testing.T) {
	srv := startSMTP(t, false)
	cfg := alertConfig(t, emailConfig(t, srv.addr))
	res, err := SendTest(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Target != TargetEmail || res[0].Err == nil {
		t.Fatalf("results %+v: want the e-mail target to fail without STARTTLS", res)
	}
	if len(srv.received()) != 0 {
		t.Fatal("a mail (and the password) went out in clear")
	}
	if bytes.Contains([]byte(res[0].Err.Error()), []byte("pa55")) {
		t.Fatal("the error holds the password")
	}
}
