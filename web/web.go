// Package web holds the dashboard's static resources, embedded into the hub:
// the stylesheet, the icons and, once `make wasm` has run, app.wasm with its
// precompressed copies (app.wasm.br, app.wasm.gz, app.wasm.sum).
package web

import (
	"embed"
	"io/fs"
)

//go:generate go run ./internal/genicons -out static

//go:embed static
var files embed.FS

// Static is the content served under /web/ (static/x is /web/x).
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // "static" is a literal embedded directory
	}
	return sub
}
