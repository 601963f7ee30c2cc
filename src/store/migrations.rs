//! Whether the database's schema is the one this binary was built for: the
//! migrations recorded as applied against the ones embedded in the binary.
//! Read-only; `/readyz` asks it on every probe.

use sqlx::migrate::Migrator;

/// One row of `_sqlx_migrations`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: i64,
    pub success: bool,
    pub checksum: Vec<u8>,
}

/// Why the schema is not current, or `Ok` when every embedded migration is
/// applied, succeeded, unchanged, and nothing unknown was applied.
pub fn compare(embedded: &Migrator, applied: &[Applied]) -> Result<(), String> {
    let mut pending = Vec::new();
    for m in embedded
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
    {
        match applied.iter().find(|a| a.version == m.version) {
            None => pending.push(m.version),
            Some(a) if !a.success => {
                return Err(format!("migration {} failed part way", m.version));
            }
            Some(a) if a.checksum != *m.checksum => {
                return Err(format!(
                    "migration {} applied to the database differs from this binary's",
                    m.version
                ));
            }
            Some(_) => {}
        }
    }
    if !pending.is_empty() {
        let list: Vec<String> = pending.iter().map(|v| v.to_string()).collect();
        return Err(format!("migrations not applied: {}", list.join(", ")));
    }
    let unknown: Vec<String> = applied
        .iter()
        .filter(|a| !embedded.iter().any(|m| m.version == a.version))
        .map(|a| a.version.to_string())
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "the database has migrations this binary does not know (a newer \
             version migrated it): {}",
            unknown.join(", ")
        ));
    }
    Ok(())
}
