package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/crmguard/crmguard/host/crm"
)

const userColumns = "id, install_id, email, name, role, manager_id, created_at, disabled"

// userColumnsU are userColumns of the table aliased u.
var userColumnsU = prefixColumns("u", userColumns)

// CreateUser stores a new user; ErrDuplicate if the e-mail is taken in the
// install, ErrReference if the role or manager is not of the install.
func (q *Queries) CreateUser(ctx context.Context, u crm.User) error {
	_, err := q.q.ExecContext(ctx,
		"INSERT INTO crmguard_users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		u.ID, u.InstallID, u.Email, u.Name, u.Role, nullString(u.ManagerID), millis(u.CreatedAt), u.Disabled)
	if err != nil {
		return fmt.Errorf("store: create user %s: %w", u.Email, translate(err))
	}
	return nil
}

// User returns an enabled user of an install by id. A disabled user
// (disabled by an admin, or deactivated in an adopted CRM) is no user at
// all here: nothing new may be given to them or asked about them.
func (q *Queries) User(ctx context.Context, installID, id string) (crm.User, error) {
	return q.findUser(ctx, "u.disabled = FALSE AND u.install_id = ? AND u.id = ?", installID, id)
}

// UserByEmail returns an enabled user of an install by e-mail address.
func (q *Queries) UserByEmail(ctx context.Context, installID, email string) (crm.User, error) {
	return q.findUser(ctx, "u.disabled = FALSE AND u.install_id = ? AND u.email = ?", installID, email)
}

// AnyUser returns a user of an install by id, disabled or not: for
// administering users, and for telling a disabled user from a missing one.
func (q *Queries) AnyUser(ctx context.Context, installID, id string) (crm.User, error) {
	return q.findUser(ctx, "u.install_id = ? AND u.id = ?", installID, id)
}

// AnyUserByEmail is AnyUser by e-mail address.
func (q *Queries) AnyUserByEmail(ctx context.Context, installID, email string) (crm.User, error) {
	return q.findUser(ctx, "u.install_id = ? AND u.email = ?", installID, email)
}

func (q *Queries) findUser(ctx context.Context, where string, args ...any) (crm.User, error) {
	row := q.q.QueryRowContext(ctx, "SELECT "+userColumnsU+" FROM crmguard_users u WHERE "+where, args...)
	u, err := scanUser(row.Scan)
	if err != nil {
		return crm.User{}, fmt.Errorf("store: user: %w", translate(err))
	}
	return u, nil
}

// ListUsers returns up to limit enabled users of an install with ids
// after the given one, in id order.
func (q *Queries) ListUsers(ctx context.Context, installID, after string, limit int) ([]crm.User, error) {
	return q.listUsers(ctx, "u.disabled = FALSE AND ", installID, after, limit)
}

// ListAllUsers is ListUsers with the disabled users too, for the install's
// administrators.
func (q *Queries) ListAllUsers(ctx context.Context, installID, after string, limit int) ([]crm.User, error) {
	return q.listUsers(ctx, "", installID, after, limit)
}

func (q *Queries) listUsers(ctx context.Context, where, installID, after string, limit int) ([]crm.User, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT "+userColumnsU+" FROM crmguard_users u WHERE "+where+"u.install_id = ? AND u.id > ? ORDER BY u.id LIMIT ?",
		installID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return collect(rows, scanUser)
}

// UpdateUser changes a user's name, role, manager and whether they are
// disabled; ErrNotFound if the install has no such user, ErrReference if
// the role or manager is not of the install.
func (q *Queries) UpdateUser(ctx context.Context, u crm.User) error {
	res, err := q.q.ExecContext(ctx,
		"UPDATE crmguard_users SET name = ?, role = ?, manager_id = ?, disabled = ? WHERE install_id = ? AND id = ?",
		u.Name, u.Role, nullString(u.ManagerID), u.Disabled, u.InstallID, u.ID)
	if err != nil {
		return fmt.Errorf("store: update user %s: %w", u.ID, translate(err))
	}
	return expectOne(res, "user")
}

// LockInstallUsers makes the transaction the only one changing the users
// of an install until it ends, so that checks over all of them (is anyone
// left to administer the install? does a manager link close a loop?) hold
// when it commits: on MySQL it locks the install's row; SQLite
// transactions here hold the write lock from their first statement.
// ErrNotFound if there is no such install.
func (q *Queries) LockInstallUsers(ctx context.Context, installID string) error {
	var id string
	err := q.q.QueryRowContext(ctx, "SELECT id FROM crmguard_installs WHERE id = ?"+q.dialect.forUpdate(), installID).Scan(&id)
	if err != nil {
		return fmt.Errorf("store: lock install %s: %w", installID, translate(err))
	}
	return nil
}

// CountEnabledAdmins counts the enabled users of an install whose role
// carries the admin capability.
func (q *Queries) CountEnabledAdmins(ctx context.Context, installID string) (int, error) {
	roles, err := q.ListRoles(ctx, installID)
	if err != nil {
		return 0, err
	}
	var names []any
	for _, r := range roles {
		if r.Has(crm.CapAdmin) {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return 0, nil
	}
	var n int
	err = q.q.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM crmguard_users WHERE install_id = ? AND role IN ("+placeholders(len(names))+") AND disabled = FALSE",
		append([]any{installID}, names...)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count admins: %w", translate(err))
	}
	return n, nil
}

// ManagerLinks returns the manager links of an install, from which a
// user's managers and reports are worked out: one range scan of the
// crmguard_users_manager index.
func (q *Queries) ManagerLinks(ctx context.Context, installID string) (crm.ManagerLinks, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT id, manager_id FROM crmguard_users WHERE install_id = ? AND manager_id IS NOT NULL", installID)
	if err != nil {
		return nil, fmt.Errorf("store: manager links: %w", err)
	}
	links, err := collectMap[string, string](rows)
	return crm.ManagerLinks(links), err
}

// RolePeers returns the other users of an install who have the given
// role, by id in id order: one range scan of the crmguard_users_role_enabled
// index. Disabled users count, as they do among a manager's reports: the
// records they still own stay with their role until someone reassigns
// them. In an adopted CRM these are the copies of its users (adoptusers.go),
// with the roles crmguard gives them.
func (q *Queries) RolePeers(ctx context.Context, installID, role, userID string) ([]string, error) {
	rows, err := q.q.QueryContext(ctx,
		"SELECT id FROM crmguard_users WHERE install_id = ? AND role = ? AND id <> ? ORDER BY id", installID, role, userID)
	if err != nil {
		return nil, fmt.Errorf("store: role peers: %w", err)
	}
	return collect(rows, func(scan func(...any) error) (string, error) {
		var id string
		return id, scan(&id)
	})
}

func scanUser(scan func(...any) error) (crm.User, error) {
	var r userRow
	if err := scan(r.dest()...); err != nil {
		return crm.User{}, err
	}
	return r.user(), nil
}

// userRow receives the columns of userColumns.
type userRow struct {
	u       crm.User
	manager sql.NullString
	created int64
}

func (r *userRow) dest() []any {
	return []any{&r.u.ID, &r.u.InstallID, &r.u.Email, &r.u.Name, &r.u.Role, &r.manager, &r.created, &r.u.Disabled}
}

func (r *userRow) user() crm.User {
	u := r.u
	u.ManagerID = r.manager.String
	u.CreatedAt = fromMillis(r.created)
	return u
}

// CreateToken stores a token's metadata and the SHA-256 of its secret.
func (q *Queries) CreateToken(ctx context.Context, t crm.Token, hash []byte) error {
	_, err := q.q.ExecContext(ctx,
		"INSERT INTO crmguard_tokens (id, install_id, user_id, hash, label, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		t.ID, t.InstallID, t.UserID, hash, t.Label, millis(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: create token: %w", translate(err))
	}
	return nil
}

