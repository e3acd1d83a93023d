-- Dead letters: outbox events no delivery took within the retry window,
-- or that cannot be read at all, kept with why until an operator replays
-- them; with what they are about (operation, record), so that a list of
-- them needs no event read. An event's retries run from retry_from, its
-- first writing or its last replay.

-- +goose Up
ALTER TABLE crmguard_outbox ADD COLUMN retry_from INTEGER NOT NULL DEFAULT 0;
UPDATE crmguard_outbox SET retry_from = created_at;

CREATE TABLE crmguard_outbox_dead_letters (
  id          CHAR(26) NOT NULL PRIMARY KEY,
  install_id  CHAR(26) NOT NULL REFERENCES crmguard_installs (id),
  plugin_id   VARCHAR(64) NOT NULL,
  event       TEXT NOT NULL,
  operation   VARCHAR(16) NOT NULL,
  record_type VARCHAR(16) NOT NULL,
  record_id   VARCHAR(26) NOT NULL,
  attempts    INTEGER NOT NULL,
  last_error  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  died_at     INTEGER NOT NULL
);
CREATE INDEX crmguard_outbox_dead_letters_install ON crmguard_outbox_dead_letters (install_id, plugin_id, id);
CREATE INDEX crmguard_outbox_dead_letters_plugin ON crmguard_outbox_dead_letters (plugin_id, id);

-- +goose Down
DROP TABLE crmguard_outbox_dead_letters;
ALTER TABLE crmguard_outbox DROP COLUMN retry_from;
