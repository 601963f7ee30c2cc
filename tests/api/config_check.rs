//! `scim-bridge config check` as an operator runs it: a complete, valid
//! configuration (TLS files, a JWKS file, the database password from a
//! file) prints the effective configuration with no secret in it and exits
//! 0; a broken one names every problem and exits non-zero.

use std::path::Path;
use std::process::Command;

use base64::Engine;

fn check(config: &Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
    cmd.args(["config", "check", "--config"]).arg(config);
    for (name, _) in std::env::vars() {
        if name.starts_with("SCIM_BRIDGE_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run scim-bridge");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn jwks() -> String {
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let point = key.verifying_key().to_encoded_point(false);
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "k1",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
    }]})
    .to_string()
}

#[test]
fn config_check_passes_a_good_configuration_without_showing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(p("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(p("key.pem"), made.key_pair.serialize_pem()).unwrap();
    std::fs::write(p("jwks.json"), jwks()).unwrap();
    std::fs::write(p("db-password"), "Pa55:w@rd/secret\n").unwrap();
    std::fs::write(
        p("c.toml"),
        format!(
            "bind = \"0.0.0.0:8443\"\n\
             database_url = \"postgres://scim@db.internal:5432/scim\"\n\
             tls_cert = {:?}\ntls_key = {:?}\n\
             oidc_issuer = \"https://login.example.com/\"\n\
             oidc_audience = \"scim-bridge\"\n\
             oidc_jwks_file = {:?}\n\
             log_format = \"json\"\n",
            p("cert.pem"),
            p("key.pem"),
            p("jwks.json")
        ),
    )
    .unwrap();
    let password_file = p("db-password");
    let (ok, stdout, stderr) = check(
        &p("c.toml"),
        &[(
            "SCIM_BRIDGE_DATABASE_PASSWORD_FILE",
            password_file.to_str().unwrap(),
        )],
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("configuration OK"), "{stderr}");
    assert!(
        stdout.contains("database_url = \"postgres://scim:***@db.internal:5432/scim\""),
        "{stdout}"
    );
    assert!(stdout.contains("bind = \"0.0.0.0:8443\""), "{stdout}");
    assert!(stdout.contains("log_format = \"json\""), "{stdout}");
    assert!(stdout.contains("# public_url is not set"), "{stdout}");
    for shown in [&stdout, &stderr] {
        assert!(
            // The password's parts (the key `oidc_client_secret` is named
            // in the output; its value, unset here, is not).
            !shown.contains("Pa55") && !shown.contains("rd/secret"),
            "{shown}"
        );
    }
    // The effective configuration it prints is itself a valid file.
    std::fs::write(p("printed.toml"), stdout.replace("scim:***@", "scim@")).unwrap();
    let (ok, _, stderr) = check(&p("printed.toml"), &[]);
    assert!(ok, "{stderr}");
}

#[test]
fn config_check_names_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let a = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let b = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(p("cert.pem"), a.cert.pem()).unwrap();
    std::fs::write(p("other-key.pem"), b.key_pair.serialize_pem()).unwrap();
    std::fs::write(p("jwks.json"), "{\"keys\": 3}").unwrap();
    std::fs::write(
        p("c.toml"),
        format!(
            "bnid = \"0.0.0.0:1\"\n\
             max_result = 10\n\
             pool_size = -1\n\
             tls_cert = {:?}\ntls_key = {:?}\n\
             oidc_issuer = \"https://login.example.com/\"\n\
             oidc_jwks_file = {:?}\n\
             oidc_jwks_url = \"https://login.example.com/jwks\"\n\
             oidc_leeway_secs = 3600\n",
            p("cert.pem"),
            p("other-key.pem"),
            p("jwks.json")
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) = check(
        &p("c.toml"),
        &[
            ("SCIM_BRIDGE_MAX_RESULTS", "lots"),
            ("SCIM_BRIDGE_DATBASE_URL", "sqlite://x.db"),
        ],
    );
    assert!(!ok, "{stderr}");
    assert!(stdout.is_empty(), "nothing printed on failure: {stdout}");
    for expected in [
        "unknown key `bnid` (did you mean `bind`?)",
        "unknown key `max_result` (did you mean `max_results`?)",
        "problem: pool_size (from ",
        "problem: max_results (from `SCIM_BRIDGE_` environment variable",
        "is not the private key of the certificate",
        "oidc_issuer needs oidc_audience",
        "oidc_jwks_url and oidc_jwks_file are both set",
        "oidc_leeway_secs is at most 300",
        "warning: unknown environment variable `SCIM_BRIDGE_DATBASE_URL` (did you mean \
         `SCIM_BRIDGE_DATABASE_URL`?)",
        "the configuration has 8 problem(s)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    // An unreadable JWKS file and a JWKS without keys are named too.
    std::fs::write(
        p("d.toml"),
        format!(
            "oidc_issuer = \"https://login.example.com/\"\noidc_audience = \"a\"\n\
             oidc_jwks_file = {:?}\n",
            p("jwks.json")
        ),
    )
    .unwrap();
    let (ok, _, stderr) = check(&p("d.toml"), &[]);
    assert!(!ok);
    assert!(stderr.contains("is not a JWKS"), "{stderr}");
    std::fs::remove_file(p("jwks.json")).unwrap();
    let (ok, _, stderr) = check(&p("d.toml"), &[]);
    assert!(!ok);
    assert!(stderr.contains("oidc_jwks_file: cannot read"), "{stderr}");
}