// DeleteTokens removes a user's tokens that carry the given label.
func (q *Queries) DeleteTokens(ctx context.Context, installID, userID, label string) error {
	_, err := q.q.ExecContext(ctx,
		"DELETE FROM crmguard_tokens WHERE install_id = ? AND user_id = ? AND label = ?", installID, userID, label)
	if err != nil {
		return fmt.Errorf("store: delete tokens: %w", err)
	}
	return nil
}

// PrincipalByTokenHash returns the caller a token belongs to, with the
// stored hash for the caller's constant-time comparison, in one query. The
// user may be disabled (User.Disabled): the caller refuses them, saying
// why.
func (q *Queries) PrincipalByTokenHash(ctx context.Context, hash []byte) (crm.Principal, []byte, error) {
	row := q.q.QueryRowContext(ctx,
		"SELECT t.hash, "+userColumnsU+", "+installColumnsOf("i")+", "+roleColumnsOf("r")+
			" FROM crmguard_tokens t"+
			" JOIN crmguard_users u ON u.install_id = t.install_id AND u.id = t.user_id"+
			" JOIN crmguard_installs i ON i.id = t.install_id"+
			" JOIN crmguard_roles r ON r.install_id = u.install_id AND r.name = u.role"+
			" WHERE t.hash = ?", hash)
	var (
		stored []byte
		ur     userRow
		ir     installRow
		rr     roleRow
	)
	dest := append(append(append([]any{&stored}, ur.dest()...), ir.dest()...), rr.dest()...)
	if err := row.Scan(dest...); err != nil {
		return crm.Principal{}, nil, fmt.Errorf("store: token: %w", translate(err))
	}
	in, err := ir.install()
	if err != nil {
		return crm.Principal{}, nil, fmt.Errorf("store: token: %w", err)
	}
	return crm.Principal{Install: in, User: ur.user(), Role: rr.role()}, stored, nil
}

// CreateServiceToken stores a service token of an install: the SHA-256 of
// its secret and a label.
func (q *Queries) CreateServiceToken(ctx context.Context, t crm.Token, hash []byte) error {
	_, err := q.q.ExecContext(ctx,
		"INSERT INTO crmguard_service_tokens (id, install_id, hash, label, created_at) VALUES (?, ?, ?, ?, ?)",
		t.ID, t.InstallID, hash, t.Label, millis(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: create service token: %w", translate(err))
	}
	return nil
}

// ServicePrincipalByTokenHash returns the install a service token belongs
// to, as a principal with no user, and the stored hash.
func (q *Queries) ServicePrincipalByTokenHash(ctx context.Context, hash []byte) (crm.Principal, []byte, error) {
	row := q.q.QueryRowContext(ctx,
		"SELECT t.hash, "+installColumnsOf("i")+" FROM crmguard_service_tokens t JOIN crmguard_installs i ON i.id = t.install_id WHERE t.hash = ?", hash)
	var (
		stored []byte
		ir     installRow
	)
	if err := row.Scan(append([]any{&stored}, ir.dest()...)...); err != nil {
		return crm.Principal{}, nil, fmt.Errorf("store: service token: %w", translate(err))
	}
	in, err := ir.install()
	if err != nil {
		return crm.Principal{}, nil, fmt.Errorf("store: service token: %w", err)
	}
	return crm.Principal{Install: in, Service: true}, stored, nil
}
