package app

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"imagingstatus/wire"
)

// Lang is a language of the UI.
type Lang string

const (
	English Lang = "en"
	French  Lang = "fr"
)

// Texts is every string the UI shows, in one language: the one place to
// read or translate them. Fields ending in F are fmt formats; both languages
// must use the same verbs in the same order (TestTextsComplete checks it).
type Texts struct {
	Lang Lang
	// Name is the language's own name, on the switch that selects it.
	Name string

	// Units and number formats.
	Decimal   string // decimal separator
	Bytes     string // "B" / "o"
	ByteUnits string // space-separated: KiB MiB GiB TiB PiB EiB
	Sec, Min  string
	Hour, Day string
	JustNow   string
	AgoF      string // %s: a duration
	DateTime  string // Go layout for dates with time

	// Statuses: words and what to do.
	Available, AvailableAction             string
	Offline, OfflineAction                 string
	ConnectionError, ConnectionErrorAction string
	NotLinked, NotLinkedAction             string
	UnknownStatusF, UnknownAction          string

	// Page frame.
	Brand       string
	UpdateReady string
	// StateFileTrouble: the hub cannot write its state file.
	StateFileTrouble string
	Reload           string
	Connected        string
	Connecting       string
	ReconnectingF    string // %d attempt, %s ", next try in 4 s" or ""
	NextTryF         string // %s duration
	LanguageLabel    string // aria label of the language switch
	SkipToStatus     string
	Loading          string
	WasmMissing      string
	OpenWall         string
	OpenDashboard    string
	// Offline start: the last snapshot kept in the browser.
	StoredSnapshotF string // %s: "5 min ago"
	HubUnreachable  string

	// Dashboard.
	NoEntityYet       string
	NoSuchEntityF     string // %s id
	ShowF             string // %s entity
	EntitiesNav       string
	FilterLabel       string
	FilterPlaceholder string
	FilterNoneF       string // %s: what was typed
	LostHub           string
	NoFiguresYet      string
	FromLastReport    string
	CollectErrors     string

	// Entity panel.
	ForSinceF        string // %s duration, %s date
	WhatToDo         string
	NoServer         string
	ImagingServer    string
	ServedByServerF  string // %s entity
	HostF, AgentF    string // %s
	NoReportYet      string
	UpdatedF         string // %s: "3 s ago"
	DiskSpace        string
	NoPartition      string
	MainPartition    string
	DiskUsedLabelF   string // %s mount point
	DiskFiguresF     string // %s used, %d percent (df's), %s free (available to users), %s total
	DiskReservedF    string // %s reserved bytes
	DiskPercentNote  string // how the percentage is computed
	ServerLoad       string
	UpForF           string // %s
	UptimeMissing    string
	MemoryTitle      string
	MemoryUsedLabel  string
	MemoryFiguresF   string // %s used, %d percent, %s available, %s total
	SwapF            string // %s used, %s total
	SwapNone         string
	MemoryMissing    string
	LoadF            string // %s %s %s
	OnCPUsF          string // %d
	OnOneCPU         string
	LoadMissing      string
	EntityStats      string
	RepoMissing      string
	DiskScanF        string // %s root
	OnServerOfF      string // %s entity
	RegClients       string
	ClientsWithImgs  string
	Images           string
	ImagesByStateF   string // %d total, %d complete, %d in progress, %d failed, %d invalid
	SizeComplete     string
	NoMedullaNote    string
	ServiceChecks    string
	NoProbe          string
	ProbeOK          string
	ProbeFailed      string
	FromMedullaF     string // %s: "2 min ago"
	MedullaClients   string
	MedullaBackups   string
	MedullaMasters   string
	MedullaNoCounts  string
	MedullaServerF   string // %s
	MedullaStaleF    string // %s why (MedullaErr*), %s age ("3 min")
	MedullaNeverF    string // %s why (MedullaErr*)
	NearerServerF    string // %s served by, %s nearer server
	MastersTitle     string
	NoMasters        string
	ColName          string
	ColSize          string
	ColDate          string
	ActivityTitle    string
	NoActivity       string
	ColTime          string
	ColState         string
	ColTarget        string
	MoreRowsF        string // %d
	ActivityStates   string // space-separated pairs label=word
	UnknownDate      string
	WallTitle        string
	WallFullscreen   string
	WallClock        string
	WallPageF        string // %d page, %d pages
	WallEmpty        string
	WallFilterF      string // %d shown, %d total
	WallDiskF        string // %s mount point, %d percent
	WallNoDisk       string
	WallServedByF    string // %s server name
	WallChangedF     string // %s entity, %s status, %s reason
	WallUpdateF      string // %d seconds
	WallEntityLinkF  string // %s entity, %s status
	WallStaleF       string // %s: "5 min ago"
	WallStatusCounts string // aria label of the summary
	Unconfirmed      string // a state restored after a hub restart
	UnconfirmedShort string

	// History (uptime, timeline, sparklines) and the disk-full forecast.
	HistoryTitle         string
	HistoryLoading       string
	HistoryUnauthorized  string // 401, 403
	HistoryNotFound      string // 404
	HistoryUnavailable   string // 503
	HistoryFailed        string // anything else
	HistoryOldF          string // %s: "3 min ago"
	UptimeTitle          string
	Uptime24h            string
	Uptime7d             string
	Uptime30d            string
	UptimeUnknown        string
	NoRecord             string
	TimelineTitle        string
	TimelineBar          string // aria label of the bar
	TimelineSpanF        string // %s status, %s from, %s to
	TimelineSinceF       string // %s status, %s from
	TimelineNow          string
	TrendsTitle          string
	SeriesDisk           string
	SeriesMemory         string
	SeriesNoData         string
	SeriesOpen           string
	ChartTitleF          string // %s figure, %s window
	ChartClose           string
	ChartPeriod          string
	Window48h            string
	Window30d            string
	Window365d           string
	ChartSummaryF        string // %s first, %s last, %s lowest, %s highest
	ForecastDaysF        string // %d days
	ForecastOneDay       string
	ForecastUnderDay     string
	ForecastTrendF       string // %s mount point, %s date
	ForecastTrend        string
	ForecastConfidenceF  string // %s confidence
	ConfidenceLow        string
	ConfidenceMedium     string
	ConfidenceHigh       string
	ForecastSynthetic    string
	WallForecastF        string // %d days
	WallForecastUnderDay string
	WallDemo             string

	// Reasons (reasons.go): why an entity has its status.
	DetailsF               string // %s: the hub's English text
	ReasonPackageServer    string // subject: the package server's imaging API
	ReasonServiceF         string // %s probe name: a service check
	ReasonServiceUnnamed   string
	ReasonRepository       string // subject: the imaging repository
	ReasonRepositoryF      string // %s subject with its path
	ReasonProbeRefusedF    string // %s subject with its target
	ReasonProbeTimeoutF    string // %s
	ReasonProbeTLSF        string // %s
	ReasonProbeDNSF        string // %s
	ReasonProbeHTTPF       string // %s
	ReasonProbeUnreadableF string // %s
	ReasonProbeOtherF      string // %s
	ReasonOneMoreProbe     string
	ReasonMoreProbesF      string // %d other failing checks
	ReasonMissedPingsF     string // %s duration
	ReasonNoReportF        string // %s duration
	ReasonReportStaleF     string // %s duration
	ReasonNotRecursiveF    string // %s entity holding the server, %s server
	ReasonWaitingReport    string
	ReasonTokenRejected    string
	ReasonTokenRevoked     string
	ReasonMalformedHello   string
	ReasonProtocol         string
	ReasonEntityMismatch   string
	ReasonMalformedReport  string
	ReasonTooLarge         string
	ReasonFlood            string
	ReasonAgentClosed      string
	ReasonAgentLost        string
	ReasonReplaced         string
	ReasonUnlinked         string
	ReasonNoPong           string
	ReasonHubShutdown      string
	ReasonNeverConnected   string
	ReasonNotReconnected   string
	ReasonNotLinked        string

	// Alerts firing for an entity (sent to the on-call team).
	AlertsLabel   string // aria label of the panel's alert block
	AlertSentTo   string
	AlertLineF    string // %s what, %s since (time), %s for how long, %s sent at (time)
	AlertStatus   string
	AlertDisk     string
	AlertForecast string
	AlertMarker   string // the wall's and the list's marker

	// What the statistics mean, and Medulla's link failures (never the
	// database's own error: it may name its user, host or socket).
	ClientsWithImgsNote   string
	MedullaNote           string
	DiskScanNote          string
	MedullaErrUnreachable string
	MedullaErrTimeout     string
	MedullaErrAccess      string
	MedullaErrSchema      string
	MedullaErrConfig      string
	MedullaErrOther       string
}

