package app

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// Status icons as inline SVG, so they look the same whatever fonts the
// device has. aria-hidden: the words next to them carry the meaning.
var statusIcons = map[string]string{
	"check":    `<path d="M5 12.5l4.5 4.5L19 7.5" fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/>`,
	"off":      `<path d="M12 3v8M7 6.3a8 8 0 1 0 10 0" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"/>`,
	"warn":     `<path d="M12 3L2 20h20z" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linejoin="round"/><path d="M12 9.5v5" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"/><circle cx="12" cy="17.3" r="1.3" fill="currentColor"/>`,
	"unlinked": `<path d="M9.5 14.5l-2 2a3 3 0 0 1-4.2-4.2l3-3a3 3 0 0 1 4.2 0M14.5 9.5l2-2a3 3 0 0 1 4.2 4.2l-3 3a3 3 0 0 1-4.2 0M4 4l16 16" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"/>`,
	"bell":     `<path d="M6 16.5V11a6 6 0 0 1 12 0v5.5l1.5 1.5h-15zM10 20.5a2.2 2.2 0 0 0 4 0" fill="none" stroke="currentColor" stroke-width="2.1" stroke-linejoin="round" stroke-linecap="round"/>`,
	"unknown":  `<path d="M9 9a3 3 0 1 1 4 2.8c-.7.3-1 .9-1 1.7v.5" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"/><circle cx="12" cy="18" r="1.3" fill="currentColor"/>`,
}

func icon(name, class string) app.UI {
	body, ok := statusIcons[name]
	if !ok {
		body = statusIcons["unknown"]
	}
	return app.Raw(`<svg class="` + class + `" viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false">` + body + `</svg>`)
}

// bell marks an alert sent to the on-call team.
func bell(class string) app.UI { return icon("bell", class) }
