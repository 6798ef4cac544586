package main_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/bench"
	"imagingstatus/server/config"
	"imagingstatus/server/hubtest"
)

const (
	scraperToken = "scraper-viewer-token-0123456789abcdef0123"
	publicToken  = "public-viewer-token-0123456789abcdef01234"
)

// metricsEnv is a hub with two servers, a scraper token that sees
// everything and a token scoped to Public.
func metricsEnv(t *testing.T) *hubtest.Env {
	e := hubtest.NewEnv(t, "", interval)
	e.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`","missed_pings":3,
		"viewers":{"auth":"token","tokens":[
			{"name":"prometheus","token_sha256":"`+config.HashToken(scraperToken)+`"},
			{"name":"public","token_sha256":"`+config.HashToken(publicToken)+`","scope":["UUID1"]}]},
		"alerts":{"rules":{"offline_after":"0s","connection_error_after":"0s"}},
		"entities":[
		{"id":"UUID0","name":"General","server":{"name":"imaging-general","token_sha256":"`+e.NewToken(t, "UUID0")+`"}},
		{"id":"UUID1","name":"Public","parent":"UUID0","server":{"name":"imaging-public","token_sha256":"`+e.NewToken(t, "UUID1")+`"}}]}`)
	e.GenerateRepo(t, sample.Options{Complete: 3, Failed: 1, Clients: 2, ClientsWithImages: 1})
	e.StartHub(t)
	return e
}

func scrape(t *testing.T, hubURL, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, hubURL+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsArePromtoolCleanAndScoped: /metrics needs a viewer token,
// passes `promtool check metrics`, holds the entities' figures and the
// hub's health, and a scoped token sees only its entities.
func TestMetricsArePromtoolCleanAndScoped(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		hubtest.Missing(t, "promtool", "apt-get install prometheus", err)
	}
	e := metricsEnv(t)
	e.Agent(t, "UUID0")
	e.Agent(t, "UUID1", "--probe", "imaging-api=tcp://127.0.0.1:1")
	if code, body := scrape(t, e.Hub.URL, ""); code != http.StatusUnauthorized || !strings.Contains(body, "Bearer") {
		t.Fatalf("no token: %d %s", code, body)
	}
	var body string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last /metrics:\n%s", grepLines(body, "imaging_"))
		}
	})
	hubtest.WaitFor(t, "both servers' figures in /metrics", func() bool {
		_, body = scrape(t, e.Hub.URL, scraperToken)
		return strings.Contains(body, `imaging_repository_images{entity="UUID0",state="complete"} 3`) &&
			strings.Contains(body, `imaging_entity_status{entity="UUID1",name="Public",status="connection_error"} 1`) &&
			strings.Contains(body, `imaging_alert_firing{entity="UUID1",kind="status"} 1`)
	})
	for _, want := range []string{
		`imaging_entity_status{entity="UUID0",name="General",status="available"} 1`,
		`imaging_entity_status{entity="UUID0",name="General",status="offline"} 0`,
		`imaging_entity_status_since_seconds{entity="UUID0"} `,
		`imaging_partition_used_bytes{entity="UUID0",mountpoint="`,
		`imaging_partition_size_bytes{entity="UUID0",mountpoint="`,
		`imaging_memory_used_bytes{entity="UUID0"} `,
		`imaging_repository_images{entity="UUID0",state="failed"} 1`,
		`imaging_hub_agents_connected 2`,
		`imaging_hub_viewers_connected 0`,
		`imaging_hub_loop_round_duration_seconds_bucket{le="0.01"} `,
		`imaging_hub_loop_round_duration_seconds_count `,
		`imaging_hub_viewer_views_skipped_total `,
		`imaging_hub_state_write_errors_total 0`,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	_, scoped := scrape(t, e.Hub.URL, publicToken)
	if strings.Contains(scoped, `entity="UUID0"`) || !strings.Contains(scoped, `entity="UUID1"`) {
		t.Fatalf("the token scoped to Public sees:\n%s", grepLines(scoped, "entity="))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitMetric waits until the hub's /metrics holds line.
func waitMetric(t *testing.T, e *hubtest.Env, line string) {
	t.Helper()
	hubtest.WaitFor(t, line, func() bool {
		_, body := scrape(t, e.Hub.URL, scraperToken)
		return strings.Contains(body, line)
	})
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestPrometheusScrapesTheHub: a real Prometheus server scrapes a test hub
// with a viewer token, and a PromQL query through its HTTP API returns the
// Offline status of an entity whose agent was just stopped.
func TestPrometheusScrapesTheHub(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		hubtest.Missing(t, "the Prometheus server", "apt-get install prometheus", err)
	}
	e := metricsEnv(t)
	agent := e.Agent(t, "UUID0")
	waitMetric(t, e, `imaging_entity_status{entity="UUID0",name="General",status="available"} 1`)

	dir := t.TempDir()
	tokenFile := e.WriteFile(t, "scraper.token", scraperToken)
	promAddr := freePort(t)
	// docs/prometheus.yml, aimed at this hub (plain HTTP, scraped every second).
	doc, err := os.ReadFile(filepath.Join(hubtest.RepoRoot(t), "docs", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	promCfg := strings.NewReplacer("scheme: https", "scheme: http", "scrape_interval: 15s", "scrape_interval: 1s\n    scrape_timeout: 1s",
		"/etc/prometheus/imaging-status.token", tokenFile, "imaging.example:8443", e.Hub.Addr).Replace(string(doc))
	if promCfg == string(doc) || !strings.Contains(promCfg, e.Hub.Addr) || !strings.Contains(promCfg, tokenFile) {
		t.Fatalf("docs/prometheus.yml no longer has the fields this test replaces:\n%s", doc)
	}
	cfgPath := e.WriteFile(t, "prometheus.yml", promCfg)
	p, err := bench.StartProcess(prom, []string{"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + promAddr, "--log.level=warn"}, nil, filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.StopWith(syscall.SIGTERM, 30*time.Second)
		if t.Failed() {
			t.Logf("prometheus output:\n%s", p.Output())
		}
	})
	query := func(q string) (string, bool) {
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if _, err := hubtest.GetJSON("http://"+promAddr+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 {
			return "", false
		}
		v, _ := r.Data.Result[0].Value[1].(string)
		return v, true
	}
	hubtest.WaitFor(t, "Prometheus sees the agent Available", func() bool {
		v, ok := query(`imaging_entity_status{entity="UUID0",status="available"}`)
		return ok && v == "1"
	})
	agent.Kill(syscall.SIGTERM)
	waitMetric(t, e, `imaging_entity_status{entity="UUID0",name="General",status="offline"} 1`)
	hubtest.WaitFor(t, "Prometheus sees it Offline", func() bool {
		v, ok := query(`imaging_entity_status{entity="UUID0",status="offline"}`)
		return ok && v == "1"
	})
	if v, ok := query(`up{job="imaging-hub"}`); !ok || v != "1" {
		t.Fatalf("the scrape itself: up = %q", v)
	}
	// The example alerting rules of docs/ are valid PromQL.
	rules := filepath.Join(hubtest.RepoRoot(t), "docs", "prometheus-rules.yml")
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		hubtest.Missing(t, "promtool", "apt-get install prometheus", err)
	}
	if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rules, err, out)
	}
	// And the example's query finds the stopped server (Public never had
	// an agent: it is down too).
	if v, ok := query(`count by (entity, name) (imaging_entity_status{entity="UUID0",status=~"offline|connection_error"} == 1) > 0`); !ok || v != "1" {
		t.Fatalf("the example rule's expression: %q", v)
	}
}