var english = Texts{
	Lang: English, Name: "English",

	Decimal: ".", Bytes: "B", ByteUnits: "KiB MiB GiB TiB PiB EiB",
	Sec: "s", Min: "min", Hour: "h", Day: "d",
	JustNow: "just now", AgoF: "%s ago", DateTime: "2006-01-02 15:04",

	Available: "Available", AvailableAction: "You can create or deploy an image.",
	Offline: "Offline", OfflineAction: "Contact the administrator.",
	ConnectionError: "Connection error", ConnectionErrorAction: "Report it to the technical team.",
	NotLinked: "No imaging server", NotLinkedAction: "Link an imaging server to this entity.",
	UnknownStatusF: "Unknown status %q", UnknownAction: "Reload the page; if this stays, report it to the technical team.",

	Brand:            "Imaging status",
	UpdateReady:      "A new version of this page is ready.",
	StateFileTrouble: "The hub cannot write its state file (is its disk full?): statuses shown here are live, but their history is not being recorded. Tell the hub's administrator.",
	Reload:           "Reload",
	Connected:        "Connected to the hub",
	Connecting:       "Connecting to the hub…",
	ReconnectingF:    "Reconnecting… (attempt %d%s)",
	NextTryF:         ", next try in %s",
	LanguageLabel:    "Language",
	SkipToStatus:     "Skip to the status",
	Loading:          "Loading the status of the imaging servers…",
	WasmMissing:      "The web app (app.wasm) was not built into this hub. Build it with `make wasm`, then rebuild and restart the hub.",
	OpenWall:         "Wall screen",
	OpenDashboard:    "Dashboard",
	StoredSnapshotF:  "Showing the last status this browser saw, %s.",
	HubUnreachable:   "The hub cannot be reached: this is not live.",

	NoEntityYet:       "The hub knows no entity yet.",
	NoSuchEntityF:     "There is no entity %q.",
	ShowF:             "Show %s",
	EntitiesNav:       "Entities",
	FilterLabel:       "Filter entities",
	FilterPlaceholder: "Name, parent or server",
	FilterNoneF:       "No entity matches “%s”.",
	LostHub:           "The page has lost its connection to the hub: this may be out of date.",
	NoFiguresYet:      "The server has not reported any figures yet.",
	FromLastReport:    "These figures come from the last report, before the server went offline.",
	CollectErrors:     "Some figures could not be collected:",

	ForSinceF:       "For %s (since %s)",
	WhatToDo:        "What to do: ",
	NoServer:        "No imaging server serves this entity or any of its parents.",
	ImagingServer:   "Imaging server: ",
	ServedByServerF: " (served by the server of %s)",
	HostF:           " · host %s",
	AgentF:          " · agent %s",
	NoReportYet:     "No report received from this server yet.",
	UpdatedF:        "Updated %s",
	DiskSpace:       "Disk space",
	NoPartition:     "No partition reported.",
	MainPartition:   "main · holds the repository",
	DiskUsedLabelF:  "Disk %s used",
	DiskFiguresF:    "Used %s (%d %%) · Free %s · Total %s",
	DiskReservedF:   "Reserved by the file system for root: %s (neither used nor free)",
	DiskPercentNote: "Percentage as df shows it: used ÷ (used + free)",
	ServerLoad:      "Server load",
	UpForF:          "Up for %s",
	UptimeMissing:   "Uptime not reported.",
	MemoryTitle:     "Memory (RAM)",
	MemoryUsedLabel: "Memory used",
	MemoryFiguresF:  "Used %s (%d %%) · Available %s · Total %s",
	SwapF:           "Swap: %s used of %s",
	SwapNone:        "Swap: none",
	MemoryMissing:   "Memory not reported.",
	LoadF:           "Load average: %s · %s · %s (1, 5, 15 min)",
	OnCPUsF:         " on %d CPUs",
	OnOneCPU:        " on 1 CPU",
	LoadMissing:     "Load average not reported.",
	EntityStats:     "Entity statistics",
	RepoMissing:     "The imaging repository was not reported.",
	DiskScanF:       "From the disk scan of %s",
	OnServerOfF:     " on the server of %s",
	RegClients:      "Registered clients",
	ClientsWithImgs: "Clients with a restorable image",
	Images:          "Images",
	ImagesByStateF:  "%d (%d complete, %d in progress, %d failed, %d invalid)",
	SizeComplete:    "Size of complete images",
	NoMedullaNote:   "Which images are masters and which clients have backups is recorded only in Medulla's database, which this hub is not linked to.",
	ServiceChecks:   "Service checks",
	NoProbe:         "No probe reported.",
	ProbeOK:         "OK",
	ProbeFailed:     "Failed",
	FromMedullaF:    "From Medulla's database, read %s",
	MedullaClients:  "Clients",
	MedullaBackups:  "Clients with backup images",
	MedullaMasters:  "Masters",
	MedullaNoCounts: "Medulla counts no clients or masters here: this entity has no imaging server of its own in Medulla.",
	MedullaServerF:  "Imaging server in Medulla: %s",
	MedullaStaleF:   "%s: these figures were read %s ago (details in the hub's log).",
	MedullaNeverF:   "%s: no figures have been read yet (details in the hub's log).",
	NearerServerF:   "Medulla's rule serves this entity from %s, although a nearer parent has server %s: check the links in Medulla.",
	MastersTitle:    "Masters ready to deploy",
	NoMasters:       "No master image in Medulla.",
	ColName:         "Name",
	ColSize:         "Size",
	ColDate:         "Date",
	ActivityTitle:   "Recent activity",
	NoActivity:      "No recent imaging activity in Medulla.",
	ColTime:         "Time",
	ColState:        "State",
	ColTarget:       "Target",
	MoreRowsF:       "and %d more",
	ActivityStates:  "unknown=unknown boot=boot menu=menu restoration=restoration backup=backup postinstall=post-install error=error delete=deletion inventory=inventory",
	UnknownDate:     "—",

	WallTitle:        "Imaging servers",
	WallFullscreen:   "Full screen (F)",
	WallClock:        "Time",
	WallPageF:        "Page %d of %d",
	WallEmpty:        "No entity to show.",
	WallFilterF:      "%d of %d entities",
	WallDiskF:        "Disk %s: %d %% used",
	WallNoDisk:       "No disk figures",
	WallServedByF:    "served by %s",
	WallChangedF:     "%s is now %s. %s",
	WallUpdateF:      "A new version is ready: reloading in %d s.",
	WallEntityLinkF:  "%s: %s",
	WallStaleF:       "Hub unreachable: last status seen %s.",
	WallStatusCounts: "Entities by status",
	Unconfirmed:      "Last known state, kept across a restart of the hub: no agent has confirmed it yet.",
	UnconfirmedShort: "unconfirmed",

	HistoryTitle:         "History",
	HistoryLoading:       "Loading the history…",
	HistoryUnauthorized:  "The hub refused to show the history: your session may have expired. Reload the page.",
	HistoryNotFound:      "The hub has no history for this entity.",
	HistoryUnavailable:   "The history is unavailable for now; the page will try again in a minute.",
	HistoryFailed:        "The history could not be loaded; the page will try again in a minute.",
	HistoryOldF:          "The last refresh failed: history as of %s.",
	UptimeTitle:          "Availability",
	Uptime24h:            "Last 24 hours",
	Uptime7d:             "Last 7 days",
	Uptime30d:            "Last 30 days",
	UptimeUnknown:        "unknown",
	NoRecord:             "No record",
	TimelineTitle:        "Status over the last 24 hours",
	TimelineBar:          "Status timeline (arrow keys move between periods)",
	TimelineSpanF:        "%s from %s to %s",
	TimelineSinceF:       "%s since %s",
	TimelineNow:          "now",
	TrendsTitle:          "Last 48 hours",
	SeriesDisk:           "Repository disk used",
	SeriesMemory:         "Memory used",
	SeriesNoData:         "No data yet",
	SeriesOpen:           "show a larger chart",
	ChartTitleF:          "%s over %s",
	ChartClose:           "Close",
	ChartPeriod:          "Period",
	Window48h:            "48 hours",
	Window30d:            "30 days",
	Window365d:           "365 days",
	ChartSummaryF:        "%s at the start, %s at the end; lowest %s, highest %s.",
	ForecastDaysF:        "Repository disk full in about %d days",
	ForecastOneDay:       "Repository disk full in about 1 day",
	ForecastUnderDay:     "Repository disk full in less than a day",
	ForecastTrendF:       "At the current trend of the last 7 days, the partition %s will be full around %s.",
	ForecastTrend:        "At the current trend of the last 7 days.",
	ForecastConfidenceF:  "Confidence: %s.",
	ConfidenceLow:        "low",
	ConfidenceMedium:     "medium",
	ConfidenceHigh:       "high",
	ForecastSynthetic:    "synthetic series (demo)",
	WallForecastF:        "Disk full in %d d",
	WallForecastUnderDay: "Disk full in < 1 d",
	WallDemo:             "demo",

	DetailsF:               "Details: %s",
	ReasonPackageServer:    "The package server's imaging API",
	ReasonServiceF:         "The service “%s”",
	ReasonServiceUnnamed:   "An imaging service",
	ReasonRepository:       "The imaging repository",
	ReasonRepositoryF:      "%s is missing or unreadable.",
	ReasonProbeRefusedF:    "%s refuses connections.",
	ReasonProbeTimeoutF:    "%s does not answer in time.",
	ReasonProbeTLSF:        "%s presents a certificate that is not trusted, or its TLS handshake fails.",
	ReasonProbeDNSF:        "%s cannot be found: its host name does not resolve (DNS).",
	ReasonProbeHTTPF:       "%s answers with an HTTP error.",
	ReasonProbeUnreadableF: "%s cannot be read.",
	ReasonProbeOtherF:      "%s fails its check.",
	ReasonOneMoreProbe:     "One more service check fails too.",
	ReasonMoreProbesF:      "%d more service checks fail too.",
	ReasonMissedPingsF:     "The imaging server has not answered for %s.",
	ReasonNoReportF:        "The agent is connected but has sent no figures for %s.",
	ReasonReportStaleF:     "The agent answers, but its last figures are %s old: its collection may be stuck.",
	ReasonNotRecursiveF:    "%s's server %s does not serve sub-entities: make it recursive in Medulla or link a server here.",
	ReasonWaitingReport:    "The agent has just connected; its first figures are on the way.",
	ReasonTokenRejected:    "The hub refuses the agent's token: check the token file on the imaging server.",
	ReasonTokenRevoked:     "The agent's token was revoked by a change in the hub's configuration.",
	ReasonMalformedHello:   "The agent's first message could not be read: check that this hub supports the agent's version.",
	ReasonProtocol:         "The agent and the hub speak different protocol versions: upgrade the older one.",
	ReasonEntityMismatch:   "The agent announced another entity than the one it connected for: check its configuration.",
	ReasonMalformedReport:  "The agent sent figures the hub cannot read (details in the hub's log).",
	ReasonTooLarge:         "The agent sent a message larger than the hub accepts.",
	ReasonFlood:            "The agent sent too many messages: the hub cut its connection.",
	ReasonAgentClosed:      "The imaging server's agent stopped (its service or the server was shut down).",
	ReasonAgentLost:        "The connection to the imaging server's agent broke (network or server down).",
	ReasonReplaced:         "A newer connection from the same imaging server took over.",
	ReasonUnlinked:         "This imaging server is no longer linked in the hub's configuration.",
	ReasonNoPong:           "The agent did not answer the hub's pings in time.",
	ReasonHubShutdown:      "The hub was shutting down.",
	ReasonNeverConnected:   "The imaging server's agent has not connected since the hub started: is it installed and running?",
	ReasonNotReconnected:   "The imaging server's agent has not reconnected since the hub restarted.",
	ReasonNotLinked:        "No imaging server is linked to this entity or to any of its parents.",

	AlertsLabel:   "Alerts",
	AlertSentTo:   "Alert sent to the on-call team: ",
	AlertLineF:    "%s since %s (%s), sent at %s",
	AlertStatus:   "Server unavailable",
	AlertDisk:     "Disk nearly full",
	AlertForecast: "Disk forecast to fill soon",
	AlertMarker:   "Alert sent",

	ClientsWithImgsNote:   "Registered clients owning at least one complete image, which can be restored",
	MedullaNote:           "Clients are the machines of this entity; clients with backup images are machines that needed a restore; masters are images ready to deploy.",
	DiskScanNote:          "What the imaging server's disk holds: the clients registered on it, and those owning at least one complete image, which can be restored.",
	MedullaErrUnreachable: "Medulla's database cannot be reached",
	MedullaErrTimeout:     "Medulla's database answers too slowly",
	MedullaErrAccess:      "Medulla's database refuses the hub's account",
	MedullaErrSchema:      "Medulla's database does not have the expected tables",
	MedullaErrConfig:      "The hub's settings for Medulla's database are wrong",
	MedullaErrOther:       "Medulla's database cannot be read",
}

