package controller

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Every reason the operator can set has a row in docs/troubleshooting.md:
// the constants named Reason… in this package are the list.
func TestEveryReasonIsInTheTroubleshootingGuide(t *testing.T) {
	doc, err := os.ReadFile("../../docs/troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	reasons := 0
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						lit, ok := valueAt(vs, i).(*ast.BasicLit)
						if !strings.HasPrefix(name.Name, "Reason") || !ok || lit.Kind != token.STRING {
							continue
						}
						reason, _ := strconv.Unquote(lit.Value)
						reasons++
						if !strings.Contains(string(doc), "`"+reason+"`") {
							t.Errorf("%s (%q) has no row in docs/troubleshooting.md", name.Name, reason)
						}
					}
				}
			}
		}
	}
	if reasons < 20 {
		t.Fatalf("found %d reason constants: the scan is broken", reasons)
	}
}

func valueAt(vs *ast.ValueSpec, i int) ast.Expr {
	if i < len(vs.Values) {
		return vs.Values[i]
	}
	return nil
}
