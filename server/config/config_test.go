package config

import (
	"strings"
	"testing"
	"time"
)

const hash = "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3" // sha256("123")

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"not json", `{`, "not valid JSON"},
		{"unknown field", `{"entities":[{"id":"a","name":"A"}],"bogus":1}`, "unknown field"},
		{"no entities", `{"entities":[]}`, "no entities"},
		{"bad id", `{"entities":[{"id":"a b","name":"A"}]}`, "id \"a b\""},
		{"duplicate", `{"entities":[{"id":"a","name":"A"},{"id":"a","name":"B"}]}`, "listed twice"},
		{"no name", `{"entities":[{"id":"a","name":" "}]}`, "has no name"},
		{"unknown parent", `{"entities":[{"id":"a","name":"A","parent":"z"}]}`, "parent z is not listed"},
		{"cycle", `{"entities":[{"id":"r","name":"R"},{"id":"a","name":"A","parent":"b"},{"id":"b","name":"B","parent":"a"}]}`, "cycle"},
		{"bad hash", `{"entities":[{"id":"a","name":"A","server":{"name":"s","token_sha256":"xyz"}}]}`, "64 hex digits"},
		{"server without name", `{"entities":[{"id":"a","name":"A","server":{"name":"","token_sha256":"` + hash + `"}}]}`, "server needs a name"},
		{"short interval", `{"interval":"1ms","entities":[{"id":"a","name":"A"}]}`, "too short"},
		{"bad interval", `{"interval":"soon","entities":[{"id":"a","name":"A"}]}`, "invalid duration"},
		{"missed pings", `{"missed_pings":-1,"entities":[{"id":"a","name":"A"}]}`, "missed_pings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.json))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestTreeAndDefaults(t *testing.T) {
	c, err := Parse([]byte(`{"entities":[
		{"id":"c","name":"Child","parent":"p"},
		{"id":"p","name":"Parent","parent":"r","server":{"name":"srv","token_sha256":"` + hash + `"}},
		{"id":"r","name":"Root"},
		{"id":"g","name":"Grandchild","parent":"c"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.Interval != DefaultInterval || c.Deadline() != 15*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	var order []string
	for _, e := range c.Entities {
		order = append(order, e.ID+"<"+e.ServedBy+">")
	}
	if got := strings.Join(order, " "); got != "r<> p<p> c<p> g<p>" {
		t.Fatalf("tree order / served_by: %s", got)
	}
	g, _ := c.Lookup("g")
	if strings.Join(g.Path, "/") != "Root/Parent/Child/Grandchild" {
		t.Fatalf("path %v", g.Path)
	}
}

func TestTokens(t *testing.T) {
	tok, h, err := GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 64 || HashToken(tok) != h || strings.Contains(h, tok) {
		t.Fatalf("token %q hash %q", tok, h)
	}
	c, err := Parse([]byte(`{"entities":[{"id":"a","name":"A","server":{"name":"s","token_sha256":"` + strings.ToUpper(h) + `"}},{"id":"b","name":"B","parent":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		entity, token string
		ok            bool
	}{
		{"a", tok, true},
		{"a", tok + "x", false},
		{"a", "", false},
		{"b", tok, false}, // b has no server of its own: its agent would speak for a
		{"zz", tok, false},
	}
	for _, k := range cases {
		if got := c.CheckToken(k.entity, k.token); got != k.ok {
			t.Errorf("CheckToken(%s, …) = %v, want %v", k.entity, got, k.ok)
		}
	}
}
