//! Roles: named bundles of permissions and of other roles, never in a
//! cycle. An account holding a role holds every permission it brings (its
//! own and its roles', transitively), shown with source `role:<name>`.
//! Managing roles and who holds them needs USER_ADMIN; a change that
//! would leave nobody holding USER_ADMIN is refused as on every path.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::accounts::{Ctx, guarded, not_found_as_account};
use super::grants::unknown_permission;
use super::ids::UserId;
use super::permissions::{USER_ADMIN, may};
use super::{Directory, Error, Result, changes, rfc3339, truncate};
use crate::store::StoreError;
use crate::store::accounts::{LastAdmin, SOURCE_DIRECT};
use crate::store::roles::{Expansion, HeldRoles, RoleDef, RoleWrite};

/// The most permissions, and the most roles, one role names, and the most
/// roles one request gives an account.
pub const MAX_ROLE_ITEMS: usize = 100;

/// A role name: 1 to 64 characters, ASCII letters, digits, '_', '-' and
/// '.', starting with a letter or a digit (it appears in paths and in
/// sources, `role:<name>`).
fn check_role_name(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_value(format!(
            "a role name is 1 to 64 characters: letters, digits, '_', '-' and '.', starting with a letter or a digit: '{}'",
            truncate(s)
        )))
    }
}

fn unknown_role(name: &str) -> Error {
    Error::invalid_value(format!("no role named '{}'", truncate(name)))
}

fn no_role(name: &str) -> Error {
    Error::not_found(format!("no role named '{}'", truncate(name)))
}

/// A role as the admin API takes it (`POST /api/v1/roles`, `PUT
/// /api/v1/roles/{name}`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    /// Required on POST; on PUT, if given, the name in the path.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Permission names (at most 100).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Names of the roles it contains (at most 100; no cycles).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A role as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub roles: Vec<String>,
    /// The roles that contain this one.
    pub contained_by: Vec<String>,
    /// Every permission an account holding it holds through it.
    pub effective_permissions: Vec<String>,
    pub created: String,
    pub modified: String,
}

/// Every role, by name: what the closure, cycle and containment questions
/// read.
#[derive(Debug, Clone, Default)]
pub struct RoleGraph(pub BTreeMap<String, RoleDef>);

impl RoleGraph {
    /// The role with this name, or this id.
    pub fn find(&self, name_or_id: &str) -> Option<&RoleDef> {
        self.0.get(name_or_id).or_else(|| {
            let id = Uuid::parse_str(name_or_id).ok()?;
            self.0.values().find(|r| r.id == id)
        })
    }

    /// Every permission the role brings: its own and its roles',
    /// transitively (each role visited once).
    pub fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::from([name.to_owned()]);
        let mut queue = VecDeque::from([name.to_owned()]);
        while let Some(r) = queue.pop_front() {
            let Some(def) = self.0.get(&r) else { continue };
            out.extend(def.permissions.iter().cloned());
            for m in &def.roles {
                if seen.insert(m.clone()) {
                    queue.push_back(m.clone());
                }
            }
        }
        out
    }

    /// The roles that contain this one directly.
    pub fn containers(&self, name: &str) -> Vec<String> {
        self.0
            .values()
            .filter(|r| r.roles.iter().any(|m| m == name))
            .map(|r| r.name.clone())
            .collect()
    }

    /// The role and every role containing it, transitively: whose
    /// permissions change when it changes.
    fn affected(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::from([name.to_owned()]);
        let mut queue = VecDeque::from([name.to_owned()]);
        while let Some(r) = queue.pop_front() {
            for c in self.containers(&r) {
                if out.insert(c.clone()) {
                    queue.push_back(c);
                }
            }
        }
        out
    }

    /// A path from the role back to itself through the roles it contains,
    /// if there is one: `A → B → A`.
    fn cycle_through(&self, name: &str) -> Option<Vec<String>> {
        // Breadth-first, remembering how each role was first reached.
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([name.to_owned()]);
        while let Some(r) = queue.pop_front() {
            let Some(def) = self.0.get(&r) else { continue };
            for m in &def.roles {
                if m == name {
                    let mut path = vec![name.to_owned(), r.clone()];
                    let mut at = r.clone();
                    while at != name {
                        at = parent.get(&at)?.clone();
                        path.push(at.clone());
                    }
                    path.reverse();
                    return Some(path);
                }
                if m != name && !parent.contains_key(m) {
                    parent.insert(m.clone(), r.clone());
                    queue.push_back(m.clone());
                }
            }
        }
        None
    }

    fn expansions(&self, roles: &BTreeSet<String>) -> Vec<Expansion> {
        roles
            .iter()
            .map(|r| Expansion {
                role: r.clone(),
                permissions: self.closure(r).into_iter().collect(),
            })
            .collect()
    }

    fn view(&self, def: &RoleDef) -> Role {
        Role {
            id: def.id,
            name: def.name.clone(),
            description: def.description.clone(),
            permissions: def.permissions.clone(),
            roles: def.roles.clone(),
            contained_by: self.containers(&def.name),
            effective_permissions: self.closure(&def.name).into_iter().collect(),
            created: rfc3339(def.created),
            modified: rfc3339(def.modified),
        }
    }
}

