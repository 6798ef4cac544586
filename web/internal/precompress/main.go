// Command precompress writes FILE.br (brotli q11), FILE.gz (gzip -9) and
// FILE.sum (SHA-256 of FILE) next to FILE, so the hub serves the WASM
// compressed without compressing on each request. The .sum lets the hub
// refuse compressed copies left over from an older build.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/andybalholm/brotli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: precompress FILE")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "precompress:", err)
		os.Exit(1)
	}
}

func run(name string) error {
	raw, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	var br bytes.Buffer
	// lgwin 24 is the largest window browsers accept; it helps a 10 MB file.
	bw := brotli.NewWriterOptions(&br, brotli.WriterOptions{Quality: 11, LGWin: 24})
	if _, err := bw.Write(raw); err != nil {
		return err
	}
	if err := bw.Close(); err != nil {
		return err
	}
	var gz bytes.Buffer
	gw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := gw.Write(raw); err != nil {
		return err
	}
	if err := gw.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	for _, f := range []struct {
		ext  string
		data []byte
	}{
		{".br", br.Bytes()},
		{".gz", gz.Bytes()},
		{".sum", []byte(hex.EncodeToString(sum[:]) + "\n")},
	} {
		if err := writeAtomic(name+f.ext, f.data); err != nil {
			return err
		}
	}
	fmt.Printf("%s: raw %d, gzip %d, brotli %d bytes\n", filepath.Base(name), len(raw), gz.Len(), br.Len())
	return nil
}

// writeAtomic renames into place so an embed never sees half a file.
func writeAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".precompress-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
