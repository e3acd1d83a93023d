-- Plugins are activated per install, like WordPress plugins on a site. A
-- deactivated plugin keeps its row and its settings: activating it again
-- restores them.

-- +goose Up
CREATE TABLE crmguard_plugin_activations (
  install_id CHAR(26) NOT NULL,
  plugin_id  VARCHAR(64) NOT NULL,
  active     INTEGER NOT NULL,
  settings   TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (install_id, plugin_id),
  CONSTRAINT crmguard_plugin_activations_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
);

-- +goose Down
DROP TABLE crmguard_plugin_activations;
