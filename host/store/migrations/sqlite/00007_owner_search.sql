-- The owner index also holds each record's name and e-mail, so that a
-- search among the records of a few owners (a sales rep's own, a
-- manager's reports') reads the index alone.

-- +goose Up
DROP INDEX crmguard_records_owner;
CREATE INDEX crmguard_records_owner ON crmguard_records (install_id, type, owner_id, id, name, email);

-- +goose Down
DROP INDEX crmguard_records_owner;
CREATE INDEX crmguard_records_owner ON crmguard_records (install_id, type, owner_id, id);
