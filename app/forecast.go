package app

import (
	"math"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// Disk-full forecast thresholds, in days left.
const (
	// ForecastShowDays: the entity panel mentions a forecast under this.
	ForecastShowDays = 60
	// ForecastWarnDays: a warning (panel style, wall tile) under this.
	ForecastWarnDays = 14
)

// ForecastLevel says what the page makes of a forecast: show (the panel
// mentions it) and warn (warning style, and the wall tile shows it). No
// forecast, or one without a date (no growing trend), is neither.
func ForecastLevel(f *wire.DiskForecast) (show, warn bool) {
	if f == nil || f.DaysLeft == nil || math.IsNaN(*f.DaysLeft) || *f.DaysLeft < 0 {
		return false, false
	}
	d := *f.DaysLeft
	return d < ForecastShowDays, d < ForecastWarnDays
}

// ForecastHeadline: "Repository disk full in about 12 days".
func (t *Texts) ForecastHeadline(days float64) string {
	switch n := int(math.Floor(days)); {
	case n < 1:
		return t.ForecastUnderDay
	case n == 1:
		return t.ForecastOneDay
	default:
		return t.F(t.ForecastDaysF, n)
	}
}

// WallForecast: "Disk full in 9 d", for a tile.
func (t *Texts) WallForecast(days float64) string {
	if n := int(math.Floor(days)); n >= 1 {
		return t.F(t.WallForecastF, n)
	}
	return t.WallForecastUnderDay
}

// Confidence names a forecast confidence in this language.
func (t *Texts) Confidence(c string) string {
	switch c {
	case wire.ConfidenceLow:
		return t.ConfidenceLow
	case wire.ConfidenceMedium:
		return t.ConfidenceMedium
	case wire.ConfidenceHigh:
		return t.ConfidenceHigh
	default:
		return c
	}
}

// renderForecast is the panel's notice of a disk-full forecast under 60
// days (nothing otherwise): warning style under 14 days.
func renderForecast(t *Texts, f *wire.DiskForecast) app.UI {
	show, warn := ForecastLevel(f)
	if !show {
		return nil
	}
	cls := "notice notice--forecast"
	if warn {
		cls += " notice--warn"
	}
	trend := t.ForecastTrend
	if f.FullAt != nil {
		mount := f.Mountpoint
		if mount == "" {
			mount = "?"
		}
		trend = t.F(t.ForecastTrendF, mount, t.Date(*f.FullAt))
	}
	return app.Div().Class(cls).ID("disk-forecast").Body(
		app.P().Class("forecast-head").Body(
			app.If(warn, func() app.UI { return icon("warn", "forecast-icon") }),
			app.Strong().Text(t.ForecastHeadline(*f.DaysLeft)),
		),
		app.P().Class("forecast-trend").Body(
			app.Text(trend+" "+t.F(t.ForecastConfidenceF, t.Confidence(f.Confidence))),
			app.If(f.Synthetic, func() app.UI {
				return app.Span().Class("tag tag--demo").Text(t.ForecastSynthetic)
			}),
		),
	)
}

// renderTileForecast is the wall tile's warning: the disk is full in less
// than 14 days.
func renderTileForecast(t *Texts, f *wire.DiskForecast) app.UI {
	if _, warn := ForecastLevel(f); !warn {
		return nil
	}
	text := t.WallForecast(*f.DaysLeft)
	if f.Synthetic {
		text += " (" + t.WallDemo + ")"
	}
	return app.P().Class("tile-forecast").Title(t.ForecastHeadline(*f.DaysLeft)).Body(
		icon("warn", "tile-forecast-icon"),
		app.Span().Class("tile-forecast-text").Text(text),
	)
}
