package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/crmguard/crmguard/host/adopt"
)

// DatabaseName is the database the store's connection uses.
func (db *DB) DatabaseName(ctx context.Context) (string, error) {
	var name sql.NullString
	if err := db.q.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&name); err != nil {
		return "", fmt.Errorf("store: current database: %w", err)
	}
	return name.String, nil
}

// CRMSchema describes the tables of a CRM's database (the store's own when
// database is "") from information_schema, for checking a mapping.
func (db *DB) CRMSchema(ctx context.Context, database string) (adopt.Schema, error) {
	if database == "" {
		var err error
		if database, err = db.DatabaseName(ctx); err != nil {
			return nil, err
		}
	}
	var exists int
	err := db.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", database).Scan(&exists)
	if err != nil {
		return nil, fmt.Errorf("store: schema of %s: %w", database, err)
	}
	if exists == 0 {
		return nil, fmt.Errorf("adopt.database: database %q not found on the server (or not visible to crmguard's MySQL user)", database)
	}
	return crmSchema{ctx: ctx, q: db.q, database: database}, nil
}

type crmSchema struct {
	ctx      context.Context
	q        querier
	database string
}

func (s crmSchema) Columns(table string) ([]adopt.SchemaColumn, bool, error) {
	rows, err := s.q.QueryContext(s.ctx,
		"SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COALESCE(CHARACTER_MAXIMUM_LENGTH, 0)"+
			" FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
		s.database, table)
	if err != nil {
		return nil, false, fmt.Errorf("store: columns of %s: %w", table, err)
	}
	defer rows.Close()
	var out []adopt.SchemaColumn
	for rows.Next() {
		var c adopt.SchemaColumn
		var nullable string
		if err := rows.Scan(&c.Name, &c.DataType, &c.ColumnType, &nullable, &c.MaxLength); err != nil {
			return nil, false, fmt.Errorf("store: columns of %s: %w", table, err)
		}
		c.Nullable = nullable == "YES"
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("store: columns of %s: %w", table, err)
	}
	return out, len(out) > 0, nil
}

func (s crmSchema) Tables() ([]string, error) {
	rows, err := s.q.QueryContext(s.ctx,
		"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME NOT LIKE 'crmguard\\_%' ORDER BY TABLE_NAME", s.database)
	if err != nil {
		return nil, fmt.Errorf("store: tables of %s: %w", s.database, err)
	}
	return collect(rows, func(sc func(...any) error) (string, error) {
		var name string
		return name, sc(&name)
	})
}
