-- The foundation: installs, roles, users, tokens, teams, records, grants and
-- the audit log. Ids are ULIDs (ascii, binary collation); times are Unix
-- milliseconds so that both dialects compare them the same way.

-- +goose Up
CREATE TABLE crmguard_installs (
  id         CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  slug       VARCHAR(63) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name       VARCHAR(255) NOT NULL,
  settings   TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY crmguard_installs_slug (slug)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE crmguard_roles (
  install_id   CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  description  VARCHAR(255) NOT NULL,
  capabilities VARCHAR(255) NOT NULL,
  builtin      BOOLEAN NOT NULL,
  PRIMARY KEY (install_id, name),
  CONSTRAINT crmguard_roles_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE crmguard_users (
  id         CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  email      VARCHAR(254) NOT NULL,
  name       VARCHAR(255) NOT NULL,
  role       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  manager_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY crmguard_users_install_id (install_id, id),
  UNIQUE KEY crmguard_users_email (install_id, email),
  CONSTRAINT crmguard_users_role_fk FOREIGN KEY (install_id, role) REFERENCES crmguard_roles (install_id, name),
  CONSTRAINT crmguard_users_manager_fk FOREIGN KEY (install_id, manager_id) REFERENCES crmguard_users (install_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE crmguard_tokens (
  id         CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id    CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  hash       BINARY(32) NOT NULL,
  label      VARCHAR(64) NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY crmguard_tokens_hash (hash),
  KEY crmguard_tokens_user (install_id, user_id),
  CONSTRAINT crmguard_tokens_user_fk FOREIGN KEY (install_id, user_id) REFERENCES crmguard_users (install_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE crmguard_teams (
  id         CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name       VARCHAR(255) NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY crmguard_teams_install_id (install_id, id),
  UNIQUE KEY crmguard_teams_name (install_id, name),
  CONSTRAINT crmguard_teams_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE crmguard_team_members (
  install_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  team_id    CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id    CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  is_primary BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (team_id, user_id),
  KEY crmguard_team_members_user (install_id, user_id),
  CONSTRAINT crmguard_team_members_team_fk FOREIGN KEY (install_id, team_id) REFERENCES crmguard_teams (install_id, id),
  CONSTRAINT crmguard_team_members_user_fk FOREIGN KEY (install_id, user_id) REFERENCES crmguard_users (install_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Records are clustered by (install, type, id) so that a list page is one
-- range scan; the secondary indexes cover the access predicates.
CREATE TABLE crmguard_records (
  install_id  CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  type        VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  id          CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner_id    CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_by  CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  team_id     CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
  parent_type VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NULL,
  parent_id   CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
  name        VARCHAR(255) NOT NULL,
  email       VARCHAR(255) NOT NULL,
  data        MEDIUMTEXT NOT NULL,
  version     BIGINT NOT NULL,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (install_id, type, id),
  KEY crmguard_records_owner (install_id, type, owner_id, id),
  KEY crmguard_records_team (install_id, type, team_id, id),
  KEY crmguard_records_creator (install_id, type, created_by, id),
  KEY crmguard_records_parent (install_id, parent_id, id),
  CONSTRAINT crmguard_records_owner_fk FOREIGN KEY (install_id, owner_id) REFERENCES crmguard_users (install_id, id),
  CONSTRAINT crmguard_records_creator_fk FOREIGN KEY (install_id, created_by) REFERENCES crmguard_users (install_id, id),
  CONSTRAINT crmguard_records_team_fk FOREIGN KEY (install_id, team_id) REFERENCES crmguard_teams (install_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- actions is a bit set: view 1, edit 2, delete 4, assign 8, share 16.
CREATE TABLE crmguard_grants (
  id           CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id   CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  record_type  VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  record_id    CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  subject_type VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  subject_id   CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  actions      INT NOT NULL,
  source       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  expires_at   BIGINT NULL,
  created_by   CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY crmguard_grants_record (install_id, record_type, record_id),
  KEY crmguard_grants_subject (install_id, subject_type, subject_id, record_type),
  CONSTRAINT crmguard_grants_record_fk FOREIGN KEY (install_id, record_type, record_id)
    REFERENCES crmguard_records (install_id, type, id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Append-only: the store has no statement that updates or deletes a row here.
CREATE TABLE crmguard_audit (
  id          CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  install_id  CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  at          BIGINT NOT NULL,
  actor_id    CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
  action      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  record_type VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NULL,
  record_id   CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
  detail      TEXT NOT NULL,
  PRIMARY KEY (id),
  KEY crmguard_audit_record (install_id, record_type, record_id, id),
  CONSTRAINT crmguard_audit_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE crmguard_audit;
DROP TABLE crmguard_grants;
DROP TABLE crmguard_records;
DROP TABLE crmguard_team_members;
DROP TABLE crmguard_teams;
DROP TABLE crmguard_tokens;
DROP TABLE crmguard_users;
DROP TABLE crmguard_roles;
DROP TABLE crmguard_installs;
