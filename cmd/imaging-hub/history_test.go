package main_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/server/hubtest"
	"imagingstatus/wire"
)

// TestHistoryEndpointsEndToEnd: a real hub with a state file and a real
// agent keep the figure history, answer uptime and series in the shapes
// the page reads, and put a disk forecast on the entity.
func TestHistoryEndpointsEndToEnd(t *testing.T) {
	e := hubtest.NewEnv(t, "", interval)
	e.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`","missed_pings":3,
		"history":{"sample_every":"1s","forecast_every":"1s"},"entities":[
		{"id":"UUID0","name":"General","server":{"name":"imaging-general","token_sha256":"`+e.NewToken(t, "UUID0")+`"}},
		{"id":"UUID1","name":"Public","parent":"UUID0"}]}`)
	e.GenerateRepo(t, sample.Options{Complete: 3, Legacy: 1, Invalid: 1, Clients: 3, ClientsWithImages: 2})
	e.StartHub(t)
	e.Agent(t, "UUID0")
	e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")

	get := func(path string, into any) int {
		t.Helper()
		resp, err := http.Get(e.Hub.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		return resp.StatusCode
	}
	// Series: the inherited entity shows its server's figures.
	for _, f := range []struct{ figure, unit string }{
		{wire.FigureRepoDiskUsed, "bytes"}, {wire.FigureMemoryUsed, "bytes"}, {wire.FigureLoad1, "load"}, {wire.FigureImagesComplete, "count"},
	} {
		var s wire.Series
		hubtest.WaitFor(t, "a point of "+f.figure, func() bool {
			return get("/api/v1/entities/UUID1/series?figure="+f.figure+"&window=48h", &s) == http.StatusOK && len(s.Points) > 0
		})
		if s.Figure != f.figure || s.Unit != f.unit || s.Points[0].T.IsZero() {
			t.Errorf("series %s: %+v", f.figure, s)
		}
		if f.figure == wire.FigureImagesComplete && s.Points[len(s.Points)-1].V != 4 {
			t.Errorf("images_complete: %+v, want 4", s.Points)
		}
	}
	// Uptime: available since the agent came; the time before the hub
	// started is unknown, not available.
	var u wire.Uptime
	if code := get("/api/v1/entities/UUID0/uptime?window=24h", &u); code != http.StatusOK {
		t.Fatalf("uptime: %d", code)
	}
	if u.Window != "24h" || u.AvailableRatio == nil || *u.AvailableRatio <= 0 || *u.AvailableRatio > 1 || len(u.Seconds) != 4 || u.UnknownSeconds < 23*3600 {
		t.Fatalf("uptime: %+v", u)
	}
	// The forecast: the repository's partition, no trend yet.
	var ent wire.Entity
	hubtest.WaitFor(t, "a disk forecast on the entity", func() bool {
		return get("/api/v1/entities/UUID1", &ent) == http.StatusOK && ent.DiskForecast != nil
	})
	if f := ent.DiskForecast; f.Mountpoint == "" || f.FullAt != nil || f.DaysLeft != nil || f.Confidence != wire.ConfidenceLow {
		t.Fatalf("forecast after a few seconds: %+v", f)
	}
	raw, err := json.Marshal(ent.DiskForecast)
	if err != nil || !strings.Contains(string(raw), `"full_at":null`) || !strings.Contains(string(raw), `"days_left":null`) {
		t.Fatalf("forecast JSON %s (%v): no trend must be null, not missing", raw, err)
	}
}
