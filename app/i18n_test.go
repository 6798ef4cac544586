package app

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var verbRE = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

// Every string is set in every language, with the same fmt verbs in the same
// order, so a translation can neither miss a text nor break a format.
func TestTextsComplete(t *testing.T) {
	en := reflect.ValueOf(english)
	typ := en.Type()
	for _, tr := range languages {
		v := reflect.ValueOf(*tr)
		for i := range typ.NumField() {
			f := typ.Field(i)
			s := v.Field(i).String()
			if s == "" {
				t.Errorf("%s: %s is empty", tr.Lang, f.Name)
				continue
			}
			want := verbRE.FindAllString(en.Field(i).String(), -1)
			if got := verbRE.FindAllString(s, -1); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s: %s has verbs %v, English has %v", tr.Lang, f.Name, got, want)
			}
			if strings.HasSuffix(f.Name, "F") != (len(want) > 0) && f.Name != "ActivityStates" {
				t.Errorf("%s: only fields named …F hold formats (%v)", f.Name, want)
			}
		}
	}
	if a, b := len(strings.Fields(english.ActivityStates)), len(strings.Fields(french.ActivityStates)); a != b {
		t.Errorf("activity states: %d English, %d French", a, b)
	}
}

func TestPickLang(t *testing.T) {
	for _, tc := range []struct {
		prefs []string
		want  Lang
	}{
		{nil, English},
		{[]string{"fr-FR", "en-US"}, French},
		{[]string{"FR"}, French},
		{[]string{"de-DE", "fr-CH", "en"}, French},
		{[]string{"de-DE", "en-GB", "fr"}, English},
		{[]string{"es"}, English},
	} {
		if got := PickLang(tc.prefs); got != tc.want {
			t.Errorf("PickLang(%v) = %s, want %s", tc.prefs, got, tc.want)
		}
	}
	if ValidLang("de") || !ValidLang(French) || T("xx") != &english {
		t.Error("ValidLang / T")
	}
}

func TestFrenchFormats(t *testing.T) {
	fr := T(French)
	for got, want := range map[string]string{
		fr.BytesText(1536): "1,5 Kio",
		fr.BytesText(512):  "512 o",
		fr.Duration(3*24*time.Hour + 4*time.Hour + time.Minute): "3 j 4 h 1 min",
		fr.Ago(90 * time.Second):                                "il y a 1 min",
		fr.Ago(time.Second):                                     "à l'instant",
		fr.Number(0.5):                                          "0,50",
		fr.Latency(0.25):                                        "0,2 ms",
		fr.ActivityState("restoration"):                         "restauration",
		fr.ActivityState("new-state"):                           "new-state",
		fr.Status("offline").Label:                              "Hors ligne",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
