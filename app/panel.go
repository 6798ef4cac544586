package ui

import (
	"sort"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// EntityPanel shows one entity: its status, what to do, and the figures of
// the imaging server that serves it.
type EntityPanel struct {
	app.Compo

	Entity wire.Entity
	// Now is the hub's clock (browser clock corrected by the measured skew).
	Now time.Time
	// ServedByName names the entity whose server is inherited.
	ServedByName string
	// Stale is set while the page has lost the hub: what it shows may be old.
	Stale bool
}

// Render implements app.Composer.
func (p *EntityPanel) Render() app.UI {
	e := p.Entity
	info := DescribeStatus(e.Status)
	return app.Article().Class("entity").Aria("labelledby", "entity-title").Body(
		app.H2().ID("entity-title").Class("entity-title").Text(TreeLabel(e)),
		app.Section().Class("status status--"+info.Class).Role("status").Aria("live", "polite").Body(
			icon(info.Icon, "status-icon"),
			app.Div().Class("status-text").Body(
				app.P().Class("status-word").Text(info.Label),
				app.If(e.Reason != "", func() app.UI {
					return app.P().Class("status-reason").Text(e.Reason)
				}),
				app.If(!e.Since.IsZero(), func() app.UI {
					return app.P().Class("status-since").Text(p.sinceText())
				}),
				app.P().Class("status-action").Body(
					app.Strong().Text("What to do: "),
					app.Text(info.Action),
				),
			),
		),
		p.renderServer(),
		app.If(p.Stale, func() app.UI {
			return app.P().Class("notice notice--stale").Text("The page has lost its connection to the hub: this may be out of date.")
		}),
		p.renderFigures(),
	)
}

func (p *EntityPanel) sinceText() string {
	e := p.Entity
	d := p.Now.Sub(e.Since)
	return "For " + HumanDuration(d) + " (since " + e.Since.Local().Format("2006-01-02 15:04") + ")"
}

func (p *EntityPanel) renderServer() app.UI {
	e := p.Entity
	if e.ServedBy == "" {
		return app.P().Class("server").Text("No imaging server serves this entity or any of its parents.")
	}
	var parts []app.UI
	parts = append(parts, app.Text("Imaging server: "), app.Strong().Class("server-name").Text(e.ServedBy))
	if e.Inherited {
		name := p.ServedByName
		if name == "" {
			name = e.ServedByEntity
		}
		parts = append(parts, app.Span().Class("server-inherited").Text(" (served by the server of "+name+")"))
	}
	if e.Hostname != "" && e.Hostname != e.ServedBy {
		parts = append(parts, app.Span().Class("server-host").Text(" · host "+e.Hostname))
	}
	if e.AgentVersion != "" {
		parts = append(parts, app.Span().Class("server-agent").Text(" · agent "+e.AgentVersion))
	}
	return app.Div().Class("server-block").Body(
		app.P().Class("server").Body(parts...),
		app.P().Class("updated").Text(p.updatedText()),
	)
}

func (p *EntityPanel) updatedText() string {
	if p.Entity.LastReportAt == nil {
		return "No report received from this server yet."
	}
	return "Updated " + Ago(p.Now.Sub(*p.Entity.LastReportAt))
}

func (p *EntityPanel) hasFigures() bool {
	e := p.Entity
	return len(e.Partitions) > 0 || e.Memory != nil || e.Load != nil || e.UptimeSeconds > 0 ||
		e.Repository != nil || len(e.Probes) > 0 || len(e.Errors) > 0
}

func (p *EntityPanel) renderFigures() app.UI {
	e := p.Entity
	if e.Status == wire.StatusNotLinked || (e.ServedBy == "" && !p.hasFigures()) {
		return nil
	}
	if !p.hasFigures() {
		return app.P().Class("notice").Text("The server has not reported any figures yet.")
	}
	return app.Div().Body(
		app.If(e.Status == wire.StatusOffline, func() app.UI {
			return app.P().Class("notice notice--stale").Text("These figures come from the last report, before the server went offline.")
		}),
		app.If(len(e.Errors) > 0, func() app.UI {
			return app.Div().Class("notice notice--errors").Body(
				app.P().Text("Some figures could not be collected:"),
				app.Ul().Body(app.Range(e.Errors).Slice(func(i int) app.UI {
					return app.Li().Text(e.Errors[i])
				})),
			)
		}),
		app.Div().Class("cards").Body(
			p.renderDisk(),
			p.renderLoad(),
			p.renderStats(),
			p.renderProbes(),
		),
	)
}

func card(title string, body ...app.UI) app.UI {
	return app.Section().Class("card").Body(
		append([]app.UI{app.H3().Class("card-title").Text(title)}, body...)...,
	)
}

// meter is a bar that needs no style attribute (a strict CSP forbids them).
func meter(label string, used, total uint64) app.UI {
	t := float64(total)
	return app.Meter().Class("bar").Aria("label", label).
		Min(0).Max(t).Value(float64(used)).
		Low(t * 0.75).High(t * 0.9).Optimum(0)
}

func (p *EntityPanel) renderDisk() app.UI {
	parts := append([]wire.Partition(nil), p.Entity.Partitions...)
	if len(parts) == 0 {
		return card("Disk space", app.P().Class("missing").Text("No partition reported."))
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Main && !parts[j].Main })
	return card("Disk space", app.Ul().Class("disks").Body(app.Range(parts).Slice(func(i int) app.UI {
		d := parts[i]
		return app.Li().Class("disk").Body(
			app.P().Class("disk-name").Body(
				app.Strong().Text(d.Mountpoint),
				app.If(d.Main, func() app.UI {
					return app.Span().Class("tag").Text("main · holds the repository")
				}),
				app.Span().Class("disk-dev").Text(" "+d.Device+" "+d.FSType),
			),
			meter("Disk "+d.Mountpoint+" used", d.Used, d.Total),
			app.P().Class("figures").Text(
				"Used "+HumanBytes(d.Used)+" ("+strconv.Itoa(Percent(d.Used, d.Total))+" %) · Free "+
					HumanBytes(d.Free)+" · Total "+HumanBytes(d.Total)),
		)
	})))
}

