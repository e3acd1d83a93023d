-- An audit entry's detail may be as large as a request allows; SQLite's
-- TEXT holds it already (MySQL's needed MEDIUMTEXT): nothing to change,
-- kept so that both dialects count the same versions.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
