package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/shirou/gopsutil/v3/load"
	"github.com/shirou/gopsutil/v3/process"
)

// ProcUsage is one reading of a process's counters.
type ProcUsage struct {
	At      time.Time
	CPU     time.Duration // user + system CPU time since the process started
	RSSKiB  uint64        // resident set size
	HWMKiB  uint64        // VmHWM: peak RSS over the process's life
	Threads int
}

// ReadProc reads a process's CPU time, memory and threads through
// gopsutil; pid 0 is this process. The peak RSS is the one figure read by
// hand (see vmHWM).
func ReadProc(pid int) (ProcUsage, error) {
	if pid <= 0 {
		pid = os.Getpid()
	}
	now := time.Now()
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		return ProcUsage{}, err
	}
	times, err := p.Times()
	if err != nil {
		return ProcUsage{}, fmt.Errorf("CPU times of %d: %w", pid, err)
	}
	mem, err := p.MemoryInfo()
	if err != nil {
		return ProcUsage{}, fmt.Errorf("memory of %d: %w", pid, err)
	}
	threads, err := p.NumThreads()
	if err != nil {
		return ProcUsage{}, fmt.Errorf("threads of %d: %w", pid, err)
	}
	hwm, err := vmHWM(pid)
	if err != nil {
		return ProcUsage{}, err
	}
	cpu := time.Duration((times.User + times.System) * float64(time.Second))
	return ProcUsage{At: now, CPU: cpu, RSSKiB: mem.RSS >> 10, HWMKiB: max(hwm, mem.RSS>>10), Threads: int(threads)}, nil
}

// vmHWM reads VmHWM (kB) from /proc/<pid>/status. gopsutil v3.24.5 parses
// that line into an unexported field but offers no way to get it: its
// MemoryInfo and MemoryInfoEx read /proc/<pid>/statm, which has no peak
// (their HWM stays 0). So this one figure is read by hand.
func vmHWM(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmHWM(b)
}

// parseVmHWM finds "VmHWM:\t  1234 kB" in the text of /proc/<pid>/status.
func parseVmHWM(status []byte) (uint64, error) {
	for line := range bytes.SplitSeq(status, []byte{'\n'}) {
		val, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(val)
		if len(f) != 2 || !bytes.EqualFold(f[1], []byte("kB")) {
			return 0, fmt.Errorf("/proc status VmHWM: %q, want a number of kB", bytes.TrimSpace(val))
		}
		v, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status VmHWM: %w", err)
		}
		return v, nil
	}
	return 0, errors.New("/proc status: no VmHWM (kernel thread or zombie?)")
}

// CPUPercent is the CPU used between two readings as a percentage of one
// core (200 % is two cores busy).
func CPUPercent(a, b ProcUsage) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 || b.CPU < a.CPU {
		return 0
	}
	return 100 * float64(b.CPU-a.CPU) / float64(wall)
}

// LoadAvg is the 1, 5 and 15 minute load averages ("0.52 0.58 0.59"), ""
// when unknown.
func LoadAvg() string {
	l, err := load.Avg()
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l.Load1, l.Load5, l.Load15)
}

// Sampler reads a process every period and keeps the peak RSS and the
// readings; Stop ends it.
type Sampler struct {
	pid    int
	mu     sync.Mutex
	peak   uint64
	reads  []ProcUsage
	stop   chan struct{}
	done   chan struct{}
	maxLen int
}

// NewSampler starts sampling pid every period (at most maxReads readings
// are kept; older ones are thinned out by half).
func NewSampler(pid int, period time.Duration, maxReads int) *Sampler {
	s := &Sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{}), maxLen: max(maxReads, 4)}
	go func() {
		defer close(s.done)
		t := time.NewTicker(period)
		defer t.Stop()
		s.read()
		for {
			select {
			case <-s.stop:
				s.read()
				return
			case <-t.C:
				s.read()
			}
		}
	}()
	return s
}

func (s *Sampler) read() {
	u, err := ReadProc(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak = max(s.peak, u.RSSKiB, u.HWMKiB)
	if len(s.reads) >= s.maxLen {
		k := 0
		for i := 0; i < len(s.reads); i += 2 {
			s.reads[k] = s.reads[i]
			k++
		}
		s.reads = s.reads[:k]
	}
	s.reads = append(s.reads, u)
}

// Stop ends sampling (after one last reading) and returns the readings.
func (s *Sampler) Stop() []ProcUsage {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ProcUsage(nil), s.reads...)
}

// PeakKiB is the highest RSS seen so far (VmHWM included).
func (s *Sampler) PeakKiB() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// RaiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit. Children started afterwards inherit it.
func RaiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}
