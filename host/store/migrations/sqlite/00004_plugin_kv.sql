-- Each plugin keeps its own data per install in a key-value store, with
-- compare-and-set (version) and expiry.

-- +goose Up
CREATE TABLE crmguard_plugin_kv (
  plugin_id  VARCHAR(64) NOT NULL,
  install_id CHAR(26) NOT NULL,
  k          BLOB NOT NULL,
  v          BLOB NOT NULL,
  version    INTEGER NOT NULL,
  expires_at INTEGER NULL,
  PRIMARY KEY (plugin_id, install_id, k),
  CONSTRAINT crmguard_plugin_kv_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
);

-- +goose Down
DROP TABLE crmguard_plugin_kv;
