//! SCIM filter → SQL WHERE clause, for both databases. Every value from the
//! request is bound as a parameter; only column names and operators that
//! this module chooses are ever written into SQL text.

use uuid::Uuid;

use super::ResourceKind;
use crate::scim::ScimError;
use crate::scim::filter::{AttrPath, CompareOp, Filter, Literal};
use crate::scim::resource::fold_case;
use crate::scim::schema::{GROUP_RESOURCE, ResourceTypeDef, USER_RESOURCE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Uuid(Uuid),
}

/// A translated filter: SQL text with `$n` placeholders and their values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// Columns a filter can reach. Each maps a SCIM attribute to an indexed
/// column and says how the value is prepared.
#[derive(Debug, Clone, Copy)]
enum Column {
    Id,
    UserNameFolded,
    ExternalId,
    DisplayNameFolded,
}

impl Column {
    fn sql(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::UserNameFolded => "user_name_folded",
            Column::ExternalId => "external_id",
            Column::DisplayNameFolded => "display_name_folded",
        }
    }
}

pub fn resource_type(kind: ResourceKind) -> &'static ResourceTypeDef {
    match kind {
        ResourceKind::User => &USER_RESOURCE,
        ResourceKind::Group => &GROUP_RESOURCE,
    }
}

/// Translates a parsed filter. `first_param` is the number of the first
/// placeholder this condition may use (the caller binds the ones before).
pub fn translate(
    filter: &Filter,
    kind: ResourceKind,
    dialect: Dialect,
    first_param: usize,
) -> Result<Condition, ScimError> {
    let mut out = Condition {
        sql: String::new(),
        binds: Vec::new(),
    };
    let mut t = Translator {
        kind,
        dialect,
        first_param,
        out: &mut out,
    };
    t.filter(filter)?;
    Ok(out)
}

struct Translator<'a> {
    kind: ResourceKind,
    dialect: Dialect,
    first_param: usize,
    out: &'a mut Condition,
}

impl Translator<'_> {
    fn filter(&mut self, f: &Filter) -> Result<(), ScimError> {
        match f {
            Filter::And(a, b) => {
                self.out.sql.push('(');
                self.filter(a)?;
                self.out.sql.push_str(" AND ");
                self.filter(b)?;
                self.out.sql.push(')');
                Ok(())
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } => self.equals(path, value),
            other => Err(ScimError::invalid_filter(format!(
                "this server does not evaluate the filter '{other}' yet: only 'eq' on id, userName, externalId and displayName, joined by 'and'"
            ))),
        }
    }

    fn column(&self, path: &AttrPath) -> Result<Column, ScimError> {
        let rt = resource_type(self.kind);
        let (_, attr, sub) = rt
            .resolve(path.urn.as_deref(), &path.attr, path.sub.as_deref())
            .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute '{path}'")))?;
        let column = match (self.kind, attr.name, sub.map(|s| s.name)) {
            (_, "id", None) => Some(Column::Id),
            (_, "externalId", None) => Some(Column::ExternalId),
            (ResourceKind::User, "userName", None) => Some(Column::UserNameFolded),
            (_, "displayName", None) => Some(Column::DisplayNameFolded),
            _ => None,
        };
        column.ok_or_else(|| {
            ScimError::invalid_filter(format!(
                "this server does not filter on '{path}' yet: only id, userName, externalId and displayName"
            ))
        })
    }

    fn equals(&mut self, path: &AttrPath, value: &Literal) -> Result<(), ScimError> {
        let column = self.column(path)?;
        let Literal::String(s) = value else {
            return Err(ScimError::invalid_filter(format!(
                "'{path}' is a string attribute: compare it with a quoted string"
            )));
        };
        let bind = match column {
            Column::Id => match Uuid::parse_str(s) {
                Ok(id) => Bind::Uuid(id),
                // No resource has an id that is not a UUID.
                Err(_) => {
                    self.out.sql.push_str("1 = 0");
                    return Ok(());
                }
            },
            Column::ExternalId => Bind::Text(s.clone()),
            Column::UserNameFolded | Column::DisplayNameFolded => Bind::Text(fold_case(s)),
        };
        let n = self.first_param + self.out.binds.len();
        self.out.binds.push(bind);
        let _ = self.dialect;
        self.out.sql.push_str(column.sql());
        self.out.sql.push_str(&format!(" = ${n}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::{FilterLimits, parse};

    fn tr(f: &str, kind: ResourceKind) -> Result<Condition, ScimError> {
        translate(
            &parse(f, &FilterLimits::default()).unwrap(),
            kind,
            Dialect::Sqlite,
            2,
        )
    }

    #[test]
    fn user_name_is_folded_and_bound() {
        let c = tr(r#"USERNAME eq "Straße""#, ResourceKind::User).unwrap();
        assert_eq!(c.sql, "user_name_folded = $2");
        assert_eq!(c.binds, vec![Bind::Text("strasse".into())]);
    }

    #[test]
    fn and_joins_and_numbers_params() {
        let c = tr(
            r#"userName eq "a" and externalId eq "X""#,
            ResourceKind::User,
        )
        .unwrap();
        assert_eq!(c.sql, "(user_name_folded = $2 AND external_id = $3)");
        assert_eq!(
            c.binds,
            vec![Bind::Text("a".into()), Bind::Text("X".into())]
        );
    }

    #[test]
    fn id_that_is_not_a_uuid_matches_nothing() {
        let c = tr(r#"id eq "nope""#, ResourceKind::Group).unwrap();
        assert_eq!(c.sql, "1 = 0");
        assert!(c.binds.is_empty());
    }

    #[test]
    fn values_never_enter_sql_text() {
        let c = tr(r#"displayName eq "x' OR 1=1 --""#, ResourceKind::Group).unwrap();
        assert!(!c.sql.contains("OR 1=1"));
    }

    #[test]
    fn user_name_on_groups_is_unknown() {
        let e = tr(r#"userName eq "a""#, ResourceKind::Group).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::scim::ScimType::InvalidFilter));
    }
}
