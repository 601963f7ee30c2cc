//! The one rule for a userName, on every path that sets one (SCIM, the admin
//! API and console, `migrate`, `admin bootstrap`, import): what is refused,
//! what it is compared by, and what the audit should flag. Pure: the
//! domain turns a string into a [`UserName`] once, at its edge.

use unicode_normalization::UnicodeNormalization;

use super::error::ScimError;
use super::resource::fold_case;

/// Longest userName, in characters. Entra's userPrincipalName stops at 113,
/// Okta's login at 100; 256 leaves room for any real one.
pub const MAX_CHARS: usize = 256;

/// The audit flag of a name whose letters come from more than one of the
/// scripts that hold look-alikes of each other (`pаypal` with Cyrillic а).
pub const MIXED_SCRIPT_FLAG: &str = "mixed-script-userName";

/// A userName that passed [`UserName::parse`], with the form uniqueness and
/// `userName eq` compare it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName {
    raw: String,
    folded: String,
    mixed_script: bool,
}

impl UserName {
    /// The rule: no control characters, bidi controls or zero-width
    /// characters that only hide text; no leading or trailing whitespace
    /// (refused, never trimmed, so what is stored is what was sent); not
    /// blank; at most [`MAX_CHARS`] characters.
    pub fn parse(s: &str) -> Result<Self, ScimError> {
        check_text("userName", s, MAX_CHARS)?;
        Ok(Self::unchecked(s))
    }

    /// A name that is also its own compatibility normal form: what an
    /// identity provider's claim must be to name an account (KELVIN SIGN
    /// `K` is not the letter `K`, though NFKC makes it so).
    pub fn parse_exact(s: &str) -> Result<Self, ScimError> {
        let name = Self::parse(s)?;
        if s.nfkc().ne(s.chars()) {
            return Err(ScimError::invalid_value(
                "the name holds compatibility characters (such as fullwidth letters or \
                 the Kelvin sign) that only look like the letters they stand for",
            ));
        }
        Ok(name)
    }

    /// A name stored before this rule, written back unchanged: refusing it
    /// would stop an identity provider from deprovisioning the account.
    pub fn grandfathered(s: &str) -> Self {
        Self::unchecked(s)
    }

    fn unchecked(s: &str) -> Self {
        UserName {
            raw: s.to_owned(),
            folded: fold_case(s),
            mixed_script: mixed_script(s),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// NFKC + case fold ([`fold_case`]): what uniqueness compares.
    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// The audit flags of this name (never the name itself).
    pub fn audit_flags(&self) -> Vec<&'static str> {
        if self.mixed_script {
            vec![MIXED_SCRIPT_FLAG]
        } else {
            Vec::new()
        }
    }
}

/// The rule of a userName (see [`UserName::parse`]): `what` names the
/// field in the error.
fn check_text(what: &str, s: &str, max_chars: usize) -> Result<(), ScimError> {
    check_chars(what, s, max_chars)?;
    let refuse = |why: &str| Err(ScimError::invalid_value(format!("{what} {why}")));
    if s.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return refuse("must hold at least one visible character");
    }
    let blank_end = |c: Option<char>| c.is_some_and(|c| c.is_whitespace() || is_invisible(c));
    if blank_end(s.chars().next()) || blank_end(s.chars().next_back()) {
        return refuse("must not begin or end with whitespace or invisible characters");
    }
    Ok(())
}

