-- Roles (issue 20): named bundles of permissions and of other roles, never
-- in a cycle (the domain checks). A role's name is its key and never
-- changes; `id` is what SCIM's /Roles shows.
CREATE TABLE roles (
    name        text PRIMARY KEY,
    id          uuid NOT NULL,
    description text NOT NULL,
    created     timestamptz NOT NULL,
    modified    timestamptz NOT NULL
);
CREATE UNIQUE INDEX roles_id ON roles (id);

CREATE TABLE role_permissions (
    role       text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission text NOT NULL REFERENCES permissions (name),
    PRIMARY KEY (role, permission)
);

-- `member` is a role `role` contains.
CREATE TABLE role_roles (
    role   text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    member text NOT NULL REFERENCES roles (name),
    PRIMARY KEY (role, member)
);
CREATE INDEX role_roles_member ON role_roles (member);

-- The roles an account holds and from where (`direct`, `idp:<iam>`). The
-- permissions a held role brings, its own and its roles' (transitively),
-- are kept in user_permissions with source `role:<name>`, so that every
-- reader of grants (the last-USER_ADMIN check inside writes included)
-- sees them without knowing roles.
CREATE TABLE user_roles (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    text NOT NULL REFERENCES roles (name),
    source  text NOT NULL,
    granted timestamptz NOT NULL,
    PRIMARY KEY (user_id, role, source)
);
CREATE INDEX user_roles_role ON user_roles (role, user_id);
CREATE INDEX user_permissions_source ON user_permissions (source, user_id);
