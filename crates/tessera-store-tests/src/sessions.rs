//! Cases for [`tessera_core::store::SessionStore`].

use tessera_core::session::SessionRecord;
use tessera_core::store::Stores;
use tessera_core::{SessionId, Timestamp, TokenDigest, UserId};

use crate::fixtures::{assert_conflict, at, by_id, digest, session};

/// The session stored under `digest`, live at `now`.
async fn lookup(stores: &Stores, digest: &TokenDigest, now: Timestamp) -> Option<SessionRecord> {
    stores
        .sessions
        .session_by_digest(digest, now)
        .await
        .unwrap()
        .as_deref()
        .cloned()
}

/// The user's sessions live at `now`.
async fn live_of(stores: &Stores, user_id: UserId, now: Timestamp) -> Vec<SessionRecord> {
    stores
        .sessions
        .sessions_of_user(user_id, now)
        .await
        .unwrap()
}

/// A created session is found by its digest, with every field intact; unknown digests are `None`.
pub async fn sessions_create_and_lookup(stores: &Stores) {
    let s = session(UserId::random(), at(0), at(3600), at(600));
    stores.sessions.create_session(&s).await.unwrap();

    assert_eq!(lookup(stores, &s.digest, at(0)).await, Some(s.clone()));
    assert_eq!(lookup(stores, &s.digest, at(1)).await, Some(s));
    assert_eq!(lookup(stores, &digest(), at(1)).await, None);
}

/// A taken id or digest is a conflict that creates nothing.
pub async fn sessions_conflict_on_id_or_digest(stores: &Stores) {
    let user_id = UserId::random();
    let s = session(user_id, at(0), at(3600), at(600));
    stores.sessions.create_session(&s).await.unwrap();

    let same_id = SessionRecord {
        id: s.id,
        ..session(user_id, at(1), at(3600), at(600))
    };
    assert_conflict(stores.sessions.create_session(&same_id).await);
    assert_eq!(lookup(stores, &same_id.digest, at(2)).await, None);

    let same_digest = SessionRecord {
        digest: s.digest,
        ..session(user_id, at(1), at(3600), at(600))
    };
    assert_conflict(stores.sessions.create_session(&same_digest).await);

    assert_eq!(live_of(stores, user_id, at(2)).await, vec![s.clone()]);
    assert_eq!(lookup(stores, &s.digest, at(2)).await, Some(s));
}

/// At its absolute deadline a session counts as missing, whatever its idle deadline.
pub async fn sessions_end_at_absolute_deadline(stores: &Stores) {
    let user_id = UserId::random();
    let s = session(user_id, at(0), at(100), at(1000));
    stores.sessions.create_session(&s).await.unwrap();
    let just_before = Timestamp::from_millis(at(100).as_millis() - 1);

    assert_eq!(
        lookup(stores, &s.digest, just_before).await,
        Some(s.clone())
    );
    assert_eq!(lookup(stores, &s.digest, at(100)).await, None);
    assert_eq!(lookup(stores, &s.digest, at(500)).await, None);
    assert_eq!(live_of(stores, user_id, just_before).await, vec![s]);
    assert_eq!(live_of(stores, user_id, at(100)).await, vec![]);
}

/// At its idle deadline a session counts as missing, whatever its absolute deadline.
pub async fn sessions_end_at_idle_deadline(stores: &Stores) {
    let user_id = UserId::random();
    let s = session(user_id, at(0), at(1000), at(100));
    stores.sessions.create_session(&s).await.unwrap();
    let just_before = Timestamp::from_millis(at(100).as_millis() - 1);

    assert_eq!(
        lookup(stores, &s.digest, just_before).await,
        Some(s.clone())
    );
    assert_eq!(lookup(stores, &s.digest, at(100)).await, None);
    assert_eq!(lookup(stores, &s.digest, at(500)).await, None);
    assert_eq!(live_of(stores, user_id, just_before).await, vec![s]);
    assert_eq!(live_of(stores, user_id, at(100)).await, vec![]);
}

