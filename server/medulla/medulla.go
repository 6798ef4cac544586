// Package medulla is the read-only link to Medulla's MariaDB databases: the
// GLPI entity tree, the imaging servers linked to entities and Medulla's own
// per-entity figures (clients, clients with backup images, masters), master
// images and recent imaging activity.
//
// Rules checked against medulla-tech/medulla (commit a3d28561, 2026-07-29):
//
//   - services/pulse2/database/imaging/__init__.py getEntityStatus: clients are
//     the distinct Target rows of type 1 or 3 whose fk_entity is an Entity row
//     that also carries an ImagingServer (any server, associated or not: the join
//     does not look at associated). Backup clients are those targets for which
//     some ImagingLog → MasteredOn → Image row has `not is_master` true, which in
//     Python also holds for a NULL is_master (the column is nullable), so NULL
//     counts as "not master" here too. Masters is SQLAlchemy's Query.count() over
//     Image ⋈ ImageOnImagingServer ⋈ ImagingServer ⋈ Entity with is_master = 1:
//     it counts join rows, so an image on two servers of the same entity counts
//     twice. DESIGN.md says "images"; we follow the code so that the number is
//     the one Medulla shows, and MasterImages lists each image once.
//   - getImagingServerByEntityUUID: the entity's own server is taken with
//     .first() and no filter on associated, so Medulla would return a parked,
//     unlinked server (registerImagingServer parks them with fk_entity = 1 and
//     associated = 0; schema-001.sql creates Entity id 1 with uuid "UUID1", i.e.
//     GLPI entity 1, not the GLPI root). Following DESIGN.md, an unlinked server
//     serves nobody here: Server shows it, ServedBy falls back to the ancestors.
//     Otherwise the ancestor rule is Medulla's: among the parent path (parent,
//     grandparent, …, then "UUID0" always appended, as
//     services/mmc/plugins/glpi/database_110.py getLocationParentPath builds it)
//     the servers with is_recursive = 1 and associated = 1, and the loop keeps the
//     last match, i.e. the root-most one.
//   - Activity follows getImagingLogs4Location: logs of every target of the
//     entity (any type), newest first by ImagingLog.id.
//   - Entities are matched on Entity.uuid, as Medulla does, so several Entity
//     rows with the same uuid add up. Medulla compares with the column's
//     collation (case-insensitive, trailing spaces ignored); we normalise the
//     same way.
package medulla

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Config says where Medulla's databases are. DSNs are go-sql-driver/mysql
// DSNs ("user:pass@tcp(host:3306)/imaging"); they hold a password, so Config
// prints itself redacted.
type Config struct {
	ImagingDSN, GLPIDSN string
	// QueryTimeout bounds each query (and the dial). Default 10 s.
	QueryTimeout time.Duration
	// LogLines is how many of the newest log lines are kept per entity. Default 20.
	LogLines int
	// MasterLines bounds the master images listed per entity (the count is
	// never bounded). Default 200.
	MasterLines int
}

const (
	defaultQueryTimeout = 10 * time.Second
	defaultLogLines     = 20
	defaultMasterLines  = 200
)

func (c Config) withDefaults() Config {
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = defaultQueryTimeout
	}
	if c.LogLines <= 0 {
		c.LogLines = defaultLogLines
	}
	if c.MasterLines <= 0 {
		c.MasterLines = defaultMasterLines
	}
	return c
}

// String hides the passwords, so that logging a Config by mistake leaks nothing.
func (c Config) String() string {
	return fmt.Sprintf("{ImagingDSN:%s GLPIDSN:%s QueryTimeout:%s LogLines:%d MasterLines:%d}",
		RedactDSN(c.ImagingDSN), RedactDSN(c.GLPIDSN), c.QueryTimeout, c.LogLines, c.MasterLines)
}

// GoString covers %#v as well.
func (c Config) GoString() string { return "medulla.Config" + c.String() }

// Link is an open (lazy) connection to both databases.
type Link struct {
	cfg     Config
	imaging *conn
	glpi    *conn
}

type conn struct {
	db   *sql.DB
	info dbInfo
}

// Open prepares both connection pools. It does not connect: Load does, and
// reports what failed.
func Open(cfg Config) (*Link, error) {
	cfg = cfg.withDefaults()
	img, err := openDB(dbImaging, cfg.ImagingDSN, cfg.QueryTimeout)
	if err != nil {
		return nil, err
	}
	glpi, err := openDB(dbGLPI, cfg.GLPIDSN, cfg.QueryTimeout)
	if err != nil {
		img.db.Close()
		return nil, err
	}
	return &Link{cfg: cfg, imaging: img, glpi: glpi}, nil
}

