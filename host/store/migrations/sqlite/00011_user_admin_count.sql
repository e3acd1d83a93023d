-- Users are changed after their creation (role, manager, disabled), and a
-- change may not leave an install without an enabled administrator: the
-- check counts the enabled users of the install's admin roles, in one
-- range scan of this index. (The disabled column itself dates from 00008.)

-- +goose Up
CREATE INDEX crmguard_users_role_enabled ON crmguard_users (install_id, role, disabled);

-- +goose Down
DROP INDEX crmguard_users_role_enabled;
