//go:build unix

package server

import (
	"context"
	"log/slog"
	"syscall"
)

// logFileLimit says how many connections the hub can hold. Go raises the
// soft open-file limit to the hard limit when the process starts; what is
// left is to say both, so that an administrator sees a low hard limit
// before it bites (raise it with LimitNOFILE= in the systemd unit).
func logFileLimit(log *slog.Logger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("open-file limit unknown", "err", err)
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			log.Warn("open-file limit not raised to the hard limit", "err", err)
		}
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	level := slog.LevelInfo
	if l.Cur < 8192 {
		level = slog.LevelWarn // fewer agents and viewers than a deployment may have
	}
	log.Log(context.Background(), level, "open-file limit", "soft", l.Cur, "hard", l.Max)
}
