//! What only the PostgreSQL store promises: one migration and one first key however many
//! instances start at once, atomic rotations across instances, fast failure while the server
//! is gone and recovery once it is back, `Corrupt` for rows that do not decode, and connect
//! errors that say what is wrong without the password.

use std::error::Error;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tessera_core::store::Health;
use tessera_core::store::{
    KeyAlgorithm, KeyStore, RefreshFamily, RefreshStore, RefreshToken, RotateOutcome,
    SigningKeyRecord, StoreError, StoreResult, UserStore,
};
use tessera_core::user::{User, Username};
use tessera_core::{FamilyId, Timestamp, TokenDigest, UserId};
use tessera_store_postgres::{PostgresStore, SCHEMA_VERSION};
use tessera_testkit::PostgresServer;
use tokio::task::JoinSet;

/// The server the tests that never stop it share.
fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(PostgresServer::start)
}

/// A new empty database on the shared server: its name and URL.
async fn database() -> (String, String) {
    tokio::task::spawn_blocking(|| {
        let url = server().create_unique_database();
        let name = url.rsplit('/').next().unwrap_or_default().to_owned();
        (name, url)
    })
    .await
    .unwrap()
}

async fn psql(database: &str, sql: &str) -> String {
    let (database, sql) = (database.to_owned(), sql.to_owned());
    tokio::task::spawn_blocking(move || server().psql(&database, &sql).trim().to_owned())
        .await
        .unwrap()
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + secs)
}

fn key(kid: &str, created_at: Timestamp) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        algorithm: KeyAlgorithm::EdDSA,
        private_der: format!("material of {kid}").into_bytes(),
        created_at,
        activates_at: created_at,
        retires_at: None,
    }
}

fn user(name: &str) -> User {
    User {
        id: UserId::random(),
        username: Username::parse(name).unwrap(),
        roles: vec!["reader".into()],
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: t(0),
    }
}

/// `n` stores on `url`, connected at once.
async fn connect_many(url: &str, n: usize) -> Vec<PostgresStore> {
    let mut connects = JoinSet::new();
    for _ in 0..n {
        let url = url.to_owned();
        connects.spawn(async move { PostgresStore::connect(&url).await });
    }
    let mut stores = Vec::new();
    while let Some(connected) = connects.join_next().await {
        stores.push(
            connected
                .unwrap()
                .expect("every concurrent connect succeeds"),
        );
    }
    stores
}

/// The error and its sources, one line.
fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[track_caller]
fn assert_unavailable<T: std::fmt::Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected StoreError::Unavailable, got {other:?}"),
    }
}

