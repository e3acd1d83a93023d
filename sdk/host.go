package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
	"github.com/crmguard/crmguard/sdk/wire"
)

// Host is what the host offers a plugin. Everything is scoped to the
// calling plugin and to the install named in each call. Reach it with
// HostAPI from the context of any hook or route.
type Host interface {
	// KVGet, KVSet and KVDelete are a key-value store of the plugin's own
	// per install, with compare-and-set and expiry.
	KVGet(ctx context.Context, installID, key string) (KVValue, bool, error)
	KVSet(ctx context.Context, installID, key string, value []byte, opts KVSetOptions) (version int64, stored bool, err error)
	KVDelete(ctx context.Context, installID, key string) error

	// CreateGrant, UpdateGrant, RevokeGrant and ListGrants manage the
	// plugin's grants: the host gives them the plugin as source, and they
	// count where the plugin is active and its policy admits them (a
	// granted condition naming the plugin). The record's caches are voided
	// before the call returns.
	CreateGrant(ctx context.Context, installID string, g NewGrant) (Grant, error)
	UpdateGrant(ctx context.Context, installID, grantID string, c GrantChange) (Grant, error)
	RevokeGrant(ctx context.Context, installID, grantID, actorID string) error
	ListGrants(ctx context.Context, installID string, q GrantQuery) (grants []Grant, next string, err error)
	// Grant reads one of the plugin's grants, expired or not.
	Grant(ctx context.Context, installID, grantID string) (Grant, error)

	// Record and Records read records; with a user id they answer as that
	// user sees them (an invisible record is ErrNotFound).
	Record(ctx context.Context, installID string, ref Ref, asUserID string) (Record, error)
	Records(ctx context.Context, installID string, q RecordQuery) (records []Record, next string, err error)
	// CountRecords counts the records Records would list, every page
	// together, per team as well.
	CountRecords(ctx context.Context, installID string, q RecordQuery) (RecordCount, error)
	// MoveRecordsTeam moves records of one type to another team on behalf
	// of an administrator of the install, and returns how many changed
	// team. Each move is audited and goes through the write hooks.
	MoveRecordsTeam(ctx context.Context, installID string, m TeamMove) (int, error)
	// Check decides an action of a user on records, one answer per record.
	// With ActionAdd each ref names a type and no id: may the user add a
	// record of that type (created by them, with nothing else said of it)?
	Check(ctx context.Context, installID, userID string, action Action, refs ...Ref) ([]bool, error)

	// User, Users, Teams and Roles read the install's people.
	User(ctx context.Context, installID, userID string) (UserInfo, error)
	Users(ctx context.Context, installID, cursor string, limit int) (users []UserInfo, next string, err error)
	Teams(ctx context.Context, installID string) ([]Team, error)
	Roles(ctx context.Context, installID string) ([]Role, error)

	// Audit appends to the install's audit log, under the plugin's id:
	// the action "expired" of plugin delegation is "delegation.expired".
	Audit(ctx context.Context, installID string, e AuditEntry) error
	// Notify e-mails users of the install (SMTP when the host has it, the
	// notifications outbox otherwise).
	Notify(ctx context.Context, installID string, n Notification) error
	// Invalidate voids cached policies: one user's, or the whole install's
	// with an empty user id. Call it when something the policy hook reads,
	// other than the settings, changes.
	Invalidate(ctx context.Context, installID, userID string) error
}

// KVValue is a stored value and its version, for compare-and-set.
type KVValue struct {
	Value   []byte
	Version int64
}

// KVSetOptions refine KVSet. With IfVersion, the value is written only if
// the key's version is *IfVersion (0: only if the key does not exist);
// otherwise KVSet reports stored=false and changes nothing. With TTL, the
// key expires after it.
type KVSetOptions struct {
	IfVersion *int64
	TTL       time.Duration
}

// The subjects of grants.
const (
	SubjectUser = "user"
	SubjectTeam = "team"
)

// Grant is a stored permission on one record for a user or a team.
type Grant struct {
	ID          string
	Record      Ref
	SubjectType string // SubjectUser or SubjectTeam
	SubjectID   string
	Actions     []Action
	ExpiresAt   *time.Time // nil: never
	Source      string     // the plugin that owns it
	CreatedBy   string
	CreatedAt   time.Time
}

// NewGrant is a grant to create. ActorID is the user on whose behalf the
// plugin acts, for the audit log (empty: the plugin itself).
type NewGrant struct {
	Record      Ref
	SubjectType string
	SubjectID   string
	Actions     []Action
	ExpiresAt   *time.Time
	ActorID     string
}

// GrantChange changes a grant: the actions when not empty, the expiry when
// SetExpiry (nil ExpiresAt: never).
type GrantChange struct {
	Actions   []Action
	SetExpiry bool
	ExpiresAt *time.Time
	ActorID   string
}

// GrantQuery selects the plugin's grants; empty fields do not filter.
// State is "active" (the default), "expired" or "all".
type GrantQuery struct {
	RecordType  RecordType
	RecordID    string
	SubjectType string
	SubjectID   string
	State       string
	Cursor      string
	Limit       int
}

