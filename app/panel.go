package app

import (
	"sort"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// EntityPanel shows one entity: its status, what to do, and the figures of
// the imaging server that serves it and of Medulla's database.
type EntityPanel struct {
	app.Compo

	Entity wire.Entity
	// Now is the hub's clock (browser clock corrected by the measured skew).
	Now time.Time
	// ServedByName names the entity whose server is inherited.
	ServedByName string
	// Stale is set while the page has lost the hub: what it shows may be old.
	Stale bool
	// Lang of the texts; English when empty.
	Lang Lang
	// Live: the page is connected to the hub (the history then retries
	// what failed).
	Live bool
}

// maxRows bounds the masters and activity tables.
const maxRows = 10

func (p *EntityPanel) t() *Texts { return T(p.Lang) }

// Render implements app.Composer.
func (p *EntityPanel) Render() app.UI {
	e := p.Entity
	t := p.t()
	info := t.Status(e.Status)
	why := t.EntityReason(e)
	return app.Article().Class("entity").Aria("labelledby", "entity-title").Body(
		app.H2().ID("entity-title").Class("entity-title").Text(TreeLabel(e)),
		app.Section().ID("status").Class("status status--"+info.Class).Role("status").Aria("live", "polite").Body(
			icon(info.Icon, "status-icon"),
			app.Div().Class("status-text").Body(
				app.P().Class("status-word").Text(info.Label),
				app.If(why.Sentence != "", func() app.UI {
					return app.P().Class("status-reason").Text(why.Sentence)
				}),
				// The hub's own words, for whoever reports it further.
				app.If(why.Detail != "", func() app.UI {
					return app.P().Class("status-detail").Text(t.F(t.DetailsF, why.Detail))
				}),
				app.If(e.Stale, func() app.UI {
					return app.P().Class("status-unconfirmed").Text(t.Unconfirmed)
				}),
				app.If(!e.Since.IsZero(), func() app.UI {
					return app.P().Class("status-since").Text(t.F(t.ForSinceF, t.Duration(p.Now.Sub(e.Since)), t.Date(e.Since)))
				}),
				app.P().Class("status-action").Body(
					app.Strong().Text(t.WhatToDo),
					app.Text(info.Action),
				),
			),
		),
		p.renderAlerts(),
		p.renderServer(),
		// The notices and the figures sit in containers that are always
		// there, so the history after them keeps its place in the tree
		// (go-app would otherwise mount a new one, which refetches).
		app.Div().Class("entity-notices").Body(
			app.If(p.Stale, func() app.UI {
				return app.P().Class("notice notice--stale").Text(t.LostHub)
			}),
			p.renderMedullaNotices(),
			renderForecast(t, e.DiskForecast),
		),
		app.Div().Class("entity-figures").Body(p.renderFigures()),
		&EntityHistory{
			EntityID: e.ID, Status: e.Status, Reason: e.Reason, Since: e.Since,
			Now: p.Now, Lang: p.Lang, Live: p.Live,
			Server: e.ServedBy != "" && e.Status != wire.StatusNotLinked,
		},
	)
}

func (p *EntityPanel) servedByName() string {
	if p.ServedByName != "" {
		return p.ServedByName
	}
	return p.Entity.ServedByEntity
}

func (p *EntityPanel) renderServer() app.UI {
	e := p.Entity
	t := p.t()
	if e.ServedBy == "" {
		if e.Status == wire.StatusNotLinked && (e.Reason != "" || e.ReasonCode != "") {
			// The status's reason already says why: once is enough. An
			// empty block keeps the history's place in the tree.
			return app.Div().Class("server-block server-block--none")
		}
		return app.P().Class("server").Text(t.NoServer)
	}
	var parts []app.UI
	parts = append(parts, app.Text(t.ImagingServer), app.Strong().Class("server-name").Text(e.ServedBy))
	if e.Inherited {
		parts = append(parts, app.Span().Class("server-inherited").Text(t.F(t.ServedByServerF, p.servedByName())))
	}
	if e.Hostname != "" && e.Hostname != e.ServedBy {
		parts = append(parts, app.Span().Class("server-host").Text(t.F(t.HostF, e.Hostname)))
	}
	if e.AgentVersion != "" {
		parts = append(parts, app.Span().Class("server-agent").Text(t.F(t.AgentF, e.AgentVersion)))
	}
	return app.Div().Class("server-block").Body(
		app.P().Class("server").Body(parts...),
		app.P().Class("updated").Text(p.updatedText()),
	)
}

// renderAlerts lists the alerts firing for the entity, so whoever looks
// knows the on-call team has been told, and since when.
func (p *EntityPanel) renderAlerts() app.UI {
	e := p.Entity
	t := p.t()
	// Always there, empty or not: the history below keeps its place.
	return app.Div().Class("entity-alerts-box").Body(app.If(len(e.Alerts) > 0, func() app.UI {
		return p.alertList(t)
	}))
}

func (p *EntityPanel) alertList(t *Texts) app.UI {
	e := p.Entity
	return app.Ul().Class("entity-alerts").Aria("label", t.AlertsLabel).Body(app.Range(e.Alerts).Slice(func(i int) app.UI {
		a := e.Alerts[i]
		return app.Li().Class("entity-alert entity-alert--"+a.Kind).Body(
			bell("alert-icon"),
			app.P().Class("alert-text").Body(
				app.Strong().Text(t.AlertSentTo),
				app.Text(t.AlertLine(a, e.Status, p.Now)),
			),
		)
	}))
}

func (p *EntityPanel) updatedText() string {
	t := p.t()
	if p.Entity.LastReportAt == nil {
		return t.NoReportYet
	}
	return t.F(t.UpdatedF, t.Ago(p.Now.Sub(*p.Entity.LastReportAt)))
}

// renderMedullaNotices warns when Medulla's link fails and when Medulla's
// rule picks a farther server than the nearest linked parent's.
func (p *EntityPanel) renderMedullaNotices() app.UI {
	m := p.Entity.Medulla
	if m == nil {
		return nil
	}
	t := p.t()
	var out []app.UI
	if m.Stale && !p.hasStatsCard() {
		out = append(out, app.P().Class("notice notice--stale notice--medulla").Role("alert").Text(p.medullaStaleText()))
	}
	if m.NearerLinkedServer != "" {
		served := p.Entity.ServedBy
		if served == "" {
			served = "?"
		}
		out = append(out, app.P().Class("notice notice--warn notice--nearer").Text(t.F(t.NearerServerF, served, m.NearerLinkedServer)))
	}
	if len(out) == 0 {
		return nil
	}
	return app.Div().Class("medulla-notices").Body(out...)
}

// medullaStaleText says why Medulla's figures are old and how old, from
// the hub's code only (Medulla.Error may name the database's user, host or
// socket).
func (p *EntityPanel) medullaStaleText() string {
	m := p.Entity.Medulla
	t := p.t()
	why := t.MedullaErrorSentence(m.ErrorCode)
	if m.LoadedAt.IsZero() {
		return t.F(t.MedullaNeverF, why)
	}
	return t.F(t.MedullaStaleF, why, t.Duration(p.Now.Sub(m.LoadedAt)))
}

// hasStatsCard: the statistics card is shown (renderFigures).
func (p *EntityPanel) hasStatsCard() bool { return p.hasFigures() || p.hasMedullaFigures() }

func (p *EntityPanel) hasFigures() bool {
	e := p.Entity
	return len(e.Partitions) > 0 || e.Memory != nil || e.Load != nil || e.UptimeSeconds > 0 ||
		e.Repository != nil || len(e.Probes) > 0 || len(e.Errors) > 0
}

// hasMedullaFigures: the link has read this entity at least once.
func (p *EntityPanel) hasMedullaFigures() bool {
	m := p.Entity.Medulla
	return m != nil && !m.LoadedAt.IsZero()
}

func (p *EntityPanel) renderFigures() app.UI {
	e := p.Entity
	t := p.t()
	agent := p.hasFigures()
	if !agent && !p.hasMedullaFigures() {
		if e.Status == wire.StatusNotLinked || e.ServedBy == "" || e.LastReportAt == nil {
			return nil // nothing, or "No report received yet" above already says it
		}
		return app.P().Class("notice").Text(t.NoFiguresYet)
	}
	var cards []app.UI
	if agent {
		cards = append(cards, p.renderDisk(), p.renderLoad(), p.renderStats(), p.renderProbes())
	} else {
		cards = append(cards, p.renderStats())
	}
	if p.hasMedullaFigures() {
		cards = append(cards, p.renderMasters(), p.renderActivity())
	}
	return app.Div().Body(
		app.If(agent && e.Status == wire.StatusOffline, func() app.UI {
			return app.P().Class("notice notice--stale").Text(t.FromLastReport)
		}),
		app.If(!agent && e.ServedBy != "" && e.Status != wire.StatusNotLinked && e.LastReportAt != nil, func() app.UI {
			return app.P().Class("notice").Text(t.NoFiguresYet)
		}),
		app.If(len(e.Errors) > 0, func() app.UI {
			return app.Div().Class("notice notice--errors").Body(
				app.P().Text(t.CollectErrors),
				app.Ul().Body(app.Range(e.Errors).Slice(func(i int) app.UI {
					return app.Li().Text(e.Errors[i])
				})),
			)
		}),
		app.Div().Class("cards").Body(cards...),
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

// diskLevel is the warning class for a disk percentage (df's), at the
// meter's own thresholds.
func diskLevel(pct int) string {
	switch {
	case pct >= 90:
		return "disk--full"
	case pct >= 75:
		return "disk--warn"
	}
	return "disk--ok"
}

func (p *EntityPanel) renderDisk() app.UI {
	t := p.t()
	parts := append([]wire.Partition(nil), p.Entity.Partitions...)
	if len(parts) == 0 {
		return card(t.DiskSpace, app.P().Class("missing").Text(t.NoPartition))
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Main && !parts[j].Main })
	return card(t.DiskSpace, app.Ul().Class("disks").Body(app.Range(parts).Slice(func(i int) app.UI {
		d := parts[i]
		return app.Li().Class("disk").Body(
			app.P().Class("disk-name").Body(
				app.Strong().Text(d.Mountpoint),
				app.If(d.Main, func() app.UI {
					return app.Span().Class("tag").Text(t.MainPartition)
				}),
				app.Span().Class("disk-dev").Text(" "+d.Device+" "+d.FSType),
			),
			// The bar, the percentage and the warning colours all follow
			// df: used against used + available, without the reserve.
			meter(t.F(t.DiskUsedLabelF, d.Mountpoint), d.Used, d.Used+d.Free),
			app.P().Class("figures "+diskLevel(DiskPercent(d))).Title(t.DiskPercentNote).Text(t.F(t.DiskFiguresF,
				t.BytesText(d.Used), DiskPercent(d), t.BytesText(d.Free), t.BytesText(d.Total))),
			app.If(d.Reserved() > 0, func() app.UI {
				return app.P().Class("figures disk-reserved").Text(t.F(t.DiskReservedF, t.BytesText(d.Reserved())))
			}),
		)
	})))
}

func (p *EntityPanel) renderLoad() app.UI {
	e := p.Entity
	t := p.t()
	var body []app.UI
	if e.UptimeSeconds > 0 {
		body = append(body, app.P().Class("server-uptime").Text(t.F(t.UpForF, t.Duration(time.Duration(e.UptimeSeconds)*time.Second))))
	} else {
		body = append(body, app.P().Class("missing").Text(t.UptimeMissing))
	}
	if m := e.Memory; m != nil {
		body = append(body,
			app.P().Class("fig-label").Text(t.MemoryTitle),
			meter(t.MemoryUsedLabel, m.Used, m.Total),
			app.P().Class("figures").Text(t.F(t.MemoryFiguresF,
				t.BytesText(m.Used), Percent(m.Used, m.Total), t.BytesText(m.Available), t.BytesText(m.Total))),
		)
		if m.SwapTotal > 0 {
			body = append(body, app.P().Class("figures").Text(t.F(t.SwapF, t.BytesText(m.SwapUsed), t.BytesText(m.SwapTotal))))
		} else {
			body = append(body, app.P().Class("figures").Text(t.SwapNone))
		}
	} else {
		body = append(body, app.P().Class("missing").Text(t.MemoryMissing))
	}
	if l := e.Load; l != nil {
		text := t.F(t.LoadF, t.Number(l.Load1), t.Number(l.Load5), t.Number(l.Load15))
		switch {
		case l.CPUs == 1:
			text += t.OnOneCPU
		case l.CPUs > 1:
			text += t.F(t.OnCPUsF, l.CPUs)
		}
		body = append(body, app.P().Class("figures load").Text(text))
	} else {
		body = append(body, app.P().Class("missing").Text(t.LoadMissing))
	}
	return card(t.ServerLoad, body...)
}

func stat(k, v string) app.UI {
	return app.Div().Class("stat").Body(app.Dt().Text(k), app.Dd().Text(v))
}

func count(n *int) string {
	if n == nil {
		return "—"
	}
	return strconv.Itoa(*n)
}

// renderStats puts Medulla's figures and the disk scan's side by side, each
// group headed by where its figures come from.
func (p *EntityPanel) renderStats() app.UI {
	e := p.Entity
	t := p.t()
	var body []app.UI
	if p.hasMedullaFigures() {
		m := e.Medulla
		group := []app.UI{
			app.H4().Class("source source--medulla").Text(t.F(t.FromMedullaF, t.Ago(p.Now.Sub(m.LoadedAt)))),
		}
		if m.Stale {
			// The stale mark sits on the figures it is about.
			group = append(group, app.P().Class("stat-stale").Role("alert").Text(p.medullaStaleText()))
		}
		if m.Server != "" {
			group = append(group, app.P().Class("figures").Text(t.F(t.MedullaServerF, m.Server)))
		}
		if m.Clients == nil && m.ClientsWithBackupImages == nil && m.Masters == nil {
			group = append(group, app.P().Class("missing").Text(t.MedullaNoCounts))
		} else {
			group = append(group, app.Dl().Class("stats").Body(
				stat(t.MedullaClients, count(m.Clients)),
				stat(t.MedullaBackups, count(m.ClientsWithBackupImages)),
				stat(t.MedullaMasters, count(m.Masters)),
			), app.P().Class("stat-note").Text(t.MedullaNote))
		}
		body = append(body, app.Div().Class("stat-group stat-group--medulla").Body(group...))
	} else if e.Medulla != nil && e.Medulla.Stale {
		body = append(body, app.P().Class("stat-stale").Role("alert").Text(p.medullaStaleText()))
	}
	if r := e.Repository; r != nil {
		source := t.F(t.DiskScanF, r.Root)
		if e.Inherited {
			source += t.F(t.OnServerOfF, p.servedByName())
		}
		body = append(body, app.Div().Class("stat-group stat-group--disk").Body(
			app.H4().Class("source source--disk").Text(source),
			app.Dl().Class("stats").Body(
				stat(t.RegClients, strconv.Itoa(r.Clients)),
				app.Div().Class("stat").Title(t.ClientsWithImgsNote).Body(
					app.Dt().Text(t.ClientsWithImgs), app.Dd().Text(strconv.Itoa(r.ClientsWithImages)),
				),
				stat(t.Images, t.F(t.ImagesByStateF, r.ImagesTotal, r.ImagesComplete, r.ImagesInProgress, r.ImagesFailed, r.ImagesInvalid)),
				stat(t.SizeComplete, t.BytesText(r.BytesComplete)),
			),
			// Visible, not a hover-only tooltip: keyboards and phones read it too.
			app.P().Class("stat-note").Text(t.DiskScanNote),
		))
	} else if p.hasFigures() {
		body = append(body, app.P().Class("missing").Text(t.RepoMissing))
	}
	if e.Medulla == nil {
		body = append(body, app.P().Class("note").Text(t.NoMedullaNote))
	}
	return card(t.EntityStats, body...)
}

func (p *EntityPanel) renderMasters() app.UI {
	t := p.t()
	ms := p.Entity.Medulla.MasterImages
	if len(ms) == 0 {
		return card(t.MastersTitle, app.P().Class("missing").Text(t.NoMasters))
	}
	shown := ms[:min(len(ms), maxRows)]
	return card(t.MastersTitle,
		app.Table().Class("list-table").Body(
			app.THead().Body(app.Tr().Body(
				app.Th().Scope("col").Text(t.ColName),
				app.Th().Scope("col").Class("num").Text(t.ColSize),
				app.Th().Scope("col").Text(t.ColDate),
			)),
			app.TBody().Body(app.Range(shown).Slice(func(i int) app.UI {
				im := shown[i]
				date := t.UnknownDate
				if im.Created != nil {
					date = t.Date(*im.Created)
				}
				return app.Tr().Body(
					app.Td().Class("wrap").Text(im.Name),
					app.Td().Class("num").Text(t.BytesText(uint64(max(im.Size, 0)))),
					app.Td().Class("nowrap").Text(date),
				)
			})),
		),
		app.If(len(ms) > len(shown), func() app.UI {
			return app.P().Class("note").Text(t.F(t.MoreRowsF, len(ms)-len(shown)))
		}),
	)
}

func (p *EntityPanel) renderActivity() app.UI {
	t := p.t()
	as := p.Entity.Medulla.Activity
	if len(as) == 0 {
		return card(t.ActivityTitle, app.P().Class("missing").Text(t.NoActivity))
	}
	shown := as[:min(len(as), maxRows)]
	return card(t.ActivityTitle,
		app.Table().Class("list-table").Body(
			app.THead().Body(app.Tr().Body(
				app.Th().Scope("col").Text(t.ColTime),
				app.Th().Scope("col").Text(t.ColState),
				app.Th().Scope("col").Text(t.ColTarget),
			)),
			app.TBody().Body(app.Range(shown).Slice(func(i int) app.UI {
				a := shown[i]
				when := t.UnknownDate
				if a.Time != nil {
					when = t.Date(*a.Time)
				}
				cls := "state state--" + a.State
				return app.Tr().Title(a.Detail).Body(
					app.Td().Class("nowrap").Text(when),
					app.Td().Class(cls).Text(t.ActivityState(a.State)),
					app.Td().Class("wrap").Text(a.Target),
				)
			})),
		),
		app.If(len(as) > len(shown), func() app.UI {
			return app.P().Class("note").Text(t.F(t.MoreRowsF, len(as)-len(shown)))
		}),
	)
}

func (p *EntityPanel) renderProbes() app.UI {
	t := p.t()
	probes := p.Entity.Probes
	if len(probes) == 0 {
		return card(t.ServiceChecks, app.P().Class("missing").Text(t.NoProbe))
	}
	return card(t.ServiceChecks, app.Ul().Class("probes").Body(app.Range(probes).Slice(func(i int) app.UI {
		pr := probes[i]
		word, ic, cls := t.ProbeOK, "check", "probe--ok"
		if !pr.OK {
			word, ic, cls = t.ProbeFailed, "warn", "probe--fail"
		}
		return app.Li().Class("probe "+cls).Body(
			app.P().Class("probe-head").Body(
				icon(ic, "probe-icon"),
				app.Span().Class("probe-word").Text(word),
				app.Span().Class("probe-name").Text(" "+pr.Name),
				app.If(pr.OK || pr.LatencyMS > 0, func() app.UI {
					return app.Span().Class("probe-latency").Text(" · " + t.Latency(pr.LatencyMS))
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
