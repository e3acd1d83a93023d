-- The users who share a role (a plugin's role peers) are read in one
-- range scan of this covering index.

-- +goose Up
CREATE INDEX crmguard_users_role ON crmguard_users (install_id, role, id);

-- +goose Down
DROP INDEX crmguard_users_role;
