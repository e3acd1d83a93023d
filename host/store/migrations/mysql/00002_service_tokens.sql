-- Service tokens belong to an install rather than a user: existing
-- applications use them to ask the decision API about any user.

-- +goose Up
CREATE TABLE crmguard_service_tokens (
  id         CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  hash       BINARY(32) NOT NULL,
  label      VARCHAR(64) NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY crmguard_service_tokens_hash (hash),
  CONSTRAINT crmguard_service_tokens_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE crmguard_service_tokens;
