package loadtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ProcUsage is one reading of a process's counters from /proc.
type ProcUsage struct {
	At       time.Time
	CPUTicks uint64 // utime + stime, in clock ticks
	RSSKiB   uint64 // VmRSS
	HWMKiB   uint64 // VmHWM: peak RSS over the process's life
	Threads  int
}

// CPU returns the CPU time in the reading.
func (u ProcUsage) CPU() time.Duration {
	return time.Duration(u.CPUTicks) * time.Second / time.Duration(clockTicks())
}

// parseStat reads utime and stime (fields 14 and 15) from /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may hold spaces or
// parentheses itself, so fields are counted from the last ')'.
func parseStat(b []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("/proc stat: no ')' after the command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	if utime, err = strconv.ParseUint(string(f[11]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("/proc stat utime: %w", err)
	}
	if stime, err = strconv.ParseUint(string(f[12]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("/proc stat stime: %w", err)
	}
	return utime, stime, nil
}

// parseStatus reads VmRSS, VmHWM (kB) and Threads from /proc/<pid>/status.
func parseStatus(b []byte) (rssKiB, hwmKiB uint64, threads int, err error) {
	found := 0
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		f := bytes.Fields(val)
		if len(f) == 0 {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "VmRSS":
			dst = &rssKiB
		case "VmHWM":
			dst = &hwmKiB
		case "Threads":
			n, perr := strconv.Atoi(string(f[0]))
			if perr != nil {
				return 0, 0, 0, fmt.Errorf("/proc status Threads: %w", perr)
			}
			threads = n
			continue
		default:
			continue
		}
		v, perr := strconv.ParseUint(string(f[0]), 10, 64)
		if perr != nil {
			return 0, 0, 0, fmt.Errorf("/proc status %s: %w", key, perr)
		}
		if len(f) > 1 && !bytes.EqualFold(f[1], []byte("kB")) {
			return 0, 0, 0, fmt.Errorf("/proc status %s: unit %q, want kB", key, f[1])
		}
		*dst = v
		found++
	}
	if found < 2 {
		return 0, 0, 0, errors.New("/proc status: VmRSS or VmHWM missing (kernel thread or zombie?)")
	}
	return rssKiB, hwmKiB, threads, nil
}

// ReadProc reads a process's CPU time and memory; pid 0 is this process.
func ReadProc(pid int) (ProcUsage, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	now := time.Now()
	st, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcUsage{}, err
	}
	u, s, err := parseStat(st)
	if err != nil {
		return ProcUsage{}, err
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcUsage{}, err
	}
	rss, hwm, thr, err := parseStatus(status)
	if err != nil {
		return ProcUsage{}, err
	}
	return ProcUsage{At: now, CPUTicks: u + s, RSSKiB: rss, HWMKiB: hwm, Threads: thr}, nil
}

// CPUPercent is the CPU used between two readings as a percentage of one
// core (200 % is two cores busy).
func CPUPercent(a, b ProcUsage) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 || b.CPUTicks < a.CPUTicks {
		return 0
	}
	cpu := time.Duration(b.CPUTicks-a.CPUTicks) * time.Second / time.Duration(clockTicks())
	return 100 * float64(cpu) / float64(wall)
}

var (
	clkOnce sync.Once
	clk     uint64
)

// clockTicks is the kernel's USER_HZ (AT_CLKTCK in the auxiliary vector),
// 100 when it cannot be read.
func clockTicks() uint64 {
	clkOnce.Do(func() {
		clk = 100
		b, err := os.ReadFile("/proc/self/auxv")
		if err != nil {
			return
		}
		if v, ok := auxvValue(b, 17); ok && v > 0 { // AT_CLKTCK
			clk = v
		}
	})
	return clk
}

// auxvValue finds a key in a native-endian, 64-bit auxiliary vector.
func auxvValue(b []byte, key uint64) (uint64, bool) {
	for i := 0; i+16 <= len(b); i += 16 {
		k := binary.NativeEndian.Uint64(b[i:])
		if k == 0 {
			break
		}
		if k == key {
			return binary.NativeEndian.Uint64(b[i+8:]), true
		}
	}
	return 0, false
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
