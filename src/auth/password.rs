//! Passwords an identity provider sends (Okta does on create) are kept only
//! as argon2id hashes. Hashing runs on the blocking pool: it is slow on purpose.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};

pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| format!("password hashing failed: {e}"))
    })
    .await
    .map_err(|e| format!("password hashing task failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};

    #[tokio::test]
    async fn hash_verifies_and_hides_the_password() {
        let h = super::hash("s3cret!".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("s3cret!"));
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(b"s3cret!", &parsed)
                .is_ok()
        );
        assert!(
            argon2::Argon2::default()
                .verify_password(b"other", &parsed)
                .is_err()
        );
    }
}
