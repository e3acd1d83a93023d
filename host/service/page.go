package service

import (
	"encoding/base64"
	"strings"

	"github.com/crmguard/crmguard/host/crm"
)

// Page sizes for lists.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// pageRequest validates a caller's page size (0: DefaultLimit) and cursor,
// and returns the size and the id the page continues from.
func pageRequest(limit int, cursor string) (size int, from string, err error) {
	switch {
	case limit == 0:
		size = DefaultLimit
	case limit < 1 || limit > MaxLimit:
		return 0, "", crm.Invalid("invalid_limit", "limit: must be between 1 and %d, got %d", MaxLimit, limit)
	default:
		size = limit
	}
	from, err = decodeCursor(cursor)
	return size, from, err
}

// cutPage takes a result fetched with one row more than size (the extra
// row tells whether a next page exists) and returns the page with the
// cursor of the next one, "" on the last page.
func cutPage[T any](items []T, size int, id func(T) string) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, encodeCursor(id(items[size-1]))
}

// Cursors are opaque to callers; inside they carry the last id of a page.
const cursorVersion = "v1:"

func encodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorVersion + id))
}

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	errCursor := crm.Invalid("invalid_cursor", "cursor: not a cursor this API returned; start again without it")
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", errCursor
	}
	id, ok := strings.CutPrefix(string(raw), cursorVersion)
	// A ULID, or an adopted CRM's id: the store reads it only as the
	// bound of a keyset, so any id that fits the id columns will do. The
	// decoder skips line breaks and ignores the unused bits of the last
	// character; only the spelling this API returns is a cursor, so that
	// each page has one.
	if !ok || (crm.ValidateID("cursor", id) != nil && !fitsID(id)) || encodeCursor(id) != c {
		return "", errCursor
	}
	return id, nil
}

// CursorAt returns the cursor of a page that continues after the record
// with the given id, for tools that start a list at a known record.
func CursorAt(id string) string { return encodeCursor(id) }
