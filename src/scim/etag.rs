//! A resource version as an entity tag (RFC 7644 §3.14): `meta.version`,
//! the ETag header and `If-Match`/`If-None-Match` all use the weak form
//! `W/"n"`. Written here once for the domain, HTTP and the filter SQL.

/// The weak entity tag of a version.
pub fn format(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The version an entity tag names (weak or strong): None when it names
/// nothing of ours.
pub fn parse(tag: &str) -> Option<i64> {
    let v = tag.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_names_the_version_it_was_made_from() {
        assert_eq!(format(7), "W/\"7\"");
        assert_eq!(parse(&format(7)), Some(7));
        assert_eq!(parse("\"12\""), Some(12));
        assert_eq!(parse(" W/\"3\" "), Some(3));
        assert_eq!(parse("W/\"x\""), None);
    }
}