/// The names of a list, each once, in order; more than the most → 400.
fn distinct(what: &str, names: &[String]) -> Result<Vec<String>> {
    if names.len() > MAX_ROLE_ITEMS {
        return Err(Error::invalid_value(format!(
            "'{what}' names at most {MAX_ROLE_ITEMS}"
        )));
    }
    let mut seen = BTreeSet::new();
    Ok(names
        .iter()
        .filter(|n| seen.insert(n.as_str()))
        .cloned()
        .collect())
}

impl Directory {
    pub async fn role_graph(&self) -> Result<RoleGraph> {
        Ok(RoleGraph(
            self.store
                .roles()
                .await?
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect(),
        ))
    }

    pub async fn list_roles(&self, ctx: &Ctx) -> Result<Vec<Role>> {
        ctx.require(may::READ_ACCOUNTS)?;
        let graph = self.role_graph().await?;
        Ok(graph.0.values().map(|r| graph.view(r)).collect())
    }

    pub async fn get_role(&self, ctx: &Ctx, name: &str) -> Result<Role> {
        ctx.require(may::READ_ACCOUNTS)?;
        let graph = self.role_graph().await?;
        let def = graph.0.get(name).ok_or_else(|| no_role(name))?;
        Ok(graph.view(def))
    }

    /// Creates a role, or (`replace`) replaces the one named `name`.
    pub async fn put_role(&self, ctx: &Ctx, name: Option<&str>, input: RoleInput) -> Result<Role> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let replace = name.is_some();
        let name = match (name, &input.name) {
            (Some(path), Some(body)) if path != body => {
                return Err(Error::invalid_value(
                    "the name in the body does not match the name in the path (a role's name never changes)",
                ));
            }
            (Some(path), _) => path.to_owned(),
            (None, Some(body)) => body.clone(),
            (None, None) => return Err(Error::invalid_value("'name' is required")),
        };
        check_role_name(&name)?;
        if input.description.chars().count() > 512 {
            return Err(Error::invalid_value(
                "a description is at most 512 characters",
            ));
        }
        let permissions = distinct("permissions", &input.permissions)?;
        let roles = distinct("roles", &input.roles)?;
        let catalogue = self.catalogue_names().await?;
        if let Some(p) = permissions.iter().find(|p| !catalogue.contains(*p)) {
            return Err(unknown_permission(p));
        }
        let mut graph = self.role_graph().await?;
        if let Some(r) = roles.iter().find(|r| !graph.0.contains_key(*r)) {
            return Err(unknown_role(r));
        }
        let before = graph.clone();
        let now = self.now();
        let def = match (replace, graph.0.get(&name)) {
            (true, None) => return Err(no_role(&name)),
            (false, Some(_)) => {
                return Err(Error::duplicate(format!("the role {name} already exists")));
            }
            (true, Some(old)) => RoleDef {
                description: input.description,
                permissions,
                roles,
                modified: now,
                ..old.clone()
            },
            (false, None) => RoleDef {
                id: self.new_id(),
                name: name.clone(),
                description: input.description,
                permissions,
                roles,
                created: now,
                modified: now,
            },
        };
        graph.0.insert(name.clone(), def.clone());
        if let Some(cycle) = graph.cycle_through(&name) {
            return Err(Error::invalid_value(format!(
                "roles may not contain themselves: {}",
                cycle.join(" → ")
            )));
        }
        let affected = graph.affected(&name);
        // Whoever holds one of these roles gains or loses what changed:
        // nobody hands out what they do not hold.
        let changed: BTreeSet<String> = affected
            .iter()
            .flat_map(|r| {
                before
                    .closure(r)
                    .symmetric_difference(&graph.closure(r))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        ctx.require_grant(&changed)?;
        let loses_admin = affected.iter().any(|r| {
            before.closure(r).contains(USER_ADMIN) && !graph.closure(r).contains(USER_ADMIN)
        });
        let admins = if loses_admin {
            self.admins_beside_grants().await?
        } else {
            None
        };
        let expansions = graph.expansions(&affected);
        let action = if replace {
            "role.updated"
        } else {
            "role.created"
        };
        let entry = ctx.entry(action).target("Role", def.id).attributes([
            "name",
            "description",
            "permissions",
            "roles",
        ]);
        let write = RoleWrite {
            role: &def,
            expansions: &expansions,
            last_admin: admins.as_deref().map(admin_guard),
            audit: &entry,
        };
        self.store
            .put_role(&write, replace, now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict("roles_name") => {
                    Error::duplicate(format!("the role {name} already exists"))
                }
                StoreError::NotFound => no_role(&name),
                other => guarded(other),
            })?;
        Ok(graph.view(&def))
    }

