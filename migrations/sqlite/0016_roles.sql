-- Roles (issue 20): named bundles of permissions and of other roles, never
-- in a cycle (the domain checks). A role's name is its key and never
-- changes; `id` is what SCIM's /Roles shows.
CREATE TABLE roles (
    name        TEXT PRIMARY KEY NOT NULL,
    id          TEXT NOT NULL,
    description TEXT NOT NULL,
    created     INTEGER NOT NULL,
    modified    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX roles_id ON roles (id);

CREATE TABLE role_permissions (
    role       TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission TEXT NOT NULL REFERENCES permissions (name),
    PRIMARY KEY (role, permission)
) STRICT, WITHOUT ROWID;

-- `member` is a role `role` contains.
CREATE TABLE role_roles (
    role   TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    member TEXT NOT NULL REFERENCES roles (name),
    PRIMARY KEY (role, member)
) STRICT, WITHOUT ROWID;
CREATE INDEX role_roles_member ON role_roles (member);

-- The roles an account holds and from where (`direct`, `idp:<iam>`). The
-- permissions a held role brings, its own and its roles' (transitively),
-- are kept in user_permissions with source `role:<name>`, so that every
-- reader of grants (the last-USER_ADMIN check inside writes included)
-- sees them without knowing roles.
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL REFERENCES roles (name),
    source  TEXT NOT NULL,
    granted INTEGER NOT NULL,
    PRIMARY KEY (user_id, role, source)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_roles_role ON user_roles (role, user_id);
CREATE INDEX user_permissions_source ON user_permissions (source, user_id);
