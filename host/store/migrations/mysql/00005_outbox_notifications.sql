-- The outbox of after-write events, one row per event and plugin, kept
-- until the plugin has taken it; the notifications plugins send to users
-- (the outbox when no SMTP server is configured, the record of what was
-- sent when one is); and an index to list a plugin's grants.

-- +goose Up
CREATE TABLE crmguard_outbox (
  id         CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  plugin_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  event      MEDIUMTEXT NOT NULL,
  attempts   INT NOT NULL,
  next_at    BIGINT NOT NULL,
  last_error VARCHAR(1000) NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY crmguard_outbox_due (next_at, id),
  CONSTRAINT crmguard_outbox_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE crmguard_notifications (
  id         CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id    CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  source     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  subject    VARCHAR(255) NOT NULL,
  body       TEXT NOT NULL,
  state      VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  error      VARCHAR(1000) NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY crmguard_notifications_user (install_id, user_id, id),
  CONSTRAINT crmguard_notifications_user_fk FOREIGN KEY (install_id, user_id) REFERENCES crmguard_users (install_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE INDEX crmguard_grants_source ON crmguard_grants (install_id, source, id);

-- +goose Down
DROP INDEX crmguard_grants_source ON crmguard_grants;
DROP TABLE crmguard_notifications;
DROP TABLE crmguard_outbox;
