// Command imaging-app is the browser side of the dashboard, built with
// GOOS=js GOARCH=wasm into web/static/app.wasm (make wasm).
package main

import (
	"fmt"
	"os"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	ui "imagingstatus/app"
)

func main() {
	ui.Register()
	if app.IsServer {
		fmt.Fprintln(os.Stderr, "imaging-app runs in the browser: build it with `make wasm`; the hub serves it.")
		os.Exit(2)
	}
	app.RunWhenOnBrowser()
}