func openDB(which, dsn string, timeout time.Duration) (*conn, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, &Error{DB: which, Kind: KindConfig, Msg: which + " database: no DSN configured"}
	}
	mc, err := parseDSN(which, dsn)
	if err != nil {
		return nil, err
	}
	mc.ParseTime = true
	if !strings.Contains(dsn, "loc=") {
		// Medulla writes naive local timestamps (Python datetime.now()).
		mc.Loc = time.Local
	}
	if mc.Timeout == 0 {
		mc.Timeout = timeout
	}
	info := dbInfo{which: which, user: mc.User, addr: mc.Net + "(" + mc.Addr + ")", name: mc.DBName, password: mc.Passwd}
	if mc.DBName == "" {
		return nil, &Error{DB: which, Kind: KindConfig, Msg: which + " database: the DSN names no database (…/DBNAME)"}
	}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, &Error{DB: which, Kind: KindConfig, Msg: which + " database: invalid DSN: " + scrub(err.Error(), mc.Passwd)}
	}
	db := sql.OpenDB(connector)
	// A refresh every minute needs very little; keep Medulla's server unbothered.
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetConnMaxIdleTime(2 * time.Minute)
	return &conn{db: db, info: info}, nil
}

// Close closes both pools.
func (l *Link) Close() error {
	return errors.Join(l.imaging.db.Close(), l.glpi.db.Close())
}

// Ping checks that both databases answer (one round trip each, no query):
// between loads, a failure is known within a ping.
func (l *Link) Ping(ctx context.Context) error {
	for _, c := range []*conn{l.glpi, l.imaging} {
		if err := c.db.PingContext(ctx); err != nil {
			return classify(ctx, err, c.info, l.cfg.QueryTimeout)
		}
	}
	return nil
}

// Snapshot is what one Load read.
type Snapshot struct {
	Entities []Entity // by GLPI id
	LoadedAt time.Time
}

// Entity is one GLPI entity with what Medulla's imaging database says of it.
type Entity struct {
	ID       string // "UUID<n>", n the GLPI id
	Name     string
	FullName string // GLPI completename ("Root entity > A > B")
	Parent   string // "" at the root

	// Server is the entity's own server row: the associated one if any, else a
	// registered-but-unlinked one parked here (Associated false).
	Server *Server
	// ServedBy is the server that images this entity's machines by Medulla's
	// rule (see the package comment); nil when none.
	ServedBy *Server
	// NearestLinkedAncestor is the nearest ancestor with an associated server,
	// set only when it is not ServedBy: Medulla picks the root-most recursive
	// one, which is likely not what the administrator meant.
	NearestLinkedAncestor *Server

	// Medulla's figures; nil where Medulla shows none (no server row of its own).
	Clients                 *int
	ClientsWithBackupImages *int
	Masters                 *int

	MasterImages []MasterImage // newest first
	Activity     []LogLine     // newest first
}

// Server is an ImagingServer row.
type Server struct {
	Name, URL, PackageServerUUID string
	Associated, Recursive        bool
	EntityID                     string // "UUID<n>" of the Entity row it sits on
}

// MasterImage is an Image with is_master = 1 on one of the entity's servers.
type MasterImage struct {
	UUID    string
	Name    string
	Size    int64     // bytes
	Created time.Time // zero when unknown
}

// LogLine is an ImagingLog row of one of the entity's targets.
type LogLine struct {
	Time   time.Time // zero when unknown
	State  string    // ImagingLogState label: boot, backup, restoration, error…
	Target string
	Detail string
}

// Load reads everything in six bounded queries: one on GLPI, five in a
// read-only transaction on the imaging database (a consistent view).
func (l *Link) Load(ctx context.Context) (*Snapshot, error) {
	glpi, err := l.loadGLPI(ctx)
	if err != nil {
		return nil, err
	}
	img, err := l.loadImaging(ctx)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Entities: build(glpi, img), LoadedAt: time.Now()}, nil
}

// glpiRow is a glpi_entities row.
type glpiRow struct {
	id       int64
	parent   sql.NullInt64
	name     string
	fullName string
}

type serverRow struct {
	id int64
	Server
}

type counts struct{ clients, backup, masters int }

type imagingData struct {
	servers  []serverRow // by id
	clients  map[string]counts
	masters  map[string][]MasterImage
	activity map[string][]LogLine
}

