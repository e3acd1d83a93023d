-- Each plugin keeps its own data per install in a key-value store, with
-- compare-and-set (version) and expiry.

-- +goose Up
CREATE TABLE crmguard_plugin_kv (
  plugin_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  k          VARBINARY(255) NOT NULL,
  v          MEDIUMBLOB NOT NULL,
  version    BIGINT NOT NULL,
  expires_at BIGINT NULL,
  PRIMARY KEY (plugin_id, install_id, k),
  CONSTRAINT crmguard_plugin_kv_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE crmguard_plugin_kv;
