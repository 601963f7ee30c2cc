//! One value against one literal, as a two-valued SQL condition (never
//! NULL, so that `NOT` negates exactly), with the evaluator's semantics:
//! strings by code point after folding, dateTimes as instants, numbers
//! numerically, booleans only with `eq`.

use serde_json::Number;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Bind, Dialect, Translator, Val};
use crate::scim::ScimError;
use crate::scim::filter::{CompareOp, Filter, Literal, parse_time};
use crate::scim::resource::fold_case;
use crate::scim::schema::{AttrDef, AttrType};
use crate::scim::search_doc::time_key;

impl Translator<'_> {
    /// Present: not null, "", [] or {}.
    pub(super) fn present(&mut self, v: &Val, def: &'static AttrDef) -> Result<String, ScimError> {
        Ok(match v {
            Val::Json(j) if def.ty == AttrType::Complex => {
                let m = self.alias("m");
                match self.dialect {
                    Dialect::Sqlite => format!(
                        "(COALESCE({}, '') = 'object' AND EXISTS (SELECT 1 FROM json_each({}) AS {m} \
                         WHERE {m}.type <> 'null' AND NOT ({m}.type = 'text' AND {m}.value = '') \
                         AND NOT ({m}.type IN ('array', 'object') AND {m}.value IN ('[]', '{{}}'))))",
                        j.sqlite().1,
                        j.sqlite_each_args()
                    ),
                    Dialect::Postgres => {
                        let x = j.pg();
                        format!(
                            "EXISTS (SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof({x}) = 'object' THEN {x} ELSE '{{}}'::jsonb END) AS {m} \
                             WHERE {m}.value NOT IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{{}}'::jsonb))"
                        )
                    }
                }
            }
            Val::Json(j) => match self.dialect {
                // json_extract gives NULL for null, '' for "", 0/1 for booleans.
                Dialect::Sqlite => format!(
                    "(COALESCE({}, '') <> '' AND COALESCE({}, '') NOT IN ('[]', '{{}}'))",
                    j.sqlite().0,
                    j.sqlite().0
                ),
                Dialect::Postgres => self.definitely(&format!(
                    "{} NOT IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{{}}'::jsonb)",
                    j.pg()
                )),
            },
            Val::Text { expr, nullable } => {
                if *nullable {
                    format!("({expr} IS NOT NULL AND {expr} <> '')")
                } else {
                    format!("{expr} <> ''")
                }
            }
            Val::Id | Val::Time(_) | Val::Version | Val::ResourceType | Val::Always => {
                self.truth(true)
            }
        })
    }

    /// `v op literal`; `op` is never `ne` and the literal never null.
    pub(super) fn test(
        &mut self,
        v: &Val,
        def: &'static AttrDef,
        op: CompareOp,
        lit: &Literal,
    ) -> Result<String, ScimError> {
        let bad = || {
            ScimError::invalid_filter(format!(
                "'{} {op} {lit}': the value does not fit the attribute's type",
                def.name
            ))
        };
        match (def.ty, lit) {
            (AttrType::String | AttrType::Reference | AttrType::Binary, Literal::String(s)) => {
                let s = if def.is_case_insensitive_string() {
                    fold_case(s)
                } else {
                    s.clone()
                };
                self.text_test(v, op, s)
            }
            (AttrType::Boolean, lit) => {
                let b = match lit {
                    Literal::Bool(b) => *b,
                    Literal::String(s) if s.eq_ignore_ascii_case("true") => true,
                    Literal::String(s) if s.eq_ignore_ascii_case("false") => false,
                    _ => return Err(bad()),
                };
                let Val::Json(j) = v else { return Err(bad()) };
                // Stored booleans are JSON booleans (the resource module
                // converts "True"/"False" on write).
                Ok(match self.dialect {
                    Dialect::Sqlite => format!("COALESCE({}, '') = '{b}'", j.sqlite().1),
                    Dialect::Postgres => self.definitely(&format!("{} = '{b}'::jsonb", j.pg())),
                })
            }
            (AttrType::Integer | AttrType::Decimal, Literal::Number(n)) => {
                let Val::Json(j) = v else { return Err(bad()) };
                let sign = ordering(op).ok_or_else(bad)?;
                Ok(match self.dialect {
                    Dialect::Sqlite => {
                        let p = self.bind(number_bind(n));
                        let (x, ty) = j.sqlite();
                        format!("(COALESCE({ty}, '') IN ('integer', 'real') AND {x} {sign} {p})")
                    }
                    Dialect::Postgres => {
                        let p = self.bind(Bind::Text(n.to_string()));
                        let x = j.pg();
                        self.definitely(&format!(
                            "(CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x})::numeric END) {sign} CAST({p} AS numeric)"
                        ))
                    }
                })
            }
            (AttrType::DateTime, Literal::String(s)) => {
                let t = parse_time(s).ok_or_else(bad)?;
                // Instants are ordered, never searched for substrings.
                ordering(op).ok_or_else(bad)?;
                match v {
                    Val::Time(col) => Ok(self.time_column(col, op, t)),
                    // Search documents hold dateTimes as `time_key` text.
                    Val::Json(_) => self.text_test(v, op, time_key(t)),
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }

    /// A string test on a text value (`lit` already in search form).
    fn text_test(&mut self, v: &Val, op: CompareOp, lit: String) -> Result<String, ScimError> {
        let table = self.table();
        let (guard, x) = match v {
            Val::Json(j) => match self.dialect {
                Dialect::Sqlite => {
                    let (x, ty) = j.sqlite();
                    (Some(format!("COALESCE({ty}, '') = 'text'")), x)
                }
                Dialect::Postgres => {
                    let x = j.pg();
                    (
                        Some(format!("COALESCE(jsonb_typeof({x}), '') = 'string'")),
                        format!("({x} #>> '{{}}')"),
                    )
                }
            },
            Val::Text { expr, nullable } => (
                nullable.then(|| format!("{expr} IS NOT NULL")),
                expr.clone(),
            ),
            Val::Id => {
                if op == CompareOp::Eq {
                    // The canonical form is the only spelling GET returns.
                    return Ok(match Uuid::parse_str(&lit) {
                        Ok(id) if id.hyphenated().to_string() == lit => {
                            let p = self.bind(Bind::Uuid(id));
                            format!("{table}.id = {p}")
                        }
                        _ => self.truth(false),
                    });
                }
                let x = match self.dialect {
                    Dialect::Sqlite => format!("{table}.id"),
                    Dialect::Postgres => format!("{table}.id::text"),
                };
                (None, x)
            }
            Val::Version => {
                if op == CompareOp::Eq {
                    let n = lit
                        .strip_prefix("W/\"")
                        .and_then(|r| r.strip_suffix('"'))
                        .and_then(|n| n.parse::<i64>().ok())
                        .filter(|n| crate::scim::etag::format(*n) == lit);
                    return Ok(match n {
                        Some(n) => {
                            let p = self.bind(Bind::Int(n));
                            format!("{table}.version = {p}")
                        }
                        None => self.truth(false),
                    });
                }
                let x = match self.dialect {
                    Dialect::Sqlite => format!("('W/\"' || {table}.version || '\"')"),
                    Dialect::Postgres => format!("('W/\"' || {table}.version::text || '\"')"),
                };
                (None, x)
            }
            Val::ResourceType => {
                let name = self.rt().name;
                let f = Filter::Compare {
                    path: crate::scim::filter::AttrPath {
                        urn: None,
                        attr: "meta".into(),
                        sub: Some("resourceType".into()),
                    },
                    op,
                    value: Literal::String(lit),
                };
                let doc = serde_json::json!({"meta": {"resourceType": name}});
                let hit = crate::scim::filter::matches(&f, self.rt(), &doc)?;
                return Ok(self.truth(hit));
            }
            Val::Time(_) | Val::Always => {
                return Err(ScimError::invalid_filter(format!(
                    "'{op}' cannot compare this attribute with a string"
                )));
            }
        };
        let cond = self.text_op(&x, op, lit);
        Ok(match guard {
            Some(g) => format!("({g} AND {cond})"),
            None => cond,
        })
    }

    fn text_op(&mut self, x: &str, op: CompareOp, lit: String) -> String {
        use CompareOp::*;
        match (self.dialect, op) {
            (_, Eq) => {
                let p = self.bind(Bind::Text(lit));
                format!("{x} = {p}")
            }
            // SQLite: BINARY order on UTF-8 is code point order. Its LIKE
            // ignores ASCII case, so substring tests use instr/substr.
            (Dialect::Sqlite, Co) => {
                let p = self.bind(Bind::Text(lit));
                format!("instr({x}, {p}) > 0")
            }
            (Dialect::Sqlite, Sw) => {
                let p = self.bind(Bind::Text(lit));
                format!("substr({x}, 1, length({p})) = {p}")
            }
            (Dialect::Sqlite, Ew) => {
                let p = self.bind(Bind::Text(lit));
                format!(
                    "(length({x}) >= length({p}) AND substr({x}, length({x}) - length({p}) + 1) = {p})"
                )
            }
            (Dialect::Postgres, Co | Sw | Ew) => {
                let esc = like_escape(&lit);
                let pattern = match op {
                    Co => format!("%{esc}%"),
                    Sw => format!("{esc}%"),
                    _ => format!("%{esc}"),
                };
                let p = self.bind(Bind::Text(pattern));
                format!("{x} LIKE {p} ESCAPE '\\'")
            }
            (dialect, op) => {
                let sign = ordering(op).unwrap_or("=");
                let p = self.bind(Bind::Text(lit));
                match dialect {
                    Dialect::Sqlite => format!("{x} {sign} {p}"),
                    // "C": byte order, which on UTF-8 is code point order.
                    Dialect::Postgres => format!("{x} COLLATE \"C\" {sign} {p}"),
                }
            }
        }
    }

    /// A timestamp column (whole microseconds) against an instant that may
    /// carry nanoseconds: compared exactly, on whole microseconds.
    fn time_column(&mut self, col: &str, op: CompareOp, t: OffsetDateTime) -> String {
        let nanos = t.unix_timestamp_nanos();
        let floor = nanos.div_euclid(1000);
        let exact = nanos.rem_euclid(1000) == 0;
        // With a remainder r > 0, c > m + r ⟺ c > m and c < m + r ⟺ c <= m.
        let sign = match (op, exact) {
            (CompareOp::Eq, false) => return self.truth(false),
            (CompareOp::Ge, false) => ">",
            (CompareOp::Lt, false) => "<=",
            (op, _) => ordering(op).unwrap_or("="),
        };
        let b = match self.dialect {
            Dialect::Sqlite => Bind::Int(floor as i64),
            Dialect::Postgres => {
                Bind::Time(OffsetDateTime::from_unix_timestamp_nanos(floor * 1000).unwrap_or(t))
            }
        };
        let p = self.bind(b);
        format!("{}.{col} {sign} {p}", self.table())
    }
}

fn ordering(op: CompareOp) -> Option<&'static str> {
    Some(match op {
        CompareOp::Eq => "=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        _ => return None,
    })
}

/// Integers exactly, anything else as a float (as the evaluator compares).
fn number_bind(n: &Number) -> Bind {
    match n.as_i64() {
        Some(i) => Bind::Int(i),
        None => Bind::Real(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// `%`, `_` and `\` stand for themselves in a LIKE pattern after this.
pub(super) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
