package service

import (
	"context"
	"slices"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// grantActions validates a grant's actions: known, never add (a grant is
// on a record that exists; adding is decided before one does), and never
// delete without edit (DESIGN §6).
func grantActions(names []string) ([]sdk.Action, error) {
	if len(names) == 0 {
		return nil, crm.Invalid("invalid_actions", "actions: at least one is needed")
	}
	var out []sdk.Action
	for _, n := range names {
		a := sdk.Action(n)
		if a == sdk.ActionAdd {
			return nil, crm.Invalid("invalid_actions", "actions: a grant cannot give add: it is on a record that exists, and adding is decided before one does")
		}
		if !slices.Contains(sdk.Actions, a) {
			return nil, crm.Invalid("invalid_actions", "actions: unknown action %q; the actions a grant gives are view, edit, delete, assign and share", n)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if slices.Contains(out, sdk.ActionDelete) && !slices.Contains(out, sdk.ActionEdit) {
		return nil, crm.Invalid("invalid_actions", "actions: delete needs edit too")
	}
	return out, nil
}

// expiry reads an expiry in Unix milliseconds (0: never), which must lie
// ahead.
func (h pluginHost) expiry(ms int64) (*time.Time, error) {
	if ms == 0 {
		return nil, nil
	}
	t := time.UnixMilli(ms).UTC()
	if !t.After(h.s.clock()) {
		return nil, crm.Invalid("invalid_expiry", "expires_at: %s has passed", t.Format(time.RFC3339))
	}
	return &t, nil
}

func (h pluginHost) GrantCreate(ctx context.Context, req *pluginv1.GrantCreateRequest) (*pluginv1.Grant, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	if err := h.s.checkWritable(ctx); err != nil { // as every change of access: see checkWritable
		return nil, h.status(err)
	}
	g := crm.Grant{ID: crm.NewID(), InstallID: in.ID, SubjectType: req.GetSubjectType(), SubjectID: req.GetSubjectId(),
		Source: plugin, CreatedBy: req.GetActorId(), CreatedAt: h.s.clock()}
	ref, err := refOf(h.s.ids(in.ID), req.GetRecord(), "record")
	if err != nil {
		return nil, h.status(err)
	}
	g.RecordType, g.RecordID = ref.Type, ref.ID
	if g.Actions, err = grantActions(req.GetActions()); err != nil {
		return nil, h.status(err)
	}
	if g.ExpiresAt, err = h.expiry(req.GetExpiresAtMs()); err != nil {
		return nil, h.status(err)
	}
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Record(ctx, in.ID, ref.Type, ref.ID, true); err != nil {
			return notFound(err, crm.ErrRecordNotFound, "record")
		}
		if err := checkSubject(ctx, &tx.Queries, in.ID, g.SubjectType, g.SubjectID); err != nil {
			return err
		}
		if err := checkActor(ctx, &tx.Queries, in.ID, g.CreatedBy); err != nil {
			return err
		}
		if err := tx.InsertGrant(ctx, g); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, grantAudit(g, crm.AuditGrantCreate, g.CreatedBy, g.CreatedAt))
	})
	if err != nil {
		return nil, h.status(err)
	}
	h.s.invalidateRecords(ctx, in.ID, ref)
	return wireGrant(g), nil
}

// checkSubject checks that a grant's subject is a user or team of the
// install.
func checkSubject(ctx context.Context, q *store.Queries, installID, subjectType, subjectID string) error {
	ids := idsOf(q, installID)
	check := ids.user
	if subjectType == sdk.SubjectTeam {
		check = ids.team
	}
	if err := check("subject_id", subjectID); err != nil {
		return err
	}
	switch subjectType {
	case sdk.SubjectUser:
		_, err := q.User(ctx, installID, subjectID)
		return notFound(err, crm.Invalid("unknown_user", "subject_id: no user %s in this install", subjectID), "subject")
	case sdk.SubjectTeam:
		_, err := q.Team(ctx, installID, subjectID)
		return notFound(err, crm.Invalid("unknown_team", "subject_id: no team %s in this install", subjectID), "subject")
	}
	return crm.Invalid("invalid_subject", `subject_type: must be "user" or "team", got %q`, subjectType)
}

