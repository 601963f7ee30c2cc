//! The admin API's OpenAPI document (`GET /api/v1/openapi.json`), generated
//! from the handlers' `#[utoipa::path]` declarations by the same list that
//! builds the router (`http::admin_routes`), so a route cannot be served
//! undocumented. Here is what no handler declares: the info block, the
//! bearer scheme, the error every operation may answer, and the shapes of
//! the bodies handlers read and write as JSON values (they parse them by
//! hand, for their own error messages; these types only describe them).

use std::collections::BTreeMap;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Content, Info, OpenApi, OpenApiBuilder, PathItem, Ref, RefOr, Response, ResponseBuilder,
    SecurityRequirement, Server,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;

use crate::directory::Timestamp;
use crate::directory::iam_settings::IamSettings;

/// Where the admin API is mounted; the document's paths start with it.
pub const BASE: &str = "/api/v1";

/// The name of the bearer security scheme.
const BEARER: &str = "bearer";

/// The statuses any operation may answer with the error document: a bad
/// request, no or a bad token, a missing permission, an unknown id.
const ERROR_STATUSES: [&str; 4] = ["400", "401", "403", "404"];

/// The whole document: `api` (the handlers' paths, relative to [`BASE`])
/// under the info block, the bearer scheme (required everywhere) and the
/// shared error response.
pub fn document(api: OpenApi) -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(Info::new("scim-bridge admin API", "1"))
        .servers(Some([Server::new("/")]))
        .security(Some([SecurityRequirement::new(
            BEARER,
            Vec::<String>::new(),
        )]))
        .build()
        .nest(BASE, api);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "The external IAM's JWT (OIDC) or a bootstrap token from \
                     `scim-bridge admin bootstrap`.",
                ))
                .build(),
        ),
    );
    components
        .responses
        .insert("Error".into(), RefOr::T(error_response()));
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            for status in ERROR_STATUSES {
                operation
                    .responses
                    .responses
                    .entry(status.into())
                    .or_insert_with(|| Ref::from_response_name("Error").into());
            }
        }
    }
    doc
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn error_response() -> Response {
    ResponseBuilder::new()
        .description("An error")
        .content("application/json", Content::new(Some(ErrorBody::schema())))
        .build()
}

/// An operation's description: the permissions it needs, any one of them
/// (the `directory::permissions::may` list the directory checks).
pub fn requires(any_of: &[&str]) -> String {
    format!("Requires {}.", any_of.join(" or "))
}

/// What went wrong; `status` repeats the HTTP status.
#[derive(ToSchema)]
pub struct ErrorBody {
    #[schema(inline)]
    pub error: ErrorDetail,
}

#[derive(ToSchema)]
pub struct ErrorDetail {
    pub status: u16,
    pub message: String,
}

/// The paging of a list: where it starts and how many it holds.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// How many to skip.
    pub offset: Option<u64>,
    /// How many at most (up to 1000).
    pub limit: Option<u64>,
}

/// What the audit log's list and export filter by.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// The id of the changed resource.
    pub target: Option<String>,
    /// Who acted, as recorded: `user:<id>`, `iam:<id>` or `cli`.
    pub actor: Option<String>,
    /// A person's name, username, email address or id: the records done
    /// by or to the accounts it names.
    pub person: Option<String>,
    pub action: Option<String>,
    /// RFC 3339.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

