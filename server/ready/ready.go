// Package ready asks a hub whether an entity is available, for scripts that
// must check before they create or deploy an image.
package ready

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"imagingstatus/server/api"
	"imagingstatus/wire"
)

// Check calls the readiness endpoint, with a viewer token when the hub
// asks for one (empty: none). A not-ready entity is not an error: the
// result says so; errors are for an unknown entity, a refused token or an
// unreachable hub.
func Check(ctx context.Context, hub, entity, token string) (api.Readiness, error) {
	var r api.Readiness
	if !wire.ValidEntityID(entity) {
		return r, fmt.Errorf("--entity %q is not a valid entity id", entity)
	}
	u, err := url.Parse(strings.TrimSuffix(hub, "/") + "/api/v1/entities/" + url.PathEscape(entity) + "/ready")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return r, fmt.Errorf("--hub %q must be an http:// or https:// URL", hub)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return r, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, fmt.Errorf("ask the hub: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return r, fmt.Errorf("read the hub's answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusServiceUnavailable:
		if err := json.Unmarshal(body, &r); err != nil || r.ID == "" {
			return r, fmt.Errorf("the hub answered %s with an unexpected body", resp.Status)
		}
		return r, nil
	case http.StatusNotFound:
		return r, fmt.Errorf("the hub does not know entity %s (or the viewer token does not cover it)", entity)
	case http.StatusUnauthorized:
		if token == "" {
			return r, errors.New("the hub authenticates viewers: pass --token-file FILE holding a viewer token (it is sent as Authorization: Bearer)")
		}
		return r, errors.New("the hub refused the viewer token (revoked or mistyped): ask its administrator for a valid one")
	default:
		return r, errors.New("the hub answered " + resp.Status)
	}
}