/// A touch stores `last_seen_at` and `idle_expires_at` (and nothing else) on a live session; it
/// neither revives a session past its deadline nor recreates a deleted one.
pub async fn sessions_touch_moves_idle_deadline_only_while_live(stores: &Stores) {
    let user_id = UserId::random();
    let s = session(user_id, at(0), at(1000), at(100));
    stores.sessions.create_session(&s).await.unwrap();

    let touch = SessionRecord {
        last_seen_at: at(50),
        idle_expires_at: at(150),
        user_agent: "not stored by a touch".into(),
        ..s.clone()
    };
    stores.sessions.touch_session(&touch).await.unwrap();
    let expected = SessionRecord {
        last_seen_at: at(50),
        idle_expires_at: at(150),
        ..s.clone()
    };
    assert_eq!(lookup(stores, &s.digest, at(120)).await, Some(expected));
    assert_eq!(lookup(stores, &s.digest, at(150)).await, None);

    // At 200 the session has been idle past its deadline (150): a late touch must not revive it.
    let late = SessionRecord {
        last_seen_at: at(200),
        idle_expires_at: at(300),
        ..s.clone()
    };
    stores.sessions.touch_session(&late).await.unwrap();
    assert_eq!(lookup(stores, &s.digest, at(250)).await, None);

    let other = UserId::random();
    let gone = session(other, at(0), at(1000), at(100));
    stores.sessions.create_session(&gone).await.unwrap();
    assert!(
        stores
            .sessions
            .delete_session(other, gone.id)
            .await
            .unwrap()
            .is_some()
    );
    let touch = SessionRecord {
        last_seen_at: at(10),
        idle_expires_at: at(110),
        ..gone.clone()
    };
    stores.sessions.touch_session(&touch).await.unwrap();
    assert_eq!(lookup(stores, &gone.digest, at(20)).await, None);
    assert_eq!(live_of(stores, other, at(20)).await, vec![]);

    let unknown = session(user_id, at(0), at(1000), at(100));
    stores.sessions.touch_session(&unknown).await.unwrap();
    assert_eq!(lookup(stores, &unknown.digest, at(20)).await, None);
}

/// `sessions_of_user` lists the user's live sessions only, oldest first.
pub async fn sessions_of_user_lists_only_live_sessions_of_that_user(stores: &Stores) {
    let (alice, bob) = (UserId::random(), UserId::random());
    let newer = session(alice, at(10), at(1000), at(500));
    let older = session(alice, at(5), at(1000), at(500));
    let past_absolute = session(alice, at(1), at(50), at(500));
    let past_idle = session(alice, at(2), at(1000), at(60));
    let bobs = session(bob, at(3), at(1000), at(500));
    for s in [&newer, &older, &past_absolute, &past_idle, &bobs] {
        stores.sessions.create_session(s).await.unwrap();
    }

    assert_eq!(
        live_of(stores, alice, at(60)).await,
        vec![older.clone(), newer.clone()]
    );
    assert_eq!(
        live_of(stores, alice, at(40)).await,
        vec![past_absolute, past_idle, older, newer]
    );
    assert_eq!(live_of(stores, bob, at(60)).await, vec![bobs]);
    assert_eq!(live_of(stores, UserId::random(), at(60)).await, vec![]);
}

