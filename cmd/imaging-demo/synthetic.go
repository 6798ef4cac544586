package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/store"
	"imagingstatus/wire"
)

// The archive server is made up: its repository partition fills at a
// steady rate, so that a newcomer sees a disk-full forecast at once. Its
// history is seeded for the past week, and an in-process agent goes on
// reporting the same line. The entity is marked synthetic_history, and the
// page labels the forecast "synthetic series (demo)".
const (
	archiveTotal = 2 << 40 // 2 TiB
	archiveMount = "/var/lib/pulse2/imaging"
	// archiveDaysLeft: full in about ten days, inside the warning threshold.
	archiveDaysLeft = 10.0
)

// archiveUsed is the made-up used bytes at t: 60 % of the disk a week ago,
// rising to full archiveDaysLeft days from the demo's start, with a small
// daily ripple (captures run at night).
func archiveUsed(start, t time.Time) float64 {
	rate := 0.4 * archiveTotal / (7 + archiveDaysLeft) / (24 * 3600) // bytes a second
	full := start.Add(time.Duration(archiveDaysLeft * 24 * float64(time.Hour)))
	used := archiveTotal - rate*full.Sub(t).Seconds()
	ripple := 0.002 * archiveTotal * float64(t.Hour()%24) / 24
	return min(used+ripple, archiveTotal)
}

// seedArchive writes a week of made-up history for entity into st.
func seedArchive(st *store.Store, entity string, start time.Time) error {
	var samples []store.Sample
	for t := start.Add(-7 * 24 * time.Hour); t.Before(start); t = t.Add(5 * time.Minute) {
		samples = append(samples,
			store.Sample{Entity: entity, Figure: wire.FigureRepoDiskUsed, T: t, V: archiveUsed(start, t)},
			store.Sample{Entity: entity, Figure: wire.FigureRepoDiskTotal, T: t, V: archiveTotal})
	}
	return st.AppendSamples(samples)
}

// runArchiveAgent speaks for entity with token like a real agent, sending
// the made-up figures every interval, until ctx ends; it reconnects after
// a second when the hub drops it.
func runArchiveAgent(ctx context.Context, hubURL, entity, token string, interval time.Duration, start time.Time, log *slog.Logger) {
	for ctx.Err() == nil {
		if err := archiveSession(ctx, hubURL, entity, token, interval, start); err != nil && ctx.Err() == nil {
			log.Warn("demo archive agent", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func archiveSession(ctx context.Context, hubURL, entity, token string, interval time.Duration, start time.Time) error {
	hdr := http.Header{"Authorization": {"Bearer " + token}, wire.EntityHeader: {entity}}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(hubURL, "http")+wire.AgentPath, hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_ = conn.SetWriteDeadline(time.Now().Add(interval))
		return conn.WriteMessage(websocket.TextMessage, b)
	}
	if err := send(wire.Hello{Type: wire.TypeHello, ProtocolVersion: wire.ProtocolVersion, AgentVersion: "demo-synthetic", Entity: entity, Hostname: "imaging-archive"}); err != nil {
		return err
	}
	// Reading answers the hub's pings; it ends when the connection does.
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	boot := start.Add(-36 * time.Hour)
	for {
		now := time.Now()
		used := uint64(archiveUsed(start, now))
		rep := wire.Report{Type: wire.TypeReport, Figures: wire.Figures{
			CollectedAt: now, Hostname: "imaging-archive", UptimeSeconds: uint64(now.Sub(boot).Seconds()), BootTime: boot,
			Partitions: []wire.Partition{{Device: "/dev/sdb1", Mountpoint: archiveMount, FSType: "xfs", Total: archiveTotal, Used: used, Free: archiveTotal - used, Main: true}},
			Memory:     &wire.Memory{Total: 16 << 30, Used: 5 << 30, Available: 11 << 30},
			Load:       &wire.Load{Load1: 0.4, Load5: 0.3, Load15: 0.3, CPUs: 8},
			// The images fill most of what is used, never more.
			Repository: &wire.Repository{Root: archiveMount, ImagesTotal: 240, ImagesComplete: 240, BytesComplete: used / 10 * 9,
				Clients: 180, ClientsWithImages: 120, Generation: 1, ImagesOmitted: true},
			Probes: []wire.Probe{{Name: "repository", Target: archiveMount, OK: true, LatencyMS: 0.2}},
		}}
		if err := send(rep); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "demo stopping"), time.Now().Add(time.Second))
			return nil
		case err := <-readErr:
			return err
		case <-t.C:
		}
	}
}