func (l *Link) query(ctx context.Context, c *conn, q queryer, sqlText string, scan func(*sql.Rows) error, args ...any) error {
	qctx, cancel := context.WithTimeout(ctx, l.cfg.QueryTimeout)
	defer cancel()
	rows, err := q.QueryContext(qctx, sqlText, args...)
	if err != nil {
		return classify(qctx, err, c.info, l.cfg.QueryTimeout)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return classify(qctx, err, c.info, l.cfg.QueryTimeout)
		}
	}
	if err := rows.Err(); err != nil {
		return classify(qctx, err, c.info, l.cfg.QueryTimeout)
	}
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (l *Link) loadGLPI(ctx context.Context) ([]glpiRow, error) {
	var out []glpiRow
	err := l.query(ctx, l.glpi, l.glpi.db,
		"SELECT id, entities_id, name, completename FROM glpi_entities ORDER BY id",
		func(r *sql.Rows) error {
			var g glpiRow
			var name, full sql.NullString
			if err := r.Scan(&g.id, &g.parent, &name, &full); err != nil {
				return err
			}
			g.name, g.fullName = name.String, full.String
			out = append(out, g)
			return nil
		})
	return out, err
}

const (
	qServers = `SELECT s.id, s.name, s.url, s.packageserver_uuid, s.is_recursive, s.associated, e.uuid
FROM ImagingServer s JOIN Entity e ON e.id = s.fk_entity
ORDER BY s.id`

	// getEntityStatus: targets joined with a server on the same Entity row.
	qClients = `SELECT e.uuid,
  COUNT(DISTINCT t.id),
  COUNT(DISTINCT CASE WHEN i.id IS NOT NULL AND COALESCE(i.is_master, 0) = 0 THEN t.id END)
FROM Target t
JOIN Entity e ON e.id = t.fk_entity
LEFT JOIN ImagingLog l ON l.fk_target = t.id
LEFT JOIN MasteredOn m ON m.fk_imaging_log = l.id
LEFT JOIN Image i ON i.id = m.fk_image
WHERE t.type IN (1, 3)
  AND EXISTS (SELECT 1 FROM ImagingServer s WHERE s.fk_entity = t.fk_entity)
GROUP BY e.uuid`

	// COUNT(*) on join rows, as Medulla's Query.count().
	qMasterCount = `SELECT e.uuid, COUNT(*)
FROM Image i
JOIN ImageOnImagingServer io ON io.fk_image = i.id
JOIN ImagingServer s ON s.id = io.fk_imaging_server
JOIN Entity e ON e.id = s.fk_entity
WHERE i.is_master = 1
GROUP BY e.uuid`

	qMasterList = `SELECT entity, uuid, name, size, creation_date FROM (
  SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.entity ORDER BY d.creation_date DESC, d.id DESC) AS rn
  FROM (
    SELECT DISTINCT e.uuid AS entity, i.id, i.uuid, i.name, i.size, i.creation_date
    FROM Image i
    JOIN ImageOnImagingServer io ON io.fk_image = i.id
    JOIN ImagingServer s ON s.id = io.fk_imaging_server
    JOIN Entity e ON e.id = s.fk_entity
    WHERE i.is_master = 1
  ) d
) r WHERE rn <= ? ORDER BY entity, rn`

	qActivity = `SELECT entity, ts, label, target, detail FROM (
  SELECT e.uuid AS entity, l.timestamp AS ts, COALESCE(st.label, '') AS label, t.name AS target, l.detail,
    ROW_NUMBER() OVER (PARTITION BY e.uuid ORDER BY l.id DESC) AS rn
  FROM ImagingLog l
  JOIN Target t ON t.id = l.fk_target
  JOIN Entity e ON e.id = t.fk_entity
  LEFT JOIN ImagingLogState st ON st.id = l.fk_imaging_log_state
) r WHERE rn <= ? ORDER BY entity, rn`
)

