//! What only the SQLite store promises: its files, durability across reopening, and how bad
//! data and bad paths surface as errors.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tessera_core::session::SessionRecord;
use tessera_core::store::{
    KeyAlgorithm, RefreshFamily, RefreshToken, Revocation, RevokedKind, RotateOutcome,
    SigningKeyRecord, StoreError,
};
use tessera_core::user::{User, Username};
use tessera_core::{FamilyId, SessionId, Timestamp, TokenDigest, UserId};
use tessera_store_sqlite::SqliteStore;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + secs)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

fn sample_user() -> User {
    User {
        id: UserId::random(),
        username: Username::parse("Alice").unwrap(),
        roles: vec!["admin".into()],
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: t(0),
    }
}

fn sample_session(user_id: UserId) -> SessionRecord {
    SessionRecord {
        id: SessionId::random(),
        digest: TokenDigest::from_bytes([7; 32]),
        user_id,
        created_at: t(0),
        last_seen_at: t(0),
        expires_at: t(3600),
        idle_expires_at: t(600),
        user_agent: "test".into(),
        ip: "192.0.2.1".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let user = sample_user();
    let session = sample_session(user.id);
    let family = RefreshFamily {
        id: FamilyId::random(),
        user_id: user.id,
        created_at: t(0),
        expires_at: t(86_400),
        ended_at: None,
    };
    let first = RefreshToken {
        digest: TokenDigest::from_bytes([1; 32]),
        family_id: family.id,
        issued_at: t(0),
        spent_at: None,
        successor: None,
        sealed_successor: None,
    };
    let second = RefreshToken {
        digest: TokenDigest::from_bytes([2; 32]),
        issued_at: t(5),
        ..first.clone()
    };
    let revocation = Revocation {
        kind: RevokedKind::Sid,
        id: "sid-1".into(),
        expires_at: t(900),
    };
    let key = SigningKeyRecord {
        kid: "k1".into(),
        algorithm: KeyAlgorithm::EdDSA,
        private_der: vec![0x30, 0x2e, 0x02, 0x01, 0x00],
        created_at: t(0),
        activates_at: t(0),
        retires_at: None,
    };

    {
        let stores = SqliteStore::open(&data).unwrap().stores();
        stores.users.create_user(&user).await.unwrap();
        stores.sessions.create_session(&session).await.unwrap();
        stores.refresh.create_family(&family, &first).await.unwrap();
        let outcome = stores
            .refresh
            .rotate(&first.digest, t(5), &second, b"sealed")
            .await
            .unwrap();
        assert_eq!(outcome, RotateOutcome::Rotated);
        stores.revocations.revoke(&revocation).await.unwrap();
        assert!(stores.keys.insert_first_signing_key(&key).await.unwrap());
    } // every connection closes here

    let stores = SqliteStore::open(&data).unwrap().stores();
    assert_eq!(
        stores.users.user_by_name("alice").await.unwrap(),
        Some(user)
    );
    assert_eq!(
        stores
            .sessions
            .session_by_digest(&session.digest, t(1))
            .await
            .unwrap()
            .as_deref()
            .cloned(),
        Some(session)
    );
    let (spent, stored_family) = stores
        .refresh
        .refresh_token(&first.digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_family, family);
    assert_eq!(spent.successor, Some(second.digest));
    assert_eq!(spent.sealed_successor.as_deref(), Some(&b"sealed"[..]));
    assert_eq!(
        stores.refresh.refresh_token(&second.digest).await.unwrap(),
        Some((second, family))
    );
    assert_eq!(
        stores.revocations.revocations(t(1)).await.unwrap(),
        vec![revocation]
    );
    assert_eq!(stores.keys.signing_keys().await.unwrap(), vec![key]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_private_to_the_server_user() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let store = SqliteStore::open(&data).unwrap();
    assert_eq!(store.path(), data.join("tessera.db"));
    let stores = store.stores();
    // A write while the store is open: the WAL and shared-memory files exist now.
    stores.users.create_user(&sample_user()).await.unwrap();

    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("tessera.db")), 0o600, "database");
    assert_eq!(mode(&data.join("tessera.db-wal")), 0o600, "write-ahead log");
    assert_eq!(
        mode(&data.join("tessera.db-shm")),
        0o600,
        "shared memory index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_database_file_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let db = dir.path().join("tessera.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();

    let stores = SqliteStore::open(dir.path()).unwrap().stores();
    stores.health.ping().await.unwrap();
    assert_eq!(mode(&db), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_rows_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let stores = SqliteStore::open(dir.path()).unwrap().stores();
    let digest = TokenDigest::from_bytes([9; 32]);

    let raw = rusqlite::Connection::open(dir.path().join("tessera.db")).unwrap();
    raw.execute(
        "INSERT INTO sessions VALUES (x'0102', ?1, x'03', 0, 0, 9999999999999, 9999999999999, '', '')",
        [digest.as_bytes().as_slice()],
    )
    .unwrap();
    raw.execute(
        "INSERT INTO signing_keys VALUES ('k', 'none', x'00', 0, NULL, 0)",
        [],
    )
    .unwrap();

    let session = stores.sessions.session_by_digest(&digest, t(0)).await;
    assert!(
        matches!(session, Err(StoreError::Corrupt(_))),
        "{session:?}"
    );
    let keys = stores.keys.signing_keys().await;
    assert!(matches!(keys, Err(StoreError::Corrupt(_))), "{keys:?}");
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let raw = rusqlite::Connection::open(dir.path().join("tessera.db")).unwrap();
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);

    let reopened = SqliteStore::open(dir.path());
    assert!(
        matches!(reopened, Err(StoreError::Corrupt(_))),
        "{reopened:?}"
    );
}

#[test]
fn a_data_dir_that_is_a_file_is_unavailable() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let opened = SqliteStore::open(file.path());
    assert!(
        matches!(opened, Err(StoreError::Unavailable(_))),
        "{opened:?}"
    );
}
