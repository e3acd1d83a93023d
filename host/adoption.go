package host

import (
	"context"
	"fmt"

	"github.com/crmguard/crmguard/config"
	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/store"
)

// resolveAdoption checks the configured mapping against the CRM's schema,
// before anything is migrated or started, so that a bad mapping never
// leaves a half-started host.
func resolveAdoption(ctx context.Context, cfg config.Config, db *store.DB) (*adopt.Mapping, error) {
	hostDB, err := db.DatabaseName(ctx)
	if err != nil {
		return nil, err
	}
	schema, err := db.CRMSchema(ctx, cfg.Adopt.Database)
	if err != nil {
		return nil, err
	}
	return adopt.Resolve(cfg.Adopt, hostDB, schema)
}

// CheckAdoption runs adoption mode's checks alone: the mapping against the
// CRM's schema, then what it finds in the CRM's tables. It changes
// nothing, not even crmguard's own tables.
func CheckAdoption(ctx context.Context, cfg config.Config) (*adopt.Mapping, store.AdoptionReport, error) {
	if !cfg.Adopt.Enabled() {
		return nil, store.AdoptionReport{}, fmt.Errorf("adopt: the configuration has no adopt section; see docs/adopt.md")
	}
	db, err := store.Open(ctx, cfg.Database.Driver, cfg.Database.DSN, store.Options{MaxOpenConns: 2})
	if err != nil {
		return nil, store.AdoptionReport{}, err
	}
	defer db.Close()
	m, err := resolveAdoption(ctx, cfg, db)
	if err != nil {
		return nil, store.AdoptionReport{}, err
	}
	report, err := db.AdoptionReport(ctx, m)
	return m, report, err
}
