// Package wire holds the messages that agents, the hub and the browser app
// exchange, and their validation. It imports nothing of this project, so the
// agent, the hub and the WASM app can all depend on it.
package wire

import (
	"math"
	"time"
)

// ProtocolVersion is the agent↔hub protocol spoken by this build. A hub
// refuses a hello whose version it does not support.
const ProtocolVersion = 1

// Status of an entity's imaging server, as defined in DESIGN.md.
type Status string

const (
	StatusAvailable       Status = "available"
	StatusOffline         Status = "offline"
	StatusConnectionError Status = "connection_error"
	StatusNotLinked       Status = "not_linked"
)

// Message types on the agent socket and on the viewer socket.
const (
	TypeHello     = "hello"     // agent → hub, first frame
	TypeReport    = "report"    // agent → hub
	TypeImages    = "images"    // agent → hub: a page of the image list its report announced
	TypeSnapshot  = "snapshot"  // hub → viewer, first frame
	TypeChange    = "change"    // hub → viewer: one entity
	TypeChanges   = "changes"   // hub → viewer: several entities in one frame
	TypeSubscribe = "subscribe" // viewer → hub: which entities to receive in full
)

// Routes of the hub that the agent and the browser app dial. The viewer
// stream takes `?detail=` (see Detail.Query).
const (
	AgentPath  = "/api/v1/agent" // agents' WebSocket
	ViewerPath = "/api/v1/ws"    // viewers' WebSocket
)

// EntityHeader names, on the agent's upgrade request, the entity the agent
// speaks for, so the hub checks its token before any WebSocket exists: a
// stranger then never gets a socket to send bytes into. The hello must name
// the same entity.
const EntityHeader = "X-Imaging-Entity"

// Hello is the first frame an agent sends after the WebSocket opens. The
// token itself travels in the Authorization header of the upgrade request.
type Hello struct {
	Type            string `json:"type"`
	ProtocolVersion int    `json:"protocol_version"`
	AgentVersion    string `json:"agent_version"`
	Entity          string `json:"entity"`
	Hostname        string `json:"hostname"`
}

// Report is one collection by an agent: what `imaging-agent report` prints
// and what the push loop sends.
type Report struct {
	Type string `json:"type"`
	Figures
}

// Figures are what an agent measures on its imaging server. A report
// carries them and the hub's view of every entity that server serves
// (Entity) carries the last ones received, so the hub copies them whole.
// Unset fields are left out of the JSON: a zero time is "unknown".
type Figures struct {
	// CollectedAt is the agent's own time of the collection (its clock).
	CollectedAt   time.Time   `json:"collected_at,omitzero"`
	Hostname      string      `json:"hostname,omitempty"`
	UptimeSeconds uint64      `json:"uptime_seconds,omitempty"`
	BootTime      time.Time   `json:"boot_time,omitzero"`
	Partitions    []Partition `json:"partitions,omitempty"`
	Memory        *Memory     `json:"memory,omitempty"`
	Load          *Load       `json:"load,omitempty"`
	Repository    *Repository `json:"repository,omitempty"`
	Probes        []Probe     `json:"probes,omitempty"`
	// Errors lists collectors that failed (e.g. "memory: permission denied");
	// the rest of the report is still valid.
	Errors []string `json:"errors,omitempty"`
}

// Partition is one real mounted file system.
type Partition struct {
	Device     string `json:"device"`
	Mountpoint string `json:"mountpoint"`
	FSType     string `json:"fstype"`
	Total      uint64 `json:"total_bytes"`
	Used       uint64 `json:"used_bytes"`
	Free       uint64 `json:"free_bytes"`
	// Main marks the partition that holds the imaging repository.
	Main bool `json:"main"`
}

// UsedPercent is the share of the partition in use as df counts it: used
// over what users can have (used + available), rounded up, so that the
// space reserved for root does not hide a full disk. False when unknown.
func (p Partition) UsedPercent() (int, bool) {
	avail := p.Used + p.Free
	if avail == 0 {
		return 0, false
	}
	return int((p.Used*100 + avail - 1) / avail), true
}

// Reserved is the space neither used nor available to users (root's
// reserve on ext4, file-system overhead).
func (p Partition) Reserved() uint64 {
	if p.Used+p.Free >= p.Total {
		return 0
	}
	return p.Total - p.Used - p.Free
}

// Memory in bytes.
type Memory struct {
	Total     uint64 `json:"total_bytes"`
	Used      uint64 `json:"used_bytes"`
	Available uint64 `json:"available_bytes"`
	SwapTotal uint64 `json:"swap_total_bytes"`
	SwapUsed  uint64 `json:"swap_used_bytes"`
}

