-- Dead letters: outbox events no delivery took within the retry window,
-- or that cannot be read at all, kept with why until an operator replays
-- them; with what they are about (operation, record), so that a list of
-- them needs no event read. An event's retries run from retry_from, its
-- first writing or its last replay.

-- +goose Up
ALTER TABLE crmguard_outbox ADD COLUMN retry_from BIGINT NOT NULL DEFAULT 0;
UPDATE crmguard_outbox SET retry_from = created_at;

CREATE TABLE crmguard_outbox_dead_letters (
  id          CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id  CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  plugin_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  event       MEDIUMTEXT NOT NULL,
  operation   VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  record_type VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  record_id   VARCHAR(26) NOT NULL,
  attempts    INT NOT NULL,
  last_error  VARCHAR(1000) NOT NULL,
  created_at  BIGINT NOT NULL,
  died_at     BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY crmguard_outbox_dead_letters_install (install_id, plugin_id, id),
  KEY crmguard_outbox_dead_letters_plugin (plugin_id, id),
  CONSTRAINT crmguard_outbox_dead_letters_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE crmguard_outbox_dead_letters;
ALTER TABLE crmguard_outbox DROP COLUMN retry_from;
