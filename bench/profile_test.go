package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"imagingstatus/server"
	"imagingstatus/server/config"
)

// TestProfileHub runs one capacity scenario against a hub in this process
// (server.New, as the binary does, without the web app) under the CPU
// profiler. It is a measurement, not a check: it runs only when
// LOADTEST_PROFILE names the profile file, e.g.
//
//	LOADTEST_PROFILE=/tmp/hub.pprof LOADTEST_SCENARIO=10000x1000 \
//	  go test -run TestProfileHub -v -timeout 10m ./bench/
//	go tool pprof -top -focus 'imagingstatus/server|gorilla' /tmp/hub.pprof
//
// The simulated clients run in the same process, so the profile holds
// them too; focus on the hub's packages.
func TestProfileHub(t *testing.T) {
	out := os.Getenv("LOADTEST_PROFILE")
	if out == "" {
		t.Skip("set LOADTEST_PROFILE=FILE to profile the hub")
	}
	scen := os.Getenv("LOADTEST_SCENARIO")
	if scen == "" {
		scen = "10000x1000"
	}
	ss, err := ParseScenarios(scen)
	if err != nil || len(ss) != 1 {
		t.Fatalf("LOADTEST_SCENARIO %q: want one AGENTSxVIEWERS (%v)", scen, err)
	}
	measure := 20 * time.Second
	if d, err := time.ParseDuration(os.Getenv("LOADTEST_MEASURE")); err == nil {
		measure = d
	}
	if _, err := RaiseFileLimit(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inProcess := func(ctx context.Context, fl *Fleet) (string, int, func(), error) {
		b, err := fl.ConfigJSON()
		if err != nil {
			return "", 0, nil, err
		}
		cfg, err := config.Parse(b)
		if err != nil {
			return "", 0, nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", 0, nil, err
		}
		srv := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = srv.Serve(sctx, ln); close(done) }()
		if err := pprof.StartCPUProfile(f); err != nil {
			cancel()
			<-done
			return "", 0, nil, err
		}
		stop := func() { pprof.StopCPUProfile(); cancel(); <-done }
		return "http://" + ln.Addr().String(), os.Getpid(), stop, nil
	}
	r := RunCapacity(context.Background(), CapacityConfig{Dir: t.TempDir(), Agents: ss[0].Agents, Viewers: ss[0].Viewers,
		Measure: measure, Log: testWriter{t}, InProcess: inProcess})
	t.Logf("%+v", r)
	if r.Error != "" {
		t.Fatal(r.Error)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
