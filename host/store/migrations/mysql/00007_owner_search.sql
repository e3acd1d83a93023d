-- The owner index also holds each record's name and e-mail, so that a
-- search among the records of a few owners (a sales rep's own, a
-- manager's reports') reads the index alone: the substring is matched in
-- the index entry rather than in a row fetched for each entry.

-- +goose Up
ALTER TABLE crmguard_records
  DROP KEY crmguard_records_owner,
  ADD KEY crmguard_records_owner (install_id, type, owner_id, id, name, email);

-- +goose Down
ALTER TABLE crmguard_records
  DROP KEY crmguard_records_owner,
  ADD KEY crmguard_records_owner (install_id, type, owner_id, id);