// RecordQuery selects records of one type; OwnerID "none" selects the
// unassigned ones. With AsUserID only what that user sees is listed.
type RecordQuery struct {
	Type     RecordType
	OwnerID  string
	TeamID   string
	AsUserID string
	Cursor   string
	Limit    int
}

// RecordCount is a count of records, in all and per team id ("" for the
// records without a team; teams without a record counted are left out).
type RecordCount struct {
	Total  int64
	ByTeam map[string]int64
}

// TeamMove selects records of one type and the team they move to. Every
// record IDs lists must exist, and be in FromTeamID when it is set, or
// nothing moves.
type TeamMove struct {
	Type       RecordType
	IDs        []string // empty: every record of FromTeamID
	FromTeamID string   // a team id or "none"; empty: any (with IDs)
	ToTeamID   string   // a team id; empty or "none": no team
	ActorID    string   // the administrator the plugin acts for
}

// UserInfo is a user of an install.
type UserInfo struct {
	ID        string
	Email     string
	Name      string
	Role      string
	ManagerID string
	Teams     []string // the primary team first, as in User
}

// Team is a team of an install with its members.
type Team struct {
	ID      string
	Name    string
	Members []TeamMember
}

// TeamMember places a user in a team; Primary marks the team a user's new
// records go to.
type TeamMember struct {
	UserID  string
	Primary bool
}

// Role is a role of an install.
type Role struct {
	Name         string
	Description  string
	Capabilities []string
	BuiltIn      bool
}

// AuditEntry is an event for the audit log.
type AuditEntry struct {
	Action  string // snake_case words joined by dots
	Record  *Ref   // the record it is about, if any
	ActorID string // the user who acted, if any
	Detail  map[string]any
}

// Notification is an e-mail to users of an install.
type Notification struct {
	UserIDs []string
	Subject string
	Body    string
}

// Errors of the host API; match them with errors.Is.
var (
	// ErrNoHost is returned by the Host of a plugin that runs without one.
	ErrNoHost = errors.New("sdk: no host API here")
	// ErrNotFound: no such record, user, grant of the plugin, ... in the
	// install (or invisible to the user asked about).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the call's input was refused; the message says why.
	ErrInvalid = errors.New("invalid")
	// ErrForbidden: the user the plugin acts for may not do this (a write
	// hook refused it, or their role does not allow it).
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: the host cannot do this right now, and did nothing
	// (its code says why: "cache_unavailable" while a change of access
	// cannot reach every replica); answer 503 and let the caller retry.
	ErrUnavailable = errors.New("unavailable")
)

// HostError is a refusal of the host: one of ErrNotFound, ErrInvalid,
// ErrForbidden and ErrUnavailable (match it with errors.Is), with the host's code
// ("unknown_team") and its message for people, so that a plugin's route
// can answer with them.
type HostError struct {
	Kind    error
	Code    string // empty when the host gave none
	Message string
}

func (e *HostError) Error() string { return e.Kind.Error() + ": " + e.Message }
func (e *HostError) Unwrap() error { return e.Kind }

// ErrorDomain marks the host's error codes in the details of its gRPC
// statuses (an errdetails.ErrorInfo whose reason is the code).
const ErrorDomain = wire.ErrorDomain

type hostKey struct{}

// HostAPI returns the host API from the context of a hook or route.
func HostAPI(ctx context.Context) Host {
	if h, ok := ctx.Value(hostKey{}).(Host); ok {
		return h
	}
	return noHost{}
}

// WithHost returns a context that carries h, as the host's calls do; for
// tests and harnesses.
func WithHost(ctx context.Context, h Host) context.Context {
	return context.WithValue(ctx, hostKey{}, h)
}

// UseBroker keeps the broker through which the host's API is dialled.
func (s *server) UseBroker(b *plugin.GRPCBroker) { s.broker = b }

// connect dials the host's API once, when the host names it.
func (s *server) connect(brokerID uint32) {
	if brokerID == 0 || s.broker == nil {
		return
	}
	s.dial.Do(func() {
		conn, err := s.broker.Dial(brokerID)
		if err != nil {
			return
		}
		var h Host = grpcHost{c: pluginv1.NewHostClient(conn)}
		s.host.Store(&h)
	})
}

// hostError turns the host's status into the SDK's errors.
func hostError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	// A call holding text that is not UTF-8 (from a route's query, say)
	// never leaves the plugin, since gRPC cannot encode it: the input is
	// at fault, as it would be had the host seen it.
	if st.Code() == codes.Internal && strings.HasPrefix(st.Message(), "grpc: error while marshaling") {
		return &HostError{Kind: ErrInvalid, Code: "invalid_text", Message: "a value given is not UTF-8 text"}
	}
	kinds := map[codes.Code]error{codes.NotFound: ErrNotFound, codes.InvalidArgument: ErrInvalid, codes.PermissionDenied: ErrForbidden,
		codes.Unavailable: ErrUnavailable}
	kind, ok := kinds[st.Code()]
	if !ok {
		return err
	}
	e := &HostError{Kind: kind, Message: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			e.Code = info.GetReason()
		}
	}
	return e
}

func jsonOf(v any) []byte {
	if v == nil {
		return nil
	}
	raw, _ := json.Marshal(v) // JSON values only
	return raw
}
