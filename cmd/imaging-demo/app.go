package main

import (
	"net/http"

	"imagingstatus/server/webapp"
)

func appHandler() (http.Handler, error) { return webapp.New(webapp.Options{}) }
