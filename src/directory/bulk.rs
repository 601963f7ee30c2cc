//! SCIM Bulk: runs a validated BulkRequest (`scim::bulk`) operation by
//! operation through the same directory methods as the single-resource
//! endpoints, so each result is what that single request would answer.
//! The one shortcut is for speed: consecutive creates whose references are
//! already resolved are validated one by one exactly as `create_user` /
//! `create_group` do, then written in one transaction (`insert_batch`).

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use super::groups::group_write;
use super::ids::GroupId;
use super::patch::Patched;
use super::users::{Kept, Resource};
use super::{Directory, Error, Scope, changes, etag, truncate};
use crate::audit::Entry;
use crate::scim::ScimError;
use crate::scim::bulk::{
    BULK_ID_PREFIX, BulkRequest, Endpoint, Method, OpResult, Operation, parse_version, plan,
    substitute,
};
use crate::scim::projection::Projection;
use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use crate::store::{GroupWrite, MemberKind, NewResource, Stored, UserWrite};

/// A create validated and waiting for the batch write.
struct Pending<'a> {
    op: &'a Operation,
    id: Uuid,
    write: PendingWrite,
    /// A user's roles and entitlements, once it is written (see
    /// `assignments`).
    assignment: Option<super::assignments::Assignment>,
}

enum PendingWrite {
    User(UserWrite),
    Group(GroupWrite, Vec<(Uuid, MemberKind)>),
}

/// The state of one bulk run: ids resolved so far, results, error count.
struct Run<'a> {
    scope: &'a Scope,
    /// bulkId → the id its POST created.
    ids: HashMap<String, String>,
    /// bulkIds some POST of the request defines.
    defined: HashSet<&'a str>,
    results: Vec<OpResult>,
    errors: usize,
    fail_on_errors: usize,
}

impl Run<'_> {
    fn record(&mut self, r: OpResult) {
        self.errors += usize::from(r.error.is_some());
        self.results.push(r);
    }

    fn stopped(&self) -> bool {
        self.errors >= self.fail_on_errors
    }

    fn location(&self, endpoint: Endpoint, id: &str) -> String {
        format!("{}{}/{}", self.scope.base_url, endpoint.path(), id)
    }

    fn succeeded(&mut self, op: &Operation, status: u16, location: String, version: Option<i64>) {
        self.record(OpResult {
            index: op.index,
            method: op.method,
            bulk_id: op.bulk_id.clone(),
            version: version.map(etag),
            location: Some(location),
            status,
            error: None,
        });
    }

    /// The operation's body and target with every reference resolved, or
    /// the error for a reference that cannot be: 409 when the POST that
    /// defines it failed (or did not run), 400 when no POST defines it.
    fn resolve(&self, op: &Operation) -> super::Result<(Value, Option<String>)> {
        let unresolved = |b: String| {
            if self.defined.contains(b.as_str()) {
                Error::conflict(format!(
                    "bulkId '{}' names an operation that failed",
                    truncate(&b)
                ))
            } else {
                Error::invalid_value(format!(
                    "bulkId '{}' is not defined by any POST of this request",
                    truncate(&b)
                ))
            }
        };
        let data = substitute(&op.data, &self.ids).map_err(unresolved)?;
        let target = match op.target.as_deref() {
            Some(t) => match t.strip_prefix(BULK_ID_PREFIX) {
                Some(b) => Some(
                    self.ids
                        .get(b)
                        .cloned()
                        .ok_or_else(|| unresolved(b.to_owned()))?,
                ),
                None => Some(t.to_owned()),
            },
            None => None,
        };
        Ok((data, target))
    }
}

/// A failed operation's error as the single request would answer it (see
/// `Error::to_scim`); an internal error's cause goes to the log.
fn client_error(e: Error) -> ScimError {
    if let Error::Internal(cause) = &e {
        tracing::error!(%cause, "internal error in a bulk operation");
    }
    e.to_scim()
}

