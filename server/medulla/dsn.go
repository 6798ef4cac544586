package medulla

import (
	"io"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
)

func parseDSN(which, dsn string) (*mysql.Config, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		// The driver's messages quote parameter values, never the whole DSN,
		// but a malformed DSN may put the password where a value is expected.
		return nil, &Error{DB: which, Kind: KindConfig, Err: err,
			Msg: which + " database: invalid DSN: " + scrub(strings.TrimPrefix(err.Error(), "invalid DSN: "), guessPassword(dsn))}
	}
	return mc, nil
}

func readFileLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errTooBig
	}
	return b, nil
}

func indexNewline(s string) int { return strings.IndexAny(s, "\r\n") }
