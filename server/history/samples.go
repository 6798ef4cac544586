// Package history turns what the hub records into what the page shows: the
// figure samples of a report (SamplesOf), the share of time an entity spent
// in each status (Uptime) and when its repository partition will be full
// (Forecast). Pure functions of their arguments: no clock, no store access.
package history

import (
	"time"

	"imagingstatus/server/store"
	"imagingstatus/wire"
)

// SamplesOf returns the samples of the wire.Figure* series that a report's
// figures carry, at the hub's time at (not the agent's CollectedAt, whose
// clock may be off). A figure the report does not carry gives no sample
// rather than a zero, which the mean of its step would take for a value:
// the disk figures need a partition marked Main, memory_used_bytes a memory
// block, load1 a load block, the image figures a repository scan.
func SamplesOf(entity string, f wire.Figures, at time.Time) []store.Sample {
	out := make([]store.Sample, 0, 7)
	add := func(figure string, v float64) {
		out = append(out, store.Sample{Entity: entity, Figure: figure, T: at, V: v})
	}
	for _, p := range f.Partitions {
		if p.Main {
			add(wire.FigureRepoDiskUsed, float64(p.Used))
			add(wire.FigureRepoDiskTotal, float64(p.Total))
			break
		}
	}
	if f.Memory != nil {
		add(wire.FigureMemoryUsed, float64(f.Memory.Used))
	}
	if f.Load != nil {
		add(wire.FigureLoad1, f.Load.Load1)
	}
	if r := f.Repository; r != nil {
		add(wire.FigureImagesComplete, float64(r.ImagesComplete))
		add(wire.FigureImagesTotal, float64(r.ImagesTotal))
		if b, ok := completeBytes(r); ok {
			add(wire.FigureCompleteBytes, float64(b))
		}
	}
	return out
}

// completeBytes is the sum of the complete images' sizes. The scan reports
// it as BytesComplete; a zero there beside complete images means an agent
// that did not send it, and then only the image list (sent when it changed,
// else omitted) can give it.
func completeBytes(r *wire.Repository) (uint64, bool) {
	if r.BytesComplete > 0 || r.ImagesComplete == 0 {
		return r.BytesComplete, true
	}
	if r.ImagesOmitted || len(r.Images) == 0 {
		return 0, false
	}
	var sum uint64
	for _, im := range r.Images {
		if im.State == wire.ImageComplete {
			sum += im.Size
		}
	}
	return sum, true
}
