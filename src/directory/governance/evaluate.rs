//! The decision for one account and one data source (registered, or
//! described by its tags): what the account is to policies, read once
//! ([`Directory::policy_account_of`]), and the data source's tags, weighed by
//! `crate::policy::evaluate` against every policy.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{member, members, tag_list};
use crate::directory::accounts::{Ctx, account_not_found};
use crate::directory::attributes::AttributeSources;
use crate::directory::grants::{GroupsByIam, group_iams};
use crate::directory::ids::{DataSourceId, IamId, UserId};
use crate::directory::permissions::may;
use crate::directory::{Directory, Error, Result, truncate};
use crate::policy::{self, AccountState};
use crate::store::GroupRef;
use crate::store::accounts::Account;

/// What the evaluate endpoint answers: the decision with each active
/// policy's part, the account as the policies saw it, and the data source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationView {
    #[serde(flatten)]
    pub evaluation: policy::Evaluation,
    pub inputs: policy::Account,
    pub data_source: EvaluatedSource,
}

/// The data source a decision is about: a registered one (its id and
/// name), or only tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluatedSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<DataSourceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub tags: policy::DataSource,
}

/// Where an account stands, whatever the policies say: an identity
/// provider's deletion first, then an administrator's disabling, then the
/// identity provider's own `active`.
fn state(a: &Account) -> AccountState {
    if a.deprovisioned.is_some() {
        AccountState::Deprovisioned
    } else if a.disabled {
        AccountState::Disabled
    } else if !a.active {
        AccountState::Inactive
    } else {
        AccountState::Active
    }
}

fn user_id(body: &Map<String, Value>) -> Result<UserId> {
    member(body, "userId")
        .ok_or_else(|| Error::invalid_value("userId is required"))?
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::invalid_value("userId must be an account id"))
}

impl Directory {
    /// What `crate::policy::evaluate` decides for an account
    /// (`{"userId"}`) and a data source (`{"dataSource": {"id"}}`, or
    /// `{"dataSource": {"tags": [..], "columnTags"?: [..]}}` for one not
    /// registered), with the reasons and the inputs.
    pub async fn evaluate(&self, ctx: &Ctx, body: &Value) -> Result<EvaluationView> {
        ctx.require(may::EVALUATE_POLICIES)?;
        let body = members(body, &["userId", "dataSource"])?;
        let user = user_id(body)?;
        let source = member(body, "dataSource")
            .ok_or_else(|| Error::invalid_value("dataSource is required"))?;
        // Reads that need nothing of each other, at once: the data
        // source's tags, the account's row, and the rest of what is read
        // of it in one statement (the policies are kept in memory).
        let (source, inputs, policies) = tokio::try_join!(
            self.evaluated_source(source),
            self.policy_account_of(user),
            self.policy_set(),
        )?;
        Ok(EvaluationView {
            evaluation: policy::evaluate(&policies.all, &inputs, &source.tags),
            inputs,
            data_source: source,
        })
    }

