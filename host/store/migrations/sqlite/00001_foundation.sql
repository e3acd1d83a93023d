-- The foundation: installs, roles, users, tokens, teams, records, grants and
-- the audit log. Ids are ULIDs; times are Unix milliseconds so that both
-- dialects compare them the same way.

-- +goose Up
CREATE TABLE crmguard_installs (
  id         CHAR(26) NOT NULL,
  slug       VARCHAR(63) NOT NULL,
  name       VARCHAR(255) NOT NULL,
  settings   TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (id),
  UNIQUE (slug)
);

CREATE TABLE crmguard_roles (
  install_id   CHAR(26) NOT NULL,
  name         VARCHAR(64) NOT NULL,
  description  VARCHAR(255) NOT NULL,
  capabilities VARCHAR(255) NOT NULL,
  builtin      INTEGER NOT NULL,
  PRIMARY KEY (install_id, name),
  CONSTRAINT crmguard_roles_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
);

CREATE TABLE crmguard_users (
  id         CHAR(26) NOT NULL,
  install_id CHAR(26) NOT NULL,
  email      VARCHAR(254) NOT NULL,
  name       VARCHAR(255) NOT NULL,
  role       VARCHAR(64) NOT NULL,
  manager_id CHAR(26) NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (id),
  UNIQUE (install_id, id),
  UNIQUE (install_id, email),
  CONSTRAINT crmguard_users_role_fk FOREIGN KEY (install_id, role) REFERENCES crmguard_roles (install_id, name),
  CONSTRAINT crmguard_users_manager_fk FOREIGN KEY (install_id, manager_id) REFERENCES crmguard_users (install_id, id)
);

CREATE TABLE crmguard_tokens (
  id         CHAR(26) NOT NULL,
  install_id CHAR(26) NOT NULL,
  user_id    CHAR(26) NOT NULL,
  hash       BLOB NOT NULL,
  label      VARCHAR(64) NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (id),
  UNIQUE (hash),
  CONSTRAINT crmguard_tokens_user_fk FOREIGN KEY (install_id, user_id) REFERENCES crmguard_users (install_id, id)
);
CREATE INDEX crmguard_tokens_user ON crmguard_tokens (install_id, user_id);

CREATE TABLE crmguard_teams (
  id         CHAR(26) NOT NULL,
  install_id CHAR(26) NOT NULL,
  name       VARCHAR(255) NOT NULL COLLATE NOCASE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (id),
  UNIQUE (install_id, id),
  UNIQUE (install_id, name),
  CONSTRAINT crmguard_teams_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
);

CREATE TABLE crmguard_team_members (
  install_id CHAR(26) NOT NULL,
  team_id    CHAR(26) NOT NULL,
  user_id    CHAR(26) NOT NULL,
  is_primary INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (team_id, user_id),
  CONSTRAINT crmguard_team_members_team_fk FOREIGN KEY (install_id, team_id) REFERENCES crmguard_teams (install_id, id),
  CONSTRAINT crmguard_team_members_user_fk FOREIGN KEY (install_id, user_id) REFERENCES crmguard_users (install_id, id)
);
CREATE INDEX crmguard_team_members_user ON crmguard_team_members (install_id, user_id);

-- Records are clustered by (install, type, id) so that a list page is one
-- range scan; the secondary indexes cover the access predicates.
CREATE TABLE crmguard_records (
  install_id  CHAR(26) NOT NULL,
  type        VARCHAR(16) NOT NULL,
  id          CHAR(26) NOT NULL,
  owner_id    CHAR(26) NULL,
  created_by  CHAR(26) NOT NULL,
  team_id     CHAR(26) NULL,
  parent_type VARCHAR(16) NULL,
  parent_id   CHAR(26) NULL,
  name        VARCHAR(255) NOT NULL,
  email       VARCHAR(255) NOT NULL,
  data        TEXT NOT NULL,
  version     INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (install_id, type, id),
  CONSTRAINT crmguard_records_owner_fk FOREIGN KEY (install_id, owner_id) REFERENCES crmguard_users (install_id, id),
  CONSTRAINT crmguard_records_creator_fk FOREIGN KEY (install_id, created_by) REFERENCES crmguard_users (install_id, id),
  CONSTRAINT crmguard_records_team_fk FOREIGN KEY (install_id, team_id) REFERENCES crmguard_teams (install_id, id)
) WITHOUT ROWID;
CREATE INDEX crmguard_records_owner ON crmguard_records (install_id, type, owner_id, id);
CREATE INDEX crmguard_records_team ON crmguard_records (install_id, type, team_id, id);
CREATE INDEX crmguard_records_creator ON crmguard_records (install_id, type, created_by, id);
CREATE INDEX crmguard_records_parent ON crmguard_records (install_id, parent_id, id);

-- actions is a bit set: view 1, edit 2, delete 4, assign 8, share 16.
CREATE TABLE crmguard_grants (
  id           CHAR(26) NOT NULL,
  install_id   CHAR(26) NOT NULL,
  record_type  VARCHAR(16) NOT NULL,
  record_id    CHAR(26) NOT NULL,
  subject_type VARCHAR(8) NOT NULL,
  subject_id   CHAR(26) NOT NULL,
  actions      INTEGER NOT NULL,
  source       VARCHAR(64) NOT NULL,
  expires_at   INTEGER NULL,
  created_by   CHAR(26) NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT crmguard_grants_record_fk FOREIGN KEY (install_id, record_type, record_id)
    REFERENCES crmguard_records (install_id, type, id) ON DELETE CASCADE
);
CREATE INDEX crmguard_grants_record ON crmguard_grants (install_id, record_type, record_id);
CREATE INDEX crmguard_grants_subject ON crmguard_grants (install_id, subject_type, subject_id, record_type);

-- Append-only: the store has no statement that updates or deletes a row here.
CREATE TABLE crmguard_audit (
  id          CHAR(26) NOT NULL,
  install_id  CHAR(26) NOT NULL,
  at          INTEGER NOT NULL,
  actor_id    CHAR(26) NULL,
  action      VARCHAR(64) NOT NULL,
  record_type VARCHAR(16) NULL,
  record_id   CHAR(26) NULL,
  detail      TEXT NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT crmguard_audit_install_fk FOREIGN KEY (install_id) REFERENCES crmguard_installs (id)
);
CREATE INDEX crmguard_audit_record ON crmguard_audit (install_id, record_type, record_id, id);

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
