// Package collect reads the host figures an agent reports: partitions,
// uptime, memory and load. Every function is cheap enough to run on each
// tick (a few /proc reads and syscalls, no sampling, no background work).
package collect

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/load"
	"github.com/shirou/gopsutil/v3/mem"

	"imagingstatus/wire"
)

func init() {
	// The boot time does not change while the agent runs; without the cache
	// gopsutil re-detects virtualization (many file reads) on every call.
	host.EnableBootTimeCache(true)
}

// Host returns the host name, the uptime and the boot time.
func Host(ctx context.Context) (hostname string, uptimeSeconds uint64, bootTime time.Time, err error) {
	hostname, err = os.Hostname()
	if err != nil {
		return "", 0, time.Time{}, fmt.Errorf("host name: %w", err)
	}
	// Not host.InfoWithContext: it also reads platform and virtualization
	// details the report does not need.
	uptimeSeconds, err = host.UptimeWithContext(ctx)
	if err != nil {
		return hostname, 0, time.Time{}, fmt.Errorf("uptime: %w", err)
	}
	boot, err := host.BootTimeWithContext(ctx)
	if err != nil {
		return hostname, uptimeSeconds, time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	return hostname, uptimeSeconds, time.Unix(int64(boot), 0).UTC(), nil
}

// Memory returns RAM and swap in bytes.
//
// Used is Total - Available (the kernel's MemAvailable estimate), not
// gopsutil's Used (Total - Free - Buffers - Cached): it is what cannot be
// handed to a new process without swapping, the figure an operator means.
func Memory(ctx context.Context) (*wire.Memory, error) {
	// VirtualMemory also carries swap totals on Linux, so /proc/meminfo is
	// read once; SwapMemory would read it again plus /proc/vmstat.
	v, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	m := &wire.Memory{
		Total:     v.Total,
		Available: v.Available,
		SwapTotal: v.SwapTotal,
	}
	if v.Available <= v.Total {
		m.Used = v.Total - v.Available
	}
	if v.SwapFree <= v.SwapTotal {
		m.SwapUsed = v.SwapTotal - v.SwapFree
	}
	return m, nil
}

// cpuCount caches the logical CPU count: counting parses /proc/cpuinfo,
// which is large on big servers, and CPU hot-plug is too rare to track.
var cpuCount atomic.Int64

// Load returns the load averages and the logical CPU count.
func Load(ctx context.Context) (*wire.Load, error) {
	a, err := load.AvgWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("load average: %w", err)
	}
	n := int(cpuCount.Load())
	if n <= 0 {
		n, err = cpu.CountsWithContext(ctx, true)
		if err != nil {
			return nil, fmt.Errorf("logical CPU count: %w", err)
		}
		if n > 0 {
			cpuCount.Store(int64(n))
		}
	}
	return &wire.Load{Load1: a.Load1, Load5: a.Load5, Load15: a.Load15, CPUs: n}, nil
}
