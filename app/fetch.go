package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// Fetcher reads a JSON resource of the hub. path is absolute on the page's
// own origin ("/api/v1/entities/UUID0/uptime?window=24h"), so the browser
// sends the page's cookie (viewer authentication) with it. A non-2xx answer
// is an *HTTPError. The page uses fetchHub; tests replace it with fixtures.
type Fetcher func(ctx context.Context, path string) ([]byte, error)

// fetchHub is the page's Fetcher. Read it on the UI goroutine only (tests
// swap it between runs).
var fetchHub Fetcher = fetchSameOrigin

// maxFetchBody bounds a REST answer read by the page (a 365-day series or
// 200 status changes are far smaller).
const maxFetchBody = 4 << 20

// HTTPError is a hub answer other than 2xx.
type HTTPError struct{ Status int }

func (e *HTTPError) Error() string { return "HTTP " + strconv.Itoa(e.Status) }

// errNoBrowser: the hub's prerender and the tests have no fetch.
var errNoBrowser = errors.New("no browser to fetch with")

// HTTPStatus is err's HTTP status, 0 for a network or decoding failure.
func HTTPStatus(err error) int {
	var h *HTTPError
	if errors.As(err, &h) {
		return h.Status
	}
	return 0
}

// Paths of the hub's history resources for one entity.

func entityAPIPath(id, what string) string {
	return "/api/v1/entities/" + url.PathEscape(id) + "/" + what
}

// UptimePath is GET …/uptime?window=24h|7d|30d.
func UptimePath(id, window string) string {
	return entityAPIPath(id, "uptime?window="+url.QueryEscape(window))
}

// SeriesPath is GET …/series?figure=NAME&window=48h|30d|365d.
func SeriesPath(id, figure, window string) string {
	return entityAPIPath(id, "series?figure="+url.QueryEscape(figure)+"&window="+url.QueryEscape(window))
}

// HistoryPath is GET …/history: status changes, newest first.
func HistoryPath(id string) string { return entityAPIPath(id, "history") }

// fetchSameOrigin asks the browser's fetch for path (same origin, so with
// the page's cookie; never from the service worker's cache).
func fetchSameOrigin(ctx context.Context, path string) ([]byte, error) {
	if !app.IsClient {
		return nil, errNoBrowser
	}
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	var funcs []app.Func
	finish := func(r result) {
		select {
		case done <- r:
		default:
		}
	}
	onFail := app.FuncOf(func(this app.Value, args []app.Value) any {
		msg := "fetch failed"
		if len(args) > 0 && args[0].Truthy() {
			msg = args[0].Call("toString").String()
		}
		finish(result{err: errors.New(msg)})
		return nil
	})
	onText := app.FuncOf(func(this app.Value, args []app.Value) any {
		if len(args) > 0 {
			finish(result{body: args[0].String()})
		}
		return nil
	})
	onResponse := app.FuncOf(func(this app.Value, args []app.Value) any {
		if len(args) == 0 {
			finish(result{err: errors.New("fetch: no response")})
			return nil
		}
		resp := args[0]
		if !resp.Get("ok").Bool() {
			finish(result{err: &HTTPError{Status: resp.Get("status").Int()}})
			return nil
		}
		resp.Call("text").Call("then", onText).Call("catch", onFail)
		return nil
	})
	funcs = append(funcs, onFail, onText, onResponse)
	defer func() {
		for _, f := range funcs {
			f.Release()
		}
	}()

	ctrl := app.Window().Get("AbortController")
	var abort app.Value
	opts := map[string]any{
		"method":      "GET",
		"credentials": "same-origin",
		"cache":       "no-store",
		"headers":     map[string]any{"Accept": "application/json"},
	}
	if ctrl.Truthy() {
		abort = ctrl.New()
		opts["signal"] = abort.Get("signal")
	}
	app.Window().Call("fetch", path, opts).Call("then", onResponse).Call("catch", onFail)

	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		if len(r.body) > maxFetchBody {
			return nil, fmt.Errorf("answer larger than %d bytes", maxFetchBody)
		}
		return []byte(r.body), nil
	case <-ctx.Done():
		if abort != nil {
			abort.Call("abort")
		}
		// The promise still settles (rejected by the abort): wait for it so
		// the callbacks are released only once they can no longer run.
		<-done
		return nil, ctx.Err()
	}
}
