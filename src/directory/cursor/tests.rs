use time::macros::datetime;

use super::*;
use crate::scim::ScimType;
use crate::store::Stored;

fn fp(iam: u128, filter: Option<&str>) -> Fingerprint {
    Fingerprint::new(
        "User",
        Uuid::from_u128(iam),
        filter,
        Some("userName"),
        false,
    )
}

fn at(key: Option<KeyValue>, direction: Direction) -> Seek {
    Seek {
        direction,
        inclusive: false,
        from: Keyset {
            key,
            id: Uuid::from_u128(42),
        },
    }
}

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

#[test]
fn every_key_round_trips_exactly() {
    let key = CursorKey::derive(b"secret");
    let f = fp(1, Some("userName sw \"a\""));
    let keys = [
        None,
        Some(KeyValue::Null),
        Some(KeyValue::Text("bär \"q\" \u{1F600}".into())),
        Some(KeyValue::Int(i64::MIN)),
        Some(KeyValue::Real(0.1 + 0.2)),
        Some(KeyValue::Real(-1.0)),
        Some(KeyValue::Bool(false)),
        Some(KeyValue::Time(datetime!(2025-12-31 23:59:59.123456 UTC))),
        Some(KeyValue::Numeric("12345678901234567890.000001".into())),
    ];
    for k in keys {
        for direction in [Direction::After, Direction::Before] {
            for inclusive in [false, true] {
                let seek = Seek {
                    inclusive,
                    ..at(k.clone(), direction)
                };
                let c = encode(&key, &f, &seek, Some(42), NOW);
                assert!(
                    c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                    "only unreserved characters: {c}"
                );
                assert_eq!(decode(&key, &f, &c, NOW, 3600).unwrap(), (seek, Some(42)));
            }
        }
    }
}

fn scim_type<T: std::fmt::Debug>(r: Result<T, Error>) -> Option<ScimType> {
    r.unwrap_err().to_scim().scim_type
}

#[test]
fn altered_or_foreign_cursors_are_invalid() {
    let key = CursorKey::derive(b"secret");
    let f = fp(1, None);
    let c = encode(
        &key,
        &f,
        &at(Some(KeyValue::Int(7)), Direction::After),
        None,
        NOW,
    );
    let invalid = Some(ScimType::InvalidCursor);
    // Every single-character change is caught.
    for i in 0..c.len() {
        let mut b = c.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(b).unwrap();
        assert_eq!(
            scim_type(decode(&key, &f, &altered, NOW, 3600)),
            invalid,
            "{i}"
        );
    }
    // Another IAM, another filter, another sort, another resource type.
    assert_eq!(
        scim_type(decode(&key, &fp(2, None), &c, NOW, 3600)),
        invalid
    );
    assert_eq!(
        scim_type(decode(&key, &fp(1, Some("active eq true")), &c, NOW, 3600)),
        invalid
    );
    let desc = Fingerprint::new("User", Uuid::from_u128(1), None, Some("userName"), true);
    assert_eq!(scim_type(decode(&key, &desc, &c, NOW, 3600)), invalid);
    let group = Fingerprint::new("Group", Uuid::from_u128(1), None, Some("userName"), false);
    assert_eq!(scim_type(decode(&key, &group, &c, NOW, 3600)), invalid);
    // Another server's key.
    let other = CursorKey::derive(b"other");
    assert_eq!(scim_type(decode(&other, &f, &c, NOW, 3600)), invalid);
    // Truncated, padded, garbage, empty payload, huge.
    for bad in [
        &c[..c.len() - 1],
        &format!("{c}="),
        "not a cursor!",
        "AAAA",
        &"A".repeat(10_000),
    ] {
        assert_eq!(
            scim_type(decode(&key, &f, bad, NOW, 3600)),
            invalid,
            "{bad}"
        );
    }
    // The same spelling of the query, modulo case of sortBy and blanks.
    let same = Fingerprint::new(
        "User",
        Uuid::from_u128(1),
        Some("  "),
        Some(" USERNAME "),
        false,
    );
    assert!(decode(&key, &same, &c, NOW, 3600).is_ok());
}

#[test]
fn cursors_expire_after_the_timeout() {
    let key = CursorKey::derive(b"secret");
    let f = fp(1, None);
    let c = encode(&key, &f, &at(None, Direction::After), None, NOW);
    let later = |s: i64| NOW + time::Duration::seconds(s);
    assert!(decode(&key, &f, &c, later(3600), 3600).is_ok());
    assert_eq!(
        scim_type(decode(&key, &f, &c, later(3601), 3600)),
        Some(ScimType::ExpiredCursor)
    );
    // A clock a little behind (another replica) is no reason to refuse.
    assert!(decode(&key, &f, &c, later(-30), 3600).is_ok());
}

fn page(ids: &[u128], more: bool) -> ListPage {
    let ks = |i: u128| Keyset {
        key: None,
        id: Uuid::from_u128(i),
    };
    ListPage {
        total: 0,
        items: ids
            .iter()
            .map(|&i| Stored {
                id: Uuid::from_u128(i),
                doc: Value::Null,
                created: NOW,
                last_modified: NOW,
                version: 1,
            })
            .collect(),
        bounds: ids.first().map(|&f| (ks(f), ks(*ids.last().unwrap()))),
        more,
    }
}

#[test]
fn next_and_previous_positions() {
    let after = |i: u128, inclusive| Seek {
        direction: Direction::After,
        inclusive,
        from: Keyset {
            key: None,
            id: Uuid::from_u128(i),
        },
    };
    let before = |i, inclusive| Seek {
        direction: Direction::Before,
        ..after(i, inclusive)
    };
    // First page: a next cursor only if more follows, never a previous one.
    assert_eq!(
        neighbours(None, &page(&[1, 2], true)),
        (Some(after(2, false)), None)
    );
    assert_eq!(neighbours(None, &page(&[1, 2], false)), (None, None));
    assert_eq!(neighbours(None, &page(&[], false)), (None, None));
    // A next page.
    assert_eq!(
        neighbours(Some(&after(2, false)), &page(&[3, 4], true)),
        (Some(after(4, false)), Some(before(3, false)))
    );
    assert_eq!(
        neighbours(Some(&after(2, false)), &page(&[3], false)),
        (None, Some(before(3, false)))
    );
    // Emptied meanwhile: back to the rows up to and including the boundary.
    assert_eq!(
        neighbours(Some(&after(2, false)), &page(&[], false)),
        (None, Some(before(2, true)))
    );
    // A previous page: always a next one; a previous one if more precedes.
    assert_eq!(
        neighbours(Some(&before(5, false)), &page(&[3, 4], true)),
        (Some(after(4, false)), Some(before(3, false)))
    );
    assert_eq!(
        neighbours(Some(&before(5, false)), &page(&[1, 2], false)),
        (Some(after(2, false)), None)
    );
    assert_eq!(
        neighbours(Some(&before(5, false)), &page(&[], false)),
        (Some(after(5, true)), None)
    );
}