// Load averages over 1, 5 and 15 minutes, and the CPU count to read them by.
type Load struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
	CPUs   int     `json:"cpus"`
}

// Image states found by the repository scan.
const (
	ImageComplete   = "complete"
	ImageInProgress = "in_progress"
	ImageFailed     = "failed"
	ImageInvalid    = "invalid"
)

// Image formats found by the repository scan.
const (
	FormatDavos  = "davos"  // davosInfo.json + Clonezilla files
	FormatLegacy = "legacy" // CONF, conf.txt, size.txt, log.txt, progress.txt
)

// Image is one directory of masters/.
type Image struct {
	UUID    string    `json:"uuid"`
	Title   string    `json:"title"`
	Format  string    `json:"format,omitempty"`
	State   string    `json:"state"`
	Size    uint64    `json:"size_bytes"`
	Created time.Time `json:"created"`
	// SourceMAC is the node field of the image's version-1 UUID: the client
	// the image was taken from. Empty when the UUID is not version 1.
	SourceMAC string `json:"source_mac,omitempty"`
	// Problem says why an image is failed or invalid.
	Problem string `json:"problem,omitempty"`
}

// Repository is what the disk scan of the Pulse 2 imaging repository knows.
// Which images are masters and which clients have backups is only known to
// Medulla's database, so it is not here.
type Repository struct {
	Root              string `json:"root"`
	ImagesTotal       int    `json:"images_total"`
	ImagesComplete    int    `json:"images_complete"`
	ImagesInProgress  int    `json:"images_in_progress"`
	ImagesFailed      int    `json:"images_failed"`
	ImagesInvalid     int    `json:"images_invalid"`
	BytesComplete     uint64 `json:"bytes_complete"`
	Clients           int    `json:"clients"`
	ClientsWithImages int    `json:"clients_with_images"`
	// Generation changes whenever the image list changes; the push loop
	// sends the list only when it changed since the last frame it sent
	// (ImagesOmitted), because a repository can hold 10,000 images.
	Generation    uint64 `json:"generation"`
	ImagesOmitted bool   `json:"images_omitted,omitempty"`
	// ImagesFollow: the list is not in this frame but in the "images"
	// frames (ImagesPage) that follow it, so that no frame, and no buffer
	// of the hub, grows with the repository. The hub applies the report
	// once the last page is in.
	ImagesFollow bool    `json:"images_follow,omitempty"`
	Images       []Image `json:"images,omitempty"`
}

// ImagesPage is one page of the image list that the report just before it
// announced (Repository.ImagesFollow): pages come in order from 0, each with
// the report's generation, the last one marked. A page holds at most
// MaxPageImages images, and none only when it is the only one (an empty
// list).
type ImagesPage struct {
	Type       string  `json:"type"`
	Generation uint64  `json:"generation"`
	Page       int     `json:"page"`
	Images     []Image `json:"images"`
	Last       bool    `json:"last,omitempty"`
}

