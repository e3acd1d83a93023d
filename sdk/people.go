package sdk

import (
	"context"
	"slices"
)

// The capabilities a role may have, as the host names them.
const (
	CapAdmin    = "admin"    // administers the install
	CapReassign = "reassign" // reassigns records in bulk (managers)
)

// RoleHas reports whether a role of the install has one of the
// capabilities, reading the install's roles through the host API.
func RoleHas(ctx context.Context, installID, role string, capabilities ...string) (bool, error) {
	roles, err := HostAPI(ctx).Roles(ctx, installID)
	if err != nil {
		return false, err
	}
	for _, r := range roles {
		if r.Name == role && slices.ContainsFunc(capabilities, func(c string) bool { return slices.Contains(r.Capabilities, c) }) {
			return true, nil
		}
	}
	return false, nil
}

// DisplayName is how a message names a user: their name, else their
// e-mail, else their id.
func (u UserInfo) DisplayName() string { return displayName(u.ID, u.Name, u.Email) }

// DisplayName is how a message names a user, as UserInfo's does.
func (u User) DisplayName() string { return displayName(u.ID, u.Name, u.Email) }

func displayName(id, name, email string) string {
	switch {
	case name != "":
		return name
	case email != "":
		return email
	}
	return "user " + id
}
