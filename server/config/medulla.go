package config

import "fmt"

// Environment variables that may carry Medulla's DSNs instead of the file.
const (
	EnvMedullaImagingDSN = "IMAGING_HUB_MEDULLA_IMAGING_DSN"
	EnvMedullaGLPIDSN    = "IMAGING_HUB_MEDULLA_GLPI_DSN"
)

// ResolveMedulla says where Medulla's databases are, from the command's
// flags, the environment (getenv, e.g. os.Getenv) and the file's "medulla"
// section, in that order of precedence, each setting on its own: a flag
// wins over the environment, which wins over the file. The password file
// comes from a flag or the file. Refresh is the file's. ok is false when no
// DSN is given anywhere (no link); naming only one of the two DSNs is an
// error.
func ResolveMedulla(flags MedullaLink, getenv func(string) string, file *MedullaLink) (link MedullaLink, ok bool, err error) {
	if file != nil {
		link = *file
	}
	for _, s := range []struct {
		field     *string
		env, flag string
	}{
		{&link.ImagingDSN, getenv(EnvMedullaImagingDSN), flags.ImagingDSN},
		{&link.GLPIDSN, getenv(EnvMedullaGLPIDSN), flags.GLPIDSN},
		{&link.PasswordFile, "", flags.PasswordFile},
	} {
		if s.env != "" {
			*s.field = s.env
		}
		if s.flag != "" {
			*s.field = s.flag
		}
	}
	if link.ImagingDSN == "" && link.GLPIDSN == "" {
		return MedullaLink{}, false, nil
	}
	if link.ImagingDSN == "" || link.GLPIDSN == "" {
		return MedullaLink{}, false, fmt.Errorf("the Medulla link needs both DSNs: imaging (--dsn-imaging, $%s or \"imaging_dsn\") and GLPI (--dsn-glpi, $%s or \"glpi_dsn\")", EnvMedullaImagingDSN, EnvMedullaGLPIDSN)
	}
	return link, true, nil
}