    /// Deletes a role: its holders lose it and what it brought. A role
    /// another role contains cannot go (409 naming them).
    pub async fn delete_role(&self, ctx: &Ctx, name: &str) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let graph = self.role_graph().await?;
        let def = graph.0.get(name).ok_or_else(|| no_role(name))?;
        let containers = graph.containers(name);
        if !containers.is_empty() {
            return Err(Error::conflict(format!(
                "the role {name} is contained by {}; take it out of them first",
                containers.join(", ")
            )));
        }
        let brings = graph.closure(name);
        ctx.require_grant(&brings)?;
        let admins = if brings.contains(USER_ADMIN) {
            self.admins_beside_grants().await?
        } else {
            None
        };
        let entry = ctx.entry("role.deleted").target("Role", def.id);
        self.store
            .delete_role(name, admins.as_deref().map(admin_guard), &entry, self.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => no_role(name),
                other => guarded(other),
            })
    }

    /// The roles an account holds: (role, source), by role.
    pub async fn held_roles(&self, user: UserId) -> Result<Vec<(String, String)>> {
        Ok(self.store.user_roles(user.uuid()).await?)
    }

    /// Gives an account roles (source `direct`).
    pub async fn add_roles(&self, ctx: &Ctx, user: UserId, names: &[String]) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        if names.is_empty() {
            return Err(Error::invalid_value("'roles' names 1 to 100 roles"));
        }
        let names = distinct("roles", names)?;
        let graph = self.role_graph().await?;
        let mut add = Vec::new();
        for n in &names {
            let def = graph.find(n).ok_or_else(|| unknown_role(n))?;
            add.push(def.name.clone());
        }
        let brings: BTreeSet<String> = add.iter().flat_map(|r| graph.closure(r)).collect();
        ctx.require_grant(&brings)?;
        let expansions = graph.expansions(&add.into_iter().collect());
        self.change_direct_roles(ctx, user, &expansions, &[], None)
            .await
    }

    /// The roles given here (source `direct`) an account gains and loses,
    /// in one transaction with their records.
    async fn change_direct_roles(
        &self,
        ctx: &Ctx,
        user: UserId,
        add: &[Expansion],
        remove: &[String],
        admins: Option<Vec<Uuid>>,
    ) -> Result<()> {
        let who = ctx.entry("");
        let records =
            |d: &crate::store::roles::RoleDelta<'_>| changes::roles_changed(&who, user.uuid(), d);
        self.store
            .change_user_roles(
                user.uuid(),
                &HeldRoles {
                    source: SOURCE_DIRECT,
                    add,
                    remove,
                    grant: &[],
                    revoke: &[],
                    last_admin: admins.as_deref().map(admin_guard),
                    records: &records,
                },
                self.now(),
            )
            .await
            .map_err(|e| not_found_as_account(e, user))
    }

    /// Takes a role given here (source `direct`) from an account.
    pub async fn remove_role(&self, ctx: &Ctx, user: UserId, name: &str) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let graph = self.role_graph().await?;
        let def = graph.find(name).ok_or_else(|| no_role(name))?;
        let held = self.held_roles(user).await?;
        if !held
            .iter()
            .any(|(r, s)| *r == def.name && s == SOURCE_DIRECT)
        {
            return Err(Error::not_found(format!(
                "the account does not hold the role {} from here",
                def.name
            )));
        }
        let brings = graph.closure(&def.name);
        ctx.require_grant(&brings)?;
        let admins = if brings.contains(USER_ADMIN) {
            self.admins_beside_grants().await?
        } else {
            None
        };
        let remove = [def.name.clone()];
        self.change_direct_roles(ctx, user, &[], &remove, admins)
            .await
    }
}

/// Storage's check after a change that may take USER_ADMIN from anyone:
/// `admins` hold it through groups whatever the change does.
fn admin_guard(admins: &[Uuid]) -> LastAdmin<'_> {
    super::guard::store_guard(admins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn graph(roles: &[(&str, &[&str], &[&str])]) -> RoleGraph {
        RoleGraph(
            roles
                .iter()
                .map(|(n, ps, rs)| {
                    (
                        n.to_string(),
                        RoleDef {
                            id: Uuid::nil(),
                            name: n.to_string(),
                            description: String::new(),
                            permissions: ps.iter().map(|s| s.to_string()).collect(),
                            roles: rs.iter().map(|s| s.to_string()).collect(),
                            created: OffsetDateTime::UNIX_EPOCH,
                            modified: OffsetDateTime::UNIX_EPOCH,
                        },
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn a_role_brings_its_roles_permissions_and_a_cycle_is_named() {
        let g = graph(&[
            ("a", &["AUDIT"], &["b"]),
            ("b", &["GOVERNANCE"], &["c"]),
            ("c", &["CREATE_PROJECT"], &[]),
        ]);
        assert_eq!(
            g.closure("a").into_iter().collect::<Vec<_>>(),
            ["AUDIT", "CREATE_PROJECT", "GOVERNANCE"]
        );
        assert_eq!(
            g.affected("c"),
            BTreeSet::from(["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(g.cycle_through("a"), None);
        let cyclic = graph(&[("a", &[], &["b"]), ("b", &[], &["c"]), ("c", &[], &["a"])]);
        assert_eq!(
            cyclic.cycle_through("a").unwrap().join(" → "),
            "a → b → c → a"
        );
        let own = graph(&[("a", &[], &["a"])]);
        assert_eq!(own.cycle_through("a").unwrap().join(" → "), "a → a");
    }
}
