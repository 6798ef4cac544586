package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's Chromium (apt-get install -y chromium).
const ChromiumPath = "/usr/bin/chromium"

// ChromiumInstall is the command that installs it.
const ChromiumInstall = "apt-get install -y --no-install-recommends chromium"

// Chromium says how to start a headless Chromium.
type Chromium struct {
	Bin         string // default ChromiumPath
	UserDataDir string // the profile; required (a fresh directory for a fresh browser)
	Width       int    // window size; default 1280x900
	Height      int
	// StartWithin bounds the browser's start (default 2 min: a loaded
	// machine starts Chromium slowly).
	StartWithin time.Duration
}

// StartChromium starts a headless Chromium on its own profile and returns
// a chromedp context of its first tab and a function that stops it. It is
// the one launcher of the benchmarks and the browser tests: no sandbox
// (root in containers), no GPU, nothing fetched behind the page's back (no
// background networking, component updates, sync or QUIC), no first-run
// dialogs.
func StartChromium(ctx context.Context, c Chromium) (context.Context, func(), error) {
	if c.Bin == "" {
		c.Bin = ChromiumPath
	}
	if c.UserDataDir == "" {
		return nil, nil, fmt.Errorf("start chromium: no user data directory")
	}
	if c.Width == 0 || c.Height == 0 {
		c.Width, c.Height = 1280, 900
	}
	if c.StartWithin == 0 {
		c.StartWithin = 2 * time.Minute
	}
	if _, err := os.Stat(c.Bin); err != nil {
		return nil, nil, fmt.Errorf("no Chromium at %s (install it with: %s): %w", c.Bin, ChromiumInstall, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(c.Bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(c.UserDataDir),
		chromedp.WindowSize(c.Width, c.Height),
		chromedp.WSURLReadTimeout(c.StartWithin),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	stop := func() { bcancel(); acancel() }
	if err := chromedp.Do(bctx); err != nil {
		stop()
		return nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	return bctx, stop, nil
}