// Probe is one check of an imaging service on the server.
type Probe struct {
	Name      string  `json:"name"`
	Target    string  `json:"target"`
	OK        bool    `json:"ok"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// Entity is the hub's view of one entity: what REST returns and what viewers
// receive.
type Entity struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Parent string   `json:"parent,omitempty"`
	Path   []string `json:"path"` // names from the root down to this entity
	Status Status   `json:"status"`
	Reason string   `json:"reason,omitempty"`
	// ReasonCode says why in a form the page translates (wire/reasons.go),
	// with its parameters; Reason stays the hub's English text.
	ReasonCode string            `json:"reason_code,omitempty"`
	ReasonArgs map[string]string `json:"reason_args,omitempty"`
	Since      time.Time         `json:"since"`
	// Stale marks a last known state restored after a hub restart: no agent
	// has confirmed it since.
	Stale bool `json:"stale,omitempty"`
	// Summary marks a reduced view (status and tree only, see Summarize):
	// what a viewer receives for entities it did not subscribe to in full.
	Summary bool `json:"summary,omitempty"`
	// FullestPct is the usage in percent of the fullest partition, in
	// summaries (a wall tile shows it without the partitions).
	FullestPct   *int   `json:"fullest_pct,omitempty"`
	FullestMount string `json:"fullest_mount,omitempty"`
	// ServedBy names the imaging server that serves the entity; empty when
	// not linked. ServedByEntity is the entity that server is linked to;
	// Inherited says it is an ancestor's server.
	ServedBy       string `json:"served_by,omitempty"`
	ServedByEntity string `json:"served_by_entity,omitempty"`
	Inherited      bool   `json:"inherited,omitempty"`

	AgentVersion string     `json:"agent_version,omitempty"`
	LastReportAt *time.Time `json:"last_report_at,omitempty"`
	// Figures are the serving server's last report (Hostname is the
	// agent's hello until a report names it).
	Figures

	// Medulla holds the figures read from Medulla's databases, when the hub
	// is linked to them. Repository above comes from the agent's disk scan.
	Medulla *Medulla `json:"medulla,omitempty"`
	// DiskForecast says when the repository partition will be full at the
	// trend of the last 7 days (hub-computed from the figure history).
	DiskForecast *DiskForecast `json:"disk_forecast,omitempty"`
	// Alerts are the alerts firing for the entity (sent to the configured
	// webhooks and e-mail), oldest first.
	Alerts []EntityAlert `json:"alerts,omitempty"`
}

// Alert kinds: the condition an alert is about.
const (
	AlertStatus   = "status"   // Offline or Connection error for longer than its delay
	AlertDisk     = "disk"     // a partition fuller than the threshold
	AlertForecast = "forecast" // the repository partition forecast to fill soon
)

// EntityAlert is one alert firing for an entity.
type EntityAlert struct {
	Kind string `json:"kind"`
	// Since is when the condition began; FiredAt when the alert was sent.
	Since   time.Time `json:"since"`
	FiredAt time.Time `json:"fired_at"`
}

// Why Medulla's databases cannot be read (Medulla.ErrorCode).
const (
	MedullaUnreachable  = "unreachable"   // no database server answers
	MedullaTimeout      = "timeout"       // it answers too slowly
	MedullaAccessDenied = "access_denied" // the hub's account is refused
	MedullaSchema       = "schema"        // not the tables Medulla has
	MedullaConfig       = "config"        // the hub's DSN is wrong
	MedullaOther        = "other"
)

// MedullaErrorText is the English sentence of a Medulla.ErrorCode.
func MedullaErrorText(code string) string {
	switch code {
	case MedullaUnreachable:
		return "Medulla's database cannot be reached"
	case MedullaTimeout:
		return "Medulla's database answers too slowly"
	case MedullaAccessDenied:
		return "Medulla's database refuses the hub's account"
	case MedullaSchema:
		return "Medulla's database does not have the expected tables"
	case MedullaConfig:
		return "the hub's settings for Medulla's database are wrong"
	}
	return "Medulla's database cannot be read"
}

// SourceMedulla names figures read from Medulla's MariaDB databases.
const SourceMedulla = "medulla_database"

// Medulla is what Medulla's own databases say of an entity, computed as its
// web console does.
type Medulla struct {
	Source   string    `json:"source"`
	LoadedAt time.Time `json:"loaded_at"`
	// Stale is set while the database link fails: the figures are the last
	// ones read (LoadedAt says when), ErrorCode says why (MedullaError*)
	// and Error in English; neither names the database's user, host or
	// socket (the hub's log does).
	Stale     bool   `json:"stale,omitempty"`
	Error     string `json:"error,omitempty"`
	ErrorCode string `json:"error_code,omitempty"`
	// Server is the entity's own imaging server in Medulla, if any.
	Server    string `json:"server,omitempty"`
	ServerURL string `json:"server_url,omitempty"`
	// NearerLinkedServer is set when a nearer ancestor has a linked server
	// that Medulla's rule passes over (it picks the root-most recursive one).
	NearerLinkedServer string `json:"nearer_linked_server,omitempty"`
	// Figures are nil where Medulla shows none (no server row of its own).
	Clients                 *int           `json:"clients"`
	ClientsWithBackupImages *int           `json:"clients_with_backup_images"`
	Masters                 *int           `json:"masters"`
	MasterImages            []MasterImage  `json:"master_images,omitempty"`
	Activity                []ActivityLine `json:"activity,omitempty"`
}

// MasterImage is a master ready to deploy, from Medulla's imaging database.
type MasterImage struct {
	UUID    string     `json:"uuid"`
	Name    string     `json:"name"`
	Size    int64      `json:"size_bytes"`
	Created *time.Time `json:"created,omitempty"`
}

// ActivityLine is one of the entity's newest imaging log lines.
type ActivityLine struct {
	Time   *time.Time `json:"time,omitempty"`
	State  string     `json:"state"`
	Target string     `json:"target"`
	Detail string     `json:"detail,omitempty"`
}

// Summarize reduces a view to what a list or a wall shows. It changes only
// when the status, the reason or the fullest partition's percentage does,
// not with every report, so summaries cost viewers almost nothing.
func Summarize(e Entity) Entity {
	s := Entity{ID: e.ID, Name: e.Name, Parent: e.Parent, Path: e.Path, Status: e.Status, Reason: e.Reason,
		ReasonCode: e.ReasonCode, ReasonArgs: e.ReasonArgs, Since: e.Since, Stale: e.Stale, Summary: true, ServedBy: e.ServedBy, ServedByEntity: e.ServedByEntity, Inherited: e.Inherited,
		Alerts: e.Alerts}
	best := -1
	for _, p := range e.Partitions {
		if pct, ok := p.UsedPercent(); ok && pct > best {
			best, s.FullestMount = pct, p.Mountpoint
		}
	}
	if best >= 0 {
		s.FullestPct = &best
	}
	// A wall tile warns of a disk full within two weeks. Whole days and no
	// date, so that a forecast recomputed every few minutes does not make
	// a new summary for every viewer each time.
	if f := e.DiskForecast; f != nil && f.DaysLeft != nil && *f.DaysLeft < SummaryForecastDays {
		days := math.Floor(*f.DaysLeft)
		s.DiskForecast = &DiskForecast{Mountpoint: f.Mountpoint, DaysLeft: &days, Confidence: f.Confidence, Synthetic: f.Synthetic}
	}
	return s
}

// SummaryForecastDays: summaries carry a disk forecast under this many days.
const SummaryForecastDays = 14

// MaxSubscribe bounds the entities a viewer may ask for in full.
const MaxSubscribe = 64

// ViewerRequest is what a viewer may send: the entities it wants in full
// (the one on screen; "*" for all; empty or null for none), the others then
// coming as summaries. NewDetail gives its meaning; Detail.Request builds
// it. A viewer that never subscribes keeps what it asked for on the upgrade
// (ParseDetailQuery).
type ViewerRequest struct {
	Type   string   `json:"type"`
	Detail []string `json:"detail"`
}

// DecodeViewerRequest decodes and validates a viewer's frame.
func DecodeViewerRequest(b []byte) (ViewerRequest, error) {
	var r ViewerRequest
	if err := strict(b, &r); err != nil {
		return r, err
	}
	if r.Type != TypeSubscribe {
		return r, invalid("unknown viewer message type %q", clip(r.Type))
	}
	return r, checkDetailIDs(r.Detail)
}

// ViewerMessage is a frame on the viewer socket: a full snapshot on connect,
// then one change per entity whose view changed.
type ViewerMessage struct {
	Type    string    `json:"type"`
	HubTime time.Time `json:"hub_time"`
	Version string    `json:"version,omitempty"` // hub build, to offer a reload
	// StateError, in a snapshot, says the hub cannot write its state file
	// (changes are shown live but not yet recorded).
	StateError string   `json:"state_error,omitempty"`
	Entities   []Entity `json:"entities,omitempty"`
	Entity     *Entity  `json:"entity,omitempty"`
}

// DiskForecast is the disk-full forecast of an entity's repository
// partition. FullAt and DaysLeft are null when there is no growing trend.
type DiskForecast struct {
	Mountpoint string     `json:"mountpoint"`
	FullAt     *time.Time `json:"full_at"`
	DaysLeft   *float64   `json:"days_left"`
	// Confidence is "low", "medium" or "high".
	Confidence string `json:"confidence"`
	// Synthetic marks a forecast from a made-up series (the demo).
	Synthetic bool `json:"synthetic,omitempty"`
}

// Forecast confidences.
const (
	ConfidenceLow    = "low"
	ConfidenceMedium = "medium"
	ConfidenceHigh   = "high"
)

// Uptime is the share of time an entity spent in each status over a
// window (GET /api/v1/entities/{id}/uptime?window=24h|7d|30d). Time before
// the first record is unknown, not available; AvailableRatio is of the
// known time, null when nothing is known.
type Uptime struct {
	Window         string             `json:"window"`
	AvailableRatio *float64           `json:"available_ratio"`
	Seconds        map[Status]float64 `json:"seconds"`
	UnknownSeconds float64            `json:"unknown_seconds"`
}

// Series is a downsampled figure history
// (GET /api/v1/entities/{id}/series?figure=NAME&window=48h|30d|365d).
type Series struct {
	Figure string  `json:"figure"`
	Unit   string  `json:"unit"`
	Points []Point `json:"points"`
}

// Point is one sample of a series: the mean over its step.
type Point struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

// Figure names of the series the hub keeps.
const (
	FigureRepoDiskUsed   = "repo_disk_used_bytes"
	FigureRepoDiskTotal  = "repo_disk_total_bytes"
	FigureMemoryUsed     = "memory_used_bytes"
	FigureLoad1          = "load1"
	FigureImagesComplete = "images_complete"
	FigureImagesTotal    = "images_total"
	FigureCompleteBytes  = "complete_image_bytes"
)
