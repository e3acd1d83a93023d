-- Adoption mode needs MySQL, so the embedded store keeps the foreign key
-- from grants to records; users copied from a CRM can be disabled there.

-- +goose Up
ALTER TABLE crmguard_users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE crmguard_users DROP COLUMN disabled;
