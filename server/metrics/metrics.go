// Package metrics serves the hub's Prometheus metrics: every entity's
// status and figures (within the viewer's scope) and the hub's own health.
// Each scrape reads the hub's current views once and builds its metrics
// from them; nothing is kept between scrapes.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"imagingstatus/server/alert"
	"imagingstatus/server/config"
	"imagingstatus/server/hub"
	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

// Source is the hub (*hub.Hub).
type Source interface {
	Entities(ctx context.Context) ([]wire.Entity, error)
	Config() *config.Config
	Stats() hub.Stats
}

// Alerts counts the alert deliveries (*alert.Engine); may be nil.
type Alerts interface {
	Counts() []alert.TargetStatus
}

// statuses are the four statuses, each a series of imaging_entity_status.
var statuses = []wire.Status{wire.StatusAvailable, wire.StatusOffline, wire.StatusConnectionError, wire.StatusNotLinked}

var (
	descStatus = prometheus.NewDesc("imaging_entity_status",
		"1 for the entity's current status, 0 for the three others.", []string{"entity", "name", "status"}, nil)
	descSince = prometheus.NewDesc("imaging_entity_status_since_seconds",
		"Unix time at which the entity's current status began (time() minus it: how long).", []string{"entity"}, nil)
	descStale = prometheus.NewDesc("imaging_entity_stale",
		"1 while the status is the last known one restored after a hub restart, not yet confirmed by its agent.", []string{"entity"}, nil)
	descPartUsed = prometheus.NewDesc("imaging_partition_used_bytes",
		"Bytes used on a partition of the entity's imaging server.", []string{"entity", "mountpoint"}, nil)
	descPartSize = prometheus.NewDesc("imaging_partition_size_bytes",
		"Size in bytes of a partition of the entity's imaging server.", []string{"entity", "mountpoint"}, nil)
	descPartAvail = prometheus.NewDesc("imaging_partition_avail_bytes",
		"Bytes available to users on a partition (df's Avail: without the reserved space).", []string{"entity", "mountpoint"}, nil)
	descMemUsed = prometheus.NewDesc("imaging_memory_used_bytes",
		"Memory used on the entity's imaging server.", []string{"entity"}, nil)
	descMemTotal = prometheus.NewDesc("imaging_memory_total_bytes",
		"Memory of the entity's imaging server.", []string{"entity"}, nil)
	descLoad = prometheus.NewDesc("imaging_load1",
		"One-minute load average of the entity's imaging server.", []string{"entity"}, nil)
	descUptime = prometheus.NewDesc("imaging_server_uptime_seconds",
		"Uptime of the entity's imaging server.", []string{"entity"}, nil)
	descImages = prometheus.NewDesc("imaging_repository_images",
		"Images in the imaging repository of the entity's server, by state (disk scan).", []string{"entity", "state"}, nil)
	descForecast = prometheus.NewDesc("imaging_disk_full_forecast_seconds",
		"Seconds until the repository partition is full at the trend of the last 7 days (absent: no growing trend).", []string{"entity"}, nil)
	descFiring = prometheus.NewDesc("imaging_alert_firing",
		"1 for each alert firing for the entity, by kind (status, disk, forecast).", []string{"entity", "kind"}, nil)

	descAgents = prometheus.NewDesc("imaging_hub_agents_connected",
		"Agents connected to the hub.", nil, nil)
	descViewers = prometheus.NewDesc("imaging_hub_viewers_connected",
		"Viewers (browsers, wall screens) connected to the hub's live stream.", nil, nil)
	descRounds = prometheus.NewDesc("imaging_hub_loop_round_duration_seconds",
		"Time the hub's loop took per round of events (status machine and publishing).", nil, nil)
	descSkipped = prometheus.NewDesc("imaging_hub_viewer_views_skipped_total",
		"Entity views a viewer never received because a newer view replaced them first (grows fast for slow viewers).", nil, nil)
	descResyncs = prometheus.NewDesc("imaging_hub_viewer_resyncs_total",
		"Times a viewer fell behind the change log and was sent the newest views instead.", nil, nil)
	descDrops = prometheus.NewDesc("imaging_hub_viewers_dropped_total",
		"Viewers dropped because a write to them failed or timed out.", nil, nil)
	descStateErrors = prometheus.NewDesc("imaging_hub_state_write_errors_total",
		"Failed writes of the state file (each attempt).", nil, nil)
	descDeliveries = prometheus.NewDesc("imaging_alert_deliveries_total",
		"Alert deliveries by target and result (ok, error: an attempt failed, dropped: given up).", []string{"target", "result"}, nil)
)

