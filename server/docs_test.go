package server_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityDocNamesRealTests: every test docs/SECURITY.md names as proof
// exists in the package it names, so the document cannot drift from the
// code.
func TestSecurityDocNamesRealTests(t *testing.T) {
	root := filepath.Join("..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	// A table cell lists "`pkg/path` `TestA`, `TestB`; `other/pkg` `TestC`".
	cell := regexp.MustCompile("`([a-z][a-z0-9/-]*)`((?:[ ,]+`(?:Test|Fuzz)[A-Za-z0-9_]+`(?: \\([^)]*\\))?)+)")
	name := regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]+)`")
	checked := 0
	for _, m := range cell.FindAllStringSubmatch(string(doc), -1) {
		pkg := m[1]
		src := readTests(t, filepath.Join(root, pkg))
		for _, n := range name.FindAllStringSubmatch(m[2], -1) {
			checked++
			if !strings.Contains(src, "func "+n[1]+"(") {
				t.Errorf("docs/SECURITY.md names %s %s, which does not exist", pkg, n[1])
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d test names found in docs/SECURITY.md: the pattern no longer matches the table", checked)
	}
}

func readTests(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Errorf("docs/SECURITY.md names package %s, which has no tests", dir)
		return ""
	}
	var b strings.Builder
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}
