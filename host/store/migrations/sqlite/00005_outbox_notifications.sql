-- The outbox of after-write events, one row per event and plugin, kept
-- until the plugin has taken it; the notifications plugins send to users
-- (the outbox when no SMTP server is configured, the record of what was
-- sent when one is); and an index to list a plugin's grants.

-- +goose Up
CREATE TABLE crmguard_outbox (
  id         CHAR(26) NOT NULL PRIMARY KEY,
  install_id CHAR(26) NOT NULL REFERENCES crmguard_installs (id),
  plugin_id  VARCHAR(64) NOT NULL,
  event      TEXT NOT NULL,
  attempts   INTEGER NOT NULL,
  next_at    INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX crmguard_outbox_due ON crmguard_outbox (next_at, id);

CREATE TABLE crmguard_notifications (
  id         CHAR(26) NOT NULL PRIMARY KEY,
  install_id CHAR(26) NOT NULL,
  user_id    CHAR(26) NOT NULL,
  source     VARCHAR(64) NOT NULL,
  subject    VARCHAR(255) NOT NULL,
  body       TEXT NOT NULL,
  state      VARCHAR(8) NOT NULL,
  error      TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  FOREIGN KEY (install_id, user_id) REFERENCES crmguard_users (install_id, id)
);
CREATE INDEX crmguard_notifications_user ON crmguard_notifications (install_id, user_id, id);

CREATE INDEX crmguard_grants_source ON crmguard_grants (install_id, source, id);

-- +goose Down
DROP INDEX crmguard_grants_source;
DROP TABLE crmguard_notifications;
DROP TABLE crmguard_outbox;