// Handler serves the metrics; put it behind viewer authentication: a
// scoped viewer sees only its entities (the hub's own figures are shown
// to every viewer).
func Handler(src Source, alerts Alerts, log *slog.Logger) http.Handler {
	process := collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	goc := collectors.NewGoCollector()
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		views, err := src.Entities(ctx)
		if err != nil {
			http.Error(w, "the hub is not answering: retry in a few seconds", http.StatusServiceUnavailable)
			return
		}
		cfg := src.Config()
		kept := views[:0]
		for _, v := range views {
			if viewerauth.Allowed(r.Context(), cfg, v.ID) {
				kept = append(kept, v)
			}
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(process, goc, &collector{views: kept, stats: src.Stats(), alerts: alerts})
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: errLog, ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
	})
}

// collector turns one reading of the hub into metrics.
type collector struct {
	views  []wire.Entity
	stats  hub.Stats
	alerts Alerts
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStatus, descSince, descStale, descPartUsed, descPartSize, descPartAvail, descMemUsed,
		descMemTotal, descLoad, descUptime, descImages, descForecast, descFiring, descAgents, descViewers, descRounds, descSkipped,
		descResyncs, descDrops, descStateErrors, descDeliveries} {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.views {
		id := v.ID
		for _, s := range statuses {
			gauge(ch, descStatus, b2f(v.Status == s), id, v.Name, string(s))
		}
		if !v.Since.IsZero() {
			gauge(ch, descSince, float64(v.Since.UnixMilli())/1000, id)
		}
		gauge(ch, descStale, b2f(v.Stale), id)
		seen := map[string]bool{}
		for _, p := range v.Partitions {
			if seen[p.Mountpoint] {
				continue // one series per mount point
			}
			seen[p.Mountpoint] = true
			gauge(ch, descPartUsed, float64(p.Used), id, p.Mountpoint)
			gauge(ch, descPartSize, float64(p.Total), id, p.Mountpoint)
			gauge(ch, descPartAvail, float64(p.Free), id, p.Mountpoint)
		}
		if m := v.Memory; m != nil {
			gauge(ch, descMemUsed, float64(m.Used), id)
			gauge(ch, descMemTotal, float64(m.Total), id)
		}
		if l := v.Load; l != nil {
			gauge(ch, descLoad, l.Load1, id)
		}
		if v.UptimeSeconds > 0 {
			gauge(ch, descUptime, float64(v.UptimeSeconds), id)
		}
		if r := v.Repository; r != nil {
			gauge(ch, descImages, float64(r.ImagesComplete), id, wire.ImageComplete)
			gauge(ch, descImages, float64(r.ImagesInProgress), id, wire.ImageInProgress)
			gauge(ch, descImages, float64(r.ImagesFailed), id, wire.ImageFailed)
			gauge(ch, descImages, float64(r.ImagesInvalid), id, wire.ImageInvalid)
		}
		if f := v.DiskForecast; f != nil && f.DaysLeft != nil {
			gauge(ch, descForecast, *f.DaysLeft*86400, id)
		}
		for _, a := range v.Alerts {
			gauge(ch, descFiring, 1, id, a.Kind)
		}
	}
	s := c.stats
	gauge(ch, descAgents, float64(s.AgentsConnected))
	gauge(ch, descViewers, float64(s.ViewersConnected))
	buckets := make(map[float64]uint64, len(hub.RoundBuckets))
	for i, b := range hub.RoundBuckets {
		buckets[b] = s.RoundCounts[i]
	}
	ch <- prometheus.MustNewConstHistogram(descRounds, s.Rounds, s.RoundSeconds, buckets)
	counter(ch, descSkipped, s.ViewerChangesSkipped)
	counter(ch, descResyncs, s.ViewerResyncs)
	counter(ch, descDrops, s.ViewerDrops)
	counter(ch, descStateErrors, s.StateWriteErrors)
	if c.alerts != nil {
		for _, t := range c.alerts.Counts() {
			counter(ch, descDeliveries, t.Delivered, t.Name, alert.ResultOK)
			counter(ch, descDeliveries, t.Failed, t.Name, alert.ResultError)
			counter(ch, descDeliveries, t.Dropped, t.Name, alert.ResultDropped)
		}
	}
}
