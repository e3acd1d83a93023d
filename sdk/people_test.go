package sdk_test

import (
	"context"
	"testing"

	"github.com/crmguard/crmguard/sdk"
	"github.com/crmguard/crmguard/sdk/sdktest"
)

func TestRoleHas(t *testing.T) {
	ctx := sdk.WithHost(context.Background(), sdktest.NewHost()) // built-in roles: admin, manager, member
	const in = "01J000000000000000000000AC"
	for _, c := range []struct {
		role string
		caps []string
		want bool
	}{
		{"admin", []string{sdk.CapAdmin}, true},
		{"manager", []string{sdk.CapAdmin}, false},
		{"manager", []string{sdk.CapAdmin, sdk.CapReassign}, true},
		{"member", []string{sdk.CapAdmin, sdk.CapReassign}, false},
		{"nobody", []string{sdk.CapAdmin}, false},
	} {
		if got, err := sdk.RoleHas(ctx, in, c.role, c.caps...); err != nil || got != c.want {
			t.Errorf("%s has %v: %v (%v), want %v", c.role, c.caps, got, err, c.want)
		}
	}
	if _, err := sdk.RoleHas(context.Background(), in, "admin", sdk.CapAdmin); err == nil {
		t.Error("without a host, RoleHas answered")
	}
}

func TestDisplayName(t *testing.T) {
	for _, c := range []struct {
		u    sdk.UserInfo
		want string
	}{
		{sdk.UserInfo{ID: "U1", Name: "Ann", Email: "ann@acme.test"}, "Ann"},
		{sdk.UserInfo{ID: "U1", Email: "ann@acme.test"}, "ann@acme.test"},
		{sdk.UserInfo{ID: "U1"}, "user U1"},
	} {
		if got := c.u.DisplayName(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.u, got, c.want)
		}
		if got := (sdk.User{ID: c.u.ID, Name: c.u.Name, Email: c.u.Email}).DisplayName(); got != c.want {
			t.Errorf("User %+v: %q, want %q", c.u, got, c.want)
		}
	}
}
