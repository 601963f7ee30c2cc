//! Attributes that live outside the search document: `id` and `meta` (row
//! columns), the indexed columns used as fast paths (`userName`,
//! `displayName`, `externalId`), a user's `groups` (the membership table,
//! nesting included) and a group's `members`; and the `user_emails` index.

use super::{Bind, Dialect, Frame, Scope, Source, Translator, Val};
use crate::scim::ScimError;
use crate::scim::filter::{AttrTest, CompareOp, Filter, Literal, ResolvedPath};
use crate::scim::resource::fold_case;
use crate::scim::schema::{AttrDef, GROUP, USER, common_attr};
use crate::store::ResourceKind;

pub(super) fn meta_def() -> &'static AttrDef {
    common_attr("meta").expect("meta is a common attribute")
}

pub(super) fn groups_def() -> &'static AttrDef {
    USER.attr("groups").expect("User has groups")
}

pub(super) fn members_def() -> &'static AttrDef {
    GROUP.attr("members").expect("Group has members")
}

/// Every (member, group) of the nesting, as `groups_of_users` computes it
/// for GET, with `direct` 1 for a direct membership. `UNION` visits each
/// (member, group, direct) once, so cliques and diamonds cost one row per
/// pair and a cycle stored before writes refused them still ends; no depth
/// is counted, so nothing deep is cut (writes bound the depth instead:
/// `store::nesting`).
const CLOSURE: &str = "(WITH RECURSIVE up(member_id, group_id, direct) AS (\
     SELECT member_id, group_id, 1 FROM group_members \
     UNION \
     SELECT up.member_id, gm.group_id, 0 FROM up JOIN group_members gm ON gm.member_id = up.group_id) \
     SELECT member_id, group_id, MAX(direct) AS direct FROM up GROUP BY member_id, group_id)";

