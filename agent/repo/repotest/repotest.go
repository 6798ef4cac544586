// Package repotest is the name the agent's tests know the sample repository
// generator by; the generator itself lives in agent/repo/sample (a
// non-test package, so that the shipped demo can use it).
package repotest

import (
	"time"

	"imagingstatus/agent/repo/sample"
)

// Options says what to generate (see sample.Options).
type Options = sample.Options

// Expected is what a scan of the generated tree must report.
type Expected = sample.Expected

// Generate writes a repository under root (see sample.Generate).
func Generate(root string, o Options) (Expected, error) { return sample.Generate(root, o) }

// ClientMAC is the MAC of registered client n (0-based).
func ClientMAC(n int) string { return sample.ClientMAC(n) }

// ComputerUUID is the Medulla computer UUID of registered client n.
func ComputerUUID(n int) string { return sample.ComputerUUID(n) }

// UUIDv1 builds a version-1 UUID for time t, clock sequence seq and node mac.
func UUIDv1(t time.Time, seq uint16, mac string) string { return sample.UUIDv1(t, seq, mac) }
