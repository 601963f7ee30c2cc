//! Tag names: dotted hierarchies (`Environment` is the parent of
//! `Environment.Dev`), and the one rule for "this tag is within that one"
//! that circumstances and the tag functions of the language share.

/// The longest tag name, in characters.
pub const MAX_TAG_LENGTH: usize = 256;

/// The most levels a tag name has (`A.B.C` has three).
pub const MAX_TAG_DEPTH: usize = 16;

/// A tag name: 1 to [`MAX_TAG_LENGTH`] characters, no control characters,
/// at most [`MAX_TAG_DEPTH`] levels separated by `.`, no level empty or
/// starting or ending with a space (`Environment.Dev`, `PII.Direct Identifier`).
pub fn check_tag(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_TAG_LENGTH {
        return Err(format!(
            "a tag name is 1 to {MAX_TAG_LENGTH} characters: '{name}'"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("a tag name holds no control characters".to_owned());
    }
    let levels: Vec<&str> = name.split('.').collect();
    if levels.len() > MAX_TAG_DEPTH {
        return Err(format!(
            "a tag name has at most {MAX_TAG_DEPTH} levels: '{name}'"
        ));
    }
    if levels.iter().any(|l| l.is_empty() || l.trim() != *l) {
        return Err(format!(
            "a tag name is levels separated by single dots, none empty or with spaces at its ends: '{name}'"
        ));
    }
    Ok(())
}

/// Whether `tag` is `ancestor` or below it: `Environment.Dev` is within
/// `Environment` and within itself, not within `Env` nor `Environment.D`.
pub fn within(tag: &str, ancestor: &str) -> bool {
    tag.strip_prefix(ancestor)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_follows_whole_levels() {
        assert!(within("Environment.Dev", "Environment"));
        assert!(within("Environment.Dev", "Environment.Dev"));
        assert!(within("Environment.Dev.Eu", "Environment"));
        assert!(!within("Environment.Dev", "Env"));
        assert!(!within("Environment.Dev", "Environment.D"));
        assert!(!within("Environment", "Environment.Dev"));
        assert!(!within("EnvironmentX", "Environment"));
    }

    #[test]
    fn tag_names() {
        for ok in [
            "Dev",
            "Environment.Dev",
            "PII.Direct Identifier",
            "Ünïcode.タグ",
        ] {
            assert_eq!(check_tag(ok), Ok(()), "{ok}");
        }
        let deep = vec!["a"; MAX_TAG_DEPTH + 1].join(".");
        let long = "x".repeat(MAX_TAG_LENGTH + 1);
        for bad in [
            "",
            ".Dev",
            "Dev.",
            "A..B",
            "A. B",
            "A .B",
            " A",
            "A\nB",
            deep.as_str(),
            long.as_str(),
        ] {
            assert!(check_tag(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(check_tag(&vec!["a"; MAX_TAG_DEPTH].join(".")), Ok(()));
    }
}
