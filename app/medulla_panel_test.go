package app

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"imagingstatus/wire"
)

func medullaFigures() *wire.Medulla {
	created := time.Date(2026, 10, 1, 9, 30, 0, 0, time.UTC)
	at := hubNow.Add(-15 * time.Minute)
	return &wire.Medulla{
		Source:   wire.SourceMedulla,
		LoadedAt: hubNow.Add(-2 * time.Minute),
		Server:   "imaging-paris", ServerURL: "https://10.0.0.1:9990/imaging_api",
		Clients: ptr(12), ClientsWithBackupImages: ptr(5), Masters: ptr(3),
		MasterImages: []wire.MasterImage{
			{UUID: "m1", Name: "Windows 11 base", Size: 25 << 30, Created: &created},
			{UUID: "m2", Name: "Ubuntu 24.04 lab", Size: 8 << 30},
		},
		Activity: []wire.ActivityLine{
			{Time: &at, State: "backup", Target: "pc-compta-01", Detail: "image saved"},
			{State: "restoration", Target: "pc-lab-07"},
		},
	}
}

func medullaEntity() wire.Entity {
	e := availableEntity()
	e.Medulla = medullaFigures()
	return e
}

func TestPanelMedullaFiguresBesideDiskScan(t *testing.T) {
	text := loadPanel(t, &EntityPanel{Entity: medullaEntity(), Now: hubNow})
	wantAll(t, text,
		// Medulla's figures, labelled with their source and age
		"Entity statistics From Medulla's database, read 2 min ago",
		"Imaging server in Medulla: imaging-paris",
		"Clients 12", "Clients with backup images 5", "Masters 3",
		// the disk scan's, labelled with theirs
		"From the disk scan of /var/lib/pulse2/imaging Registered clients 40 Clients with a restorable image 7",
		// masters: name, size, date
		"Masters ready to deploy Name Size Date",
		"Windows 11 base 25 GiB "+time.Date(2026, 10, 1, 9, 30, 0, 0, time.UTC).Local().Format("2006-01-02 15:04"),
		"Ubuntu 24.04 lab 8 GiB —",
		// activity: time, state, target
		"Recent activity Time State Target",
		hubNow.Add(-15*time.Minute).Local().Format("2006-01-02 15:04")+" backup pc-compta-01",
		"— restoration pc-lab-07",
	)
	wantNone(t, text, "failing", "nearer parent", "which this hub is not linked to")
	if i, j := strings.Index(text, "From Medulla's database"), strings.Index(text, "From the disk scan"); i < 0 || j < i {
		t.Error("Medulla's figures should come first, then the disk scan's")
	}
}

func TestPanelMedullaStale(t *testing.T) {
	e := medullaEntity()
	e.Medulla.Stale, e.Medulla.Error, e.Medulla.ErrorCode = true, "dial tcp 10.0.0.9:3306: connection refused", wire.MedullaUnreachable
	e.Medulla.LoadedAt = hubNow.Add(-10 * time.Minute)
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	// On the statistics card, under Medulla's heading, before its figures.
	wantAll(t, text,
		"Entity statistics From Medulla's database, read 10 min ago Medulla's database cannot be reached: these figures were read 10 min ago (details in the hub's log).",
		"Clients 12",
		// the status itself does not move
		"Available",
	)
	// The database's own error may name its host or user: never shown.
	wantNone(t, text, "10.0.0.9", "dial tcp", "link is failing")
	// Never read: the card says so, and no Medulla figures are invented.
	e.Medulla = &wire.Medulla{Source: wire.SourceMedulla, Stale: true, Error: "Error 1045: Access denied for user 'imaging_ro'@'db.example'", ErrorCode: wire.MedullaAccessDenied}
	text = loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "Entity statistics Medulla's database refuses the hub's account: no figures have been read yet (details in the hub's log).",
		"From the disk scan of")
	wantNone(t, text, "From Medulla's database, read", "Masters ready to deploy", "imaging_ro", "db.example")
	// Without any card (no figures at all), the notice stands alone.
	e = offlineEntity()
	e.Medulla = &wire.Medulla{Source: wire.SourceMedulla, Stale: true, Error: "dial unix /run/mysqld/mysqld.sock", ErrorCode: wire.MedullaConfig}
	text = loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "The hub's settings for Medulla's database are wrong: no figures have been read yet")
	wantNone(t, text, "mysqld.sock", "Entity statistics")
	// A code this page does not know still reads as a sentence, not the error.
	e.Medulla.ErrorCode = "newer_code"
	wantAll(t, loadPanel(t, &EntityPanel{Entity: e, Now: hubNow}), "Medulla's database cannot be read: no figures")
}

