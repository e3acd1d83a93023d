-- A user's managers and reports are worked out from the manager links of
-- their install, read in one range scan of this covering index.

-- +goose Up
CREATE INDEX crmguard_users_manager ON crmguard_users (install_id, manager_id, id);

-- +goose Down
DROP INDEX crmguard_users_manager;
