-- Users are changed after their creation (role, manager, disabled), and a
-- change may not leave an install without an enabled administrator: the
-- check counts the enabled users of the install's admin roles, in one
-- range scan of this index. (The disabled column itself dates from 00008,
-- where adopted CRMs' users were the first to be disabled.) The index also
-- serves the role foreign key, so InnoDB drops the index it had made for
-- that key: the table keeps as many indexes as before.

-- +goose Up
ALTER TABLE crmguard_users ADD KEY crmguard_users_role_enabled (install_id, role, disabled);

-- +goose Down
ALTER TABLE crmguard_users ADD KEY crmguard_users_role_fk (install_id, role), DROP KEY crmguard_users_role_enabled;
