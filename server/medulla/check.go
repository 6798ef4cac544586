package medulla

import (
	"context"
	"encoding/json"
	"errors"
	"io"
)

// CheckEntity is one element of the JSON array that `imaging-hub medulla
// check` prints.
type CheckEntity struct {
	ID                      string  `json:"id"`
	Name                    string  `json:"name"`
	Parent                  *string `json:"parent"`
	Server                  *string `json:"server"`
	ServedBy                *string `json:"served_by"`
	Clients                 *int    `json:"clients"`
	ClientsWithBackupImages *int    `json:"clients_with_backup_images"`
	Masters                 *int    `json:"masters"`
}

// Check is the snapshot in the shape `medulla check` prints.
func (s *Snapshot) Check() []CheckEntity {
	out := make([]CheckEntity, 0, len(s.Entities))
	for _, e := range s.Entities {
		c := CheckEntity{
			ID:                      e.ID,
			Name:                    e.Name,
			Clients:                 e.Clients,
			ClientsWithBackupImages: e.ClientsWithBackupImages,
			Masters:                 e.Masters,
		}
		if e.Parent != "" {
			c.Parent = &e.Parent
		}
		if e.Server != nil {
			c.Server = &e.Server.Name
		}
		if e.ServedBy != nil {
			c.ServedBy = &e.ServedBy.Name
		}
		out = append(out, c)
	}
	return out
}

// Check connects, loads, and writes the JSON array (indented) to w. The
// error is meant to be printed as is before exiting non-zero.
func Check(ctx context.Context, cfg Config, w io.Writer) error {
	l, err := Open(cfg)
	if err != nil {
		return err
	}
	snap, err := l.Load(ctx)
	if cerr := l.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(snap.Check(), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WithPasswordFile returns cfg with the password read from path (first line,
// trailing newline dropped) set in both DSNs, so that the DSNs in a
// configuration file need not hold it.
func (c Config) WithPasswordFile(path string) (Config, error) {
	pw, err := readPassword(path)
	if err != nil {
		return c, err
	}
	for _, d := range []struct {
		which string
		dsn   *string
	}{{dbImaging, &c.ImagingDSN}, {dbGLPI, &c.GLPIDSN}} {
		if *d.dsn == "" {
			continue
		}
		mc, err := parseDSN(d.which, *d.dsn)
		if err != nil {
			return c, err
		}
		mc.Passwd = pw
		*d.dsn = mc.FormatDSN()
	}
	return c, nil
}

func readPassword(path string) (string, error) {
	b, err := readFileLimited(path, 4096)
	if err != nil {
		return "", &Error{Kind: KindConfig, Msg: "password file: " + err.Error(), Err: err}
	}
	pw := string(b)
	if i := indexNewline(pw); i >= 0 {
		pw = pw[:i]
	}
	if pw == "" {
		return "", &Error{Kind: KindConfig, Msg: "password file " + path + " is empty"}
	}
	return pw, nil
}

var errTooBig = errors.New("file too large for a password")