// grantAudit is the audit event of a change to a grant, on its record, so
// that the record's access history shows it.
func grantAudit(g crm.Grant, action, actorID string, at time.Time) crm.AuditEvent {
	detail := map[string]any{"grant_id": g.ID, "source": g.Source, "subject_type": g.SubjectType, "subject_id": g.SubjectID,
		"actions": g.Actions, "expires_at": nil}
	if g.ExpiresAt != nil {
		detail["expires_at"] = g.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	return crm.AuditEvent{ID: crm.NewID(), InstallID: g.InstallID, At: at, ActorID: actorID, Action: action,
		RecordType: g.RecordType, RecordID: g.RecordID, Detail: detail}
}

// pluginGrant loads, for a change, a grant of the install that belongs to
// the calling plugin; another plugin's grant is not found.
func pluginGrant(ctx context.Context, tx *store.Tx, installID, plugin, id string) (crm.Grant, error) {
	errMissing := crm.Errorf(crm.KindNotFound, "unknown_grant", "no grant %s of plugin %s in this install", id, plugin)
	if err := crm.ValidateID("grant_id", id); err != nil {
		return crm.Grant{}, err
	}
	g, err := tx.Grant(ctx, installID, id, true)
	if err != nil {
		return crm.Grant{}, notFound(err, errMissing, "grant")
	}
	if g.Source != plugin {
		return crm.Grant{}, errMissing
	}
	return g, nil
}

func (h pluginHost) GrantUpdate(ctx context.Context, req *pluginv1.GrantUpdateRequest) (*pluginv1.Grant, error) {
	var actions []sdk.Action
	if len(req.GetActions()) > 0 {
		var err error
		if actions, err = grantActions(req.GetActions()); err != nil {
			return nil, h.status(err)
		}
	}
	var expires *time.Time
	if req.GetSetExpiresAt() {
		var err error
		if expires, err = h.expiry(req.GetExpiresAtMs()); err != nil {
			return nil, h.status(err)
		}
	}
	g, err := h.changeGrant(ctx, req.GetInstallId(), req.GetGrantId(), req.GetActorId(), crm.AuditGrantUpdate, func(tx *store.Tx, g *crm.Grant) error {
		if actions != nil {
			g.Actions = actions
		}
		if req.GetSetExpiresAt() {
			g.ExpiresAt = expires
		}
		return tx.UpdateGrant(ctx, *g)
	})
	if err != nil {
		return nil, err
	}
	return wireGrant(g), nil
}

func (h pluginHost) GrantGet(ctx context.Context, req *pluginv1.GrantGetRequest) (*pluginv1.Grant, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	var g crm.Grant
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		g, err = pluginGrant(ctx, tx, in.ID, plugin, req.GetGrantId())
		return err
	})
	if err != nil {
		return nil, h.status(err)
	}
	return wireGrant(g), nil
}

func (h pluginHost) GrantRevoke(ctx context.Context, req *pluginv1.GrantRevokeRequest) (*pluginv1.Empty, error) {
	_, err := h.changeGrant(ctx, req.GetInstallId(), req.GetGrantId(), req.GetActorId(), crm.AuditGrantRevoke, func(tx *store.Tx, g *crm.Grant) error {
		return tx.DeleteGrant(ctx, g.InstallID, g.ID)
	})
	if err != nil {
		return nil, err
	}
	return &pluginv1.Empty{}, nil
}

// changeGrant is the one path of a change to a grant of the calling
// plugin: refused while the shared cache cannot be told (as every change
// of access is, see checkWritable), then, in one transaction, the grant
// loaded, the actor checked, change applied and audited; then the
// record's cached decisions voided. Errors are the plugin's statuses.
func (h pluginHost) changeGrant(ctx context.Context, installID, grantID, actorID, action string,
	change func(*store.Tx, *crm.Grant) error) (crm.Grant, error) {
	plugin, in, err := h.scope(ctx, installID)
	if err != nil {
		return crm.Grant{}, err
	}
	if err := h.s.checkWritable(ctx); err != nil {
		return crm.Grant{}, h.status(err)
	}
	var g crm.Grant
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if g, err = pluginGrant(ctx, tx, in.ID, plugin, grantID); err != nil {
			return err
		}
		if err := checkActor(ctx, &tx.Queries, in.ID, actorID); err != nil {
			return err
		}
		if err := change(tx, &g); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, grantAudit(g, action, actorID, h.s.clock()))
	})
	if err != nil {
		return crm.Grant{}, h.status(err)
	}
	h.s.invalidateRecords(ctx, in.ID, crm.Ref{Type: g.RecordType, ID: g.RecordID})
	return g, nil
}

func (h pluginHost) GrantList(ctx context.Context, req *pluginv1.GrantListRequest) (*pluginv1.GrantListResponse, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	size, after, err := pageRequest(int(req.GetLimit()), req.GetCursor())
	if err != nil {
		return nil, h.status(err)
	}
	gq := store.GrantQuery{InstallID: in.ID, Source: plugin, RecordID: req.GetRecordId(), SubjectType: req.GetSubjectType(),
		SubjectID: req.GetSubjectId(), State: req.GetState(), Now: h.s.clock(), After: after, Limit: size + 1}
	if t := req.GetRecordType(); t != "" {
		if gq.RecordType, err = crm.ParseRecordType(t); err != nil {
			return nil, h.status(err)
		}
	}
	switch gq.State {
	case "":
		gq.State = store.GrantsActive
	case store.GrantsActive, store.GrantsExpired, store.GrantsAll:
	default:
		return nil, h.status(crm.Invalid("invalid_state", `state: must be "active", "expired" or "all", got %q`, gq.State))
	}
	grants, err := h.s.db.ListGrants(ctx, gq)
	if err != nil {
		return nil, h.status(err)
	}
	grants, next := cutPage(grants, size, func(g crm.Grant) string { return g.ID })
	out := &pluginv1.GrantListResponse{NextCursor: next}
	for _, g := range grants {
		out.Grants = append(out.Grants, wireGrant(g))
	}
	return out, nil
}

func wireGrant(g crm.Grant) *pluginv1.Grant {
	out := &pluginv1.Grant{Id: g.ID, Record: &pluginv1.Ref{Type: string(g.RecordType), Id: g.RecordID},
		SubjectType: g.SubjectType, SubjectId: g.SubjectID, Source: g.Source, CreatedBy: g.CreatedBy, CreatedAtMs: g.CreatedAt.UnixMilli()}
	for _, a := range g.Actions {
		out.Actions = append(out.Actions, string(a))
	}
	if g.ExpiresAt != nil {
		out.ExpiresAtMs = g.ExpiresAt.UnixMilli()
	}
	return out
}
