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
