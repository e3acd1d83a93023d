package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmguard/crmguard/config"
	"github.com/crmguard/crmguard/host/adopt"
	"github.com/crmguard/crmguard/host/crm"
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

// adopt serves the adopted CRM's records through the install the mapping
// names (created when missing) and copies the CRM's users and teams once
// before anything is served.
func (h *Host) adopt(ctx context.Context, m *adopt.Mapping) error {
	in, err := h.svc.InstallBySlug(ctx, m.Install)
	if e, ok := crm.AsError(err); ok && e.Kind == crm.KindNotFound {
		in, err = h.svc.CreateInstall(ctx, m.Install, "")
		if err == nil {
			h.log.Info("adopt: created the install serving the CRM", "install", m.Install)
		}
	}
	if err != nil {
		return fmt.Errorf("adopt.install: %w", err)
	}
	h.db.Adopt(in.ID, m)
	if err := h.svc.SyncAdoptedUsers(ctx); err != nil {
		return err
	}
	where := "crmguard's own database"
	if m.Database != "" {
		where = "database " + m.Database
	}
	h.log.Info("adopt: serving the CRM's tables", "install", m.Install, "crm", where, "types", len(m.Types), "record_cache", m.RecordCache.String())
	return nil
}

// syncAdopted copies the CRM's users and teams every interval until ctx
// ends; a failed copy is logged and tried again at the next tick.
func (h *Host) syncAdopted(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := h.svc.SyncAdoptedUsers(ctx); err != nil && !errors.Is(err, context.Canceled) {
			h.log.Warn("adopt: copying users and teams from the CRM failed; trying again", "err", err, "in", every)
		}
	}
}
