package service

import (
	"context"
	"regexp"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

var auditAction = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)*$`)

func (h pluginHost) AuditAppend(ctx context.Context, req *pluginv1.AuditAppendRequest) (*pluginv1.Empty, error) {
	plugin, in, err := h.scope(ctx, req.GetInstallId())
	if err != nil {
		return nil, err
	}
	action := plugin + "." + req.GetAction()
	if !auditAction.MatchString(req.GetAction()) || len(action) > 64 {
		return nil, h.status(crm.Invalid("invalid_action", "action: snake_case words joined by dots, at most %d characters", 63-len(plugin)))
	}
	detail := map[string]any{}
	if raw := req.GetDetailJson(); len(raw) > 0 {
		if len(raw) > maxAuditDetail {
			return nil, h.status(crm.Invalid("invalid_detail", "detail: at most %d bytes", maxAuditDetail))
		}
		var err error
		if detail, err = decodeObject(raw); err != nil {
			return nil, h.status(crm.Invalid("invalid_detail", "detail: must be a JSON object"))
		}
	}
	detail["plugin"] = plugin
	e := crm.AuditEvent{ID: crm.NewID(), InstallID: in.ID, At: h.s.clock(), ActorID: req.GetActorId(), Action: action, Detail: detail}
	err = h.s.db.InTx(ctx, func(tx *store.Tx) error {
		if req.GetRecord() != nil {
			ref, err := refOf(h.s.ids(in.ID), req.GetRecord(), "record")
			if err != nil {
				return err
			}
			// The log outlives records: a record deleted since may still be
			// written about, so only the reference's form is checked.
			e.RecordType, e.RecordID = ref.Type, ref.ID
		}
		if err := checkActor(ctx, &tx.Queries, in.ID, e.ActorID); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, e)
	})
	return &pluginv1.Empty{}, h.status(err)
}
