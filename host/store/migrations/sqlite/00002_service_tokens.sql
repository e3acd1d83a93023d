-- Service tokens belong to an install rather than a user: existing
-- applications use them to ask the decision API about any user.

-- +goose Up
CREATE TABLE crmguard_service_tokens (
  id         CHAR(26) NOT NULL,
  install_id CHAR(26) NOT NULL,
  hash       BLOB NOT NULL,
  label      VARCHAR(64) NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (id),
  UNIQUE (hash),
  CONSTRAINT crmguard_service_tokens_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
);

-- +goose Down
DROP TABLE crmguard_service_tokens;
