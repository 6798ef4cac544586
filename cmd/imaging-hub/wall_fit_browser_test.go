package main_test

// The wall's text fits every screen: at five screen sizes, in English and
// French, with 6, 24 and 60 entities, no text on the wall overflows its
// box (clipped, cut with an ellipsis, or spilling out of a tile or off
// the screen), and the header grows with the screen.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/bench"
	"imagingstatus/server/hubtest"
	"imagingstatus/wire"
)

// fitSetup starts a hub with n entities showing every status, long names
// and long reasons: General's agent runs (Available, and the entities
// that inherit its server), Private's probe fails (Connection error, with
// the probe's error as reason, and inherited), servers without an agent
// are Offline, and Partners has no server (not linked).
func fitSetup(t *testing.T, n int) *hubtest.Env {
	t.Helper()
	w := hubtest.NewEnv(t, "", interval)
	srv := func(id string) string {
		return `,"server":{"name":"imaging-` + strings.ToLower(id) + `","token_sha256":"` + w.NewToken(t, id) + `"}`
	}
	ents := []string{
		`{"id":"UUID0","name":"General"` + srv("UUID0") + `}`,
		`{"id":"UUID1","name":"Private","parent":"UUID0"` + srv("UUID1") + `}`,
		`{"id":"UUID2","name":"Partners"}`,
		`{"id":"UUID3","name":"Centre de formation continue Nord-Est","parent":"UUID0"}`,
	}
	for i := 4; i < n; i++ {
		id := "UUID" + strconv.Itoa(i)
		name := "Site " + strconv.Itoa(i)
		if i%3 == 0 {
			name = "Agence régionale " + strconv.Itoa(i)
		}
		e := `{"id":"` + id + `","name":"` + name + `","parent":"UUID` + strconv.Itoa(1+i%3) + `"`
		if i%5 == 0 {
			e += srv(id)
		}
		ents = append(ents, e+"}")
	}
	w.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`","missed_pings":3,"entities":[`+strings.Join(ents, ",\n")+`]}`)
	w.GenerateRepo(t, sample.Options{Complete: 2, Clients: 2, ClientsWithImages: 1, WithUUIDCache: true})
	w.StartHub(t)
	w.Agent(t, "UUID0")
	w.Agent(t, "UUID1", "--probe", "imaging-api=tcp://127.0.0.1:1")
	w.WaitStatus(t, "UUID0", wire.StatusAvailable, "")
	w.WaitStatus(t, "UUID1", wire.StatusConnectionError, "")
	return w
}

// overflowJS lists the wall's texts that do not fit: a text whose glyphs
// pass the edge of one of its boxes or of the window, or a box that cuts
// its text (ellipsis, line clamp, hidden overflow). Text for assistive
// technology only (.sr-only) is left out.
const overflowJS = `(() => {
	const out = [];
	const wall = document.querySelector(".wall");
	if (!wall) return ["no wall"];
	const d = document.documentElement;
	if (d.scrollWidth > innerWidth + 1 || d.scrollHeight > innerHeight + 1) out.push("the page scrolls: " + d.scrollWidth + "x" + d.scrollHeight);
	const name = el => (el.className && el.className.baseVal === undefined ? "." + String(el.className).split(" ")[0] : el.tagName);
	const walk = document.createTreeWalker(wall, NodeFilter.SHOW_TEXT);
	const boxes = new Set();
	for (let n = walk.nextNode(); n; n = walk.nextNode()) {
		const text = n.textContent.trim();
		const el = n.parentElement;
		if (!text || el.closest(".sr-only")) continue;
		const r = document.createRange();
		r.selectNodeContents(n);
		const rects = [...r.getClientRects()].filter(b => b.width > 0 && b.height > 0);
		if (!rects.length) continue; // not on screen (display: none)
		const fs = parseFloat(getComputedStyle(el).fontSize);
		const slack = Math.max(1, 0.2 * fs); // glyph boxes are a little taller than tight lines
		const view = { left: 0, top: 0, right: innerWidth, bottom: innerHeight };
		for (let a = el; a; a = a.parentElement) {
			const st = getComputedStyle(a);
			if (st.display !== "inline" && st.display !== "contents") {
				boxes.add(a);
				const b = a.getBoundingClientRect();
				const bad = rects.find(t => t.left < b.left - 1 || t.right > b.right + 1 || t.top < b.top - slack || t.bottom > b.bottom + slack);
				if (bad) { out.push(JSON.stringify(text) + " passes the edge of its box " + name(a) + " (" + Math.round(b.width) + "x" + Math.round(b.height) + ")"); break; }
			}
			if (a === wall) break;
		}
		if (rects.find(t => t.left < view.left - 1 || t.right > view.right + 1 || t.top < view.top - 1 || t.bottom > view.bottom + 1)) out.push(JSON.stringify(text) + " is off the screen");
	}
	for (const a of boxes) {
		const st = getComputedStyle(a);
		if ((st.overflowX !== "visible" && a.scrollWidth > a.clientWidth + 1) || (st.overflowY !== "visible" && a.scrollHeight > a.clientHeight + 1))
			out.push(name(a) + " cuts its text " + JSON.stringify(a.innerText.slice(0, 60)) + " (" + a.scrollWidth + "x" + a.scrollHeight + " in " + a.clientWidth + "x" + a.clientHeight + ")");
	}
	return [...new Set(out)].slice(0, 12);
})()`

