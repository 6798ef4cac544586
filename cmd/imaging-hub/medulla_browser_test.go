package main_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"imagingstatus/server/hubtest"
	"imagingstatus/server/medulla/mariadbtest"
)

// TestMedullaFiguresInChromium: linked to a real MariaDB, the page tells
// the database's figures from the disk scan's, says in words why Private
// has no server (Root entity's server is not recursive), and, when the
// database stops, marks the statistics card stale in the viewer's language
// without ever showing the database's user or address.
func TestMedullaFiguresInChromium(t *testing.T) {
	db := mariadbtest.StartFixtureT(t)
	e := hubtest.NewEnv(t, "", interval)
	pw := mdWriteFile(t, filepath.Join(e.Dir, "db.pw"), mariadbtest.ROPassword+"\n")
	img, glpi := db.FixtureDSNs("")
	h1 := e.NewToken(t, "UUID1")
	mdStartLinkedHub(t, e,
		`{"imaging_dsn":`+mdJSONString(img)+`,"glpi_dsn":`+mdJSONString(glpi)+`,"password_file":`+mdJSONString(pw)+`,"refresh":"`+medullaRefresh.String()+`"}`,
		`{"id":"UUID1","server":{"token_sha256":"`+h1+`"}}`)
	e.Agent(t, "UUID1")

	ctx := browserAt(t, 1280, 1000).Ctx
	hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID1")
	hubtest.WaitApp(t, ctx)
	hubtest.TextOf(t, ctx, "body", "From Medulla's database, read")
	hubtest.TextOf(t, ctx, "body", "From the disk scan of")

	hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID3")
	hubtest.WaitApp(t, ctx)
	hubtest.TextOf(t, ctx, "body", "Root entity's server srv-root does not serve sub-entities: make it recursive in Medulla or link a server here")
	hubtest.Do(t, ctx, chromedp.Click(`button.btn--lang[lang="fr"]`))
	hubtest.TextOf(t, ctx, "body", "Le serveur de Root entity, srv-root, ne dessert pas les sous-entités")

	hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID1")
	hubtest.WaitApp(t, ctx)
	hubtest.TextOf(t, ctx, "body", "Selon la base de données de Medulla, lue")
	if err := db.Down(); err != nil {
		t.Fatal(err)
	}
	hubtest.TextOf(t, ctx, "body", "La base de données de Medulla est injoignable : ces chiffres ont été lus il y a")
	text := hubtest.Eval[string](t, ctx, `document.body.innerText`)
	for _, secret := range []string{db.Addr(), mariadbtest.ROUser} {
		if strings.Contains(text, secret) {
			t.Fatalf("the page shows %q:\n%s", secret, text)
		}
	}
	hubtest.Screenshot(t, ctx, "medulla-stale-1280-fr")
}