    /// The data source of an evaluate body: a registered one's tags, or
    /// the tags given (each one created, deleted or not).
    async fn evaluated_source(&self, v: &Value) -> Result<EvaluatedSource> {
        let body = members(v, &["id", "tags", "columnTags"])
            .map_err(|e| Error::invalid_value(format!("dataSource: {}", e.detail())))?;
        let tagged = member(body, "tags").is_some() || member(body, "columnTags").is_some();
        match member(body, "id") {
            Some(id) if !tagged => {
                let id: DataSourceId =
                    id.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                        Error::invalid_value("dataSource.id must be a data source id")
                    })?;
                let s = self
                    .store
                    .tagged_source(id)
                    .await?
                    .ok_or_else(|| Error::not_found(format!("no data source with id {id}")))?;
                Ok(EvaluatedSource {
                    id: Some(s.id),
                    tags: policy::DataSource {
                        tags: s.tags.into_iter().collect(),
                        column_tags: s.column_tags.into_iter().collect(),
                    },
                    name: Some(s.name),
                })
            }
            Some(_) => Err(Error::invalid_value(
                "dataSource names a registered data source ({\"id\"}) or tags, not both",
            )),
            None => {
                let list = |k: &str| match member(body, k) {
                    Some(v) => tag_list(v, &format!("dataSource.{k}")),
                    None => Ok(Vec::new()),
                };
                let (tags, column_tags) = (list("tags")?, list("columnTags")?);
                self.check_known(tags.iter().chain(&column_tags)).await?;
                Ok(EvaluatedSource {
                    id: None,
                    name: None,
                    tags: policy::DataSource {
                        tags: tags.into_iter().collect(),
                        column_tags: column_tags.into_iter().collect(),
                    },
                })
            }
        }
    }

    /// Refuses a tag never created (a deleted one may still be on a data
    /// source, so it may be asked about).
    async fn check_known<'a>(&self, names: impl Iterator<Item = &'a String>) -> Result<()> {
        let names: Vec<String> = names.cloned().collect();
        let known = self.store.tags_named(&names).await?;
        match names.iter().find(|n| !known.iter().any(|t| &&t.name == n)) {
            Some(n) => Err(Error::invalid_value(format!(
                "no tag named '{}'",
                truncate(n)
            ))),
            None => Ok(()),
        }
    }

    /// The account `user` as policies see it: its state, its effective
    /// groups (by name, of its identity provider and the built-in IAM),
    /// its attributes with where each value comes from, its permissions.
    /// One round trip: its row beside one statement for its groups,
    /// grants and managed attributes (the IAM settings they go through
    /// are kept in memory).
    async fn policy_account_of(&self, user: UserId) -> Result<policy::Account> {
        let read = self
            .account_with_inputs(user.uuid(), true)
            .await?
            .ok_or_else(|| account_not_found(user.uuid()))?;
        let account = &read.account;
        let mapping = match account.iam_id.or(account.deprovisioned_from) {
            Some(iam) => self.iam_settings(iam).await?.attribute_mapping,
            None => BTreeMap::new(),
        };
        let attributes =
            AttributeSources::assemble(account, &read.groups, &mapping, read.attributes);
        let permissions = self.permissions_of(read.grants, &read.groups).await?;
        let mut out = as_policies_see(account, read.groups, &attributes);
        out.permissions = permissions.into_keys().collect();
        Ok(out)
    }

    /// Many accounts as policies see them, as [`Directory::policy_account_of`]
    /// but without their permissions (no rule reads them): their groups
    /// read once per IAM and every managed attribute they hold or inherit
    /// in one read, whatever their number.
    pub(super) async fn policy_accounts(
        &self,
        accounts: &[&Account],
    ) -> Result<Vec<policy::Account>> {
        let mut by_iam: BTreeMap<IamId, Vec<Uuid>> = BTreeMap::new();
        for a in accounts {
            for iam in group_iams(a) {
                by_iam.entry(iam).or_default().push(a.id);
            }
        }
        let mut memberships: HashMap<(IamId, Uuid), Vec<GroupRef>> = HashMap::new();
        for (iam, ids) in by_iam {
            for (user, groups) in self.store.groups_of_users(iam, &ids).await? {
                memberships.insert((iam, user), groups);
            }
        }
        let groups: Vec<GroupsByIam> = accounts
            .iter()
            .map(|a| {
                group_iams(a)
                    .into_iter()
                    .filter_map(|iam| {
                        let gs = memberships.remove(&(iam, a.id))?;
                        (!gs.is_empty()).then_some((iam, gs))
                    })
                    .collect()
            })
            .collect();
        let owners: BTreeSet<Uuid> = accounts
            .iter()
            .zip(&groups)
            .flat_map(|(a, g)| AttributeSources::owners(a, g))
            .collect();
        let owners: Vec<Uuid> = owners.into_iter().collect();
        let mut owned: HashMap<Uuid, Vec<(String, String)>> = HashMap::new();
        for (owner, key, value) in self.store.attributes(&owners).await? {
            owned.entry(owner).or_default().push((key, value));
        }
        let mut mappings: HashMap<Uuid, BTreeMap<String, String>> = HashMap::new();
        let mut out = Vec::with_capacity(accounts.len());
        for (a, groups) in accounts.iter().zip(groups) {
            let mapping = match a.iam_id.or(a.deprovisioned_from) {
                Some(iam) => match mappings.get(&iam) {
                    Some(m) => m.clone(),
                    None => {
                        let m = self.iam_settings(iam).await?.attribute_mapping;
                        mappings.insert(iam, m.clone());
                        m
                    }
                },
                None => BTreeMap::new(),
            };
            let mine = AttributeSources::owners(a, &groups)
                .into_iter()
                .flat_map(|o| {
                    owned
                        .get(&o)
                        .into_iter()
                        .flatten()
                        .map(move |(k, v)| (o, k.clone(), v.clone()))
                });
            let attributes = AttributeSources::assemble(a, &groups, &mapping, mine);
            out.push(as_policies_see(a, groups, &attributes));
        }
        Ok(out)
    }
}

/// An account as policies see it, but for its permissions: its state, its
/// groups' names, its attributes with where each value comes from.
fn as_policies_see(
    account: &Account,
    groups: GroupsByIam,
    attributes: &AttributeSources,
) -> policy::Account {
    let mut out = policy::Account::new(state(account));
    out.groups = groups
        .into_iter()
        .flat_map(|(_, gs)| gs.into_iter().map(|g| g.display_name))
        .collect();
    attributes.add_to(&mut out);
    out
}
