package medulla

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	dbImaging = "imaging"
	dbGLPI    = "GLPI"
)

// Kind sorts failures so the hub can say what to do about them.
type Kind int

const (
	KindOther        Kind = iota
	KindConfig            // bad or missing DSN
	KindUnreachable       // no server answering (down, wrong host/port)
	KindTimeout           // a query or the connection took longer than QueryTimeout
	KindAccessDenied      // wrong user/password, or no rights on the database/table
	KindSchema            // a table or column is missing: not Medulla's database
)

func (k Kind) String() string {
	switch k {
	case KindConfig:
		return "config"
	case KindUnreachable:
		return "unreachable"
	case KindTimeout:
		return "timeout"
	case KindAccessDenied:
		return "access_denied"
	case KindSchema:
		return "schema"
	}
	return "other"
}

// Error is what Open and Load return. Its message names the database and never
// holds a password.
type Error struct {
	DB   string // "imaging" or "GLPI"
	Kind Kind
	Msg  string
	Err  error // the driver's error, when there is one
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// dbInfo is the password-free description of a DSN used in messages.
type dbInfo struct {
	which, user, addr, name string
	password                string // only to scrub messages
}

var reTable = regexp.MustCompile("[Tt]able '([^']*)' doesn't exist|for table [`']?([^`' ]+)[`']?")

// classify turns a driver error into an Error with a message an
// administrator can act on.
func classify(ctx context.Context, err error, in dbInfo, timeout time.Duration) error {
	e := &Error{DB: in.which, Kind: KindOther, Err: err}
	where := fmt.Sprintf("%s database (user %q, %s, database %q)", in.which, in.user, in.addr, in.name)
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me):
		switch me.Number {
		case 1045: // ER_ACCESS_DENIED_ERROR
			e.Kind = KindAccessDenied
			e.Msg = fmt.Sprintf("%s: access denied: wrong user or password (server said: %s)", where, me.Message)
		case 1044: // ER_DBACCESS_DENIED_ERROR
			e.Kind = KindAccessDenied
			e.Msg = fmt.Sprintf("%s: access denied to the database: grant the user SELECT on %s.* (server said: %s)", where, in.name, me.Message)
		case 1142, 1143: // table / column access denied
			e.Kind = KindAccessDenied
			e.Msg = fmt.Sprintf("%s: the user may not read a table: grant it SELECT on %s.* (server said: %s)", where, in.name, me.Message)
		case 1049: // ER_BAD_DB_ERROR
			e.Kind = KindSchema
			e.Msg = fmt.Sprintf("%s: database %q does not exist", where, in.name)
		case 1146: // ER_NO_SUCH_TABLE
			e.Kind = KindSchema
			table := me.Message
			if m := reTable.FindStringSubmatch(me.Message); m != nil && m[1] != "" {
				table = m[1]
				if i := strings.LastIndexByte(table, '.'); i >= 0 {
					table = table[i+1:]
				}
			}
			e.Msg = fmt.Sprintf("%s database: table %s missing from database %q (is this %s?)", in.which, table, in.name, expected(in.which))
		case 1054: // ER_BAD_FIELD_ERROR
			e.Kind = KindSchema
			e.Msg = fmt.Sprintf("%s database: %s in database %q (is this %s?)", in.which, me.Message, in.name, expected(in.which))
		default:
			e.Msg = fmt.Sprintf("%s: error %d: %s", where, me.Number, me.Message)
		}
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		e.Kind = KindTimeout
		e.Msg = fmt.Sprintf("%s: no answer within %s", where, timeout)
	case errors.Is(err, context.Canceled):
		e.Msg = fmt.Sprintf("%s: canceled", where)
	case isUnreachable(err):
		e.Kind = KindUnreachable
		e.Msg = fmt.Sprintf("%s: unreachable: %v", where, err)
	default:
		e.Msg = fmt.Sprintf("%s: %v", where, err)
	}
	e.Msg = scrub(e.Msg, in.password)
	return e
}

func expected(which string) string {
	if which == dbGLPI {
		return "GLPI's database"
	}
	return "Medulla's imaging database"
}

func isUnreachable(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &oe) || errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// scrub removes a password from a message, should a server or driver ever
// echo it. Very short passwords are left alone: replacing every "ab" would
// garble the message and protects nothing.
func scrub(msg, password string) string {
	if len(password) < 4 {
		return msg
	}
	return strings.ReplaceAll(msg, password, "*****")
}

// guessPassword finds what looks like the password in a DSN the driver
// could not parse (user:PASSWORD@…), to scrub it from the parse error.
func guessPassword(dsn string) string {
	at := strings.LastIndexByte(dsn, '@')
	if at < 0 {
		return ""
	}
	colon := strings.IndexByte(dsn[:at], ':')
	if colon < 0 {
		return ""
	}
	return dsn[colon+1 : at]
}

// RedactDSN returns the DSN with its password replaced, for logs and messages.
func RedactDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		if p := guessPassword(dsn); p != "" {
			return strings.Replace(dsn, ":"+p+"@", ":*****@", 1)
		}
		return "(invalid DSN)"
	}
	if mc.Passwd != "" {
		mc.Passwd = "*****"
	}
	return mc.FormatDSN()
}