var french = Texts{
	Lang: French, Name: "Français",

	Decimal: ",", Bytes: "o", ByteUnits: "Kio Mio Gio Tio Pio Eio",
	Sec: "s", Min: "min", Hour: "h", Day: "j",
	JustNow: "à l'instant", AgoF: "il y a %s", DateTime: "02/01/2006 15:04",

	Available: "Disponible", AvailableAction: "Vous pouvez créer ou déployer une image.",
	Offline: "Hors ligne", OfflineAction: "Contactez l'administrateur.",
	ConnectionError: "Erreur de connexion", ConnectionErrorAction: "Signalez-le à l'équipe technique.",
	NotLinked: "Aucun serveur d'imagerie", NotLinkedAction: "Liez un serveur d'imagerie à cette entité.",
	UnknownStatusF: "État inconnu %q", UnknownAction: "Rechargez la page ; si cela persiste, signalez-le à l'équipe technique.",

	Brand:            "État de l'imagerie",
	UpdateReady:      "Une nouvelle version de cette page est prête.",
	StateFileTrouble: "Le hub ne peut pas écrire son fichier d'état (disque plein ?) : les statuts affichés sont à jour, mais leur historique n'est pas enregistré. Prévenez l'administrateur du hub.",
	Reload:           "Recharger",
	Connected:        "Connecté au hub",
	Connecting:       "Connexion au hub…",
	ReconnectingF:    "Reconnexion… (tentative %d%s)",
	NextTryF:         ", prochain essai dans %s",
	LanguageLabel:    "Langue",
	SkipToStatus:     "Aller à l'état",
	Loading:          "Chargement de l'état des serveurs d'imagerie…",
	WasmMissing:      "L'application web (app.wasm) n'a pas été intégrée à ce hub. Construisez-la avec `make wasm`, puis reconstruisez et redémarrez le hub.",
	OpenWall:         "Écran mural",
	OpenDashboard:    "Tableau de bord",
	StoredSnapshotF:  "Dernier état vu par ce navigateur, %s.",
	HubUnreachable:   "Le hub est injoignable : ces informations ne sont pas en direct.",

	NoEntityYet:       "Le hub ne connaît encore aucune entité.",
	NoSuchEntityF:     "Il n'y a pas d'entité %q.",
	ShowF:             "Afficher %s",
	EntitiesNav:       "Entités",
	FilterLabel:       "Filtrer les entités",
	FilterPlaceholder: "Nom, parent ou serveur",
	FilterNoneF:       "Aucune entité ne correspond à « %s ».",
	LostHub:           "La page a perdu sa connexion au hub : ces informations peuvent être périmées.",
	NoFiguresYet:      "Le serveur n'a encore envoyé aucun chiffre.",
	FromLastReport:    "Ces chiffres viennent du dernier rapport, avant que le serveur ne soit hors ligne.",
	CollectErrors:     "Certains chiffres n'ont pas pu être relevés :",

	ForSinceF:       "Depuis %s (le %s)",
	WhatToDo:        "Que faire : ",
	NoServer:        "Aucun serveur d'imagerie ne dessert cette entité ni ses parents.",
	ImagingServer:   "Serveur d'imagerie : ",
	ServedByServerF: " (desservie par le serveur de %s)",
	HostF:           " · hôte %s",
	AgentF:          " · agent %s",
	NoReportYet:     "Aucun rapport reçu de ce serveur pour l'instant.",
	UpdatedF:        "Mis à jour %s",
	DiskSpace:       "Espace disque",
	NoPartition:     "Aucune partition signalée.",
	MainPartition:   "principale · contient le dépôt",
	DiskUsedLabelF:  "Disque %s utilisé",
	DiskFiguresF:    "Utilisé %s (%d %%) · Libre %s · Total %s",
	DiskReservedF:   "Réservé par le système de fichiers pour root : %s (ni utilisé ni libre)",
	DiskPercentNote: "Pourcentage comme l'affiche df : utilisé ÷ (utilisé + libre)",
	ServerLoad:      "Charge du serveur",
	UpForF:          "En marche depuis %s",
	UptimeMissing:   "Durée de fonctionnement non signalée.",
	MemoryTitle:     "Mémoire (RAM)",
	MemoryUsedLabel: "Mémoire utilisée",
	MemoryFiguresF:  "Utilisée %s (%d %%) · Disponible %s · Total %s",
	SwapF:           "Swap : %s utilisés sur %s",
	SwapNone:        "Swap : aucun",
	MemoryMissing:   "Mémoire non signalée.",
	LoadF:           "Charge moyenne : %s · %s · %s (1, 5, 15 min)",
	OnCPUsF:         " sur %d processeurs",
	OnOneCPU:        " sur 1 processeur",
	LoadMissing:     "Charge moyenne non signalée.",
	EntityStats:     "Statistiques de l'entité",
	RepoMissing:     "Le dépôt d'imagerie n'a pas été signalé.",
	DiskScanF:       "Selon l'analyse du disque de %s",
	OnServerOfF:     " sur le serveur de %s",
	RegClients:      "Clients enregistrés",
	ClientsWithImgs: "Clients avec une image restaurable",
	Images:          "Images",
	ImagesByStateF:  "%d (%d complètes, %d en cours, %d en échec, %d invalides)",
	SizeComplete:    "Taille des images complètes",
	NoMedullaNote:   "Quelles images sont des masters et quels clients ont des sauvegardes n'est connu que de la base de données de Medulla, à laquelle ce hub n'est pas relié.",
	ServiceChecks:   "Vérification des services",
	NoProbe:         "Aucune sonde signalée.",
	ProbeOK:         "OK",
	ProbeFailed:     "Échec",
	FromMedullaF:    "Selon la base de données de Medulla, lue %s",
	MedullaClients:  "Clients",
	MedullaBackups:  "Clients avec images de sauvegarde",
	MedullaMasters:  "Masters",
	MedullaNoCounts: "Medulla ne compte ici ni clients ni masters : cette entité n'a pas de serveur d'imagerie propre dans Medulla.",
	MedullaServerF:  "Serveur d'imagerie dans Medulla : %s",
	MedullaStaleF:   "%s : ces chiffres ont été lus il y a %s (détails dans le journal du hub).",
	MedullaNeverF:   "%s : aucun chiffre lu pour l'instant (détails dans le journal du hub).",
	NearerServerF:   "La règle de Medulla fait desservir cette entité par %s, alors qu'un parent plus proche a le serveur %s : vérifiez les liens dans Medulla.",
	MastersTitle:    "Masters prêts à déployer",
	NoMasters:       "Aucun master dans Medulla.",
	ColName:         "Nom",
	ColSize:         "Taille",
	ColDate:         "Date",
	ActivityTitle:   "Activité récente",
	NoActivity:      "Aucune activité d'imagerie récente dans Medulla.",
	ColTime:         "Heure",
	ColState:        "État",
	ColTarget:       "Cible",
	MoreRowsF:       "et %d de plus",
	ActivityStates:  "unknown=inconnu boot=démarrage menu=menu restoration=restauration backup=sauvegarde postinstall=post-installation error=erreur delete=suppression inventory=inventaire",
	UnknownDate:     "—",

	WallTitle:        "Serveurs d'imagerie",
	WallFullscreen:   "Plein écran (F)",
	WallClock:        "Heure",
	WallPageF:        "Page %d sur %d",
	WallEmpty:        "Aucune entité à afficher.",
	WallFilterF:      "%d entités sur %d",
	WallDiskF:        "Disque %s : %d %% utilisé",
	WallNoDisk:       "Pas de chiffres disque",
	WallServedByF:    "desservie par %s",
	WallChangedF:     "%s est maintenant %s. %s",
	WallUpdateF:      "Une nouvelle version est prête : rechargement dans %d s.",
	WallEntityLinkF:  "%s : %s",
	WallStaleF:       "Hub injoignable : dernier état vu %s.",
	WallStatusCounts: "Entités par état",
	Unconfirmed:      "Dernier état connu, conservé au redémarrage du hub : aucun agent ne l'a encore confirmé.",
	UnconfirmedShort: "non confirmé",

	HistoryTitle:         "Historique",
	HistoryLoading:       "Chargement de l'historique…",
	HistoryUnauthorized:  "Le hub a refusé d'afficher l'historique : votre session a peut-être expiré. Rechargez la page.",
	HistoryNotFound:      "Le hub n'a pas d'historique pour cette entité.",
	HistoryUnavailable:   "L'historique est indisponible pour le moment ; la page réessaiera dans une minute.",
	HistoryFailed:        "L'historique n'a pas pu être chargé ; la page réessaiera dans une minute.",
	HistoryOldF:          "La dernière actualisation a échoué : historique obtenu %s.",
	UptimeTitle:          "Disponibilité",
	Uptime24h:            "Dernières 24 heures",
	Uptime7d:             "7 derniers jours",
	Uptime30d:            "30 derniers jours",
	UptimeUnknown:        "inconnue",
	NoRecord:             "Aucun relevé",
	TimelineTitle:        "État sur les dernières 24 heures",
	TimelineBar:          "Frise des états (les flèches passent d'une période à l'autre)",
	TimelineSpanF:        "%s de %s à %s",
	TimelineSinceF:       "%s depuis %s",
	TimelineNow:          "maintenant",
	TrendsTitle:          "Dernières 48 heures",
	SeriesDisk:           "Disque du dépôt utilisé",
	SeriesMemory:         "Mémoire utilisée",
	SeriesNoData:         "Pas encore de données",
	SeriesOpen:           "afficher un graphique plus grand",
	ChartTitleF:          "%s sur %s",
	ChartClose:           "Fermer",
	ChartPeriod:          "Période",
	Window48h:            "48 heures",
	Window30d:            "30 jours",
	Window365d:           "365 jours",
	ChartSummaryF:        "%s au début, %s à la fin ; minimum %s, maximum %s.",
	ForecastDaysF:        "Disque du dépôt plein dans environ %d jours",
	ForecastOneDay:       "Disque du dépôt plein dans environ 1 jour",
	ForecastUnderDay:     "Disque du dépôt plein dans moins d'un jour",
	ForecastTrendF:       "Au rythme actuel des 7 derniers jours, la partition %s sera pleine vers le %s.",
	ForecastTrend:        "Au rythme actuel des 7 derniers jours.",
	ForecastConfidenceF:  "Confiance : %s.",
	ConfidenceLow:        "faible",
	ConfidenceMedium:     "moyenne",
	ConfidenceHigh:       "élevée",
	ForecastSynthetic:    "série synthétique (démo)",
	WallForecastF:        "Disque plein dans %d j",
	WallForecastUnderDay: "Disque plein dans < 1 j",
	WallDemo:             "démo",

	DetailsF:               "Détails : %s",
	ReasonPackageServer:    "L'API d'imagerie du serveur de paquets",
	ReasonServiceF:         "Le service « %s »",
	ReasonServiceUnnamed:   "Un service d'imagerie",
	ReasonRepository:       "Le dépôt d'imagerie",
	ReasonRepositoryF:      "%s est absent ou illisible.",
	ReasonProbeRefusedF:    "%s refuse les connexions.",
	ReasonProbeTimeoutF:    "%s ne répond pas à temps.",
	ReasonProbeTLSF:        "%s présente un certificat non reconnu, ou sa négociation TLS échoue.",
	ReasonProbeDNSF:        "%s est introuvable : son nom d'hôte ne se résout pas (DNS).",
	ReasonProbeHTTPF:       "%s répond par une erreur HTTP.",
	ReasonProbeUnreadableF: "%s est illisible.",
	ReasonProbeOtherF:      "%s échoue à sa vérification.",
	ReasonOneMoreProbe:     "Une autre vérification de service échoue aussi.",
	ReasonMoreProbesF:      "%d autres vérifications de service échouent aussi.",
	ReasonMissedPingsF:     "Le serveur d'imagerie ne répond plus depuis %s.",
	ReasonNoReportF:        "L'agent est connecté mais n'a envoyé aucun chiffre depuis %s.",
	ReasonReportStaleF:     "L'agent répond, mais ses derniers chiffres datent de %s : sa collecte est peut-être bloquée.",
	ReasonNotRecursiveF:    "Le serveur de %s, %s, ne dessert pas les sous-entités : rendez-le récursif dans Medulla ou liez un serveur ici.",
	ReasonWaitingReport:    "L'agent vient de se connecter ; ses premiers chiffres arrivent.",
	ReasonTokenRejected:    "Le hub refuse le jeton de l'agent : vérifiez le fichier de jeton sur le serveur d'imagerie.",
	ReasonTokenRevoked:     "Le jeton de l'agent a été révoqué par un changement de la configuration du hub.",
	ReasonMalformedHello:   "Le premier message de l'agent est illisible : vérifiez que ce hub prend en charge la version de l'agent.",
	ReasonProtocol:         "L'agent et le hub ne parlent pas la même version du protocole : mettez à jour le plus ancien.",
	ReasonEntityMismatch:   "L'agent s'est annoncé pour une autre entité que celle de sa connexion : vérifiez sa configuration.",
	ReasonMalformedReport:  "L'agent a envoyé des chiffres que le hub ne peut pas lire (détails dans le journal du hub).",
	ReasonTooLarge:         "L'agent a envoyé un message plus grand que ce que le hub accepte.",
	ReasonFlood:            "L'agent a envoyé trop de messages : le hub a coupé sa connexion.",
	ReasonAgentClosed:      "L'agent du serveur d'imagerie s'est arrêté (arrêt de son service ou du serveur).",
	ReasonAgentLost:        "La connexion avec l'agent du serveur d'imagerie est coupée (réseau ou serveur en panne).",
	ReasonReplaced:         "Une connexion plus récente du même serveur d'imagerie a pris le relais.",
	ReasonUnlinked:         "Ce serveur d'imagerie n'est plus lié dans la configuration du hub.",
	ReasonNoPong:           "L'agent n'a pas répondu à temps aux pings du hub.",
	ReasonHubShutdown:      "Le hub était en cours d'arrêt.",
	ReasonNeverConnected:   "L'agent du serveur d'imagerie ne s'est pas connecté depuis le démarrage du hub : est-il installé et lancé ?",
	ReasonNotReconnected:   "L'agent du serveur d'imagerie ne s'est pas reconnecté depuis le redémarrage du hub.",
	ReasonNotLinked:        "Aucun serveur d'imagerie n'est lié à cette entité ni à ses parents.",

	AlertsLabel:   "Alertes",
	AlertSentTo:   "Alerte envoyée à l'équipe d'astreinte : ",
	AlertLineF:    "%s depuis %s (%s), envoyée à %s",
	AlertStatus:   "Serveur indisponible",
	AlertDisk:     "Disque presque plein",
	AlertForecast: "Disque bientôt plein selon la prévision",
	AlertMarker:   "Alerte envoyée",

	ClientsWithImgsNote:   "Clients enregistrés possédant au moins une image complète, donc restaurable",
	MedullaNote:           "Les clients sont les machines de cette entité ; les clients avec images de sauvegarde sont les machines qui ont eu besoin d'une restauration ; les masters sont les images prêtes à déployer.",
	DiskScanNote:          "Ce que contient le disque du serveur d'imagerie : les clients qui y sont enregistrés, et ceux qui possèdent au moins une image complète, donc restaurable.",
	MedullaErrUnreachable: "La base de données de Medulla est injoignable",
	MedullaErrTimeout:     "La base de données de Medulla répond trop lentement",
	MedullaErrAccess:      "La base de données de Medulla refuse le compte du hub",
	MedullaErrSchema:      "La base de données de Medulla n'a pas les tables attendues",
	MedullaErrConfig:      "Les réglages du hub pour la base de données de Medulla sont faux",
	MedullaErrOther:       "La base de données de Medulla est illisible",
}