func TestPanelMedullaNearerLinkedServer(t *testing.T) {
	e := inheritingEntity()
	e.Medulla = medullaFigures()
	e.Medulla.NearerLinkedServer = "imaging-lyon"
	e.Medulla.Server = ""
	e.Medulla.Clients, e.Medulla.ClientsWithBackupImages, e.Medulla.Masters = nil, nil, nil
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow, ServedByName: "General"})
	wantAll(t, text,
		"Medulla's rule serves this entity from imaging-paris, although a nearer parent has server imaging-lyon",
		// an inheriting entity has no counts in Medulla: said, not zero
		"Medulla counts no clients or masters here",
		"From the disk scan of /var/lib/pulse2/imaging on the server of General",
	)
	wantNone(t, text, "Clients 0", "Imaging server in Medulla")
}

func TestPanelMedullaWithoutAgentFigures(t *testing.T) {
	e := offlineEntity()
	e.Medulla = medullaFigures()
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "Offline", "No report received from this server yet.",
		"From Medulla's database, read 2 min ago", "Masters 3", "Windows 11 base",
		"Clients are the machines of this entity; clients with backup images are machines that needed a restore; masters are images ready to deploy.")
	// Said once: "no report yet" already means no figures.
	wantNone(t, text, "Disk space", "The imaging repository was not reported.", "has not reported any figures")
}

func TestPanelMedullaLongListsAreCut(t *testing.T) {
	e := medullaEntity()
	e.Medulla.MasterImages = nil
	for i := range 13 {
		e.Medulla.MasterImages = append(e.Medulla.MasterImages, wire.MasterImage{Name: "master-" + strconv.Itoa(i), Size: 1 << 30})
	}
	e.Medulla.Activity = nil
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "master-9 1 GiB", "and 3 more", "No recent imaging activity in Medulla.")
	wantNone(t, text, "master-10")
}

func TestPanelInFrench(t *testing.T) {
	e := medullaEntity()
	e.Medulla.Stale, e.Medulla.Error, e.Medulla.ErrorCode = true, "i/o timeout", wire.MedullaTimeout
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow, Lang: French})
	wantAll(t, text,
		"Disponible", "Depuis 3 j 4 h 5 min", "Que faire : Vous pouvez créer ou déployer une image.",
		"Serveur d'imagerie : imaging-paris", "Mis à jour il y a 3 s",
		"Utilisé 1 Tio (50 %) · Libre 1 Tio · Total 2 Tio",
		"Charge moyenne : 0,52 · 0,40 · 0,31 (1, 5, 15 min) sur 4 processeurs",
		"Selon la base de données de Medulla, lue il y a 2 min",
		"Clients avec images de sauvegarde 5",
		"La base de données de Medulla répond trop lentement : ces chiffres ont été lus il y a 2 min (détails dans le journal du hub).",
		"Les clients sont les machines de cette entité ; les clients avec images de sauvegarde sont les machines qui ont eu besoin d'une restauration ; les masters sont les images prêtes à déployer.",
		"Selon l'analyse du disque de /var/lib/pulse2/imaging Clients enregistrés 40 Clients avec une image restaurable 7",
		"donc restaurable.",
		"sauvegarde pc-compta-01", "OK imaging API · 4,2 ms",
	)
	wantNone(t, text, "Available", "Disk space", "From ", "i/o timeout")
}

func TestPanelAndTileUnconfirmedAfterHubRestart(t *testing.T) {
	e := availableEntity()
	e.Stale = true
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "Available", "Last known state, kept across a restart of the hub: no agent has confirmed it yet.")
	w := &Wall{}
	w.now = hubNow
	tile := visibleText(w.renderTile(T(English), e, hubNow, nil))
	wantAll(t, tile, "General Available · 3 d 4 h 5 min · unconfirmed")
}
