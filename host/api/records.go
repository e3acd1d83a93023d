package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
)

type refJSON struct {
	Type crm.RecordType `json:"type"`
	ID   string         `json:"id"`
}

type recordJSON struct {
	ID        string         `json:"id"`
	Type      crm.RecordType `json:"type"`
	OwnerID   *string        `json:"owner_id"`
	CreatedBy string         `json:"created_by"`
	TeamID    *string        `json:"team_id"`
	Parent    *refJSON       `json:"parent"`
	Data      map[string]any `json:"data"`
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

func toRecordJSON(r crm.Record) recordJSON {
	out := recordJSON{
		ID: r.ID, Type: r.Type, OwnerID: nullableID(r.OwnerID), CreatedBy: r.CreatedBy, TeamID: nullableID(r.TeamID),
		Data: r.Data, Version: r.Version, CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
	}
	if r.Parent != nil {
		out.Parent = &refJSON{Type: r.Parent.Type, ID: r.Parent.ID}
	}
	return out
}

func toRecordsJSON(rs []crm.Record) []recordJSON {
	out := make([]recordJSON, len(rs))
	for i, r := range rs {
		out[i] = toRecordJSON(r)
	}
	return out
}

func toRef(r *refJSON) *crm.Ref {
	if r == nil {
		return nil
	}
	return &crm.Ref{Type: r.Type, ID: r.ID}
}

type pageJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// recordType reads the :type parameter.
func (s *server) recordType(c *gin.Context) (crm.RecordType, bool) {
	t, err := crm.ParseRecordType(c.Param("type"))
	if err != nil {
		s.fail(c, err)
		return "", false
	}
	return t, true
}

// writeRecord answers with a record and its version as the ETag.
func writeRecord(c *gin.Context, status int, r crm.Record) {
	c.Header("ETag", etag(r.Version))
	c.JSON(status, toRecordJSON(r))
}

// changeTarget reads what every write of one record starts from: the
// record type and the If-Match version (0: none).
func (s *server) changeTarget(c *gin.Context) (crm.RecordType, int64, bool) {
	t, ok := s.recordType(c)
	if !ok {
		return "", 0, false
	}
	version, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return "", 0, false
	}
	return t, version, true
}

// listOptions reads the list parameters shared by every list of records.
func listOptions(c *gin.Context) (service.ListOptions, error) {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return service.ListOptions{}, err
	}
	return service.ListOptions{
		Owner: c.Query("owner"), Team: c.Query("team"), Can: c.Query("can"), Query: c.Query("q"),
		Limit: limit, Cursor: c.Query("cursor"),
	}, nil
}

// listRecords lists a page of records, or counts them when the path is
// /v1/records/{type}:count (Gin cannot route on a suffix).
func (s *server) listRecords(c *gin.Context) {
	if typ, ok := strings.CutSuffix(c.Param("type"), ":count"); ok {
		s.countRecords(c, typ)
		return
	}
	t, ok := s.recordType(c)
	if !ok {
		return
	}
	o, err := listOptions(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	recs, next, err := s.svc.ListRecords(c.Request.Context(), principal(c), t, o)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, pageJSON[recordJSON]{Items: toRecordsJSON(recs), NextCursor: next})
}

// countRecords answers GET /v1/records/{type}:count with the filters of a
// list: {"count": n}, invisible records never counted.
func (s *server) countRecords(c *gin.Context, typ string) {
	t, err := crm.ParseRecordType(typ)
	if err != nil {
		s.fail(c, err)
		return
	}
	o, err := listOptions(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	n, err := s.svc.CountRecords(c.Request.Context(), principal(c), t, o)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"count": n})
}

