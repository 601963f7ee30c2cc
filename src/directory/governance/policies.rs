//! Global subscription policies: created, read, replaced and deleted as
//! documents `crate::policy::Policy` validates, stored in its canonical
//! form. A tag a circumstance names must have been created.

use serde::Serialize;
use serde_json::Value;

use crate::directory::accounts::Ctx;
use crate::directory::permissions::may;
use crate::directory::{Directory, Error, Result, Timestamp, changes, truncate};
use crate::policy::model::Circumstance;
use crate::policy::{Policy, PolicyError};
use crate::store::StoreError;
use crate::store::governance::StoredPolicy;

/// The members the API answers with beside the document: taken back in a
/// body (a policy read, edited and put back) and ignored.
const READ_ONLY: [&str; 2] = ["createdAt", "updatedAt"];

/// A policy as the admin API shows it: its canonical document, and when it
/// was created and last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    #[serde(flatten)]
    pub policy: Policy,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The job re-evaluating every account's automatic subscriptions that
    /// this change started (`GET /api/v1/jobs/{id}`): only in a create's
    /// or a replace's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<uuid::Uuid>,
}

/// Every policy, by key.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyPage {
    pub hits: Vec<PolicyView>,
    pub count: u64,
}

/// A stored policy, parsed: its canonical form always parses, so a
/// failure is ours.
fn parsed(p: &StoredPolicy) -> Result<Policy> {
    Policy::parse(&p.document)
        .map_err(|e| Error::Internal(format!("the stored policy {} does not parse: {e}", p.key)))
}

fn view(p: &StoredPolicy) -> Result<PolicyView> {
    Ok(PolicyView {
        policy: parsed(p)?,
        created_at: Timestamp(p.created),
        updated_at: Timestamp(p.updated),
        job_id: None,
    })
}

/// The policy a body holds, validated; the read-only members left out.
fn policy_of(body: &Value) -> Result<Policy> {
    let mut body = body.clone();
    if let Some(m) = body.as_object_mut() {
        m.retain(|k, _| !READ_ONLY.contains(&k.as_str()));
    }
    Policy::parse(&body).map_err(refused)
}

fn refused(e: PolicyError) -> Error {
    Error::invalid_value(e.to_string())
}

fn no_policy(key: &str) -> Error {
    Error::not_found(format!("no policy with key '{}'", truncate(key)))
}

fn canonical(p: &Policy) -> Result<Value> {
    serde_json::to_value(p).map_err(|e| Error::Internal(format!("a policy as JSON: {e}")))
}

impl Directory {
    /// Refuses a policy whose circumstances name a tag never created.
    async fn check_policy_tags(&self, p: &Policy) -> Result<()> {
        let named: Vec<(usize, &String)> = p
            .circumstances
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c {
                Circumstance::Tags { tag } | Circumstance::ColumnTags { tag } => Some((i, tag)),
                _ => None,
            })
            .collect();
        let names: Vec<String> = named.iter().map(|(_, t)| (*t).clone()).collect();
        let known = self.store.tags_named(&names).await?;
        match named
            .iter()
            .find(|(_, t)| !known.iter().any(|k| &k.name == *t))
        {
            Some((i, t)) => Err(Error::invalid_value(format!(
                "circumstances[{i}].tag: no tag named '{}'",
                truncate(t)
            ))),
            None => Ok(()),
        }
    }

    /// Creates a policy from its document.
    pub async fn create_policy(&self, ctx: &Ctx, body: &Value) -> Result<PolicyView> {
        ctx.require(may::GOVERN)?;
        let policy = policy_of(body)?;
        self.check_policy_tags(&policy).await?;
        let before = self.automatic_now().await?;
        let now = self.now();
        let stored = StoredPolicy {
            id: self.new_id(),
            key: policy.policy_key.clone(),
            document: canonical(&policy)?,
            created: now,
            updated: now,
        };
        let record = changes::policy_created(&ctx.entry(""), &stored);
        self.store
            .create_policy(&stored, &record)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    Error::duplicate(format!("a policy with key '{}' already exists", stored.key))
                }
                other => other.into(),
            })?;
        Ok(PolicyView {
            job_id: self.policies_changed(ctx, before).await?,
            ..view(&stored)?
        })
    }

    pub async fn list_policies(&self, ctx: &Ctx) -> Result<PolicyPage> {
        ctx.require(may::READ_GOVERNANCE)?;
        let hits = self
            .store
            .policies()
            .await?
            .iter()
            .map(view)
            .collect::<Result<Vec<_>>>()?;
        Ok(PolicyPage {
            count: hits.len() as u64,
            hits,
        })
    }

    pub async fn policy(&self, ctx: &Ctx, key: &str) -> Result<PolicyView> {
        ctx.require(may::READ_GOVERNANCE)?;
        let stored = self.store.policy(key).await?;
        view(&stored.ok_or_else(|| no_policy(key))?)
    }

    /// Replaces a policy's document. The key is the policy's for good: the
    /// body names the same one, or none.
    pub async fn replace_policy(&self, ctx: &Ctx, key: &str, body: &Value) -> Result<PolicyView> {
        ctx.require(may::GOVERN)?;
        let mut body = body.clone();
        if let Some(m) = body.as_object_mut() {
            match m.get("policyKey") {
                None | Some(Value::Null) => {
                    m.insert("policyKey".into(), Value::from(key));
                }
                Some(Value::String(named)) if named != key => {
                    return Err(Error::invalid_value(format!(
                        "policyKey: a policy's key does not change (this one is '{}')",
                        truncate(key)
                    )));
                }
                Some(_) => {}
            }
        }
        let policy = policy_of(&body)?;
        self.check_policy_tags(&policy).await?;
        let document = canonical(&policy)?;
        let before = self.automatic_now().await?;
        let who = ctx.entry("");
        let stored = self
            .store
            .replace_policy(
                key,
                &document,
                &|old| changes::policy_updated(&who, old, &document),
                self.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => no_policy(key),
                other => other.into(),
            })?;
        Ok(PolicyView {
            job_id: self.policies_changed(ctx, before).await?,
            ..view(&stored)?
        })
    }

    pub async fn delete_policy(&self, ctx: &Ctx, key: &str) -> Result<()> {
        ctx.require(may::GOVERN)?;
        let before = self.automatic_now().await?;
        let who = ctx.entry("");
        self.store
            .delete_policy(key, &|old| changes::policy_deleted(&who, old), self.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => no_policy(key),
                other => other.into(),
            })?;
        self.policies_changed(ctx, before).await?;
        Ok(())
    }

    /// Every policy, parsed, in key order (staged ones too: a decision
    /// skips them): what a decision weighs.
    pub async fn stored_policies(&self) -> Result<Vec<Policy>> {
        self.store.policies().await?.iter().map(parsed).collect()
    }
}
