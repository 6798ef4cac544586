package bench

import (
	"fmt"
	"strconv"
	"strings"
)

func secs(s Summary) string {
	if s.Count == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f / %.3f / %.3f", s.P50MS/1000, s.P99MS/1000, s.MaxMS/1000)
}

func mib(b int64) string { return fmt.Sprintf("%.2f MiB (%d B)", float64(b)/(1<<20), b) }

// Markdown renders the results as the tables of docs/BENCHMARKS.md.
func Markdown(r Results) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Machine
	w("## Run of %s\n\n", r.Date.Format("2006-01-02 15:04 MST"))
	w("- Machine: %d CPUs (%s), %s RAM, Linux %s, %s; open-file limit %d; load average at start %s\n",
		m.CPUs, m.Model, m.MemTotal, m.Kernel, m.Go, m.FileMax, m.LoadAvg)
	w("- Command: `%s` (%.0f s)\n\n", r.Command, r.Seconds)

	if len(r.Capacity) > 0 {
		w("### Hub capacity (real imaging-hub process, simulated agents and viewers in one process, loopback)\n\n")
		w("Latency: from a report's `collected_at` (its send time) to its arrival at each viewer, over every viewer. ")
		w("Missed: in-window reports a viewer never received (dropped or coalesced by the hub's newest-per-entity queue), all viewers (worst viewer). ")
		w("Offline: seconds p50 / p99 / max, over every (killed agent, viewer) pair.\n\n")
		w("| agents | viewers | reports/s sent | applied/s | latency p50 ms | p99 ms | max ms | missed %% (worst) | hub CPU %% of a core | hub peak RSS MiB | bench CPU %% | offline after TCP close s | offline after last frame (silent) s | notes |\n")
		w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n")
		for _, c := range r.Capacity {
			note := c.Error
			if c.AgentsConnected != c.Agents || c.ViewersConnected != c.Viewers {
				note = strings.TrimSpace(fmt.Sprintf("connected %d/%d agents, %d/%d viewers. %s", c.AgentsConnected, c.Agents, c.ViewersConnected, c.Viewers, note))
			}
			if c.ViewersLost > 0 {
				note = strings.TrimSpace(fmt.Sprintf("%d viewers dropped by the hub. %s", c.ViewersLost, note))
			}
			if c.OfflineMissing > 0 {
				note = strings.TrimSpace(fmt.Sprintf("%d offline changes never seen. %s", c.OfflineMissing, note))
			}
			viewers := strconv.Itoa(c.Viewers)
			if c.Detail {
				viewers += " (one in full, summaries)"
			}
			w("| %d | %s | %.0f | %.0f | %.1f | %.1f | %.1f | %.2f (%.2f) | %.0f | %.0f | %.0f | %s | %s | %s |\n",
				c.Agents, viewers, c.ReportsPerSecond, c.AppliedPerSecond, c.Latency.P50MS, c.Latency.P99MS, c.Latency.MaxMS,
				c.MissedPercent, c.WorstViewerMissed, c.HubCPUPercent, c.HubPeakRSSMiB, c.BenchCPUPercent,
				secs(c.OfflineClosed), secs(c.OfflineSilent), note)
		}
		w("\nWindow %.0f s after a ramp-up of one interval; max(2, min(25, agents/20)) agents per mode killed at the window start; offline deadline %.0f s. ",
			r.Capacity[0].WindowSeconds, r.Capacity[0].DeadlineSeconds)
		w("Send errors (agent writes that timed out because the hub stopped reading):")
		for _, c := range r.Capacity {
			w(" %dx%d: %d;", c.Agents, c.Viewers, c.SendErrors)
		}
		w("\n\n")
	}
	if r.Agent != nil || r.AgentEmpty != nil {
		w("### Agent footprint (real imaging-agent run, real hub, generated repository)\n\n")
		w("| repository | run | peak RSS (VmHWM) | steady RSS (median, 2nd half) | CPU, whole run | CPU, after warm-up | threads | time to available | status at end | error |\n")
		w("|---|---|---:|---:|---:|---:|---:|---:|---|---|\n")
		for _, a := range []*AgentResult{r.Agent, r.AgentEmpty} {
			if a == nil {
				continue
			}
			if a.IntervalSeconds == 0 {
				a.IntervalSeconds = 5 // results written before the field existed
			}
			w("| %d images | %.0f s at %g s | %.1f MiB | %.1f MiB | %.3f %% | %.3f %% | %d | %.1f s | %s | %s |\n",
				a.Images, a.Seconds, a.IntervalSeconds, a.PeakRSSMiB, a.SteadyRSSMiB, a.CPUPercentAll, a.CPUPercentSteady, a.Threads, a.FirstAvailable, a.Status, a.Error)
		}
		w("\n")
	}
	if len(r.ScanBench) > 0 {
		w("### One repository scan (`go test -bench Scan ./agent/repo/`, 10,000 images)\n\n")
		w("| benchmark | wall per scan | CPU per scan | B/op | allocs/op |\n|---|---:|---:|---:|---:|\n")
		for _, s := range r.ScanBench {
			cpu := "–"
			if s.CPUNsPerOp > 0 {
				cpu = fmt.Sprintf("%.2f ms", s.CPUNsPerOp/1e6)
			}
			w("| %s | %.2f ms | %s | %.0f | %.0f |\n", s.Name, s.NsPerOp/1e6, cpu, s.BytesPerOp, s.AllocsPerOp)
		}
		w("\n")
	}
	if br := r.Browser; br != nil {
		w("### Page in headless Chromium\n\n")
		if len(br.Wasm) > 0 {
			w("| app.wasm | bytes | Content-Encoding |\n|---|---:|---|\n")
			for _, s := range br.Wasm {
				w("| %s | %s | %s |\n", s.How, mib(s.Bytes), s.Encoding)
			}
			w("\n")
		}
		if br.Error != "" {
			w("Error: %s\n\n", br.Error)
		}
		if br.ColdFirstMS > 0 {
			w("| measure | value |\n|---|---:|\n")
			w("| first status on screen, cold (new profile), in page from navigation start | %.0f ms |\n", br.ColdFirstMS)
			w("| … seen from the driver (navigate → poll sees it) | %.0f ms |\n", br.ColdWallMS)
			w("| first status on screen, warm (same profile, new browser process; service worker in control: %v) | %.0f ms |\n", br.ServiceWorker, br.WarmFirstMS)
			w("| app started (app.wasm running), cold / warm | %.0f ms / %.0f ms |\n", br.ColdAppMS, br.WarmAppMS)
			w("| status shown before the app started (hub's HTML), cold / warm | %v / %v |\n", br.ColdBeforeApp, br.WarmBeforeApp)
			w("| a status word vanished when the app took over (a flash), cold / warm | %v / %v |\n", br.ColdFlash, br.WarmFlash)
			if len(br.BurstSendToAll) > 0 {
				w("| burst of %d entity changes: driver send → all shown in the tree, median (max) of %d | %.0f ms (%.0f) |\n",
					br.BurstSize, len(br.BurstSendToAll), Median(br.BurstSendToAll), maxOf(br.BurstSendToAll))
				w("| … first change shown → all shown, median (max) | %.0f ms (%.0f) |\n", Median(br.BurstFirstToAll), maxOf(br.BurstFirstToAll))
			}
			w("\n")
		}
	}
	w("### Targets (DESIGN.md)\n\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range Targets(r) {
		w("| %s | %s | %s |\n", t.Target, t.Measured, t.Met)
	}
	w("\n")
	return b.String()
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// TargetRow compares one DESIGN.md target with the run.
type TargetRow struct{ Target, Measured, Met string }

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// Targets lists DESIGN.md's targets next to what the run measured.
func Targets(r Results) []TargetRow {
	var out []TargetRow
	for _, c := range r.Capacity {
		if c.Agents == 10_000 && c.Viewers == 1_000 {
			ok := c.Error == "" && c.Latency.Count > 0 && c.Latency.P99MS < 100 && c.MissedPercent < 1 && c.AgentsConnected == c.Agents
			out = append(out, TargetRow{"10,000 agents + 1,000 viewers, report → viewer p99 < 100 ms",
				fmt.Sprintf("p99 %.0f ms, max %.0f ms, %.1f %% of deliveries missed, hub %.0f %% CPU", c.Latency.P99MS, c.Latency.MaxMS, c.MissedPercent, c.HubCPUPercent), yes(ok)})
		}
	}
	var worst float64
	n := 0
	for _, c := range r.Capacity {
		for _, s := range []Summary{c.OfflineSilent, c.OfflineClosed} {
			if s.Count > 0 {
				worst = max(worst, s.MaxMS/1000)
				n++
			}
		}
	}
	if n > 0 {
		dl := r.Capacity[0].DeadlineSeconds
		out = append(out, TargetRow{fmt.Sprintf("offline within deadline + 1 s (%.0f s)", dl+1), fmt.Sprintf("worst %.2f s after the last frame or the drop", worst), yes(worst <= dl+1)})
	}
	if a := r.Agent; a != nil && a.Error == "" {
		// Issue 14's targets: steady < 10 MiB and peak < 16 MiB with the
		// images, < 0.1 % of a core after warm-up.
		out = append(out, TargetRow{fmt.Sprintf("agent steady RSS < 10 MiB (%d images, %g s)", a.Images, a.IntervalSeconds), fmt.Sprintf("steady %.1f MiB", a.SteadyRSSMiB), yes(a.SteadyRSSMiB < 10)})
		out = append(out, TargetRow{fmt.Sprintf("agent peak RSS < 16 MiB (%d images)", a.Images), fmt.Sprintf("peak %.1f MiB", a.PeakRSSMiB), yes(a.PeakRSSMiB < 16)})
		out = append(out, TargetRow{"agent < 0.1 % of one core", fmt.Sprintf("%.3f %% after warm-up (%.3f %% whole run)", a.CPUPercentSteady, a.CPUPercentAll), yes(a.CPUPercentSteady < 0.1)})
	}
	if a := r.AgentEmpty; a != nil && a.Error == "" {
		out = append(out, TargetRow{"agent steady RSS < 8 MiB (empty repository)", fmt.Sprintf("steady %.1f MiB, peak %.1f MiB", a.SteadyRSSMiB, a.PeakRSSMiB), yes(a.SteadyRSSMiB < 8)})
	}
	if br := r.Browser; br != nil {
		for _, s := range br.Wasm {
			if s.Encoding == "br" {
				out = append(out, TargetRow{"app transfer ≤ 3 MB compressed", mib(s.Bytes) + " brotli", yes(s.Bytes <= 3_000_000)})
			}
		}
		if br.ColdFirstMS > 0 {
			out = append(out, TargetRow{"first status < 2 s cold (loopback)", fmt.Sprintf("%.0f ms", br.ColdFirstMS), yes(br.ColdFirstMS < 2000)})
			out = append(out, TargetRow{"first status instant warm", fmt.Sprintf("%.0f ms", br.WarmFirstMS), "see value"})
			out = append(out, TargetRow{"first status word < 300 ms cold and warm, no flash (issue 15)",
				fmt.Sprintf("%.0f ms cold, %.0f ms warm", br.ColdFirstMS, br.WarmFirstMS),
				yes(br.ColdFirstMS < 300 && br.WarmFirstMS < 300 && !br.ColdFlash && !br.WarmFlash)})
		}
	}
	return out
}
