//! The audit log searched by person and read with names: a person typed as
//! a name, username or email address becomes the ids of the accounts it
//! names (the log itself holds only ids), and a page's actors and targets
//! get the names they have now. A deleted account has no name any more:
//! its records stay, by id.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts::Ctx;
use super::audit_log::{AuditPage, AuditView};
use super::ids::{GroupId, IamId};
use super::permissions::may;
use super::{Directory, Result};
use crate::audit::Actor;
use crate::scim::resource::fold_case;
use crate::store::ListQuery;
use crate::store::accounts::{AccountQuery, AuditQuery};

/// At most this many accounts stand for one person search.
pub const PEOPLE_LIMIT: u64 = 20;

/// An account a person search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonMatch {
    pub id: Uuid,
    pub name: String,
    pub user_name: String,
}

/// A page of the audit log and, when the search named a person, the
/// accounts it stood for (none: nobody matched, and the page is empty).
#[derive(Debug, Clone)]
pub struct AuditSearch {
    pub page: AuditPage,
    pub people: Option<Vec<PersonMatch>>,
}

/// What an actor or a target is called now, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub kind: NamedKind,
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedKind {
    User,
    Group,
    Iam,
}

/// The names of a page's actors (by their rendered form) and targets.
#[derive(Debug, Clone, Default)]
pub struct AuditNames {
    pub actors: HashMap<String, Named>,
    pub targets: HashMap<Uuid, Named>,
}

impl AuditNames {
    pub fn actor(&self, actor: &str) -> Option<&Named> {
        self.actors.get(actor)
    }

    pub fn target(&self, r: &AuditView) -> Option<&Named> {
        r.target.and_then(|t| self.targets.get(&t))
    }
}

impl Directory {
    /// The accounts `text` names: an id as it is; else those whose name or
    /// username holds it, or, when none does, those with it as an email
    /// address (exactly, in any IAM). At most [`PEOPLE_LIMIT`].
    pub async fn audit_people(&self, ctx: &Ctx, text: &str) -> Result<Vec<PersonMatch>> {
        ctx.require(may::READ_AUDIT)?;
        let text = text.trim();
        if let Ok(id) = Uuid::parse_str(text) {
            let name = self.store.account(id).await?;
            let names = self.iam_names().await?;
            return Ok(vec![match name {
                Some(a) => person(&super::account_view::summary(&a, &names)),
                None => PersonMatch {
                    id,
                    name: id.to_string(),
                    user_name: String::new(),
                },
            }]);
        }
        let folded = fold_case(text);
        if folded.is_empty() {
            return Ok(Vec::new());
        }
        let (accounts, _) = self
            .store
            .list_accounts(&AccountQuery {
                include_disabled: true,
                search: Some(folded),
                limit: PEOPLE_LIMIT,
                ..Default::default()
            })
            .await?;
        let mut ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
        // No index serves an email address inside the documents: it is
        // looked up only when no name or username holds the text (a
        // built-in account's username is its email address).
        if ids.is_empty() && text.contains('@') {
            ids.extend(self.with_email(text).await?);
        }
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        ids.truncate(PEOPLE_LIMIT as usize);
        let names = self.iam_names().await?;
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(a) = self.store.account(id).await? {
                found.push(person(&super::account_view::summary(&a, &names)));
            }
        }
        Ok(found)
    }

    /// Users holding this email address, in every IAM.
    async fn with_email(&self, email: &str) -> Result<Vec<Uuid>> {
        // The address as a filter's string literal: JSON quoting is SCIM's.
        let literal = serde_json::Value::String(email.to_owned()).to_string();
        let parsed =
            crate::scim::filter::parse(&format!("emails.value eq {literal}"), &self.limits.filter);
        let Ok(filter) = parsed else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        for iam in self.store.list_iams().await? {
            let page = self
                .store
                .list_users(
                    IamId::new(iam.id),
                    &ListQuery {
                        filter: Some(filter.clone()),
                        limit: PEOPLE_LIMIT,
                        ..Default::default()
                    },
                )
                .await?;
            ids.extend(page.items.iter().map(|s| s.id));
        }
        Ok(ids)
    }

    /// The audit log as `audit_log` reads it, narrowed to the records by
    /// or about the person `person` names (see `audit_people`).
    pub async fn search_audit(
        &self,
        ctx: &Ctx,
        person: Option<&str>,
        q: &AuditQuery,
    ) -> Result<AuditSearch> {
        ctx.require(may::READ_AUDIT)?;
        let people = match person.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(self.audit_people(ctx, p).await?),
            None => None,
        };
        let mut q = q.clone();
        if let Some(found) = &people {
            q.people = Some(found.iter().map(|p| p.id).collect());
        }
        Ok(AuditSearch {
            page: self.audit_log(ctx, &q).await?,
            people,
        })
    }

    /// The names the records' actors and targets have now: accounts,
    /// groups and IAMs (other targets keep their ids). For a reader of the
    /// log or of an account's report.
    pub async fn audit_names(&self, ctx: &Ctx, rows: &[AuditView]) -> Result<AuditNames> {
        if !ctx.may(may::READ_AUDIT) {
            ctx.require(may::READ_REPORTS)?;
        }
        let iams = self.iam_names().await?;
        let mut names = AuditNames::default();
        let mut users: HashMap<Uuid, Option<Named>> = HashMap::new();
        for r in rows {
            if !names.actors.contains_key(&r.actor) {
                let named = match Actor::parse(&r.actor) {
                    Some(Actor::Admin(id)) => self.user_named(id, &iams, &mut users).await?,
                    Some(Actor::Iam(id)) => iams.get(&id).map(|n| Named {
                        kind: NamedKind::Iam,
                        id,
                        name: n.clone(),
                    }),
                    _ => None,
                };
                if let Some(n) = named {
                    names.actors.insert(r.actor.clone(), n);
                }
            }
            let Some(target) = r.target else { continue };
            if names.targets.contains_key(&target) {
                continue;
            }
            let named = match r.target_kind.as_deref() {
                Some("User") => self.user_named(target, &iams, &mut users).await?,
                Some("Iam") => iams.get(&target).map(|n| Named {
                    kind: NamedKind::Iam,
                    id: target,
                    name: n.clone(),
                }),
                Some("Group") => self.group_named(target).await?,
                _ => None,
            };
            if let Some(n) = named {
                names.targets.insert(target, n);
            }
        }
        Ok(names)
    }

    async fn user_named(
        &self,
        id: Uuid,
        iams: &HashMap<Uuid, String>,
        seen: &mut HashMap<Uuid, Option<Named>>,
    ) -> Result<Option<Named>> {
        if let Some(n) = seen.get(&id) {
            return Ok(n.clone());
        }
        let named = self.store.account(id).await?.map(|a| Named {
            kind: NamedKind::User,
            id,
            name: super::account_view::summary(&a, iams).name().to_owned(),
        });
        seen.insert(id, named.clone());
        Ok(named)
    }

    async fn group_named(&self, id: Uuid) -> Result<Option<Named>> {
        let Some(iam) = self.store.group_iam(id).await? else {
            return Ok(None);
        };
        let group = self
            .store
            .get_group(IamId::new(iam), GroupId::new(id))
            .await?;
        Ok(group.and_then(|g| {
            let name = g.doc.get("displayName")?.as_str()?.to_owned();
            Some(Named {
                kind: NamedKind::Group,
                id,
                name,
            })
        }))
    }
}

fn person(s: &super::account_view::AccountSummary) -> PersonMatch {
    PersonMatch {
        id: s.id.uuid(),
        name: s.name().to_owned(),
        user_name: s.user_name.clone(),
    }
}
