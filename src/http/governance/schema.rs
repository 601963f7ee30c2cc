//! The shapes of governance's bodies, for the OpenAPI document: the policy
//! document (`crate::policy` reads and writes it as JSON, and stays free of
//! any framework) and the evaluate request and answer. These types only
//! describe them.

use std::collections::BTreeMap;

use utoipa::ToSchema;
use uuid::Uuid;

use crate::directory::Timestamp;

#[derive(ToSchema)]
pub struct NewTag {
    /// Dotted: `Environment.Dev` (its missing parents are created too).
    pub name: String,
    pub description: Option<String>,
}

#[derive(ToSchema)]
pub struct NewDataSource {
    /// Unique among data sources.
    pub name: String,
    pub tags: Option<Vec<String>>,
    pub columns: Option<Vec<NewColumn>>,
    /// Account ids; whoever registers it owns it too.
    pub owners: Option<Vec<Uuid>>,
}

#[derive(ToSchema)]
pub struct NewColumn {
    pub name: String,
    pub tags: Option<Vec<String>>,
}

#[derive(ToSchema)]
pub struct TagsToApply {
    /// 1 to 100 tags, each created and not deleted.
    pub tags: Vec<String>,
}

/// A global subscription policy (docs/GOVERNANCE.md). `createdAt` and
/// `updatedAt` are answered, and ignored when sent back.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Policy {
    pub policy_key: String,
    pub name: String,
    pub staged: Option<bool>,
    #[schema(inline)]
    pub circumstance_operator: Option<Operator>,
    pub circumstances: Vec<Circumstance>,
    pub actions: Actions,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    /// In a create's or a replace's answer: the job re-evaluating every
    /// account's automatic subscriptions it started (`GET /jobs/{id}`).
    pub job_id: Option<uuid::Uuid>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Operator {
    Any,
    All,
}

/// Where a policy applies.
#[derive(ToSchema)]
pub struct Circumstance {
    #[schema(inline)]
    pub r#type: CircumstanceType,
    /// For `tags` and `columnTags`: the tag (or one below it) the data
    /// source, or one of its columns, carries.
    pub tag: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub enum CircumstanceType {
    Tags,
    ColumnTags,
    AnyTag,
    NoTags,
    All,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Actions {
    #[schema(inline)]
    pub r#type: AccessType,
    /// `entitlements` or `advanced`, for an entitlements policy.
    pub entitlements: Option<Entitlements>,
    /// The condition in the advanced language.
    pub advanced: Option<String>,
    pub approvals: Option<Vec<Approval>>,
    pub automatic_subscription: Option<bool>,
    /// Share Responsibility (true) or Always Required (false).
    pub share_responsibility: Option<bool>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AccessType {
    Anyone,
    Approval,
    Entitlements,
    Manual,
}

#[derive(ToSchema)]
pub struct Entitlements {
    #[schema(inline)]
    pub operator: Option<Operator>,
    pub groups: Option<Vec<String>>,
    pub attributes: Option<Vec<AttributeValue>>,
}

#[derive(ToSchema)]
pub struct AttributeValue {
    pub name: String,
    pub value: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Approval {
    pub required_permission: String,
}

#[derive(ToSchema)]
pub struct PolicyList {
    pub hits: Vec<Policy>,
    pub count: u64,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct EvaluationRequest {
    pub user_id: Uuid,
    pub data_source: EvaluatedSource,
}

/// A registered data source (`id`), or tags for one that is not.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct EvaluatedSource {
    pub id: Option<Uuid>,
    pub tags: Option<Vec<String>>,
    pub column_tags: Option<Vec<String>>,
}

/// What the policies decide for an account and a data source, why, and
/// what the decision read.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Evaluation {
    #[schema(inline)]
    pub decision: Decision,
    pub because: Vec<String>,
    /// The policies that subscribe the account automatically.
    pub automatic_policies: Vec<String>,
    /// Every active (not staged) policy's part.
    pub policies: Vec<PolicyResult>,
    pub inputs: EvaluationInputs,
    pub data_source: EvaluatedDataSource,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub enum Decision {
    Subscribe,
    Approval,
    Manual,
    Deny,
    NoPolicy,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PolicyResult {
    pub policy_key: String,
    #[schema(inline)]
    pub mode: Mode,
    /// Its circumstances match the data source.
    pub applies: bool,
    pub applies_because: Vec<String>,
    /// It applies and admits the account.
    pub matched: bool,
    /// What it says of the account, when it applies.
    #[schema(inline)]
    pub outcome: Option<Outcome>,
    pub automatic_subscription: bool,
    pub because: Vec<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Mode {
    Required,
    Shared,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Outcome {
    Subscribe,
    Approval,
    Manual,
    Deny,
}

/// The account as the policies saw it.
#[derive(ToSchema)]
pub struct EvaluationInputs {
    #[schema(inline)]
    pub state: AccountState,
    /// Its effective groups, by name.
    pub groups: Vec<String>,
    /// Attribute → value → where the value comes from.
    pub attributes: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    pub permissions: Vec<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AccountState {
    Active,
    Inactive,
    Disabled,
    Deprovisioned,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct EvaluatedDataSource {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub column_tags: Vec<String>,
}
