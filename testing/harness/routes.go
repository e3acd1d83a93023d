package harness

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmguard/crmguard/host/api"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// APIRoutes lists the routes of the HTTP API as "METHOD /path", with Gin's
// parameters (":type", "*path"): those of the Gin engine that api.New
// builds, and the action routes its handlers tell apart by a suffix of the
// last parameter, since Gin cannot route on one ("GET
// /v1/records/:type:count"). Tests that must reach every route compare
// their own list with it, so that a route added to the API without them
// fails them.
func APIRoutes(tb testing.TB) []string {
	tb.Helper()
	gin.SetMode(gin.ReleaseMode)
	db := storetest.SQLite(tb)
	svc, err := service.New(db)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := api.New(api.Options{
		Service: svc, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		Ready: func(context.Context) error { return nil }, OperatorToken: strings.Repeat("o", 32),
	})
	if err != nil {
		tb.Fatal(err)
	}
	engine, ok := h.(*gin.Engine)
	if !ok {
		tb.Fatalf("harness: api.New returned a %T, not the Gin engine", h)
	}
	suffixes := handlerSuffixes(tb, filepath.Join(Root(tb), "host", "api"))
	var out []string
	for _, r := range engine.Routes() {
		out = append(out, r.Method+" "+r.Path)
		// A method value's name ends in "(*server).listRecords-fm".
		name := strings.TrimSuffix(r.Handler[strings.LastIndex(r.Handler, ".")+1:], "-fm")
		for _, s := range suffixes[name] {
			out = append(out, r.Method+" "+r.Path+s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// handlerSuffixes reads the Go sources of dir and returns, by function
// name, the literal suffixes that function cuts off a value with
// strings.CutSuffix(value, ":suffix"): the action routes it serves.
func handlerSuffixes(tb testing.TB, dir string) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for _, f := range parseDir(tb, dir) {
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || !isCall(call, "strings", "CutSuffix") || len(call.Args) != 2 {
					return true
				}
				if s, ok := stringLit(call.Args[1]); ok && strings.HasPrefix(s, ":") {
					out[fn.Name.Name] = append(out[fn.Name.Name], s)
				}
				return true
			})
		}
	}
	return out
}

// PluginRoutes lists the routes of each shipped plugin's own API, by
// plugin id, as the patterns it gives its http.ServeMux ("GET
// /records/{type}/{id}/shares"), read from its Go sources: a ServeMux
// cannot list them. A pattern that is not a string literal fails the
// test, since it could not be listed.
func PluginRoutes(tb testing.TB) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, id := range Plugins {
		for _, f := range parseDirWith(tb, fset, filepath.Join(Root(tb), "plugins", id)) {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") || len(call.Args) != 2 {
					return true
				}
				pattern, ok := stringLit(call.Args[0])
				if !ok {
					tb.Fatalf("harness: %s: a route whose pattern is not a string literal cannot be listed", fset.Position(call.Pos()))
				}
				out[id] = append(out[id], pattern)
				return true
			})
		}
		slices.Sort(out[id])
	}
	return out
}

func parseDir(tb testing.TB, dir string) []*ast.File {
	tb.Helper()
	return parseDirWith(tb, token.NewFileSet(), dir)
}

// parseDirWith parses the non-test Go files of dir.
func parseDirWith(tb testing.TB, fset *token.FileSet, dir string) []*ast.File {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

func isCall(call *ast.CallExpr, pkg, name string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
