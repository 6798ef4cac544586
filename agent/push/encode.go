package push

import (
	"encoding/json"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"imagingstatus/wire"
)

// Collected is one collection, ready to send.
type Collected struct {
	wire.Report
	// Images, when set, yields the repository's image list in order, one
	// value at a time (it may reuse one wire.Image), and Repository.Images
	// is empty. A 10,000-image list is 1.3 MB as []wire.Image and 2.4 MB as
	// JSON: walking the collector's own cache instead, the push loop
	// writes it into the WebSocket frame piece by piece and holds neither.
	Images func(yield func(*wire.Image) bool)
}

// flushAt is the size of the encoder's buffer between writes: gorilla's
// message writer copies into its own 4 KiB frame buffer anyway.
const flushAt = 4 << 10

// Encoder writes reports as JSON without building them whole: the figures
// are marshalled by encoding/json (a few KiB), the image list one image at
// a time into a small reused buffer. Not safe for concurrent use.
type Encoder struct {
	buf []byte
}

// Encode writes c as the JSON a wire.Report marshals to (the same bytes as
// json.Marshal), the image list in it, or left out when omit is set
// (images_omitted). Images with a date wire refuses get a zero date, as Fit
// does. The push loop uses EncodePaged; `imaging-agent report` prints this
// one-frame form, the list in place.
func (e *Encoder) Encode(w io.Writer, c Collected, omit bool) error {
	return e.encode(w, c, omit, false)
}

