package sdk

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// TestHostCallWithTextThatIsNotUTF8: a call of the host API holding text
// that is not UTF-8 (a route's query decodes to any bytes) is the
// caller's fault, ErrInvalid, as the host answers bad input: not an error
// a route would take for the host being down.
func TestHostCallWithTextThatIsNotUTF8(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pluginv1.RegisterHostServer(srv, pluginv1.UnimplementedHostServer{})
	go srv.Serve(l)
	defer srv.Stop()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := grpcHost{c: pluginv1.NewHostClient(conn)}
	_, _, err = h.ListGrants(context.Background(), "01J0000000000000000000000I", GrantQuery{SubjectID: "\xff"})
	var he *HostError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &he) || he.Code != "invalid_text" {
		t.Fatalf("got %v, want ErrInvalid (invalid_text)", err)
	}
}
