package service

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/sdk"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// PluginHost returns the host API that plugins call (DESIGN §9). Every call
// is scoped to the calling plugin, which the plugin runtime names in the
// call's context, and to the install the call names, which must have the
// plugin active (or be running its activation or settings hook): a plugin
// has no access to an install that has not turned it on.
func (s *Service) PluginHost() pluginv1.HostServer { return pluginHost{s: s} }

type pluginHost struct {
	pluginv1.UnimplementedHostServer
	s *Service
}

// Limits of what plugins may send.
const (
	maxKVKey       = 255
	maxAuditDetail = 64 << 10
	maxSubject     = 255
	maxBody        = 64 << 10
)

// scope returns the calling plugin and the install a call names.
func (h pluginHost) scope(ctx context.Context, installID string) (string, crm.Install, error) {
	plugin, ok := plugins.CallingPlugin(ctx)
	if !ok {
		return "", crm.Install{}, status.Error(codes.PermissionDenied, "no plugin named in the call")
	}
	if err := crm.ValidateID("install_id", installID); err != nil {
		return "", crm.Install{}, h.status(err)
	}
	in, err := h.s.db.InstallByID(ctx, installID)
	if err != nil {
		return "", crm.Install{}, h.status(notFound(err, crm.Errorf(crm.KindNotFound, "unknown_install", "no install %s", installID), "install"))
	}
	if !h.s.inHook(in.ID, plugin) {
		acts, err := h.s.db.PluginActivations(ctx, in.ID)
		if err != nil {
			return "", crm.Install{}, h.status(err)
		}
		if !slices.ContainsFunc(acts, func(a crm.PluginActivation) bool { return a.PluginID == plugin && a.Active }) {
			return "", crm.Install{}, status.Errorf(codes.PermissionDenied, "plugin %s is not active in install %s", plugin, in.Slug)
		}
	}
	return plugin, in, nil
}

// status turns an error into the status the plugin sees: the message of
// errors meant for callers, nothing of internal ones.
func (h pluginHost) status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	codeOf := map[crm.Kind]codes.Code{
		crm.KindInvalid: codes.InvalidArgument, crm.KindTooLarge: codes.InvalidArgument, crm.KindNotFound: codes.NotFound,
		crm.KindForbidden: codes.PermissionDenied, crm.KindConflict: codes.Aborted, crm.KindPrecondition: codes.FailedPrecondition,
		crm.KindUnavailable: codes.Unavailable,
	}
	if e, ok := crm.AsError(err); ok {
		if c, ok := codeOf[e.Kind]; ok {
			// The code travels too, for the plugin to answer with.
			st, err := status.New(c, e.Message).WithDetails(&errdetails.ErrorInfo{Reason: e.Code, Domain: sdk.ErrorDomain})
			if err != nil {
				return status.Error(c, e.Message)
			}
			return st.Err()
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return status.Error(codes.NotFound, "not found")
	}
	h.s.log.Error("host API call failed", "err", err)
	return status.Error(codes.Internal, "the host could not answer; try again")
}

// checkActor checks that the user a plugin acts for is of the install.
func checkActor(ctx context.Context, q *store.Queries, installID, actorID string) error {
	if actorID == "" {
		return nil
	}
	if err := idsOf(q, installID).user("actor_id", actorID); err != nil {
		return err
	}
	_, err := q.User(ctx, installID, actorID)
	return notFound(err, crm.Invalid("unknown_user", "actor_id: no user %s in this install", actorID), "actor")
}

func refOf(ids ids, r *pluginv1.Ref, field string) (crm.Ref, error) {
	t, err := crm.ParseRecordType(r.GetType())
	if err != nil {
		return crm.Ref{}, crm.Invalid("invalid_record_type", "%s.type: %s", field, err.Error())
	}
	if err := ids.record(field+".id", t, r.GetId()); err != nil {
		return crm.Ref{}, err
	}
	return crm.Ref{Type: t, ID: r.GetId()}, nil
}

// scopeType is scope for a call about records of one type.
func (h pluginHost) scopeType(ctx context.Context, installID, recordType string) (crm.Install, crm.RecordType, error) {
	_, in, err := h.scope(ctx, installID)
	if err != nil {
		return crm.Install{}, "", err
	}
	t, err := crm.ParseRecordType(recordType)
	if err != nil {
		return crm.Install{}, "", h.status(err)
	}
	return in, t, nil
}

// asUser returns the principal of a user of the install a plugin reads as.
func (h pluginHost) asUser(ctx context.Context, in crm.Install, userID string) (crm.Principal, error) {
	if err := h.s.ids(in.ID).user("as_user_id", userID); err != nil {
		return crm.Principal{}, err
	}
	u, err := h.s.db.User(ctx, in.ID, userID)
	if err != nil {
		return crm.Principal{}, notFound(err, crm.Invalid("unknown_user", "as_user_id: no user %s in this install", userID), "user")
	}
	return h.s.PrincipalFor(ctx, in, u)
}
