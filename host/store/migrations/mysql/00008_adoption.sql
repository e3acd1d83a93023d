-- Adoption mode: records may live in a CRM's own tables, so a grant names
-- its record without a foreign key to crmguard_records (the store deletes
-- a native record's grants with it), and users copied from the CRM can be
-- disabled there.

-- +goose Up
ALTER TABLE crmguard_grants DROP FOREIGN KEY crmguard_grants_record_fk;
ALTER TABLE crmguard_users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE crmguard_users DROP COLUMN disabled;
DELETE g FROM crmguard_grants g LEFT JOIN crmguard_records r
  ON r.install_id = g.install_id AND r.type = g.record_type AND r.id = g.record_id
  WHERE r.id IS NULL;
ALTER TABLE crmguard_grants ADD CONSTRAINT crmguard_grants_record_fk FOREIGN KEY (install_id, record_type, record_id)
  REFERENCES crmguard_records (install_id, type, id) ON DELETE CASCADE;
