package config

import (
	"strings"
	"testing"
)

func TestResolveMedullaPrecedence(t *testing.T) {
	file := &MedullaLink{ImagingDSN: "file-img", GLPIDSN: "file-glpi", PasswordFile: "/file.pass", Refresh: Duration(30e9)}
	env := map[string]string{EnvMedullaImagingDSN: "env-img", EnvMedullaGLPIDSN: "env-glpi"}
	cases := []struct {
		name   string
		flags  MedullaLink
		env    map[string]string
		file   *MedullaLink
		want   MedullaLink
		ok     bool
		errHas string
	}{
		{name: "nothing anywhere: no link"},
		{name: "empty file section: no link", file: &MedullaLink{}},
		{name: "file only", file: file, want: *file, ok: true},
		{name: "environment over file", env: env, file: file,
			want: MedullaLink{ImagingDSN: "env-img", GLPIDSN: "env-glpi", PasswordFile: "/file.pass", Refresh: Duration(30e9)}, ok: true},
		{name: "flags over environment and file", flags: MedullaLink{ImagingDSN: "flag-img", GLPIDSN: "flag-glpi", PasswordFile: "/flag.pass"}, env: env, file: file,
			want: MedullaLink{ImagingDSN: "flag-img", GLPIDSN: "flag-glpi", PasswordFile: "/flag.pass", Refresh: Duration(30e9)}, ok: true},
		{name: "each setting on its own", flags: MedullaLink{GLPIDSN: "flag-glpi"}, env: map[string]string{EnvMedullaImagingDSN: "env-img"}, file: file,
			want: MedullaLink{ImagingDSN: "env-img", GLPIDSN: "flag-glpi", PasswordFile: "/file.pass", Refresh: Duration(30e9)}, ok: true},
		{name: "environment without file", env: env, want: MedullaLink{ImagingDSN: "env-img", GLPIDSN: "env-glpi"}, ok: true},
		{name: "flags without file", flags: MedullaLink{ImagingDSN: "i", GLPIDSN: "g", PasswordFile: "/p"}, want: MedullaLink{ImagingDSN: "i", GLPIDSN: "g", PasswordFile: "/p"}, ok: true},
		{name: "password file alone is no link", flags: MedullaLink{PasswordFile: "/p"}},
		{name: "one DSN only", env: map[string]string{EnvMedullaImagingDSN: "env-img"}, errHas: "needs both DSNs"},
		{name: "one DSN in the file", file: &MedullaLink{GLPIDSN: "g"}, errHas: "$" + EnvMedullaImagingDSN},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			getenv := func(k string) string { return c.env[k] }
			got, ok, err := ResolveMedulla(c.flags, getenv, c.file)
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) || ok {
					t.Fatalf("got %+v, %v, %v; want an error mentioning %q", got, ok, err, c.errHas)
				}
				return
			}
			if err != nil || ok != c.ok || got != c.want {
				t.Fatalf("got %+v, %v, %v; want %+v, %v", got, ok, err, c.want, c.ok)
			}
		})
	}
	if *file != (MedullaLink{ImagingDSN: "file-img", GLPIDSN: "file-glpi", PasswordFile: "/file.pass", Refresh: Duration(30e9)}) {
		t.Fatalf("the file's section was changed: %+v", *file)
	}
}
