-- An audit entry's detail holds what a change was about, a deleted
-- record's data included, which may be as large as a request allows
-- (1 MiB): beyond TEXT's 64 KiB, so MEDIUMTEXT, as records' data.

-- +goose Up
ALTER TABLE crmguard_audit MODIFY detail MEDIUMTEXT NOT NULL;

-- +goose Down
ALTER TABLE crmguard_audit MODIFY detail TEXT NOT NULL;