/// The part of the rule shared with names that are only displayed (a
/// group's displayName): no control, bidi or hiding characters, a cap.
pub fn check_chars(what: &str, s: &str, max_chars: usize) -> Result<(), ScimError> {
    let refuse = |why: &str| Err(ScimError::invalid_value(format!("{what} {why}")));
    if let Some(c) = s.chars().find(|&c| c.is_control() || is_line_break(c)) {
        return refuse(&format!(
            "must not hold control characters (U+{:04X})",
            c as u32
        ));
    }
    if let Some(c) = s.chars().find(|&c| is_bidi_control(c)) {
        return refuse(&format!(
            "must not hold bidirectional controls (U+{:04X})",
            c as u32
        ));
    }
    if let Some(c) = s.chars().find(|&c| is_hiding(c)) {
        return refuse(&format!(
            "must not hold invisible characters (U+{:04X})",
            c as u32
        ));
    }
    if s.chars().count() > max_chars {
        return refuse(&format!("is at most {max_chars} characters"));
    }
    Ok(())
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Characters that reorder how the text around them is displayed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Invisible characters with no use in a name but hiding a difference:
/// `bo\u{200B}b` displays as `bob`. (The joiners ZWJ and ZWNJ spell words
/// in Persian and the Indic scripts, so they are allowed inside a name.)
fn is_hiding(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'
            | '\u{2060}'..='\u{2064}'
            | '\u{206A}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// What displays as nothing: the hiding characters, the joiners and the
/// variation selectors (allowed only between visible characters).
fn is_invisible(c: char) -> bool {
    is_hiding(c)
        || matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Scripts whose letters are look-alikes of each other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Georgian,
    Cherokee,
    Coptic,
}

fn script(c: char) -> Option<Script> {
    use Script::*;
    Some(match c {
        'A'..='Z' | 'a'..='z' => Latin,
        '\u{00C0}'..='\u{024F}' if c != '\u{00D7}' && c != '\u{00F7}' => Latin,
        '\u{0250}'..='\u{02AF}' | '\u{1D00}'..='\u{1D25}' | '\u{1E00}'..='\u{1EFF}' => Latin,
        '\u{2C60}'..='\u{2C7F}' | '\u{A720}'..='\u{A7FF}' | '\u{AB30}'..='\u{AB64}' => Latin,
        '\u{FB00}'..='\u{FB06}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => Latin,
        '\u{0370}'..='\u{03E1}' | '\u{03F0}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Greek,
        '\u{03E2}'..='\u{03EF}' | '\u{2C80}'..='\u{2CFF}' => Coptic,
        '\u{0400}'..='\u{052F}' | '\u{1C80}'..='\u{1C8F}' | '\u{2DE0}'..='\u{2DFF}' => Cyrillic,
        '\u{A640}'..='\u{A69F}' | '\u{1D2B}' => Cyrillic,
        '\u{0531}'..='\u{058F}' | '\u{FB13}'..='\u{FB17}' => Armenian,
        '\u{10A0}'..='\u{10FF}' | '\u{1C90}'..='\u{1CBF}' | '\u{2D00}'..='\u{2D2F}' => Georgian,
        '\u{13A0}'..='\u{13FF}' | '\u{AB70}'..='\u{ABBF}' => Cherokee,
        _ => return None,
    })
}

/// Whether the letters of `s` come from two or more look-alike scripts.
/// Digits, punctuation and the other scripts (Han, Arabic, ...) are left
/// out: `田中.taro` is an ordinary name.
fn mixed_script(s: &str) -> bool {
    let mut seen = None;
    for sc in s.chars().filter(|c| c.is_alphabetic()).filter_map(script) {
        match seen {
            None => seen = Some(sc),
            Some(first) if first != sc => return true,
            Some(_) => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        UserName::parse(s).is_err()
    }

    #[test]
    fn ordinary_names_pass_unchanged() {
        for s in [
            "bjensen@example.com",
            "Barbara Jensen",
            "ΑΘΗΝΑ",
            "田中.taro",
            "مریم\u{200C}ها",
            "x",
        ] {
            let n = UserName::parse(s).unwrap();
            assert_eq!(n.as_str(), s);
            assert!(n.audit_flags().is_empty(), "{s}");
        }
    }

    #[test]
    fn control_bidi_invisible_and_blank_names_are_refused() {
        for s in [
            "",
            " ",
            "\u{200B}",
            "\u{200D}\u{FEFF}",
            "bob\n",
            "bo\u{0}b",
            "bo\u{7F}b",
            "bob\u{202E}moc.exe",
            "\u{2066}bob",
            "bo\u{200B}b",
            "bo\u{00AD}b",
            " bob",
            "bob ",
            "bob\u{3000}",
            "bob\u{200D}",
            "a\u{2028}b",
        ] {
            assert!(refused(s), "{s:?}");
        }
    }

    #[test]
    fn the_length_cap_counts_characters() {
        assert!(!refused(&"é".repeat(MAX_CHARS)));
        assert!(refused(&"a".repeat(MAX_CHARS + 1)));
        assert!(refused(&"a".repeat(5_000)));
    }

    #[test]
    fn compatibility_forms_fold_together() {
        let fold = |s: &str| UserName::parse(s).unwrap().folded().to_owned();
        assert_eq!(fold("ｂｏｂ"), fold("BOB"));
        assert_eq!(fold("\u{212A}ate"), fold("kate"));
        assert_eq!(fold("Straße"), fold("STRASSE"));
        assert_ne!(fold("bоb"), fold("bob"), "Cyrillic о is another letter");
    }

    #[test]
    fn an_exact_name_holds_no_compatibility_characters() {
        assert!(UserName::parse_exact("kate@example.com").is_ok());
        assert!(UserName::parse_exact("Zoë@example.com").is_ok());
        assert!(UserName::parse_exact("\u{212A}ate@example.com").is_err());
        assert!(UserName::parse_exact("ｋａｔｅ@example.com").is_err());
    }

    #[test]
    fn look_alike_scripts_in_one_name_are_flagged() {
        for s in [
            "p\u{0430}ypal",
            "\u{0391}lice",
            "ｐ\u{0430}ypal",
            "bob\u{0570}",
        ] {
            assert_eq!(
                UserName::parse(s).unwrap().audit_flags(),
                [MIXED_SCRIPT_FLAG],
                "{s}"
            );
        }
        for s in ["paypal", "пайпал", "jean-françois", "Ελένη1", "ｐａｙ"] {
            assert!(UserName::parse(s).unwrap().audit_flags().is_empty(), "{s}");
        }
    }
}
