//go:build !unix

package server

import "log/slog"

func logFileLimit(*slog.Logger) {}