// languages lists the UI languages; the first is the default.
var languages = []*Texts{&english, &french}

// T returns the texts of a language, English for any other.
func T(l Lang) *Texts {
	for _, t := range languages {
		if t.Lang == l {
			return t
		}
	}
	return &english
}

// PickLang chooses the UI language from the browser's preferred languages
// (navigator.languages, best first): the first English or French one.
func PickLang(prefs []string) Lang {
	for _, p := range prefs {
		p = strings.ToLower(strings.TrimSpace(p))
		base, _, _ := strings.Cut(p, "-")
		for _, t := range languages {
			if base == string(t.Lang) {
				return t.Lang
			}
		}
	}
	return English
}

// ValidLang says whether l is a UI language.
func ValidLang(l Lang) bool {
	for _, t := range languages {
		if t.Lang == l {
			return true
		}
	}
	return false
}

// F formats one of the F fields.
func (t *Texts) F(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// BytesText writes a byte count in binary units (KiB, MiB, ...), as df -h and
// most administrators read disk sizes: one decimal below 10.
func (t *Texts) BytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " " + t.Bytes
	}
	units := strings.Fields(t.ByteUnits)
	v := float64(n)
	i := -1
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	if v < 10 {
		s := strconv.FormatFloat(math.Floor(v*10)/10, 'f', 1, 64)
		s = strings.TrimSuffix(s, ".0")
		return strings.Replace(s, ".", t.Decimal, 1) + " " + units[i]
	}
	return strconv.FormatFloat(math.Floor(v), 'f', 0, 64) + " " + units[i]
}