// EncodePaged writes c as the hub reads it, each frame into a writer from
// next (closed when the frame is complete): the report, then, when the image
// list goes (not omit) and there is one, the list in "images" frames
// (wire.ImagesPage) of at most wire.MaxPageImages images or about
// wire.PageBytes, and the report says so (images_follow). No frame grows
// with the repository, on the agent's side or the hub's.
func (e *Encoder) EncodePaged(next func() (io.WriteCloser, error), c Collected, omit bool) error {
	repo := c.Repository
	follow := !omit && repo != nil && !repo.ImagesOmitted && (c.Images != nil || len(repo.Images) > 0)
	w, err := next()
	if err != nil {
		return err
	}
	if err := e.encode(w, c, omit, follow); err != nil {
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	return e.encodePages(next, c, repo.Generation)
}

// each yields c's image list, from the sequence or the slice.
func (c *Collected) each(yield func(*wire.Image) bool) {
	if c.Images != nil {
		c.Images(yield)
		return
	}
	if c.Repository == nil {
		return
	}
	list := c.Repository.Images
	for i := range list {
		if !yield(&list[i]) {
			return
		}
	}
}

func (e *Encoder) encode(w io.Writer, c Collected, omit, follow bool) error {
	r := c.Report
	repo := r.Repository
	if repo == nil {
		head, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(head)
		return err
	}
	// The fields after repository in wire.Figures, marshalled apart so the
	// bytes are json.Marshal's (TestEncodeMatchesMarshal notices a new one).
	tail, err := json.Marshal(struct {
		Probes []wire.Probe `json:"probes,omitempty"`
		Errors []string     `json:"errors,omitempty"`
	}{r.Probes, r.Errors})
	if err != nil {
		return err
	}
	r.Repository, r.Probes, r.Errors = nil, nil, nil
	head, err := json.Marshal(r)
	if err != nil {
		return err
	}
	rc := *repo
	rc.Images = nil
	rc.ImagesOmitted = rc.ImagesOmitted || omit
	rc.ImagesFollow = follow
	body, err := json.Marshal(rc)
	if err != nil {
		return err
	}
	// Both are JSON objects: {"type":"report",…} always has a field, and so
	// does the repository (root).
	b := append(e.buf[:0], head[:len(head)-1]...)
	b = append(b, `,"repository":`...)
	b = append(b, body[:len(body)-1]...)
	if !rc.ImagesOmitted && !follow {
		n := 0
		c.each(func(im *wire.Image) bool {
			if n == 0 {
				b = append(b, `,"images":[`...)
			} else {
				b = append(b, ',')
			}
			n++
			b = AppendImage(b, im)
			if len(b) >= flushAt {
				if _, err = w.Write(b); err != nil {
					return false
				}
				b = b[:0]
			}
			return true
		})
		if err != nil {
			return err
		}
		if n > 0 {
			b = append(b, ']')
		}
	}
	b = append(b, '}')
	if len(tail) > 2 { // not {}
		b = append(b, ',')
		b = append(b, tail[1:]...)
	} else {
		b = append(b, '}')
	}
	_, err = w.Write(b)
	e.keep(b)
	return err
}

// keep keeps b's array for the next frame unless a huge title or error grew
// it.
func (e *Encoder) keep(b []byte) {
	if cap(b) <= 4*flushAt {
		e.buf = b[:0]
	}
}

// encodePages writes the image list as wire.ImagesPage frames. A page is
// cut before the image that would pass wire.MaxPageImages images or after
// the one that passes wire.PageBytes; the cut is made only when another
// image comes, so the last page is never empty (unless the list is).
func (e *Encoder) encodePages(next func() (io.WriteCloser, error), c Collected, gen uint64) error {
	var (
		w         io.WriteCloser
		err       error
		page, n   int
		pageBytes int
		b         = e.buf[:0]
	)
	open := func() bool {
		if w, err = next(); err != nil {
			return false
		}
		b = append(b, `{"type":"images","generation":`...)
		b = strconv.AppendUint(b, gen, 10)
		b = append(b, `,"page":`...)
		b = strconv.AppendInt(b, int64(page), 10)
		b = append(b, `,"images":[`...)
		n, pageBytes = 0, 0
		return true
	}
	end := func(last bool) bool {
		b = append(b, ']')
		if last {
			b = append(b, `,"last":true`...)
		}
		b = append(b, '}')
		if _, err = w.Write(b); err != nil {
			return false
		}
		b = b[:0]
		err = w.Close()
		w = nil
		page++
		return err == nil
	}
	c.each(func(im *wire.Image) bool {
		switch {
		case w == nil:
			if !open() {
				return false
			}
		case n == wire.MaxPageImages || pageBytes >= wire.PageBytes:
			if page+1 == wire.MaxImagePages {
				// Only a list of titles and problems far beyond any real
				// repository's gets here (256 pages of 512 KiB): the
				// rest is not sent rather than refused as a whole.
				return false
			}
			if !end(false) || !open() {
				return false
			}
		}
		if n > 0 {
			b = append(b, ',')
		}
		before := len(b)
		b = AppendImage(b, im)
		n++
		pageBytes += len(b) - before
		if len(b) >= flushAt {
			if _, err = w.Write(b); err != nil {
				return false
			}
			b = b[:0]
		}
		return true
	})
	if err == nil && w == nil {
		open() // an empty list: its single page says so
	}
	if err == nil {
		end(true)
	}
	if w != nil {
		_ = w.Close()
	}
	e.keep(b)
	return err
}

// AppendImage appends im as json.Marshal writes it; a Created date out of
// wire's range is written as the zero time (see Fit).
func AppendImage(b []byte, im *wire.Image) []byte {
	b = append(b, `{"uuid":`...)
	b = appendString(b, im.UUID)
	b = append(b, `,"title":`...)
	b = appendString(b, im.Title)
	if im.Format != "" {
		b = append(b, `,"format":`...)
		b = appendString(b, im.Format)
	}
	b = append(b, `,"state":`...)
	b = appendString(b, im.State)
	b = append(b, `,"size_bytes":`...)
	b = strconv.AppendUint(b, im.Size, 10)
	b = append(b, `,"created":"`...)
	t := im.Created
	if !wire.PlausibleTime(t) {
		t = time.Time{}
	}
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if im.SourceMAC != "" {
		b = append(b, `,"source_mac":`...)
		b = appendString(b, im.SourceMAC)
	}
	if im.Problem != "" {
		b = append(b, `,"problem":`...)
		b = appendString(b, im.Problem)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does (HTML-safe escapes, invalid
// UTF-8 as U+FFFD, U+2028 and U+2029 escaped).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
