package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"imagingstatus/server/config"
)

// Target kinds.
const (
	TargetWebhook = "webhook"
	TargetEmail   = "email"
)

// target is one place alerts go.
type target interface {
	name() string
	kind() string
	send(ctx context.Context, m Message, base string) error
}

// sendTimeout bounds one delivery attempt: a slow endpoint costs its own
// queue this long, nobody else anything.
const sendTimeout = 15 * time.Second

// readSecret reads a secret file, trimmed of its final newline.
func readSecret(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: read %s (it must be readable by the hub): %w", what, path, err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", what, path)
	}
	return b, nil
}

// buildTargets makes the targets of a configuration, reading their secret
// files.
func buildTargets(a *config.Alerts, o Options) ([]target, error) {
	if a == nil {
		return nil, nil
	}
	var out []target
	for _, w := range a.Webhooks {
		t := &webhook{cfg: w, client: o.HTTPClient, userAgent: "imaging-status-hub/" + o.Version}
		if w.Format == "" {
			t.cfg.Format = config.FormatJSON
		}
		if w.SecretFile != "" {
			s, err := readSecret("alerts webhook "+w.Name+" secret_file", w.SecretFile)
			if err != nil {
				return nil, err
			}
			t.secret = s
		}
		out = append(out, t)
	}
	if e := a.Email; e != nil {
		t := &email{cfg: *e, tls: o.SMTPTLS}
		if e.PasswordFile != "" {
			s, err := readSecret("alerts email password_file", e.PasswordFile)
			if err != nil {
				return nil, err
			}
			t.password = string(s)
		}
		out = append(out, t)
	}
	return out, nil
}

// webhook POSTs the message as JSON.
type webhook struct {
	cfg       config.Webhook
	secret    []byte
	client    *http.Client
	userAgent string
}

func (w *webhook) name() string { return w.cfg.Name }
func (w *webhook) kind() string { return TargetWebhook }

func (w *webhook) send(ctx context.Context, m Message, base string) error {
	body, err := Body(w.cfg.Format, m, base)
	if err != nil {
		return fmt.Errorf("encode the %s body: %w", w.cfg.Format, err)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook URL is not usable: fix alerts.webhooks[].url")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.userAgent)
	if w.secret != nil {
		req.Header.Set(SignatureHeader, Sign(w.secret, body))
	}
	client := w.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST failed: %w", withoutURL(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the endpoint answered %s", resp.Status)
	}
	return nil
}

// withoutURL drops the URL from an HTTP client error: chat webhook URLs
// hold their secret in the path, and errors go to logs and /api/v1/alerts.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if errors.Is(ue.Err, context.DeadlineExceeded) || ue.Timeout() {
			return fmt.Errorf("no answer within %s", sendTimeout)
		}
		return ue.Err
	}
	return err
}

// email sends the message through SMTP.
type email struct {
	cfg      config.Email
	password string
	tls      *tls.Config // nil: the system's roots
}

func (e *email) name() string { return TargetEmail }
func (e *email) kind() string { return TargetEmail }

func (e *email) send(ctx context.Context, m Message, base string) error {
	host, portStr, err := net.SplitHostPort(e.cfg.SMTP)
	if err != nil {
		return fmt.Errorf("alerts.email.smtp %q: %w", e.cfg.SMTP, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("alerts.email.smtp %q: the port is not a number", e.cfg.SMTP)
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if e.tls != nil {
		tc = e.tls.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTimeout(sendTimeout), mail.WithTLSConfig(tc), mail.WithTLSPolicy(mail.NoTLS)}
	switch {
	case e.cfg.TLS:
		opts = append(opts, mail.WithSSL())
	case e.cfg.StartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if e.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(e.cfg.Username), mail.WithPassword(e.password))
	}
	c, err := mail.NewClient(host, opts...)
	if err != nil {
		return fmt.Errorf("set up the SMTP client: %w", err)
	}
	msg := mail.NewMsg()
	if err := msg.From(e.cfg.From); err != nil {
		return fmt.Errorf("alerts.email.from: %w", err)
	}
	if err := msg.To(e.cfg.To...); err != nil {
		return fmt.Errorf("alerts.email.to: %w", err)
	}
	msg.Subject("[imaging status] " + m.Title())
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(mail.TypeTextPlain, m.Text(base))
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		// go-mail's errors never hold the password; they may hold the
		// server's answer, which is what an administrator needs.
		return fmt.Errorf("SMTP to %s: %s", e.cfg.SMTP, strings.TrimSpace(err.Error()))
	}
	return nil
}