func (l *Link) loadImaging(ctx context.Context) (*imagingData, error) {
	c := l.imaging
	// The transaction ends when its context does, so it gets the whole budget
	// (begin + five queries); each query has its own QueryTimeout within it.
	txCtx, cancel := context.WithTimeout(ctx, 6*l.cfg.QueryTimeout)
	defer cancel()
	tx, err := c.db.BeginTx(txCtx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, classify(txCtx, err, c.info, l.cfg.QueryTimeout)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to undo
	ctx = txCtx

	d := &imagingData{
		clients:  map[string]counts{},
		masters:  map[string][]MasterImage{},
		activity: map[string][]LogLine{},
	}
	err = l.query(ctx, c, tx, qServers, func(r *sql.Rows) error {
		var s serverRow
		var rec, assoc int64
		if err := r.Scan(&s.id, &s.Name, &s.URL, &s.PackageServerUUID, &rec, &assoc, &s.EntityID); err != nil {
			return err
		}
		// Medulla filters with "= 1".
		s.Recursive, s.Associated = rec == 1, assoc == 1
		s.EntityID = normUUID(s.EntityID)
		d.servers = append(d.servers, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = l.query(ctx, c, tx, qClients, func(r *sql.Rows) error {
		var u string
		var n, b int
		if err := r.Scan(&u, &n, &b); err != nil {
			return err
		}
		u = normUUID(u)
		k := d.clients[u]
		k.clients += n
		k.backup += b
		d.clients[u] = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = l.query(ctx, c, tx, qMasterCount, func(r *sql.Rows) error {
		var u string
		var n int
		if err := r.Scan(&u, &n); err != nil {
			return err
		}
		u = normUUID(u)
		k := d.clients[u]
		k.masters += n
		d.clients[u] = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = l.query(ctx, c, tx, qMasterList, func(r *sql.Rows) error {
		var u string
		var m MasterImage
		var created sql.NullTime
		if err := r.Scan(&u, &m.UUID, &m.Name, &m.Size, &created); err != nil {
			return err
		}
		m.Created = created.Time
		u = normUUID(u)
		d.masters[u] = append(d.masters[u], m)
		return nil
	}, l.cfg.MasterLines)
	if err != nil {
		return nil, err
	}
	err = l.query(ctx, c, tx, qActivity, func(r *sql.Rows) error {
		var u string
		var g LogLine
		var ts sql.NullTime
		if err := r.Scan(&u, &ts, &g.State, &g.Target, &g.Detail); err != nil {
			return err
		}
		g.Time = ts.Time
		u = normUUID(u)
		d.activity[u] = append(d.activity[u], g)
		return nil
	}, l.cfg.LogLines)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// normUUID mirrors the column collation Medulla's comparisons rely on.
func normUUID(s string) string { return strings.ToUpper(strings.TrimRight(s, " ")) }

func entityID(n int64) string { return "UUID" + strconv.FormatInt(n, 10) }

// build applies Medulla's rules to the rows read.
func build(glpi []glpiRow, d *imagingData) []Entity {
	byID := make(map[int64]glpiRow, len(glpi))
	for _, g := range glpi {
		byID[g.id] = g
	}
	// Own server per entity: associated first, then the lowest id (what an
	// unordered .first() returns on InnoDB).
	own := map[string]*Server{}
	ownLinked := map[string]*Server{}
	for i := range d.servers {
		s := &d.servers[i].Server
		if _, ok := own[s.EntityID]; !ok || (s.Associated && !own[s.EntityID].Associated) {
			own[s.EntityID] = s
		}
		if s.Associated {
			if _, ok := ownLinked[s.EntityID]; !ok {
				ownLinked[s.EntityID] = s
			}
		}
	}
	// Servers a child can inherit from (Medulla's ancestor filter).
	inheritable := map[string]*Server{}
	for i := range d.servers {
		s := &d.servers[i].Server
		if s.Associated && s.Recursive {
			if _, ok := inheritable[s.EntityID]; !ok {
				inheritable[s.EntityID] = s
			}
		}
	}

	out := make([]Entity, 0, len(glpi))
	for _, g := range glpi {
		id := entityID(g.id)
		e := Entity{ID: id, Name: g.name, FullName: g.fullName, Parent: parentID(g)}
		e.Server = own[id]
		if s := ownLinked[id]; s != nil {
			e.ServedBy = s
		} else {
			path := parentPath(g, byID)
			for _, anc := range path {
				if s := inheritable[anc]; s != nil {
					e.ServedBy = s // keep walking: the last (root-most) wins
				}
			}
			for _, anc := range path {
				if s := ownLinked[anc]; s != nil {
					if s != e.ServedBy {
						e.NearestLinkedAncestor = s
					}
					break
				}
			}
		}
		if e.Server != nil {
			k := d.clients[id]
			e.Clients, e.ClientsWithBackupImages, e.Masters = ptr(k.clients), ptr(k.backup), ptr(k.masters)
		}
		e.MasterImages = d.masters[id]
		e.Activity = d.activity[id]
		out = append(out, e)
	}
	return out
}

func ptr(n int) *int { return &n }

func isRootParent(p sql.NullInt64) bool { return !p.Valid || p.Int64 <= 0 }

func parentID(g glpiRow) string {
	// GLPI's root is id 0 with a parent of -1 or NULL (0 in some versions).
	if g.id == 0 || !g.parent.Valid || g.parent.Int64 < 0 || g.parent.Int64 == g.id {
		return ""
	}
	return entityID(g.parent.Int64)
}

// parentPath is getLocationParentPath: parent, grandparent, … up to (not
// including) a parent of 0/-1/NULL, then "UUID0" always. Cycles and missing
// rows, which would make Medulla loop or fail, end the walk.
func parentPath(g glpiRow, byID map[int64]glpiRow) []string {
	var path []string
	seen := map[int64]bool{g.id: true}
	p := g.parent
	for !isRootParent(p) && !seen[p.Int64] {
		seen[p.Int64] = true
		path = append(path, entityID(p.Int64))
		next, ok := byID[p.Int64]
		if !ok {
			break
		}
		p = next.parent
	}
	return append(path, "UUID0")
}