/// The calling administrator.
#[derive(ToSchema)]
pub struct Me {
    pub id: Uuid,
    /// Its effective permissions.
    pub permissions: Vec<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewUser {
    pub full_name: String,
    /// Also its userName.
    pub email: String,
}

#[derive(ToSchema)]
pub struct PermissionGrant {
    pub permissions: Vec<String>,
}

/// Changes to managed attributes, applied together or not at all.
#[derive(ToSchema)]
pub struct AttributePatch {
    pub operations: Vec<AttributeOperation>,
}

#[derive(ToSchema)]
pub struct AttributeOperation {
    #[schema(inline)]
    pub op: AttributeOp,
    /// The attribute key.
    pub name: String,
    pub values: Option<Vec<String>>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AttributeOp {
    Add,
    Remove,
    Replace,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Migration {
    /// The IAM to move the account to.
    pub iam: String,
    /// Its userName there.
    pub user_name: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewSubscription {
    /// A registered data source.
    pub data_source_id: Option<Uuid>,
    /// Its name; or, without `dataSourceId`, free text naming a data
    /// source not registered (yet): linked once one of that name is.
    pub data_source: Option<String>,
    /// `subscriber` when left out.
    pub role: Option<String>,
    /// In the future, RFC 3339.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires: Option<String>,
}

/// A page of an IAM's groups.
#[derive(ToSchema)]
pub struct GroupPage {
    pub hits: Vec<GroupSummary>,
    pub count: u64,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct GroupSummary {
    pub id: Uuid,
    pub display_name: String,
    /// The IAM's name.
    pub iam: String,
    pub created: Timestamp,
    pub last_modified: Timestamp,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewGroup {
    pub display_name: String,
}

/// An internal group, as created.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CreatedGroup {
    pub id: Uuid,
    pub display_name: String,
    /// `bim`, the built-in IAM.
    pub iam: String,
    pub created: Timestamp,
}

/// A page of a group's members.
#[derive(ToSchema)]
pub struct MemberPage {
    pub hits: Vec<Member>,
    /// All its members.
    pub count: u64,
}

#[derive(ToSchema)]
pub struct Member {
    pub id: Uuid,
    #[schema(inline)]
    pub kind: MemberKind,
    /// What to call it.
    pub display: String,
}

#[derive(ToSchema)]
pub enum MemberKind {
    User,
    Group,
}

#[derive(ToSchema)]
pub struct NewMembers {
    /// Account ids, of any IAM.
    pub members: Vec<Uuid>,
}

#[derive(ToSchema)]
pub struct IamList {
    pub hits: Vec<Iam>,
    pub count: u64,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Iam {
    pub id: Uuid,
    pub name: String,
    pub display_name: Option<String>,
    pub created: Timestamp,
    pub settings: IamSettings,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewIam {
    pub name: String,
    pub display_name: Option<String>,
    /// The defaults when left out.
    pub settings: Option<IamSettings>,
}

/// An empty body is taken as `{}`.
#[derive(ToSchema)]
pub struct NewToken {
    pub label: Option<String>,
}

/// A SCIM token, with its secret: shown this once.
#[derive(ToSchema)]
pub struct Token {
    pub id: Uuid,
    /// The IAM's name.
    pub iam: String,
    pub label: Option<String>,
    pub created: Timestamp,
    pub token: String,
}

/// The roles, by name.
#[derive(ToSchema)]
pub struct RoleList {
    pub hits: Vec<crate::directory::roles::Role>,
    pub count: u64,
}

/// The schema extensions an IAM declares (custom extensions its identity
/// provider sends, such as Entra's
/// `urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User`).
#[derive(ToSchema)]
pub struct SchemaExtensions {
    pub extensions: Vec<SchemaExtension>,
}

/// One extension: its URN, the resource type it extends and its
/// attributes, each an RFC 7643 §7 attribute definition.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SchemaExtension {
    pub id: String,
    /// `User` or `Group`.
    pub resource_type: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// `name`, `type`, `multiValued`, `description`, `required`,
    /// `caseExact`, `mutability`, `returned`, `uniqueness` (`none`),
    /// `canonicalValues`, `referenceTypes`, `subAttributes`.
    pub attributes: Vec<serde_json::Value>,
}

/// Roles to give an account, by name or id.
#[derive(ToSchema)]
pub struct RoleGrant {
    pub roles: Vec<String>,
}

#[derive(ToSchema)]
pub struct PermissionList {
    pub hits: Vec<PermissionDef>,
    pub count: u64,
}

/// A permission of the catalogue.
#[derive(ToSchema)]
pub struct PermissionDef {
    pub name: String,
    pub description: String,
    /// Built in (the server acts on it), else custom.
    pub builtin: bool,
}

#[derive(ToSchema)]
pub struct NewPermission {
    pub name: String,
    pub description: Option<String>,
}

/// `?days=N` (the last N days, today last), or both `from` and `to`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsRange {
    /// 1 to 366.
    pub days: Option<u32>,
    /// YYYY-MM-DD.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// YYYY-MM-DD.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
}

/// The anonymized usage counts of a range of days (a file download).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct MetricsExport {
    pub schema_version: u64,
    pub generated_at: Timestamp,
    #[schema(value_type = String, format = Date)]
    pub from: String,
    #[schema(value_type = String, format = Date)]
    pub to: String,
    /// Every day of the range, oldest first.
    pub days: Vec<MetricsDay>,
}

#[derive(ToSchema)]
pub struct MetricsDay {
    #[schema(value_type = String, format = Date)]
    pub date: String,
    /// Workflow event name → count.
    pub workflows: BTreeMap<String, u64>,
    /// Interface element (`ui.click.` left off) → count.
    pub ui: BTreeMap<String, u64>,
}

/// Events to count; one bad event refuses the whole report.
#[derive(ToSchema)]
pub struct UsageReport {
    pub events: Vec<UsageEvent>,
}

#[derive(ToSchema)]
pub struct UsageEvent {
    pub name: String,
    /// 1 when left out.
    pub count: Option<u64>,
}

#[derive(ToSchema)]
pub struct Counted {
    /// How many events were counted.
    pub counted: u64,
}
