// Package demo seeds the demo install that `make run` serves: a small sales
// team with accounts, contacts, leads, opportunities and activities, so that
// the Assign To story can be tried at once.
package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
)

// Slug is the demo install's slug.
const Slug = "demo"

// TokenLabel marks the demo's tokens; each run replaces them.
const TokenLabel = "demo"

// User is a demo user with a fresh token.
type User struct {
	Email string
	Role  string
	Token string
}

type demoUser struct {
	email, name, role, manager string
}

var users = []demoUser{
	{"admin@demo.test", "Ada Admin", crm.RoleAdmin, ""},
	{"carol@demo.test", "Carol Manager", crm.RoleManager, ""},
	{"alice@demo.test", "Alice Member", crm.RoleMember, "carol@demo.test"},
	{"bob@demo.test", "Bob Member", crm.RoleMember, "carol@demo.test"},
}

type demoRecord struct {
	typ    crm.RecordType
	name   string
	email  string
	owner  string // e-mail of the assignee, "" for unassigned
	parent string // name of the parent record
	ptype  crm.RecordType
	extra  map[string]any
}

var records = []demoRecord{
	{typ: crm.TypeAccount, name: "Acme Corp", owner: "alice@demo.test", extra: map[string]any{"industry": "Manufacturing"}},
	{typ: crm.TypeAccount, name: "Globex", owner: "bob@demo.test", extra: map[string]any{"industry": "Energy"}},
	{typ: crm.TypeContact, name: "Wile E. Coyote", email: "wile@acme.example", owner: "alice@demo.test", parent: "Acme Corp", ptype: crm.TypeAccount},
	{typ: crm.TypeContact, name: "Hank Scorpio", email: "hank@globex.example", owner: "bob@demo.test", parent: "Globex", ptype: crm.TypeAccount},
	{typ: crm.TypeLead, name: "Road Runner Logistics", email: "beep@roadrunner.example", owner: "alice@demo.test", extra: map[string]any{"source": "website"}},
	{typ: crm.TypeLead, name: "Initech", email: "bill@initech.example", owner: "bob@demo.test", extra: map[string]any{"source": "referral"}},
	{typ: crm.TypeLead, name: "Umbrella Co", email: "info@umbrella.example", extra: map[string]any{"source": "trade show"}},
	{typ: crm.TypeOpportunity, name: "Acme rocket skates", owner: "alice@demo.test", parent: "Acme Corp", ptype: crm.TypeAccount, extra: map[string]any{"amount": 12000, "stage": "proposal"}},
	{typ: crm.TypeActivity, name: "Call Wile about skates", owner: "alice@demo.test", parent: "Acme rocket skates", ptype: crm.TypeOpportunity, extra: map[string]any{"kind": "call"}},
}

// Seed creates the demo install, its users and records where they are
// missing, and returns a new token for each demo user (replacing the
// previous demo tokens). Running it again changes nothing else.
func Seed(ctx context.Context, svc *service.Service) ([]User, error) {
	in, err := svc.InstallBySlug(ctx, Slug)
	if crm.KindOf(err) == crm.KindNotFound {
		in, err = svc.CreateInstall(ctx, Slug, "Demo Sales Team")
	}
	if err != nil {
		return nil, fmt.Errorf("demo install: %w", err)
	}
	byEmail := map[string]crm.User{}
	for _, du := range users {
		u, err := svc.UserByEmail(ctx, in, du.email)
		if crm.KindOf(err) == crm.KindNotFound {
			u, err = svc.AddUser(ctx, in, service.NewUser{Email: du.email, Name: du.name, Role: du.role, ManagerID: byEmail[du.manager].ID})
		}
		if err != nil {
			return nil, fmt.Errorf("demo user %s: %w", du.email, err)
		}
		byEmail[du.email] = u
	}
	admin, err := svc.PrincipalFor(ctx, in, byEmail["admin@demo.test"])
	if err != nil {
		return nil, err
	}
	for _, dr := range records {
		if err := seedRecord(ctx, svc, admin, byEmail, dr); err != nil {
			return nil, fmt.Errorf("demo %s %q: %w", dr.typ, dr.name, err)
		}
	}
	out := make([]User, 0, len(users))
	for _, du := range users {
		token, err := svc.ReplaceTokens(ctx, byEmail[du.email], TokenLabel)
		if err != nil {
			return nil, err
		}
		out = append(out, User{Email: du.email, Role: du.role, Token: token})
	}
	return out, nil
}

func seedRecord(ctx context.Context, svc *service.Service, admin crm.Principal, byEmail map[string]crm.User, dr demoRecord) error {
	if _, err := findByName(ctx, svc, admin, dr.typ, dr.name); err == nil {
		return nil
	} else if !errors.Is(err, errMissing) {
		return err
	}
	data := map[string]any{"name": dr.name}
	if dr.email != "" {
		data["email"] = dr.email
	}
	for k, v := range dr.extra {
		data[k] = v
	}
	nr := service.NewRecord{Type: dr.typ, Data: data, OwnerID: byEmail[dr.owner].ID}
	if dr.parent != "" {
		parent, err := findByName(ctx, svc, admin, dr.ptype, dr.parent)
		if err != nil {
			return fmt.Errorf("parent %q: %w", dr.parent, err)
		}
		nr.Parent = &crm.Ref{Type: parent.Type, ID: parent.ID}
	}
	_, err := svc.CreateRecord(ctx, admin, nr)
	return err
}

var errMissing = errors.New("not seeded yet")

func findByName(ctx context.Context, svc *service.Service, admin crm.Principal, t crm.RecordType, name string) (crm.Record, error) {
	recs, _, err := svc.ListRecords(ctx, admin, t, service.ListOptions{Query: name, Limit: service.MaxLimit})
	if err != nil {
		return crm.Record{}, err
	}
	for _, r := range recs {
		if r.Name() == name {
			return r, nil
		}
	}
	return crm.Record{}, errMissing
}
