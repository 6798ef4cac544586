//go:build !unix

package repo

import "time"

func cpuTime() time.Duration { return 0 }
