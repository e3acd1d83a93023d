package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/service"
)

func (s *server) getUser(c *gin.Context) {
	u, err := s.svc.User(c.Request.Context(), principal(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toUserJSON(u))
}

func (s *server) patchUser(c *gin.Context) {
	change, err := decodeUserChange(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	u, err := s.svc.UpdateUser(c.Request.Context(), principal(c), c.Param("id"), change)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toUserJSON(u))
}

// decodeUserChange reads the body of PATCH /v1/users/{id}. A field left
// out keeps its value; manager_id null removes the manager, so the body is
// read field by field. role, name and disabled may not be null.
func decodeUserChange(c *gin.Context) (service.UserChange, error) {
	var fields map[string]json.RawMessage
	if err := decodeJSON(c, &fields); err != nil {
		return service.UserChange{}, err
	}
	if fields == nil {
		return service.UserChange{}, crm.Invalid("invalid_body", `the body must be an object such as {"role": "manager"}`)
	}
	var change service.UserChange
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		raw := fields[key]
		var err error
		switch key {
		case "role":
			err = decodeRequired(raw, &change.Role, key, "a role's name")
		case "name":
			err = decodeRequired(raw, &change.Name, key, "a string")
		case "disabled":
			err = decodeRequired(raw, &change.Disabled, key, "true or false")
		case "manager_id":
			var manager *string
			err = decodeField(raw, &manager, key)
			change.ManagerID = new(string)
			*change.ManagerID = optionalID(manager)
		default:
			err = crm.Invalid("unknown_field", "unknown field %q; a PATCH may set role, manager_id, name and disabled", key)
		}
		if err != nil {
			return service.UserChange{}, err
		}
	}
	return change, nil
}

// decodeRequired decodes a field that, when given, may not be null.
func decodeRequired[T any](raw json.RawMessage, v **T, name, what string) error {
	if err := decodeField(raw, v, name); err != nil {
		return err
	}
	if *v == nil {
		return crm.Invalid("invalid_json", "%s: must be %s, got null; leave the field out to keep it", name, what)
	}
	return nil
}