func (p *EntityPanel) renderLoad() app.UI {
	e := p.Entity
	var body []app.UI
	if e.UptimeSeconds > 0 {
		body = append(body, app.P().Class("uptime").Text("Up for "+HumanDuration(time.Duration(e.UptimeSeconds)*time.Second)))
	} else {
		body = append(body, app.P().Class("missing").Text("Uptime not reported."))
	}
	if m := e.Memory; m != nil {
		body = append(body,
			app.P().Class("fig-label").Text("Memory (RAM)"),
			meter("Memory used", m.Used, m.Total),
			app.P().Class("figures").Text("Used "+HumanBytes(m.Used)+" ("+strconv.Itoa(Percent(m.Used, m.Total))+" %) · Available "+
				HumanBytes(m.Available)+" · Total "+HumanBytes(m.Total)),
		)
		if m.SwapTotal > 0 {
			body = append(body, app.P().Class("figures").Text("Swap: "+HumanBytes(m.SwapUsed)+" used of "+HumanBytes(m.SwapTotal)))
		} else {
			body = append(body, app.P().Class("figures").Text("Swap: none"))
		}
	} else {
		body = append(body, app.P().Class("missing").Text("Memory not reported."))
	}
	if l := e.Load; l != nil {
		text := "Load average: " + FormatLoad(l.Load1) + " · " + FormatLoad(l.Load5) + " · " + FormatLoad(l.Load15) + " (1, 5, 15 min)"
		if l.CPUs > 0 {
			text += " on " + plural(l.CPUs, "CPU", "CPUs")
		}
		body = append(body, app.P().Class("figures load").Text(text))
	} else {
		body = append(body, app.P().Class("missing").Text("Load average not reported."))
	}
	return card("Server load", body...)
}

func (p *EntityPanel) renderStats() app.UI {
	e := p.Entity
	r := e.Repository
	if r == nil {
		return card("Entity statistics", app.P().Class("missing").Text("The imaging repository was not reported."))
	}
	source := "From the disk scan of " + r.Root
	if e.Inherited {
		name := p.ServedByName
		if name == "" {
			name = e.ServedByEntity
		}
		source += " on the server of " + name
	}
	row := func(k, v string) app.UI {
		return app.Div().Class("stat").Body(app.Dt().Text(k), app.Dd().Text(v))
	}
	byState := strconv.Itoa(r.ImagesComplete) + " complete, " + strconv.Itoa(r.ImagesInProgress) + " in progress, " +
		strconv.Itoa(r.ImagesFailed) + " failed, " + strconv.Itoa(r.ImagesInvalid) + " invalid"
	return card("Entity statistics",
		app.P().Class("source").Text(source),
		app.Dl().Class("stats").Body(
			row("Registered clients", strconv.Itoa(r.Clients)),
			row("Clients with images", strconv.Itoa(r.ClientsWithImages)),
			row("Images", strconv.Itoa(r.ImagesTotal)+" ("+byState+")"),
			row("Size of complete images", HumanBytes(r.BytesComplete)),
		),
		app.P().Class("note").Text("Which images are masters and which clients have backups is recorded only in Medulla's database, which this page does not read."),
	)
}

func (p *EntityPanel) renderProbes() app.UI {
	probes := p.Entity.Probes
	if len(probes) == 0 {
		return card("Service checks", app.P().Class("missing").Text("No probe reported."))
	}
	return card("Service checks", app.Ul().Class("probes").Body(app.Range(probes).Slice(func(i int) app.UI {
		pr := probes[i]
		word, ic, cls := "OK", "check", "probe--ok"
		if !pr.OK {
			word, ic, cls = "Failed", "warn", "probe--fail"
		}
		return app.Li().Class("probe "+cls).Body(
			app.P().Class("probe-head").Body(
				icon(ic, "probe-icon"),
				app.Span().Class("probe-word").Text(word),
				app.Span().Class("probe-name").Text(" "+pr.Name),
				app.If(pr.OK || pr.LatencyMS > 0, func() app.UI {
					return app.Span().Class("probe-latency").Text(" · " + FormatLatency(pr.LatencyMS))
				}),
			),
			app.If(pr.Target != "", func() app.UI {
				return app.P().Class("probe-target").Text(pr.Target)
			}),
			app.If(pr.Error != "", func() app.UI {
				return app.P().Class("probe-error").Text(pr.Error)
			}),
		)
	})))
}
