//! SCIM bearer tokens: `scb_<token id, 32 hex>_<secret, 43 base64url>`.
//! The id finds the row; the secret's SHA-256 is what is stored and is
//! compared in constant time. 256 random bits: no need for a slow hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

const PREFIX: &str = "scb_";

/// A new token for this id, and the hash to store.
pub fn mint(id: Uuid) -> (String, Vec<u8>) {
    let secret: [u8; 32] = rand::random();
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let token = format!("{PREFIX}{}_{secret}", id.simple());
    (token, hash(&secret))
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits a presented token into its id and secret; None if it is not of
/// our shape (then it cannot be valid and no lookup is needed).
pub fn parse(token: &str) -> Option<(Uuid, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 32 || secret.len() != 43 {
        return None;
    }
    Some((Uuid::try_parse(id).ok()?, secret))
}

pub fn verify(secret: &str, stored_hash: &[u8]) -> bool {
    hash(secret).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_verifies_and_a_changed_one_does_not() {
        let id = Uuid::new_v4();
        let (token, stored) = mint(id);
        let (pid, secret) = parse(&token).expect("own shape");
        assert_eq!(pid, id);
        assert!(verify(secret, &stored));
        let mut wrong = secret.to_owned();
        wrong.replace_range(0..1, if secret.starts_with('A') { "B" } else { "A" });
        assert!(!verify(&wrong, &stored));
    }

    #[test]
    fn foreign_shapes_are_rejected_without_lookup() {
        for t in [
            "",
            "scb_",
            "Bearer x",
            "scb_zz_yy",
            &format!("scb_{}_short", Uuid::nil().simple()),
        ] {
            assert!(parse(t).is_none(), "{t}");
        }
    }
}
