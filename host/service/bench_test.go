package service_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
	"github.com/crmguard/crmguard/host/store/storetest"
	"github.com/crmguard/crmguard/sdk"
)

// BenchmarkCheckBatch measures a warm batch of 100 checks about 20 users
// and 100 records, with the in-process cache.
func BenchmarkCheckBatch(b *testing.B) {
	ctx := context.Background()
	svc, err := service.New(storetest.SQLite(b))
	if err != nil {
		b.Fatal(err)
	}
	in, err := svc.CreateInstall(ctx, "acme", "")
	if err != nil {
		b.Fatal(err)
	}
	admin, err := svc.AddUser(ctx, in, service.NewUser{Email: "admin@acme.test", Role: crm.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := svc.CreateServiceToken(ctx, in, "bench")
	if err != nil {
		b.Fatal(err)
	}
	app, err := svc.Authenticate(ctx, tok)
	if err != nil {
		b.Fatal(err)
	}
	p, _ := svc.PrincipalFor(ctx, in, admin)
	var users []string
	for i := range 20 {
		u, err := svc.AddUser(ctx, in, service.NewUser{Email: fmt.Sprintf("u%d@acme.test", i)})
		if err != nil {
			b.Fatal(err)
		}
		users = append(users, u.ID)
	}
	var checks []service.CheckRequest
	for i := range 100 {
		r, err := svc.CreateRecord(ctx, p, service.NewRecord{Type: crm.TypeLead, Data: map[string]any{"name": "L"}, OwnerID: users[i%20]})
		if err != nil {
			b.Fatal(err)
		}
		checks = append(checks, service.CheckRequest{UserID: users[(i*7)%20], Action: sdk.ActionEdit, Type: r.Type, ID: r.ID})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Check(ctx, app, checks, false); err != nil {
			b.Fatal(err)
		}
	}
}