impl Translator<'_> {
    fn id_text(&self, expr: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => expr.to_owned(),
            Dialect::Postgres => format!("{expr}::text"),
        }
    }

    /// A parameter holding the base URL followed by `rest` (folded when the
    /// attribute is case-insensitive), for `meta.location` and `$ref`.
    fn url_prefix(&mut self, rest: &str, fold: bool) -> Result<String, ScimError> {
        let base = self.base_url.ok_or_else(|| {
            ScimError::invalid_filter("filtering on meta.location or $ref is not supported here")
        })?;
        let url = format!("{base}{rest}");
        Ok(self.bind(Bind::Text(if fold { fold_case(&url) } else { url })))
    }

    pub(super) fn computed_source(&mut self, r: ResolvedPath) -> Result<Option<Source>, ScimError> {
        if r.in_extension {
            return Ok(None);
        }
        let t = self.table();
        let sub = r.sub.map(|s| s.name);
        let one = |v: Val| Ok(Some(Source::One(v)));
        match (self.kind, r.attr.name, sub) {
            (_, "id", None) => one(Val::Id),
            (_, "externalId", None) => one(Val::Text {
                expr: format!("{t}.external_id"),
                nullable: true,
            }),
            (ResourceKind::User, "userName", None) => one(Val::Text {
                expr: format!("{t}.user_name_folded"),
                nullable: false,
            }),
            (kind, "displayName", None) => one(Val::Text {
                expr: format!("{t}.display_name_folded"),
                nullable: kind == ResourceKind::User,
            }),
            (_, "meta", None) => one(Val::Always),
            (_, "meta", Some(s)) => {
                let def = meta_def().sub(s).expect("resolved");
                let v = self.computed_element_val(&Scope::Meta, def)?;
                one(v)
            }
            (ResourceKind::User, "groups", _) | (ResourceKind::Group, "members", _) => {
                let frame = self
                    .computed_elements(r)?
                    .expect("groups and members are computed");
                let val = match r.sub {
                    Some(def) => self.computed_element_val(&frame.scope, def)?,
                    // Every value of these has its `value`: present.
                    None => Val::Always,
                };
                Ok(Some(Source::Each {
                    select: frame.select,
                    from: frame.from.expect("a set"),
                    guard: frame.guard,
                    val,
                }))
            }
            _ => Ok(None),
        }
    }

    pub(super) fn computed_elements(
        &mut self,
        r: ResolvedPath,
    ) -> Result<Option<Frame>, ScimError> {
        if r.in_extension {
            return Ok(None);
        }
        let t = self.table();
        Ok(Some(match (self.kind, r.attr.name) {
            (_, "meta") => Frame {
                select: String::new(),
                from: None,
                guard: self.truth(true),
                scope: Scope::Meta,
            },
            (ResourceKind::User, "groups") => {
                let (a, g) = (self.alias("a"), self.alias("g"));
                Frame {
                    // Not correlated: the closure is computed once per query.
                    select: format!("{t}.id IN (SELECT {a}.member_id"),
                    from: format!("{CLOSURE} AS {a} JOIN groups AS {g} ON {g}.id = {a}.group_id")
                        .into(),
                    guard: self.truth(true),
                    scope: Scope::Groups { a, g },
                }
            }
            (ResourceKind::Group, "members") => {
                let (m, u, g) = (self.alias("m"), self.alias("u"), self.alias("g"));
                Frame {
                    select: "EXISTS (SELECT 1".to_owned(),
                    from: Some(format!(
                        "group_members AS {m} \
                         LEFT JOIN users AS {u} ON {m}.member_kind = 'User' AND {u}.id = {m}.member_id \
                         LEFT JOIN groups AS {g} ON {m}.member_kind = 'Group' AND {g}.id = {m}.member_id"
                    )),
                    guard: format!("{m}.group_id = {t}.id"),
                    scope: Scope::Members { m, u, g },
                }
            }
            _ => return Ok(None),
        }))
    }

    /// A sub-attribute of `meta`, of one of a user's groups or of one of a
    /// group's members, as GET renders it (in search form).
    pub(super) fn computed_element_val(
        &mut self,
        scope: &Scope,
        def: &'static AttrDef,
    ) -> Result<Val, ScimError> {
        let t = self.table();
        let text = |expr: String| Val::Text {
            expr,
            nullable: false,
        };
        Ok(match (scope, def.name) {
            (Scope::Meta, "created") => Val::Time("created"),
            (Scope::Meta, "lastModified") => Val::Time("last_modified"),
            (Scope::Meta, "version") => Val::Version,
            (Scope::Meta, "resourceType") => Val::ResourceType,
            (Scope::Meta, "location") => {
                let p = self.url_prefix(&format!("{}/", self.rt().endpoint), false)?;
                text(format!("({p} || {})", self.id_text(&format!("{t}.id"))))
            }
            (Scope::Groups { a, .. }, "value") => text(self.id_text(&format!("{a}.group_id"))),
            (Scope::Groups { g, .. }, "display") => text(format!("{g}.display_name_folded")),
            (Scope::Groups { a, .. }, "type") => text(format!(
                "(CASE WHEN {a}.direct = 1 THEN 'direct' ELSE 'indirect' END)"
            )),
            (Scope::Groups { a, .. }, "$ref") => {
                let p = self.url_prefix("/Groups/", true)?;
                text(format!(
                    "({p} || {})",
                    self.id_text(&format!("{a}.group_id"))
                ))
            }
            (Scope::Members { m, .. }, "value") => text(self.id_text(&format!("{m}.member_id"))),
            (Scope::Members { m, .. }, "type") => text(format!(
                "(CASE WHEN {m}.member_kind = 'User' THEN 'user' ELSE 'group' END)"
            )),
            (Scope::Members { u, g, .. }, "display") => Val::Text {
                expr: format!("COALESCE({u}.user_name_folded, {g}.display_name_folded)"),
                nullable: true,
            },
            (Scope::Members { m, .. }, "$ref") => {
                let p = self.url_prefix("/", true)?;
                text(format!(
                    "({p} || (CASE WHEN {m}.member_kind = 'User' THEN 'users/' ELSE 'groups/' END) || {})",
                    self.id_text(&format!("{m}.member_id"))
                ))
            }
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "filtering on '{}' is not supported",
                    def.name
                )));
            }
        })
    }

    /// `emails.value eq "x"` (and `emails eq "x"`): exactly a lookup in
    /// the `user_emails` index of folded addresses.
    pub(super) fn emails_value_eq(
        &mut self,
        r: ResolvedPath,
        op: CompareOp,
        value: &Literal,
    ) -> Option<String> {
        let (Literal::String(s), CompareOp::Eq) = (value, op) else {
            return None;
        };
        (is_emails(self.kind, r) && r.sub.is_some_and(|s| s.name == "value"))
            .then(|| self.email_lookup(s))
    }

    fn email_lookup(&mut self, s: &str) -> String {
        let p = self.bind(Bind::Text(fold_case(s)));
        format!(
            "{}.id IN (SELECT user_id FROM user_emails WHERE value = {p})",
            self.table()
        )
    }

    /// For `emails[… value eq "x" …]` (and `emails[…].value eq "x"`): the
    /// index lookup that every match satisfies, to AND before the exact test.
    pub(super) fn index_prefilter(
        &mut self,
        r: ResolvedPath,
        filter: &Filter,
        then: Option<(&String, &AttrTest)>,
    ) -> Result<Option<String>, ScimError> {
        if !is_emails(self.kind, r) {
            return Ok(None);
        }
        if let Some((sub, AttrTest::Compare(CompareOp::Eq, Literal::String(s)))) = then
            && sub.eq_ignore_ascii_case("value")
        {
            return Ok(Some(self.email_lookup(s)));
        }
        let mut conj = vec![filter];
        while let Some(f) = conj.pop() {
            match f {
                Filter::And(a, b) => {
                    conj.push(a);
                    conj.push(b);
                }
                Filter::Compare {
                    path,
                    op: CompareOp::Eq,
                    value: Literal::String(s),
                } if path.urn.is_none()
                    && path.sub.is_none()
                    && path.attr.eq_ignore_ascii_case("value") =>
                {
                    return Ok(Some(self.email_lookup(s)));
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

fn is_emails(kind: ResourceKind, r: ResolvedPath) -> bool {
    kind == ResourceKind::User && !r.in_extension && r.attr.name == "emails"
}