/// `delete_session` ends only a session of the named user and returns it once.
pub async fn sessions_delete_session_checks_owner(stores: &Stores) {
    let (alice, mallory) = (UserId::random(), UserId::random());
    let s = session(alice, at(0), at(1000), at(500));
    stores.sessions.create_session(&s).await.unwrap();

    assert_eq!(
        stores.sessions.delete_session(mallory, s.id).await.unwrap(),
        None
    );
    assert_eq!(lookup(stores, &s.digest, at(1)).await, Some(s.clone()));
    assert_eq!(
        stores
            .sessions
            .delete_session(alice, SessionId::random())
            .await
            .unwrap(),
        None
    );

    assert_eq!(
        stores.sessions.delete_session(alice, s.id).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(lookup(stores, &s.digest, at(1)).await, None);
    assert_eq!(live_of(stores, alice, at(1)).await, vec![]);
    assert_eq!(
        stores.sessions.delete_session(alice, s.id).await.unwrap(),
        None
    );
}

/// `delete_sessions_of_user` ends every session of the user but `keep`, and no one else's.
pub async fn sessions_delete_sessions_of_user_keeps_one(stores: &Stores) {
    let (alice, bob) = (UserId::random(), UserId::random());
    let a1 = session(alice, at(1), at(1000), at(500));
    let a2 = session(alice, at(2), at(1000), at(500));
    let a3 = session(alice, at(3), at(1000), at(500));
    let b1 = session(bob, at(4), at(1000), at(500));
    for s in [&a1, &a2, &a3, &b1] {
        stores.sessions.create_session(s).await.unwrap();
    }

    let ended = stores
        .sessions
        .delete_sessions_of_user(alice, Some(a2.id))
        .await
        .unwrap();
    assert_eq!(by_id(ended), by_id(vec![a1.clone(), a3.clone()]));
    assert_eq!(live_of(stores, alice, at(10)).await, vec![a2.clone()]);
    assert_eq!(lookup(stores, &a1.digest, at(10)).await, None);
    assert_eq!(live_of(stores, bob, at(10)).await, vec![b1.clone()]);

    let ended = stores
        .sessions
        .delete_sessions_of_user(alice, None)
        .await
        .unwrap();
    assert_eq!(ended, vec![a2]);
    assert_eq!(live_of(stores, alice, at(10)).await, vec![]);
    assert_eq!(
        stores
            .sessions
            .delete_sessions_of_user(alice, None)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(live_of(stores, bob, at(10)).await, vec![b1]);
}

/// `purge_expired_sessions` removes sessions whose earlier deadline is at or before `now`.
pub async fn sessions_purge_removes_ended_sessions(stores: &Stores) {
    let user_id = UserId::random();
    let absolute = session(user_id, at(0), at(100), at(200));
    let idle = session(user_id, at(0), at(1000), at(100));
    let later = session(user_id, at(1), at(101), at(200));
    let live = session(user_id, at(2), at(1000), at(900));
    for s in [&absolute, &idle, &later, &live] {
        stores.sessions.create_session(s).await.unwrap();
    }

    assert_eq!(
        stores
            .sessions
            .purge_expired_sessions(at(100))
            .await
            .unwrap(),
        2
    );
    // Asked about an earlier instant, a purged session is still missing: it was removed.
    assert_eq!(lookup(stores, &absolute.digest, at(50)).await, None);
    assert_eq!(lookup(stores, &idle.digest, at(50)).await, None);
    assert_eq!(live_of(stores, user_id, at(50)).await, vec![later, live]);
    assert_eq!(
        stores
            .sessions
            .purge_expired_sessions(at(100))
            .await
            .unwrap(),
        0
    );
}

/// A touch never moves `last_seen_at` or `idle_expires_at` backwards: a touch from an instance
/// whose clock lags arrives after a later one and changes nothing.
pub async fn sessions_touch_never_moves_a_deadline_back(stores: &Stores) {
    let user_id = UserId::random();
    let s = session(user_id, at(0), at(1000), at(100));
    stores.sessions.create_session(&s).await.unwrap();
    let later = SessionRecord {
        last_seen_at: at(60),
        idle_expires_at: at(160),
        ..s.clone()
    };
    stores.sessions.touch_session(&later).await.unwrap();
    let lagging = SessionRecord {
        last_seen_at: at(50),
        idle_expires_at: at(150),
        ..s.clone()
    };
    stores.sessions.touch_session(&lagging).await.unwrap();
    assert_eq!(lookup(stores, &s.digest, at(155)).await, Some(later));
}
