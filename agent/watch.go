package agent

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"

	"imagingstatus/agent/repo"
)

// MaxImageWatches bounds the image directories watched at once (images
// being written or written within the last hour): each watch costs the
// kernel about 1 KiB and the agent about 200 bytes. Hot images beyond it
// are read again at the hot cadence instead, as when polling.
const MaxImageWatches = 256

// watcher watches the repository with inotify (fsnotify): the root (for
// masters/, computers/ and uuid-cache.txt appearing, vanishing or being
// replaced), masters/ (images created, removed or renamed), computers/
// (clients registered or removed) and the hot image directories. Events
// are drained only when the collector asks, every report: between two
// reports the kernel queues them and merges repeats (a file written a
// thousand times is one event), so an image being written costs no wakeup.
type watcher struct {
	w         *fsnotify.Watcher
	root      string
	masters   string
	computers string
	images    map[string]bool // image directory names watched
	hotGen    uint64          // scanner hot generation the image watches match
	synced    bool            // hotGen is meaningful
	unwatched int             // hot images not watched (limit reached)
	imageErr  error           // why the last image watch failed
}

// changes is what a drain learnt.
type changes struct {
	repo.Changes
	full   bool  // rescan everything: events were lost, or masters/ changed as a whole
	broken error // the watch of the root or masters/ is gone: set up again
}

// errWatch marks why watching is impossible (a limit, no inotify): the
// collector then polls.
type errWatch struct{ err error }

func (e *errWatch) Error() string { return watchAdvice(e.err) }
func (e *errWatch) Unwrap() error { return e.err }

// watchAdvice says why a watch failed and what to do about it.
func watchAdvice(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "inotify watch limit reached (raise fs.inotify.max_user_watches): " + err.Error()
	case errors.Is(err, syscall.EMFILE):
		return "inotify instance limit reached (raise fs.inotify.max_user_instances): " + err.Error()
	}
	return err.Error()
}

// newWatcher watches root, masters/ and computers/. A missing or
// unreadable directory is returned as is (the scan reports it); any other
// failure is an *errWatch.
func newWatcher(root, masters string) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, &errWatch{err}
	}
	w := &watcher{w: fw, root: root, masters: masters, computers: filepath.Join(root, "computers"), images: map[string]bool{}}
	for _, p := range []string{root, masters} {
		if err := fw.Add(p); err != nil {
			fw.Close()
			if missing(err) {
				return nil, err
			}
			return nil, &errWatch{err}
		}
	}
	if err := fw.Add(w.computers); err != nil && !missing(err) {
		fw.Close()
		return nil, &errWatch{err}
	}
	return w, nil
}

// missing says whether err means the path is not there (or not readable, or
// not a directory): the repository's problem, not the watch's.
func missing(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP)
}

func (w *watcher) close() { _ = w.w.Close() }

// drain takes every event queued so far, without waiting.
func (w *watcher) drain() changes {
	var c changes
	seen := map[string]bool{}
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				c.broken = errors.New("inotify stopped")
				return c
			}
			w.event(ev, &c, seen)
		case err, ok := <-w.w.Errors:
			if !ok {
				c.broken = errors.New("inotify stopped")
				return c
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				c.full = true // events were lost: look at everything
				continue
			}
			c.broken = err
		default:
			return c
		}
	}
}

func (w *watcher) event(ev fsnotify.Event, c *changes, seen map[string]bool) {
	name := ev.Name
	dir, base := filepath.Dir(name), filepath.Base(name)
	gone := ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
	switch {
	case name == w.root || name == w.masters:
		// The repository or masters/ itself: removed, renamed, its
		// permissions changed.
		c.full = true
		if gone {
			c.broken = fmt.Errorf("%s was removed or renamed", name)
		}
	case dir == w.root:
		switch base {
		case "masters":
			c.full = true
			if gone || ev.Has(fsnotify.Create) {
				c.broken = fmt.Errorf("%s was replaced", w.masters)
			}
		case "computers":
			c.Clients = true
			if ev.Has(fsnotify.Create) {
				_ = w.w.Add(w.computers) // may fail: the next full scan reports computers/
			}
		case "uuid-cache.txt":
			c.Clients = true
		}
	case name == w.computers || dir == w.computers:
		c.Clients = true
	case dir == w.masters:
		w.image(base, c, seen)
		if gone && w.images[base] {
			delete(w.images, base) // inotify dropped the watch with the directory
			w.synced = false
		}
	case filepath.Dir(dir) == w.masters:
		w.image(filepath.Base(dir), c, seen) // inside a watched image
	}
}

func (w *watcher) image(name string, c *changes, seen map[string]bool) {
	if !seen[name] {
		seen[name] = true
		c.Images = append(c.Images, name)
	}
}

// sync makes the image watches match the scanner's hot images.
func (w *watcher) sync(s *repo.Scanner) {
	if w.synced && s.HotGeneration() == w.hotGen {
		return
	}
	w.hotGen, w.synced = s.HotGeneration(), true
	want := map[string]bool{}
	w.unwatched, w.imageErr = 0, nil
	for name := range s.HotImages {
		if len(want) >= MaxImageWatches {
			w.unwatched++
			continue
		}
		want[name] = true
	}
	for name := range w.images {
		if !want[name] {
			_ = w.w.Remove(filepath.Join(w.masters, name)) // fails when the directory is gone: nothing to undo
			delete(w.images, name)
		}
	}
	for name := range want {
		if w.images[name] {
			continue
		}
		if err := w.w.Add(filepath.Join(w.masters, name)); err != nil {
			if !missing(err) {
				w.unwatched++
				w.imageErr = err
			}
			continue
		}
		w.images[name] = true
	}
}

// problem says what the report's errors should tell about the watch, "" if
// nothing.
func (w *watcher) problem(hot string) string {
	if w.unwatched == 0 {
		return ""
	}
	why := fmt.Sprintf("more than %d", MaxImageWatches)
	if w.imageErr != nil {
		why = watchAdvice(w.imageErr)
	}
	return strings.TrimSpace(fmt.Sprintf("%d images being written are not watched (%s): their changes show within %s", w.unwatched, why, hot))
}