// Duration writes d as days, hours and minutes ("3 d 4 h 5 min"), dropping
// leading zero units; under a minute it gives seconds.
func (t *Texts) Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return strconv.Itoa(int(d/time.Second)) + " " + t.Sec
	}
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	mins := int(d % time.Hour / time.Minute)
	var parts []string
	if days > 0 {
		parts = append(parts, strconv.Itoa(days)+" "+t.Day)
	}
	if days > 0 || hours > 0 {
		parts = append(parts, strconv.Itoa(hours)+" "+t.Hour)
	}
	parts = append(parts, strconv.Itoa(mins)+" "+t.Min)
	return strings.Join(parts, " ")
}

// Ago writes how long ago something happened: "3 s ago", "just now".
func (t *Texts) Ago(d time.Duration) string {
	if d < 2*time.Second {
		return t.JustNow
	}
	return t.F(t.AgoF, t.Duration(d))
}

// Number writes v with two decimals and the language's separator.
func (t *Texts) Number(v float64) string {
	return strings.Replace(strconv.FormatFloat(v, 'f', 2, 64), ".", t.Decimal, 1)
}

// Latency writes a probe latency: "12 ms", "0.4 ms".
func (t *Texts) Latency(ms float64) string {
	var s string
	if ms < 10 {
		s = strings.TrimSuffix(strconv.FormatFloat(ms, 'f', 1, 64), ".0")
	} else {
		s = strconv.FormatFloat(ms, 'f', 0, 64)
	}
	return strings.Replace(s, ".", t.Decimal, 1) + " ms"
}

// Date writes a time in the browser's zone.
func (t *Texts) Date(v time.Time) string { return v.Local().Format(t.DateTime) }

// ActivityState names an ImagingLogState label in this language.
func (t *Texts) ActivityState(label string) string {
	for _, pair := range strings.Fields(t.ActivityStates) {
		if k, v, ok := strings.Cut(pair, "="); ok && k == label {
			return v
		}
	}
	return label
}

// Status maps a status to its words, icon and action (DESIGN.md).
func (t *Texts) Status(s wire.Status) StatusInfo {
	switch s {
	case wire.StatusAvailable:
		return StatusInfo{t.Available, "check", "available", t.AvailableAction}
	case wire.StatusOffline:
		return StatusInfo{t.Offline, "off", "offline", t.OfflineAction}
	case wire.StatusConnectionError:
		return StatusInfo{t.ConnectionError, "warn", "connection-error", t.ConnectionErrorAction}
	case wire.StatusNotLinked:
		return StatusInfo{t.NotLinked, "unlinked", "not-linked", t.NotLinkedAction}
	default:
		return StatusInfo{t.F(t.UnknownStatusF, string(s)), "unknown", "unknown", t.UnknownAction}
	}
}
