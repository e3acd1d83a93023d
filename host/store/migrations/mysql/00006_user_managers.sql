-- A user's managers and reports are worked out from the manager links of
-- their install, read in one range scan of this covering index. It also
-- serves the manager foreign key, so InnoDB drops the index it had made
-- for that key: the table keeps as many indexes as before.

-- +goose Up
ALTER TABLE crmguard_users ADD KEY crmguard_users_manager (install_id, manager_id, id);

-- +goose Down
ALTER TABLE crmguard_users ADD KEY crmguard_users_manager_fk (install_id, manager_id), DROP KEY crmguard_users_manager;
