//! Supply chain (issue 23): deny.toml ignores RUSTSEC-2023-0071, the `rsa`
//! crate's Marvin timing side channel, because the server never uses an RSA
//! private key: it only verifies identity providers' RS256/PS256 signatures
//! with their public JWKs (src/auth/oidc.rs). These tests keep that true:
//! no source file signs or decrypts with an RSA key, the tokens the server
//! signs are HS256 (HMAC) and its cursors HMAC-SHA256, its Security Event
//! Tokens ES256 (ECDSA P-256, src/events/set.rs). If one fails, the
//! ignore's reason no longer holds: remove the ignore, do not widen it.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;

use crate::app::TestApp;
use crate::both;

/// Words that only code holding an RSA private key, or using RSA for
/// encryption, would write: the `rsa` crate's private-key and encryption
/// types, and jsonwebtoken's RSA signing-key constructors.
const RSA_PRIVATE: &[&str] = &[
    "RsaPrivateKey",
    "DecodeRsaPrivateKey",
    "DecodePrivateKey",
    "Pkcs1v15Encrypt",
    "Oaep",
    "BlindedSigningKey",
    "from_rsa_pem",
    "from_rsa_der",
];

/// What in `text` (the file at `path`) would make the server sign or decrypt
/// with an RSA private key, or sign with anything but HMAC.
fn violations(path: &Path, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let at = |i: usize| format!("{}:{}", path.display(), text[..i].matches('\n').count() + 1);
    for word in RSA_PRIVATE {
        for (i, _) in text.match_indices(word) {
            // `DecodingKey::from_rsa_pem/der` read public keys: allowed.
            let before = &text[..i];
            if word.starts_with("from_rsa") && before.ends_with("DecodingKey::") {
                continue;
            }
            found.push(format!("{}: {word}", at(i)));
        }
    }
    // The `rsa` crate used directly (`rsa::…`, not e.g. `ursa::`).
    for (i, _) in text.match_indices("rsa::") {
        let prev = text[..i].chars().next_back();
        if !prev.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            found.push(format!("{}: rsa::", at(i)));
        }
    }
    // Every JWT signing key the server makes is an HMAC secret, or the
    // P-256 key of its Security Event Tokens: never RSA.
    for (i, _) in text.match_indices("EncodingKey::") {
        let hmac = text[i..].starts_with("EncodingKey::from_secret(");
        let set_key =
            text[i..].starts_with("EncodingKey::from_ec_pem(") && path.ends_with("events/set.rs");
        if !hmac && !set_key {
            found.push(format!("{}: an EncodingKey that is not HMAC", at(i)));
        }
    }
    // And every header it signs under names HS256.
    for (i, _) in text.match_indices("Header::new(") {
        if !text[i..].starts_with("Header::new(Algorithm::HS256)") {
            found.push(format!("{}: a JWT header that is not HS256", at(i)));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn no_source_file_uses_an_rsa_private_key() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "src/ was not found: {}", src.display());
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        found.extend(violations(file.strip_prefix(&src).unwrap(), &text));
    }
    assert!(
        found.is_empty(),
        "RUSTSEC-2023-0071's ignore in deny.toml assumes no RSA private key:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_server_signs_with_hmac_only() {
    // The two things the server signs: admin tokens and list cursors.
    let admin_token = read("src/auth/admin_token.rs");
    assert!(admin_token.contains("Header::new(Algorithm::HS256)"));
    assert!(admin_token.contains("EncodingKey::from_secret(key)"));
    assert!(admin_token.contains("v.algorithms = vec![Algorithm::HS256]"));
    let cursor = read("src/directory/cursor.rs");
    assert!(cursor.contains("type HmacSha256 = Hmac<Sha256>;"));
    // No direct dependency on the `rsa` crate: it comes only through
    // jsonwebtoken, whose RSA verifiers take public keys.
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml");
    let deps = manifest["dependencies"].as_table().expect("[dependencies]");
    assert!(!deps.contains_key("rsa"), "rsa is a direct dependency");
}

#[test]
fn the_scan_finds_rsa_signing() {
    let file = Path::new("auth/example.rs");
    let bad = "let k = EncodingKey::from_rsa_pem(pem)?;\n\
               let h = Header::new(Algorithm::RS256);\n\
               let p = rsa::RsaPrivateKey::new(&mut rng, 2048)?;\n\
               let c = key.decrypt(rsa::Oaep::new::<Sha256>(), &ct)?;";
    let found = violations(file, bad);
    assert!(
        found
            .iter()
            .any(|v| v.contains("EncodingKey that is not HMAC")),
        "{found:?}"
    );
    assert!(found.iter().any(|v| v.contains("not HS256")), "{found:?}");
    assert!(
        found.iter().any(|v| v.contains("RsaPrivateKey")),
        "{found:?}"
    );
    assert!(found.iter().any(|v| v.contains("Oaep")), "{found:?}");
    assert!(found.iter().any(|v| v.starts_with("auth/example.rs:3:")));
    // Reading an identity provider's public key is what the server does.
    let good = "DecodingKey::from_rsa_pem(pem)?; DecodingKey::from_jwk(&jwk)?;\n\
                Header::new(Algorithm::HS256); EncodingKey::from_secret(key);";
    assert_eq!(violations(file, good), Vec::<String>::new());
}

async fn minted_admin_tokens_are_hs256(app: &TestApp) {
    let admin = crate::bridge::admin(app, "root@example.com").await;
    let header = jsonwebtoken::decode_header(&admin.token).expect("a JWT");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    assert_eq!(header.kid, None);
    let r = app
        .request(Method::GET, "/Me", Some(&admin.token), None)
        .await;
    assert_eq!(r.status(), 200);

    // The same token claiming RS256 is refused: the server's own tokens
    // are never checked with an RSA key.
    let (_, rest) = admin.token.split_once('.').expect("three parts");
    let rs256 = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#);
    let r = app
        .request(Method::GET, "/Me", Some(&format!("{rs256}.{rest}")), None)
        .await;
    assert_eq!(r.status(), 401);
}
both!(minted_admin_tokens_are_hs256);
