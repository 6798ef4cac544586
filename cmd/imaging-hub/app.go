package main

import (
	"net/http"

	"imagingstatus/server/hub"
	"imagingstatus/server/webapp"
)

// appHandler serves the embedded web app; its version follows app.wasm.
func appHandler(string) (http.Handler, error) { return webapp.New(webapp.Options{}) }

func hubOptions(version string) hub.Options { return hub.Options{Version: version} }
