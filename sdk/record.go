package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// Ref names one record.
type Ref struct {
	Type RecordType `json:"type"`
	ID   string     `json:"id"`
}

// Record is a CRM record as plugins see it.
//
// Data holds the record's fields as JSON values: strings, bools, nil,
// []any, map[string]any and, for every number, a json.Number with the
// number's text exactly as it was written and stored ("42", "1e400", a
// 400-digit integer), never a float64, which would round some and fail on
// others. Convert with its Int64 or Float64 methods (both report numbers
// they cannot hold), or math/big for exact arithmetic; compare two with
// NumbersEqual.
type Record struct {
	ID        string         `json:"id"`
	Type      RecordType     `json:"type"`
	OwnerID   string         `json:"owner_id"`   // empty: unassigned
	CreatedBy string         `json:"created_by"` // the user who created it
	TeamID    string         `json:"team_id"`    // empty: no team
	Parent    *Ref           `json:"parent"`
	Data      map[string]any `json:"data"` // numbers as json.Number; see above
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// The operations of a record write.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpAssign = "assign"
	OpDelete = "delete"
)

// Write is a record write a BeforeWriter sees before it is committed:
// Before is the stored record (nil on create), After the record about to
// be stored (nil on delete). User is who writes (empty ID: the host
// itself, as in an operator's command).
type Write struct {
	Install   Install
	User      User
	Settings  json.RawMessage
	Operation string
	Before    *Record
	After     *Record
}

// WriteChange is what a BeforeWriter changes of the record being written:
// a nil field is left as it is; an empty string clears it.
type WriteChange struct {
	OwnerID *string
	TeamID  *string
}

// Denial refuses a write with a code and a message for the user; return
// one (see Deny) from BeforeWrite. Any other error means the plugin failed,
// and the host refuses the write as unavailable.
type Denial struct {
	Code    string
	Message string
}

func (d *Denial) Error() string { return d.Code + ": " + d.Message }

// Deny returns a Denial; the message is formatted as with fmt.Sprintf.
func Deny(code, format string, args ...any) *Denial {
	return &Denial{Code: code, Message: fmt.Sprintf(format, args...)}
}

// BeforeWriter sees every record write of the installs that activated the
// plugin before it is committed, and may refuse it or change the record's
// owner or team. It runs on the request path: keep it quick.
type BeforeWriter interface {
	BeforeWrite(ctx context.Context, w Write) (WriteChange, error)
}

// WriteEvent is a committed record write. The host delivers each event at
// least once, until AfterWrite returns nil, or until its retry window
// (the host's outbox.retry_for) has passed: the event then waits in the
// host's dead letters, from which an operator may replay it, with the same
// ID. Key what you do on ID.
type WriteEvent struct {
	ID        string
	Install   Install
	User      User
	Settings  json.RawMessage
	Operation string
	Before    *Record
	After     *Record
	At        time.Time
}

// AfterWriter is told of every committed record write of the installs that
// activated the plugin. An error makes the host deliver the event again
// later.
type AfterWriter interface {
	AfterWrite(ctx context.Context, e WriteEvent) error
}

// RecordOf turns a wire record into a Record; nil stays nil.
func RecordOf(r *pluginv1.Record) *Record {
	if r == nil {
		return nil
	}
	out := &Record{
		ID: r.GetId(), Type: RecordType(r.GetType()), OwnerID: r.GetOwnerId(), CreatedBy: r.GetCreatedBy(), TeamID: r.GetTeamId(),
		Version: r.GetVersion(), CreatedAt: time.UnixMilli(r.GetCreatedAtMs()), UpdatedAt: time.UnixMilli(r.GetUpdatedAtMs()),
	}
	if p := r.GetParent(); p != nil {
		out.Parent = &Ref{Type: RecordType(p.GetType()), ID: p.GetId()}
	}
	if len(r.GetDataJson()) > 0 {
		out.Data, _ = decodeData(r.GetDataJson()) // the host sends an object
	}
	return out
}

// decodeData reads a record's data, keeping numbers as json.Number.
func decodeData(raw []byte) (map[string]any, error) {
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return data, dec.Decode(&data)
}

// WireRecord turns a Record into its wire form; nil stays nil.
func WireRecord(r *Record) *pluginv1.Record {
	if r == nil {
		return nil
	}
	out := &pluginv1.Record{
		Id: r.ID, Type: string(r.Type), OwnerId: r.OwnerID, CreatedBy: r.CreatedBy, TeamId: r.TeamID,
		Version: r.Version, CreatedAtMs: r.CreatedAt.UnixMilli(), UpdatedAtMs: r.UpdatedAt.UnixMilli(),
	}
	if r.Parent != nil {
		out.Parent = &pluginv1.Ref{Type: string(r.Parent.Type), Id: r.Parent.ID}
	}
	if r.Data != nil {
		out.DataJson, _ = json.Marshal(r.Data) // JSON values only
	}
	return out
}

// WireUser turns a User into its wire form.
func WireUser(u User) *pluginv1.User {
	return &pluginv1.User{Id: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Teams: u.Teams, Managers: u.Managers, Reports: u.Reports,
		RolePeers: u.RolePeers}
}

// WireInstall turns an Install into its wire form.
func WireInstall(in Install) *pluginv1.Install {
	return &pluginv1.Install{Id: in.ID, Slug: in.Slug, Timezone: in.Timezone}
}

// WireWrite turns a Write into its wire form.
func WireWrite(w Write) *pluginv1.WriteRequest {
	return &pluginv1.WriteRequest{
		Install: WireInstall(w.Install), User: WireUser(w.User), SettingsJson: w.Settings,
		Operation: w.Operation, Before: WireRecord(w.Before), After: WireRecord(w.After),
	}
}

// WriteChangeOf reads a before-write hook's answer: a refusal as a
// *Denial, otherwise what it changes.
func WriteChangeOf(resp *pluginv1.BeforeWriteResponse) (WriteChange, error) {
	if resp.GetDenyCode() != "" {
		return WriteChange{}, &Denial{Code: resp.GetDenyCode(), Message: resp.GetDenyMessage()}
	}
	var c WriteChange
	if resp.GetSetOwner() {
		owner := resp.GetOwnerId()
		c.OwnerID = &owner
	}
	if resp.GetSetTeam() {
		team := resp.GetTeamId()
		c.TeamID = &team
	}
	return c, nil
}

// WireWriteEvent turns a WriteEvent into its wire form.
func WireWriteEvent(e WriteEvent) *pluginv1.WriteEvent {
	return &pluginv1.WriteEvent{
		EventId: e.ID, Install: WireInstall(e.Install), User: WireUser(e.User),
		SettingsJson: e.Settings, Operation: e.Operation, Before: WireRecord(e.Before), After: WireRecord(e.After), AtMs: e.At.UnixMilli(),
	}
}
