package wire

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestParseDetailQuery(t *testing.T) {
	many := strings.TrimSuffix(strings.Repeat("x,", MaxSubscribe+1), ",")
	enough := strings.TrimSuffix(strings.Repeat("x,", MaxSubscribe), ",")
	cases := []struct {
		name  string
		query string // the URL's raw query
		want  Detail
		err   string
	}{
		{"absent: all in full", "", DetailAll, ""},
		{"other keys only", "lang=fr", DetailAll, ""},
		{"empty: summaries only", "detail=", DetailNone, ""},
		{"only commas: summaries only", "detail=,,", DetailNone, ""},
		{"one", "detail=UUID1", DetailOf("UUID1"), ""},
		{"list", "detail=UUID1,UUID2", Detail{IDs: []string{"UUID1", "UUID2"}}, ""},
		{"escaped comma", "detail=UUID1%2CUUID2", Detail{IDs: []string{"UUID1", "UUID2"}}, ""},
		{"repeated key", "detail=UUID1&detail=UUID2", Detail{IDs: []string{"UUID1", "UUID2"}}, ""},
		{"duplicates and empties dropped", "detail=UUID2,,UUID1,UUID2", Detail{IDs: []string{"UUID2", "UUID1"}}, ""},
		{"star", "detail=*", DetailAll, ""},
		{"star among ids", "detail=UUID1,*", DetailAll, ""},
		{"bad id", "detail=UUID1,../etc", Detail{}, "not a valid entity id"},
		{"space", "detail=a%20b", Detail{}, "not a valid entity id"},
		{"too long an id", "detail=" + strings.Repeat("a", MaxEntityIDLen+1), Detail{}, "not a valid entity id"},
		{"at most MaxSubscribe", "detail=" + enough, DetailOf("x"), ""},
		{"too many", "detail=" + many, Detail{}, "max 64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			v, present := q["detail"]
			got, err := ParseDetailQuery(v, present)
			if c.err != "" {
				if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want ErrInvalid mentioning %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(c.want) || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestDetailMeaning: the URL, the subscribe message and Full agree, and
// each way there and back keeps the meaning.
func TestDetailMeaning(t *testing.T) {
	cases := []struct {
		name    string
		d       Detail
		query   string
		request string
		full    map[string]bool
	}{
		{"all", DetailAll, "", `{"type":"subscribe","detail":["*"]}`, map[string]bool{"UUID1": true, "x": true}},
		{"none", DetailNone, "?detail=", `{"type":"subscribe","detail":[]}`, map[string]bool{"UUID1": false}},
		{"nil ids", DetailOf(), "?detail=", `{"type":"subscribe","detail":[]}`, map[string]bool{"UUID1": false}},
		{"one", DetailOf("UUID1"), "?detail=UUID1", `{"type":"subscribe","detail":["UUID1"]}`, map[string]bool{"UUID1": true, "UUID2": false}},
		{"two", DetailOf("UUID1", "a.b-c_d"), "?detail=UUID1%2Ca.b-c_d", `{"type":"subscribe","detail":["UUID1","a.b-c_d"]}`, map[string]bool{"UUID1": true, "a.b-c_d": true, "UUID2": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if q := c.d.Query(); q != c.query {
				t.Fatalf("Query() = %q, want %q", q, c.query)
			}
			b, err := json.Marshal(c.d.Request())
			if err != nil || string(b) != c.request {
				t.Fatalf("Request() = %s, %v, want %s", b, err, c.request)
			}
			for id, want := range c.full {
				if c.d.Full(id) != want {
					t.Fatalf("Full(%s) = %v", id, !want)
				}
			}
			// Back from the URL.
			u, err := url.Parse("ws://hub" + ViewerPath + c.d.Query())
			if err != nil {
				t.Fatal(err)
			}
			v, present := u.Query()["detail"]
			back, err := ParseDetailQuery(v, present)
			if err != nil || !back.Equal(c.d) {
				t.Fatalf("from the URL: %+v, %v", back, err)
			}
			// Back from the message.
			r, err := DecodeViewerRequest(b)
			if err != nil || !NewDetail(r.Detail).Equal(c.d) {
				t.Fatalf("from the message: %+v, %v", r, err)
			}
		})
	}
	// A subscribe message with "detail":null means none, like [].
	r, err := DecodeViewerRequest([]byte(`{"type":"subscribe","detail":null}`))
	if err != nil || !NewDetail(r.Detail).Equal(DetailNone) {
		t.Fatalf("null detail: %+v, %v", r, err)
	}
	// The request owns its list.
	d := DetailOf("UUID1")
	d.Request().Detail[0] = "changed"
	if d.IDs[0] != "UUID1" {
		t.Fatal("Request shares the ids")
	}
}

func TestDetailEqual(t *testing.T) {
	cases := []struct {
		a, b Detail
		want bool
	}{
		{DetailAll, DetailAll, true},
		{DetailAll, Detail{All: true, IDs: []string{"x"}}, true},
		{DetailNone, DetailOf(), true},
		{DetailNone, Detail{IDs: []string{}}, true},
		{DetailAll, DetailNone, false},
		{DetailOf("a"), DetailOf("a"), true},
		{DetailOf("a"), DetailOf("b"), false},
		{DetailOf("a", "b"), DetailOf("b", "a"), false}, // the order asked is kept
		{DetailOf("a"), DetailAll, false},
	}
	for _, c := range cases {
		if got := c.a.Equal(c.b); got != c.want || c.b.Equal(c.a) != c.want {
			t.Errorf("%+v.Equal(%+v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestEntityIDPattern: the exported pattern is the one ValidEntityID
// applies, bounded by MaxEntityIDLen.
func TestEntityIDPattern(t *testing.T) {
	cases := []struct {
		id   string
		want bool
	}{
		{"UUID0", true},
		{"public", true},
		{"a.b-c_D9", true},
		{strings.Repeat("a", MaxEntityIDLen), true},
		{strings.Repeat("a", MaxEntityIDLen+1), false},
		{"", false},
		{"a b", false},
		{"../x", false},
		{"*", false},
		{"é", false},
	}
	for _, c := range cases {
		if got := ValidEntityID(c.id); got != c.want {
			t.Errorf("ValidEntityID(%q) = %v, want %v", c.id, got, c.want)
		}
	}
	if entityIDPattern.String() != "^"+EntityIDPattern+"$" {
		t.Fatalf("pattern %s", entityIDPattern)
	}
}