impl Directory {
    /// Runs a bulk request; the results of the operations performed (all of
    /// them unless `failOnErrors` stopped the run).
    pub async fn bulk(&self, scope: &Scope, req: &BulkRequest) -> Vec<OpResult> {
        let ops = &req.operations;
        let plan = plan(ops);
        let mut run = Run {
            scope,
            ids: HashMap::new(),
            defined: ops
                .iter()
                .filter(|o| o.method == Method::Post)
                .filter_map(|o| o.bulk_id.as_deref())
                .collect(),
            results: Vec::with_capacity(ops.len()),
            errors: 0,
            fail_on_errors: req.fail_on_errors.unwrap_or(usize::MAX),
        };
        let mut pending: Vec<Pending<'_>> = Vec::new();
        for &i in &plan.order {
            if run.stopped() {
                break;
            }
            let op = &ops[i];
            let batchable = op.method == Method::Post
                && !op.refs.iter().any(|r| {
                    pending
                        .iter()
                        .any(|p| p.op.bulk_id.as_deref() == Some(r.as_str()))
                });
            if !batchable {
                self.flush(&mut run, &mut pending).await;
                if run.stopped() {
                    break;
                }
            }
            let (data, target) = match run.resolve(op) {
                Ok(x) => x,
                Err(e) => {
                    self.flush(&mut run, &mut pending).await;
                    if !run.stopped() {
                        // RFC 7644 §3.7: location is required except for a
                        // failed POST; an unresolved target keeps its name.
                        let location = op.target.as_deref().map(|t| run.location(op.endpoint, t));
                        run.record(OpResult::failed(op, location, client_error(e)));
                    }
                    continue;
                }
            };
            if op.method == Method::Post {
                match self.prepare(scope, op, &data).await {
                    Ok(p) => pending.push(p),
                    Err(e) => {
                        // Everything before it is recorded first, so that
                        // failOnErrors counts in order.
                        self.flush(&mut run, &mut pending).await;
                        if !run.stopped() {
                            run.record(OpResult::failed(op, None, client_error(e)));
                        }
                    }
                }
                continue;
            }
            let target = target.unwrap_or_default();
            let location = run.location(op.endpoint, &target);
            let r = self
                .single(&scope.operation(op.index), op, &target, &data)
                .await
                .map_err(client_error);
            match r {
                Ok((status, version)) => run.succeeded(op, status, location, version),
                Err(e) => run.record(OpResult::failed(op, Some(location), e)),
            }
        }
        self.flush(&mut run, &mut pending).await;
        for &i in &plan.cyclic {
            if run.stopped() {
                break;
            }
            let op = &ops[i];
            let location = op.target.as_deref().map(|t| run.location(op.endpoint, t));
            run.record(OpResult::failed(
                op,
                location,
                client_error(Error::conflict(
                    "the bulkId references of this operation form a cycle (or depend on one)",
                )),
            ));
        }
        run.results
    }

