package host_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/config"
	"github.com/crmguard/crmguard/host"
	"github.com/crmguard/crmguard/host/service"
)

// TestShutdownFinishesInFlightRequests starts a request, cancels the host
// while the request body is still arriving, and checks that the request
// still completes and is stored before the host stops.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.Database.DSN = filepath.Join(t.TempDir(), "crmguard.db")
	h, err := host.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	svc := h.Service()
	in, err := svc.CreateInstall(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.AddUser(ctx, in, service.NewUser{Email: "alice@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	token, err := svc.CreateToken(ctx, u, "test")
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- h.Serve(serveCtx, ln) }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"data":{"name":"Written during shutdown"}}`
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /v1/records/lead HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", token, len(body), body[:half])

	time.Sleep(100 * time.Millisecond) // let the server start reading the request
	stop()
	// New connections are refused once shutdown has begun.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("the host stopped before its in-flight request finished: %v", err)
	default:
	}

	fmt.Fprint(conn, body[half:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request answered %d, want 201", resp.StatusCode)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}

	p, err := svc.PrincipalFor(ctx, in, u)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := svc.ListRecords(ctx, p, "lead", service.ListOptions{})
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Name(), "shutdown") {
		t.Fatalf("the in-flight write was not stored: %v, %v", recs, err)
	}
}
