-- The record types a role's users may add, comma-separated; NULL means
-- every type, which is what every role allowed before this column, so
-- existing roles keep working unchanged.

-- +goose Up
ALTER TABLE crmguard_roles ADD COLUMN add_types VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL;

-- +goose Down
ALTER TABLE crmguard_roles DROP COLUMN add_types;