#[track_caller]
fn assert_corrupt<T: std::fmt::Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("expected StoreError::Corrupt, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_connects_migrate_once() {
    let (name, url) = database().await;
    let stores = connect_many(&url, 10).await;
    assert_eq!(stores.len(), 10);

    assert_eq!(
        psql(
            &name,
            "SELECT count(*) || ' ' || max(version) FROM tessera_migrations"
        )
        .await,
        format!("{SCHEMA_VERSION} {SCHEMA_VERSION}")
    );
    assert_eq!(
        psql(
            &name,
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables
             WHERE table_schema = 'public'"
        )
        .await,
        "refresh_families,refresh_tokens,signing_keys,tessera_migrations,users"
    );
    assert_eq!(
        psql(
            &name,
            "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position)
             FROM information_schema.columns WHERE table_name = 'signing_keys'"
        )
        .await,
        "seq:bigint,kid:text,algorithm:text,private_der:bytea,created_at:bigint,\
         activates_at:bigint,retires_at:bigint"
    );

    // Every instance works on the one schema, and connecting again migrates nothing.
    let alice = user("alice");
    stores[3].create_user(&alice).await.unwrap();
    assert_eq!(stores[7].user_by_name("alice").await.unwrap(), Some(alice));
    PostgresStore::connect(&url).await.unwrap();
    assert_eq!(
        psql(&name, "SELECT count(*) FROM tessera_migrations").await,
        SCHEMA_VERSION.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_build_is_refused() {
    let (name, url) = database().await;
    PostgresStore::connect(&url).await.unwrap();
    psql(
        &name,
        "INSERT INTO tessera_migrations (version, description) VALUES (999, 'from the future')",
    )
    .await;
    let Err(StoreError::Corrupt(e)) = PostgresStore::connect(&url).await else {
        panic!("a newer schema was accepted");
    };
    assert!(chain(&*e).contains("newer"), "{}", chain(&*e));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_racing_for_the_first_key_create_one() {
    let (_, url) = database().await;
    let stores = connect_many(&url, 8).await;
    let mut races = JoinSet::new();
    for (i, store) in stores.iter().enumerate() {
        let store = store.clone();
        races.spawn(async move {
            store
                .insert_first_signing_key(&key(&format!("k{i}"), t(i as i64)))
                .await
        });
    }
    let mut inserted = 0;
    while let Some(won) = races.join_next().await {
        if won.unwrap().unwrap() {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1);
    assert_eq!(stores[0].signing_keys().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_key_rotations_leave_exactly_one_key_unretired() {
    let (_, url) = database().await;
    let stores = connect_many(&url, 6).await;
    assert!(
        stores[0]
            .insert_first_signing_key(&key("k0", t(0)))
            .await
            .unwrap()
    );
    let mut rotations = JoinSet::new();
    for (i, store) in stores.iter().enumerate() {
        let store = store.clone();
        rotations.spawn(async move {
            let i = i as i64 + 1;
            store
                .rotate_signing_key(&key(&format!("k{i}"), t(i)), t(1000 + i))
                .await
        });
    }
    while let Some(rotated) = rotations.join_next().await {
        rotated.unwrap().unwrap();
    }
    let keys = stores[0].signing_keys().await.unwrap();
    assert_eq!(keys.len(), 7);
    let unretired: Vec<_> = keys.iter().filter(|k| k.retires_at.is_none()).collect();
    assert_eq!(unretired.len(), 1, "{keys:?}");

    // A taken kid changes nothing: the current key is not retired.
    let current = unretired[0].kid.clone();
    match stores[1]
        .rotate_signing_key(&key("k3", t(50)), t(2000))
        .await
    {
        Err(StoreError::Conflict) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(stores[2].signing_keys().await.unwrap(), keys);
    assert!(
        keys.iter()
            .any(|k| k.kid == current && k.retires_at.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_rotated_by_many_instances_at_once_has_one_winner() {
    let (_, url) = database().await;
    let stores = connect_many(&url, 8).await;
    let family = RefreshFamily {
        id: FamilyId::random(),
        user_id: UserId::random(),
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
    stores[0].create_family(&family, &first).await.unwrap();

    let mut rotations = JoinSet::new();
    for (i, store) in stores.iter().enumerate() {
        let (store, first) = (store.clone(), first.clone());
        rotations.spawn(async move {
            let successor = RefreshToken {
                digest: TokenDigest::from_bytes([i as u8 + 2; 32]),
                issued_at: t(10),
                ..first.clone()
            };
            let outcome = store
                .rotate(&first.digest, t(10), &successor, b"sealed")
                .await;
            (outcome, successor.digest)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = rotations.join_next().await {
        let (outcome, successor) = joined.unwrap();
        if outcome.unwrap() == RotateOutcome::Rotated {
            winners.push(successor);
        }
    }
    assert_eq!(winners.len(), 1);
    let (spent, _) = stores[1]
        .refresh_token(&TokenDigest::from_bytes([1; 32]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent.successor, Some(winners[0]));
    // Exactly the winner's successor was stored.
    for i in 0..8u8 {
        let digest = TokenDigest::from_bytes([i + 2; 32]);
        let found = stores[2].refresh_token(&digest).await.unwrap().is_some();
        assert_eq!(found, digest == winners[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_the_server_is_stopped_and_recover_when_it_is_back() {
    let mut own = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .unwrap();
    let store = PostgresStore::connect(&own.url()).await.unwrap();
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    store
        .insert_first_signing_key(&key("k1", t(0)))
        .await
        .unwrap();

    let mut own = tokio::task::spawn_blocking(move || {
        own.stop();
        own
    })
    .await
    .unwrap();
    // Each call is refused within about a second, however many come.
    macro_rules! fails_fast {
        ($call:expr) => {{
            let started = Instant::now();
            assert_unavailable($call.await);
            let took = started.elapsed();
            assert!(
                took < Duration::from_millis(1200),
                "{} took {took:?}",
                stringify!($call)
            );
        }};
    }
    fails_fast!(store.ping());
    fails_fast!(store.user_by_id(alice.id));
    fails_fast!(store.user_by_name("alice"));
    fails_fast!(store.signing_keys());
    fails_fast!(store.create_user(&user("bob")));
    let successor = RefreshToken {
        digest: TokenDigest::from_bytes([2; 32]),
        family_id: FamilyId::random(),
        issued_at: t(1),
        spent_at: None,
        successor: None,
        sealed_successor: None,
    };
    fails_fast!(store.rotate(&TokenDigest::from_bytes([1; 32]), t(1), &successor, b""));
    fails_fast!(store.rotate_signing_key(&key("k2", t(1)), t(2)));
    fails_fast!(store.ping());

    let own = tokio::task::spawn_blocking(move || {
        own.restart();
        own
    })
    .await
    .unwrap();
    let back = Instant::now();
    while store.ping().await.is_err() {
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "no recovery within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().as_deref(),
        Some(&alice)
    );
    assert_eq!(store.signing_keys().await.unwrap().len(), 1);
    drop(own);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_do_not_decode_are_corrupt() {
    let (name, url) = database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let fine = user("fine");
    store.create_user(&fine).await.unwrap();

    // A username that is not one, roles that are not JSON, an id of the wrong length.
    psql(
        &name,
        "INSERT INTO users (id, username, canonical, roles, password_hash, created_at) VALUES
         ('\\x01010101010101010101010101010101', 'no spaces allowed!', 'a', '[]', 'h', 0),
         ('\\x02020202020202020202020202020202', 'roles', 'roles', 'not json', 'h', 0),
         ('\\x0303', 'short', 'short', '[]', 'h', 0)",
    )
    .await;
    assert_corrupt(store.user_by_id(UserId::from_bytes([1; 16])).await);
    assert_corrupt(store.user_by_name("roles").await);
    assert_corrupt(store.user_by_name("short").await);
    assert_corrupt(store.list_users().await);
    assert_eq!(store.user_by_name("fine").await.unwrap(), Some(fine));

    psql(
        &name,
        "INSERT INTO signing_keys (kid, algorithm, private_der, created_at, activates_at)
         VALUES ('bad', 'MD5', '\\x00', 0, 0)",
    )
    .await;
    assert_corrupt(store.signing_keys().await);

    psql(
        &name,
        "INSERT INTO refresh_families (id, user_id, created_at, expires_at)
             VALUES ('\\x04040404040404040404040404040404', '\\x05', 0, 10);
         INSERT INTO refresh_tokens (digest, family_id, issued_at, successor)
             VALUES ('\\x0606060606060606060606060606060606060606060606060606060606060606',
                     '\\x04040404040404040404040404040404', 0, '\\x07')",
    )
    .await;
    assert_corrupt(store.refresh_token(&TokenDigest::from_bytes([6; 32])).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_errors_say_what_is_wrong_without_the_password() {
    let (_, url) = database().await;
    let port = server().port();
    let unreachable = format!(
        "postgres://tessera:s3cr3t-pw@127.0.0.1:{}/x",
        tessera_testkit::free_port()
    );
    let cases = [
        (
            "postgres://tessera:s3cr3t-pw@127.0.0.1:notaport/x".to_owned(),
            "malformed",
        ),
        (
            "redis://tessera:s3cr3t-pw@127.0.0.1/x".to_owned(),
            "malformed",
        ),
        (unreachable, "cannot connect"),
        (
            format!("postgres://tessera:s3cr3t-pw@127.0.0.1:{port}/tessera"),
            "password authentication failed",
        ),
        (
            url.replace(PostgresServer::PASSWORD, "s3cr3t-pw"),
            "password authentication failed",
        ),
        (
            format!(
                "postgres://tessera:{}@127.0.0.1:{port}/missing",
                PostgresServer::PASSWORD
            ),
            "does not exist",
        ),
    ];
    for (url, expected) in cases {
        let started = Instant::now();
        let Err(StoreError::Unavailable(e)) = PostgresStore::connect(&url).await else {
            panic!("{expected}: connected");
        };
        assert!(started.elapsed() < Duration::from_secs(4));
        let text = chain(&*e);
        assert!(text.contains(expected), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!text.contains(PostgresServer::PASSWORD), "{text}");
        assert!(!format!("{e:?}").contains("s3cr3t"), "{e:?}");
    }

    let store = PostgresStore::connect(&url).await.unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("127.0.0.1"), "{shown}");
    assert!(!shown.contains(PostgresServer::PASSWORD), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_within_a_second() {
    let (_, url) = database().await;
    let store = Arc::new(PostgresStore::connect(&url).await.unwrap());
    let started = Instant::now();
    store.ping().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}