// postRecords creates a record, or runs the bulk reassignment when the path
// is /v1/records/{type}:reassign (Gin cannot route on a suffix).
func (s *server) postRecords(c *gin.Context) {
	if typ, ok := strings.CutSuffix(c.Param("type"), ":reassign"); ok {
		s.reassign(c, typ)
		return
	}
	t, ok := s.recordType(c)
	if !ok {
		return
	}
	var body struct {
		Data    map[string]any `json:"data"`
		OwnerID *string        `json:"owner_id"`
		TeamID  *string        `json:"team_id"`
		Parent  *refJSON       `json:"parent"`
	}
	if err := decodeJSON(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.svc.CreateRecord(c.Request.Context(), principal(c), service.NewRecord{
		Type: t, Data: body.Data, OwnerID: optionalID(body.OwnerID), TeamID: optionalID(body.TeamID), Parent: toRef(body.Parent),
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/records/"+string(r.Type)+"/"+r.ID)
	writeRecord(c, http.StatusCreated, r)
}

func (s *server) getRecord(c *gin.Context) {
	t, ok := s.recordType(c)
	if !ok {
		return
	}
	r, err := s.svc.GetRecord(c.Request.Context(), principal(c), t, c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	writeRecord(c, http.StatusOK, r)
}

func (s *server) patchRecord(c *gin.Context) {
	t, version, ok := s.changeTarget(c)
	if !ok {
		return
	}
	change, err := decodeRecordChange(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.svc.UpdateRecord(c.Request.Context(), principal(c), t, c.Param("id"), change, version)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeRecord(c, http.StatusOK, r)
}

// decodeRecordChange reads a PATCH body. Absent and null differ for
// team_id and parent (null clears them), so the body is read field by field.
func decodeRecordChange(c *gin.Context) (service.RecordChange, error) {
	var fields map[string]json.RawMessage
	if err := decodeJSON(c, &fields); err != nil {
		return service.RecordChange{}, err
	}
	var change service.RecordChange
	for key, raw := range fields {
		var err error
		switch key {
		case "data":
			err = decodeField(raw, &change.Data, "data")
		case "team_id":
			var team *string
			err = decodeField(raw, &team, "team_id")
			change.SetTeam, change.TeamID = true, optionalID(team)
		case "parent":
			var parent *refJSON
			err = decodeField(raw, &parent, "parent")
			change.SetParent, change.Parent = true, toRef(parent)
		case "owner_id":
			err = crm.Invalid("use_assign", "owner_id: change the owner with PUT /v1/records/{type}/{id}/owner")
		default:
			err = crm.Invalid("unknown_field", "unknown field %q; a PATCH may set data, team_id and parent", key)
		}
		if err != nil {
			return service.RecordChange{}, err
		}
	}
	return change, nil
}

func decodeField(raw json.RawMessage, v any, name string) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if e, ok := crm.AsError(jsonError(err)); ok {
			// The field is the value decoded here, not the whole body.
			return crm.Invalid(e.Code, "%s: %s", name, strings.TrimPrefix(e.Message, "the body: "))
		}
		return err
	}
	return nil
}

func (s *server) deleteRecord(c *gin.Context) {
	t, version, ok := s.changeTarget(c)
	if !ok {
		return
	}
	if err := s.svc.DeleteRecord(c.Request.Context(), principal(c), t, c.Param("id"), version); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *server) putOwner(c *gin.Context) {
	t, version, ok := s.changeTarget(c)
	if !ok {
		return
	}
	var fields map[string]json.RawMessage
	if err := decodeJSON(c, &fields); err != nil {
		s.fail(c, err)
		return
	}
	raw, present := fields["owner_id"]
	if !present || len(fields) != 1 {
		s.fail(c, crm.Invalid("invalid_body", `the body must be {"owner_id": "<user id>"} or {"owner_id": null}`))
		return
	}
	var owner *string
	if err := decodeField(raw, &owner, "owner_id"); err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.svc.AssignRecord(c.Request.Context(), principal(c), t, c.Param("id"), optionalID(owner), version)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeRecord(c, http.StatusOK, r)
}

func (s *server) reassign(c *gin.Context, typ string) {
	t, err := crm.ParseRecordType(typ)
	if err != nil {
		s.fail(c, err)
		return
	}
	var body struct {
		From *string `json:"from"`
		To   *string `json:"to"`
	}
	if err := decodeJSON(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	if body.From == nil {
		s.fail(c, crm.Invalid("invalid_body", "from: required, the user whose records move"))
		return
	}
	out, err := s.svc.Reassign(c.Request.Context(), principal(c), t, *body.From, optionalID(body.To))
	if err != nil {
		s.fail(c, err)
		return
	}
	refused := make([]gin.H, len(out.Refused))
	for i, r := range out.Refused {
		refused[i] = gin.H{"id": r.ID, "code": r.Code, "message": r.Message}
	}
	c.JSON(http.StatusOK, gin.H{"reassigned": out.Reassigned, "refused": refused})
}

func (s *server) relatedRecords(c *gin.Context) {
	t, ok := s.recordType(c)
	if !ok {
		return
	}
	o, err := listOptions(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	rel, err := s.svc.RelatedRecords(c.Request.Context(), principal(c), t, c.Param("id"), c.Query("type"), o)
	if err != nil {
		s.fail(c, err)
		return
	}
	var parent *recordJSON
	if rel.Parent != nil {
		p := toRecordJSON(*rel.Parent)
		parent = &p
	}
	c.JSON(http.StatusOK, gin.H{"parent": parent, "items": toRecordsJSON(rel.Children), "next_cursor": rel.NextCursor})
}

type grantJSON struct {
	ID        string       `json:"id"`
	Subject   subjectJSON  `json:"subject"`
	Actions   []crm.Action `json:"actions"`
	Source    string       `json:"source"`
	ExpiresAt *time.Time   `json:"expires_at"`
	CreatedBy *string      `json:"created_by"`
	CreatedAt time.Time    `json:"created_at"`
}

type subjectJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type auditJSON struct {
	ID      string         `json:"id"`
	At      time.Time      `json:"at"`
	ActorID *string        `json:"actor_id"`
	Action  string         `json:"action"`
	Record  *refJSON       `json:"record"`
	Detail  map[string]any `json:"detail"`
}

func toAuditJSON(e crm.AuditEvent) auditJSON {
	out := auditJSON{ID: e.ID, At: utc(e.At), ActorID: nullableID(e.ActorID), Action: e.Action, Detail: e.Detail}
	if e.RecordID != "" {
		out.Record = &refJSON{Type: e.RecordType, ID: e.RecordID}
	}
	return out
}

func (s *server) recordAccess(c *gin.Context) {
	t, ok := s.recordType(c)
	if !ok {
		return
	}
	o, err := listOptions(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	h, err := s.svc.RecordAccess(c.Request.Context(), principal(c), t, c.Param("id"), o)
	if err != nil {
		s.fail(c, err)
		return
	}
	toJSON := func(gs []crm.Grant) []grantJSON {
		out := make([]grantJSON, len(gs))
		for i, g := range gs {
			out[i] = grantJSON{
				ID: g.ID, Subject: subjectJSON{Type: g.SubjectType, ID: g.SubjectID}, Actions: g.Actions, Source: g.Source,
				ExpiresAt: g.ExpiresAt, CreatedBy: nullableID(g.CreatedBy), CreatedAt: utc(g.CreatedAt),
			}
		}
		return out
	}
	history := make([]auditJSON, len(h.History))
	for i, e := range h.History {
		history[i] = toAuditJSON(e)
	}
	c.JSON(http.StatusOK, gin.H{"grants": toJSON(h.Grants), "expired_grants": toJSON(h.Expired), "history": history, "next_cursor": h.NextCursor})
}

// recordChanged answers POST /v1/records/{type}/{id}:changed (Gin cannot
// route on a suffix): the CRM wrote the record's row itself, so every
// replica drops what it cached of it.
func (s *server) recordChanged(c *gin.Context) {
	id, ok := strings.CutSuffix(c.Param("id"), ":changed")
	if !ok {
		writeError(c, http.StatusNotFound, "no_route", "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path)
		return
	}
	t, ok := s.recordType(c)
	if !ok {
		return
	}
	if err := s.svc.RecordChanged(c.Request.Context(), principal(c), t, id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// userChanged answers POST /v1/users/{id}:changed: the CRM changed a user
// (deactivated them, changed their teams), so its users and teams are
// copied again before the answer.
func (s *server) userChanged(c *gin.Context) {
	id, ok := strings.CutSuffix(c.Param("id"), ":changed")
	if !ok {
		writeError(c, http.StatusNotFound, "no_route", "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path)
		return
	}
	if err := s.svc.UserChanged(c.Request.Context(), principal(c), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