// wallTextFits waits until no text of the wall overflows (the app takes a
// smaller layout until it fits, which may take a few renders) and fails
// with what still does not fit.
func wallTextFits(t *testing.T, ctx context.Context, label string) {
	t.Helper()
	var last []string
	check := func() bool {
		last = hubtest.Eval[[]string](t, ctx, overflowJS)
		return len(last) == 0
	}
	if _, err := bench.Poll(ctx, hubtest.Long, check); err != nil {
		t.Errorf("%s: text does not fit (%v):\n  %s", label, err, strings.Join(last, "\n  "))
	}
}

type wallShape struct {
	Tiles, Pages int
	Grid         string
	CountPx      float64
	ConnPx       float64
	TilePx       float64
}

func wallShapeOf(t *testing.T, ctx context.Context) wallShape {
	return hubtest.Eval[wallShape](t, ctx, `(() => {
		const px = sel => { const e = document.querySelector(sel); return e ? parseFloat(getComputedStyle(e).fontSize) : 0; };
		const page = document.querySelector(".wall-page");
		const m = page ? page.innerText.match(/(\d+)\D*$/) : null;
		return { Tiles: document.querySelectorAll(".tile").length, Pages: m ? +m[1] : 1,
			Grid: document.querySelector("#wall-grid").className, CountPx: px(".count"), ConnPx: px(".wall .conn"), TilePx: px(".tile-word") };
	})()`)
}

func TestWallTextFitsEveryScreenInChromium(t *testing.T) {
	screens := []struct{ w, h int }{{1280, 720}, {1366, 768}, {1920, 1080}, {2560, 1440}, {3840, 2160}}
	langs := []struct{ code, ready string }{{"en", "Imaging servers"}, {"fr", "Serveurs d'imagerie"}}
	for _, n := range []int{6, 24, 60} {
		t.Run(strconv.Itoa(n)+"-entities", func(t *testing.T) {
			w := fitSetup(t, n)
			b := browserAt(t, 1920, 1080)
			ctx := b.Ctx
			hubtest.Navigate(t, ctx, w.Hub.URL+"/wall")
			hubtest.WaitJS(t, ctx, "the wall connected", `document.querySelector(".wall-top") && document.querySelector(".wall-top").innerText.includes("Connected")`)
			hubtest.WaitJS(t, ctx, "Private's tile in connection error", `(() => { const e = document.querySelector('#tile-UUID1'); return e && e.closest('.tile').classList.contains('status--connection-error'); })()`)
			countPx := map[int]float64{}
			for _, l := range langs {
				// A click from the page itself: the button may be re-rendered
				// between DevTools finding it and clicking it.
				hubtest.WaitApp(t, ctx)
				hubtest.WaitJS(t, ctx, "the "+l.code+" button", `(() => { const b = document.querySelector('button.btn--lang[lang="`+l.code+`"]'); if (b) b.click(); return !!b; })()`)
				hubtest.TextOf(t, ctx, ".wall-top", l.ready)
				for _, s := range screens {
					label := fmt.Sprintf("%d entities, %dx%d, %s", n, s.w, s.h, l.code)
					hubtest.Eval[bool](t, ctx, `document.querySelector("#wall-grid").dataset.fit = "resizing", true`)
					hubtest.Do(t, ctx, chromedp.EmulateViewport(int64(s.w), int64(s.h)))
					hubtest.WaitJS(t, ctx, label+": the wall fitted to the new size", fmt.Sprintf(`innerWidth === %d && innerHeight === %d && document.querySelectorAll(".tile").length > 0 && document.querySelector("#wall-grid").dataset.fit === "true"`, s.w, s.h))
					hubtest.Settled(t, ctx)
					wallTextFits(t, ctx, label)
					sh := wallShapeOf(t, ctx)
					t.Logf("%s: %d tiles shown, %d page(s), %s, counts %.0f px, hub link %.0f px, status words %.0f px", label, sh.Tiles, sh.Pages, sh.Grid, sh.CountPx, sh.ConnPx, sh.TilePx)
					// Every entity is shown: all on one page, or pages that
					// turn (the page on screen may be the last, shorter one).
					if (sh.Pages == 1 && sh.Tiles != n) || sh.Tiles == 0 {
						t.Errorf("%s: %d tiles on %d page(s) for %d entities", label, sh.Tiles, sh.Pages, n)
					}
					countPx[s.w] = sh.CountPx
					if n == 60 || s.w == 1920 {
						hubtest.Screenshot(t, ctx, fmt.Sprintf("wall-fit-%d-%dx%d-%s", n, s.w, s.h, l.code))
					}
				}
			}
			// Counts readable from across the room, growing with the screen.
			if countPx[1920] < 24 || countPx[3840] < 1.9*countPx[1920] || countPx[1280] < 17 {
				t.Errorf("header counts %v px by screen width: want at least 24 px at 1920, twice that at 3840, 17 at 1280", countPx)
			}
		})
	}
}

// The check itself catches text that does not fit: a name far too long
// for its tile, put there by hand, is reported.
func TestWallOverflowCheckCatchesClippedText(t *testing.T) {
	w := fitSetup(t, 6)
	ctx := browserAt(t, 1280, 720).Ctx
	hubtest.Navigate(t, ctx, w.Hub.URL+"/wall")
	hubtest.WaitJS(t, ctx, "six tiles", `document.querySelectorAll(".tile").length === 6`)
	wallTextFits(t, ctx, "before")
	got := hubtest.Eval[[]string](t, ctx, `(() => {
		const a = document.querySelector("#tile-UUID0");
		a.textContent = "General ".repeat(40);
		return (`+overflowJS+`);
	})()`)
	if len(got) == 0 || !strings.Contains(strings.Join(got, " "), "General General") {
		t.Errorf("a name cut by its tile was not reported: %v", got)
	}
}
