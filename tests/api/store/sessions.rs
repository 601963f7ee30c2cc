//! Console sessions and pending sign-ins: stored exactly, touched, expired
//! by idle time or age, and a sign-in taken once.

use scim_bridge::store::sessions::{PendingLogin, Session};

use super::{Db, at, contract};

contract!(sessions_touch_and_expire, a_login_is_taken_once);

fn session(db: &Db, created: i64, csrf: &str) -> Session {
    Session {
        account_id: db.iam.uuid(),
        csrf: csrf.to_owned(),
        created: at(created),
        last_seen: at(created),
        token_generation: 7,
    }
}

async fn sessions_touch_and_expire(db: &Db) {
    let (old, idle, busy) = (b"old".as_slice(), b"idle".as_slice(), b"busy".as_slice());
    db.insert_session(old, &session(db, 0, "c0")).await.unwrap();
    db.insert_session(idle, &session(db, 100, "c1"))
        .await
        .unwrap();
    db.insert_session(busy, &session(db, 100, "c2"))
        .await
        .unwrap();
    assert_eq!(
        db.session(idle).await.unwrap(),
        Some(session(db, 100, "c1"))
    );
    assert_eq!(db.session(b"none").await.unwrap(), None);

    db.touch_session(old, at(500)).await.unwrap();
    db.touch_session(busy, at(500)).await.unwrap();
    let touched = db.session(busy).await.unwrap().expect("busy");
    assert_eq!((touched.created, touched.last_seen), (at(100), at(500)));
    assert_eq!(touched.csrf, "c2");

    // Idle since before 400 (idle), or created before 50 (old, busy as it is).
    let removed = db.delete_expired_sessions(at(400), at(50)).await.unwrap();
    assert_eq!(removed, 2);
    assert_eq!(db.session(old).await.unwrap(), None);
    assert_eq!(db.session(idle).await.unwrap(), None);
    assert!(db.session(busy).await.unwrap().is_some());
    // At the bounds themselves nothing is expired.
    assert_eq!(
        db.delete_expired_sessions(at(500), at(100)).await.unwrap(),
        0
    );

    db.delete_session(busy).await.unwrap();
    assert_eq!(db.session(busy).await.unwrap(), None);
    db.delete_session(busy)
        .await
        .expect("deleting twice is no error");
}

async fn a_login_is_taken_once(db: &Db) {
    let login = |created, nonce: &str| PendingLogin {
        nonce: nonce.to_owned(),
        verifier: format!("verifier-{nonce}"),
        created: at(created),
    };
    db.insert_login(b"state-1", &login(10, "n1")).await.unwrap();
    db.insert_login(b"state-2", &login(20, "n2")).await.unwrap();
    db.insert_login(b"state-3", &login(30, "n3")).await.unwrap();
    assert_eq!(
        db.take_login(b"state-2").await.unwrap(),
        Some(login(20, "n2"))
    );
    assert_eq!(db.take_login(b"state-2").await.unwrap(), None);
    assert_eq!(db.take_login(b"unknown").await.unwrap(), None);

    // Sign-ins started before the cut expire with the sessions.
    db.delete_expired_sessions(at(0), at(25)).await.unwrap();
    assert_eq!(db.take_login(b"state-1").await.unwrap(), None);
    assert_eq!(
        db.take_login(b"state-3").await.unwrap(),
        Some(login(30, "n3"))
    );
}
