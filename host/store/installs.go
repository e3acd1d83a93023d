package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/crmguard/crmguard/host/crm"
)

const installColumns = "id, slug, name, settings, created_at"

func installColumnsOf(alias string) string { return prefixColumns(alias, installColumns) }

// CreateInstall stores a new install with its built-in roles.
func (q *Queries) CreateInstall(ctx context.Context, in crm.Install) error {
	settings, err := json.Marshal(in.Settings)
	if err != nil {
		return fmt.Errorf("store: encode settings: %w", err)
	}
	_, err = q.q.ExecContext(ctx,
		"INSERT INTO crmguard_installs ("+installColumns+") VALUES (?, ?, ?, ?, ?)",
		in.ID, in.Slug, in.Name, string(settings), millis(in.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: create install %q: %w", in.Slug, translate(err))
	}
	for _, r := range crm.BuiltInRoles() {
		if err := q.CreateRole(ctx, in.ID, r); err != nil {
			return err
		}
	}
	return nil
}

// InstallBySlug returns the install with the given slug.
func (q *Queries) InstallBySlug(ctx context.Context, slug string) (crm.Install, error) {
	return q.findInstall(ctx, "slug = ?", slug)
}

// InstallByID returns the install with the given id.
func (q *Queries) InstallByID(ctx context.Context, id string) (crm.Install, error) {
	return q.findInstall(ctx, "id = ?", id)
}

func (q *Queries) findInstall(ctx context.Context, where string, arg any) (crm.Install, error) {
	row := q.q.QueryRowContext(ctx, "SELECT "+installColumns+" FROM crmguard_installs WHERE "+where, arg)
	in, err := scanInstall(row.Scan)
	if err != nil {
		return crm.Install{}, fmt.Errorf("store: install: %w", translate(err))
	}
	return in, nil
}

func scanInstall(scan func(...any) error) (crm.Install, error) {
	var r installRow
	if err := scan(r.dest()...); err != nil {
		return crm.Install{}, err
	}
	return r.install()
}

// installRow receives the columns of installColumns.
type installRow struct {
	in       crm.Install
	settings string
	created  int64
}

func (r *installRow) dest() []any {
	return []any{&r.in.ID, &r.in.Slug, &r.in.Name, &r.settings, &r.created}
}

func (r *installRow) install() (crm.Install, error) {
	in := r.in
	in.CreatedAt = fromMillis(r.created)
	// Keys added to Settings later keep their defaults in older rows.
	in.Settings = crm.DefaultSettings()
	if err := json.Unmarshal([]byte(r.settings), &in.Settings); err != nil {
		return crm.Install{}, fmt.Errorf("decode settings of install %s: %w", in.ID, err)
	}
	return in, nil
}

// UpdateSettings replaces an install's settings.
func (q *Queries) UpdateSettings(ctx context.Context, installID string, s crm.Settings) error {
	settings, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: encode settings: %w", err)
	}
	_, err = q.q.ExecContext(ctx, "UPDATE crmguard_installs SET settings = ? WHERE id = ?", string(settings), installID)
	if err != nil {
		return fmt.Errorf("store: update settings: %w", translate(err))
	}
	return nil
}

const roleColumns = "name, description, capabilities, builtin, add_types"

func roleColumnsOf(alias string) string { return prefixColumns(alias, roleColumns) }

// CreateRole adds a role to an install.
func (q *Queries) CreateRole(ctx context.Context, installID string, r crm.Role) error {
	_, err := q.q.ExecContext(ctx,
		"INSERT INTO crmguard_roles (install_id, "+roleColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		installID, r.Name, r.Description, joinCapabilities(r.Capabilities), r.BuiltIn, joinAddTypes(r.Add))
	if err != nil {
		return fmt.Errorf("store: create role %q: %w", r.Name, translate(err))
	}
	return nil
}

// UpdateRole changes a role's description, capabilities and the types it
// may add.
func (q *Queries) UpdateRole(ctx context.Context, installID string, r crm.Role) error {
	res, err := q.q.ExecContext(ctx,
		"UPDATE crmguard_roles SET description = ?, capabilities = ?, add_types = ? WHERE install_id = ? AND name = ?",
		r.Description, joinCapabilities(r.Capabilities), joinAddTypes(r.Add), installID, r.Name)
	if err != nil {
		return fmt.Errorf("store: update role %q: %w", r.Name, translate(err))
	}
	return expectOne(res, "role")
}

// Role returns one role of an install.
func (q *Queries) Role(ctx context.Context, installID, name string) (crm.Role, error) {
	row := q.q.QueryRowContext(ctx,
		"SELECT "+roleColumns+" FROM crmguard_roles WHERE install_id = ? AND name = ?", installID, name)
	r, err := scanRole(row.Scan)
	if err != nil {
		return crm.Role{}, fmt.Errorf("store: role %q: %w", name, translate(err))
	}
	return r, nil
}

// ListRoles returns an install's roles by name.
func (q *Queries) ListRoles(ctx context.Context, installID string) ([]crm.Role, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT "+roleColumns+" FROM crmguard_roles WHERE install_id = ? ORDER BY name", installID)
	if err != nil {
		return nil, fmt.Errorf("store: list roles: %w", err)
	}
	return collect(rows, scanRole)
}

func scanRole(scan func(...any) error) (crm.Role, error) {
	var r roleRow
	if err := scan(r.dest()...); err != nil {
		return crm.Role{}, err
	}
	return r.role(), nil
}

// roleRow receives the columns of roleColumns.
type roleRow struct {
	r    crm.Role
	caps string
	add  sql.NullString // NULL: every type
}

func (r *roleRow) dest() []any {
	return []any{&r.r.Name, &r.r.Description, &r.caps, &r.r.BuiltIn, &r.add}
}

func (r *roleRow) role() crm.Role {
	role := r.r
	role.Capabilities = []crm.Capability{}
	for c := range strings.SplitSeq(r.caps, ",") {
		if c != "" {
			role.Capabilities = append(role.Capabilities, crm.Capability(c))
		}
	}
	role.Add = nil
	if r.add.Valid {
		role.Add = []crm.RecordType{}
		for t := range strings.SplitSeq(r.add.String, ",") {
			if t != "" {
				role.Add = append(role.Add, crm.RecordType(t))
			}
		}
	}
	return role
}

func joinCapabilities(caps []crm.Capability) string {
	s := make([]string, len(caps))
	for i, c := range caps {
		s[i] = string(c)
	}
	return strings.Join(s, ",")
}

// joinAddTypes is the stored form of the types a role may add: NULL for
// every type (nil), else the types comma-separated ("" for none).
func joinAddTypes(types []crm.RecordType) any {
	if types == nil {
		return nil
	}
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}
