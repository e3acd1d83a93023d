-- The users who share a role (a plugin's role peers) are read in one
-- range scan of this covering index. It also serves the role foreign key,
-- so InnoDB drops the index it had made for that key: the table keeps as
-- many indexes as before.

-- +goose Up
ALTER TABLE crmguard_users ADD KEY crmguard_users_role (install_id, role, id);

-- +goose Down
ALTER TABLE crmguard_users ADD KEY crmguard_users_role_fk (install_id, role), DROP KEY crmguard_users_role;