    /// Validates a create exactly as `create_user` / `create_group` do.
    async fn prepare<'a>(
        &self,
        scope: &Scope,
        op: &'a Operation,
        data: &Value,
    ) -> super::Result<Pending<'a>> {
        let id = self.new_id();
        let mut assignment = None;
        let write = match op.endpoint {
            Endpoint::Users => {
                let write = self
                    .user_write(scope.types.user, data, true, Kept::None)
                    .await?;
                assignment = self.plan_assignment(scope, None, None, &write.doc).await?;
                PendingWrite::User(write)
            }
            Endpoint::Groups => {
                let (write, wanted) = group_write(scope.types.group, data, None)?;
                let members = self
                    .existing_members(scope, GroupId::new(id), &wanted)
                    .await?;
                PendingWrite::Group(write, members)
            }
        };
        Ok(Pending {
            op,
            id,
            write,
            assignment,
        })
    }

    /// Writes the pending creates in one transaction and records them.
    async fn flush(&self, run: &mut Run<'_>, pending: &mut Vec<Pending<'_>>) {
        if pending.is_empty() {
            return;
        }
        let defaults = match self.iam_settings(run.scope.iam.uuid()).await {
            Ok(s) => s.default_permissions,
            Err(e) => {
                tracing::error!(error = %e, "reading the IAM's settings");
                Vec::new()
            }
        };
        // Each operation's records carry its own transaction (`:<index>`).
        let records: Vec<Vec<Entry>> = pending
            .iter()
            .map(|p| (p, run.scope.operation(p.op.index).audit()))
            .map(|(p, audit)| match &p.write {
                PendingWrite::User(u) => vec![changes::user_created(&audit, p.id, u)],
                PendingWrite::Group(g, m) => changes::group_created(&audit, p.id, g, m),
            })
            .collect();
        let items: Vec<NewResource<'_>> = pending
            .iter()
            .zip(&records)
            .map(|(p, records)| match &p.write {
                PendingWrite::User(u) => NewResource::User {
                    id: p.id,
                    user: u,
                    grants: &defaults,
                    records,
                },
                PendingWrite::Group(g, m) => NewResource::Group {
                    id: p.id,
                    group: g,
                    members: m,
                    records,
                },
            })
            .collect();
        let budget = run.fail_on_errors - run.errors;
        let done = self
            .store
            .insert_batch(run.scope.iam, &items, budget, self.now())
            .await;
        match done {
            Ok(results) => {
                for (p, r) in pending.iter_mut().zip(results) {
                    let r = match r {
                        Ok(s) => match self
                            .apply_assignment(run.scope, s.id, p.assignment.take())
                            .await
                        {
                            Ok(()) => Ok(s),
                            Err(e) => {
                                run.record(OpResult::failed(p.op, None, client_error(e)));
                                continue;
                            }
                        },
                        Err(e) => Err(e),
                    };
                    match r {
                        Ok(s) => self.created(run, p.op, &s),
                        Err(e) => run.record(OpResult::failed(p.op, None, client_error(e.into()))),
                    }
                }
            }
            Err(e) => {
                let e = client_error(e.into());
                for p in pending.iter() {
                    if run.stopped() {
                        break;
                    }
                    run.record(OpResult::failed(p.op, None, e.clone()));
                }
            }
        }
        pending.clear();
    }

    fn created(&self, run: &mut Run<'_>, op: &Operation, s: &Stored) {
        let id = s.id.to_string();
        let location = run.location(op.endpoint, &id);
        if let Some(b) = &op.bulk_id {
            run.ids.insert(b.clone(), id);
        }
        run.succeeded(op, 201, location, Some(s.version));
    }

    /// PUT, PATCH or DELETE through the single-resource method: the status
    /// and the new version.
    async fn single(
        &self,
        scope: &Scope,
        op: &Operation,
        id: &str,
        data: &Value,
    ) -> super::Result<(u16, Option<i64>)> {
        let version = match op.version.as_deref() {
            None => None,
            Some(v) => parse_version(v)?,
        };
        // Nothing of the resource but its version is answered: members and
        // groups are not loaded, whatever their number.
        let users = Projection::parse(&USER_RESOURCE, None, Some("groups"))?;
        let groups = Projection::parse(&GROUP_RESOURCE, None, Some("members"))?;
        let updated = |r: Resource| (200, Some(r.version));
        Ok(match (op.method, op.endpoint) {
            (Method::Put, Endpoint::Users) => {
                updated(self.replace_user(scope, id, data, version, &users).await?)
            }
            (Method::Put, Endpoint::Groups) => updated(
                self.replace_group(scope, id, data, version, &groups)
                    .await?,
            ),
            (Method::Patch, Endpoint::Users) => {
                updated(self.patch_user(scope, id, data, version, &users).await?)
            }
            (Method::Patch, Endpoint::Groups) => {
                match self
                    .patch_group(scope, id, data, version, &groups, u64::MAX)
                    .await?
                {
                    Patched::Resource(r) => (200, Some(r.version)),
                    Patched::NoContent { version } => (200, Some(version)),
                }
            }
            (Method::Delete, Endpoint::Users) => {
                self.delete_user(scope, id, version).await?;
                (204, None)
            }
            (Method::Delete, Endpoint::Groups) => {
                self.delete_group(scope, id, version).await?;
                (204, None)
            }
            (Method::Post, _) => {
                return Err(Error::Internal(
                    "a bulk POST reached the single path".into(),
                ));
            }
        })
    }
}
