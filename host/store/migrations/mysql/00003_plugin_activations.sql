-- Plugins are activated per install, like WordPress plugins on a site. A
-- deactivated plugin keeps its row and its settings: activating it again
-- restores them.

-- +goose Up
CREATE TABLE crmguard_plugin_activations (
  install_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  plugin_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  active     TINYINT(1) NOT NULL,
  settings   JSON NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (install_id, plugin_id),
  CONSTRAINT crmguard_plugin_activations_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE crmguard_plugin_activations;
