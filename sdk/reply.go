package sdk

import (
	"encoding/json"
	"net/http"
)

// Reply writes v as the JSON body of a plugin route's answer.
func Reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // the connection's failure is the client's
}

// Refuse answers a plugin route's request with an error in the host's
// form: {"error": {"code": "snake_case", "message": "a sentence"}}.
func Refuse(w http.ResponseWriter, status int, code, message string) {
	Reply(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}
