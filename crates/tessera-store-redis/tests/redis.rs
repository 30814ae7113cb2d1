//! What only the Redis store promises, against real `redis-server`s: the throttle script holds
//! under concurrency across instances, touches never move back, the feed delivers, wakes
//! blocked readers, never stalls other calls and reports gaps, calls fail fast while Redis is
//! gone and work again by themselves once it is back, AOF keeps what matters across a kill,
//! stored garbage is `Corrupt`, connect errors are clear and keep the password, and the memory
//! a session costs.

use std::error::Error;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tessera_core::secret::random_bytes;
use tessera_core::session::SessionRecord;
use tessera_core::store::{
    Bucket, Change, ChangeFeed, FailureLog, FeedCursor, FeedRead, Health, Revocation,
    RevocationStore, RevokedKind, SessionStore, StoreError, StoreResult,
};
use tessera_core::{SessionId, Timestamp, TokenDigest, UserId};
use tessera_store_redis::{RedisOptions, RedisStore};
use tessera_testkit::RedisServer;
use tokio::task::JoinSet;

/// The server the tests that never stop it share.
fn server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| RedisServer::start().expect("start redis-server"))
}

fn namespace() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("own{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A store under a fresh namespace of the shared server, and that namespace.
async fn store() -> (RedisStore, String) {
    let ns = namespace();
    let url = tokio::task::spawn_blocking(|| server().url())
        .await
        .unwrap();
    (RedisStore::connect(&url, &ns).await.unwrap(), ns)
}

async fn raw(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn shared_raw() -> MultiplexedConnection {
    let url = tokio::task::spawn_blocking(|| server().url())
        .await
        .unwrap();
    raw(&url).await
}

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                      (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// A session of `user` created at `now`, idle for `idle`, ending after `absolute`.
fn session(user: UserId, now: Timestamp, idle: Duration, absolute: Duration) -> SessionRecord {
    let expires_at = now.plus(absolute);
    SessionRecord {
        id: SessionId::random(),
        digest: TokenDigest::from_bytes(random_bytes()),
        user_id: user,
        created_at: now,
        last_seen_at: now,
        expires_at,
        idle_expires_at: now.plus(idle).min(expires_at),
        user_agent: CHROME.into(),
        ip: "203.0.113.57".into(),
    }
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

fn session_key(ns: &str, digest: &TokenDigest) -> Vec<u8> {
    [format!("{ns}:s:").as_bytes(), digest.as_bytes()].concat()
}

/// The error and all its sources, as one text.
fn chain(e: &dyn Error) -> String {
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
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[track_caller]
fn assert_corrupt<T: std::fmt::Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_concurrent_attempts_over_three_instances_admit_exactly_the_limit() {
    let (first, ns) = store().await;
    let url = first.target().to_owned();
    let mut instances = vec![first];
    for _ in 0..2 {
        instances.push(
            RedisStore::connect(&format!("redis://{url}"), &ns)
                .await
                .unwrap(),
        );
    }
    let now = Timestamp::now();
    let since = now.minus(minutes(15));
    let mut attempts = JoinSet::new();
    for i in 0..30 {
        let log = instances[i % 3].clone();
        attempts.spawn(async move {
            let buckets = [
                Bucket {
                    key: "account:alice",
                    limit: 5,
                },
                Bucket {
                    key: "address:198.51.100.7",
                    limit: 100,
                },
            ];
            log.try_record(&buckets, &format!("attempt-{i}"), now, since)
                .await
                .unwrap()
        });
    }
    let outcomes = attempts.join_all().await;
    let admitted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(admitted, 5, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| *o == Ok(()) || *o == Err(now)));

    // The refused attempts counted nothing under the address either: 95 more fit there.
    let address = [Bucket {
        key: "address:198.51.100.7",
        limit: 100,
    }];
    for i in 0..95 {
        let outcome = instances[0]
            .try_record(&address, &format!("more-{i}"), now, since)
            .await
            .unwrap();
        assert_eq!(outcome, Ok(()), "attempt {i}");
    }
    assert_eq!(
        instances[1]
            .try_record(&address, "one-too-many", now, since)
            .await
            .unwrap(),
        Err(now)
    );

    // Keys are hashed (no client text in them) and expire one window after their newest entry.
    let mut raw = shared_raw().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:f:*"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in keys {
        assert!(!key.contains("alice") && !key.contains("198.51"), "{key}");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(ttl > 14 * 60 * 1000 && ttl <= 15 * 60 * 1000, "{ttl}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touches_from_clocks_that_disagree_never_move_anything_back() {
    let (store, ns) = store().await;
    let mut raw = shared_raw().await;
    let now = Timestamp::now();
    let s = session(UserId::random(), now, minutes(30), minutes(480));
    store.create_session(&s).await.unwrap();
    let key = session_key(&ns, &s.digest);
    let ttl = |mut raw: MultiplexedConnection, key: Vec<u8>| async move {
        redis::cmd("PTTL")
            .arg(key)
            .query_async::<i64>(&mut raw)
            .await
            .unwrap()
    };
    let created_ttl = ttl(raw.clone(), key.clone()).await;
    assert!(created_ttl > 29 * 60 * 1000 && created_ttl <= 30 * 60 * 1000);

    // Instance B, its clock 20 s ahead, touches; then instance A, 10 s behind B, does.
    let ahead = SessionRecord {
        last_seen_at: now.plus(Duration::from_secs(20)),
        idle_expires_at: now.plus(Duration::from_secs(20)).plus(minutes(30)),
        ..s.clone()
    };
    store.touch_session(&ahead).await.unwrap();
    // The TTL is the time left by the toucher's clock: 30 minutes.
    let after_ahead = ttl(raw.clone(), key.clone()).await;
    assert!(after_ahead > 30 * 60 * 1000 - 500, "{after_ahead}");
    let behind = SessionRecord {
        last_seen_at: now.plus(Duration::from_secs(10)),
        idle_expires_at: now.plus(Duration::from_secs(10)).plus(minutes(30)),
        ..s.clone()
    };
    store.touch_session(&behind).await.unwrap();
    let stored = store
        .session_by_digest(&s.digest, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_seen_at, ahead.last_seen_at);
    assert_eq!(stored.idle_expires_at, ahead.idle_expires_at);
    // A's touch changed nothing, the TTL included: it only ran down meanwhile (a touch that
    // set it by A's clock from A's own deadline would have cut 10 s off it).
    let after_behind = ttl(raw.clone(), key.clone()).await;
    assert!(
        after_behind > after_ahead - 1000 && after_behind <= after_ahead,
        "{after_behind} within 1 s below {after_ahead}"
    );

    // The index is scored by the later deadline too.
    let score: f64 = redis::cmd("ZSCORE")
        .arg([format!("{ns}:u:").as_bytes(), s.user_id.as_bytes()].concat())
        .arg([s.id.as_bytes().as_slice(), s.digest.as_bytes()].concat())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(score as i64, ahead.idle_expires_at.as_millis());

    // A touch that moves only one field keeps the other.
    let mixed = SessionRecord {
        last_seen_at: now.plus(Duration::from_secs(30)),
        idle_expires_at: now.plus(minutes(5)),
        ..s.clone()
    };
    store.touch_session(&mixed).await.unwrap();
    let stored = store
        .session_by_digest(&s.digest, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_seen_at, mixed.last_seen_at);
    assert_eq!(stored.idle_expires_at, ahead.idle_expires_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_key_lives_as_long_as_its_earlier_deadline() {
    let (store, ns) = store().await;
    let mut raw = shared_raw().await;
    let now = Timestamp::now();
    let user = UserId::random();
    let short = session(user, now, Duration::from_millis(700), minutes(60));
    let long = session(user, now, minutes(60), minutes(120));
    store.create_session(&short).await.unwrap();
    store.create_session(&long).await.unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(session_key(&ns, &short.digest))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0, "Redis expired the idle session by itself");
    assert_eq!(
        store
            .sessions_of_user(user, Timestamp::now())
            .await
            .unwrap(),
        vec![long.clone()]
    );
    // Purging prunes the index of the member whose key Redis expired.
    assert_eq!(
        store
            .purge_expired_sessions(Timestamp::now())
            .await
            .unwrap(),
        1
    );
    let members: i64 = redis::cmd("ZCARD")
        .arg([format!("{ns}:u:").as_bytes(), user.as_bytes()].concat())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(members, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_delivers_every_change_in_order_to_every_reader() {
    let (a, ns) = store().await;
    // A URL asking for RESP3 gets the same answers.
    let b = RedisStore::connect(&format!("redis://{}/?protocol=resp3", a.target()), &ns)
        .await
        .unwrap();
    let start = b.head().await.unwrap();
    let now = Timestamp::now();
    let changes = vec![
        Change::Revoked(Revocation {
            kind: RevokedKind::Sid,
            id: "sid-1".into(),
            expires_at: now.plus(minutes(5)),
        }),
        Change::SessionEnded(TokenDigest::from_bytes([3; 32])),
        Change::UserChanged(UserId::random()),
        Change::KeysChanged,
    ];
    for change in &changes {
        a.publish(change, now).await.unwrap();
    }
    for reader in [&a, &b] {
        let FeedRead::Entries(entries) = reader
            .read_after(&start, Duration::from_millis(100))
            .await
            .unwrap()
        else {
            panic!("no gap expected");
        };
        let got: Vec<Change> = entries.iter().map(|e| e.change.clone()).collect();
        assert_eq!(got, changes);
        assert!(entries.iter().all(|e| e.published_at == now));
        // Continuing from the last entry: nothing new, after the wait.
        let last = entries.last().unwrap().cursor.clone();
        assert_eq!(last, reader.head().await.unwrap());
        let begun = Instant::now();
        let again = reader
            .read_after(&last, Duration::from_millis(200))
            .await
            .unwrap();
        assert_eq!(again, FeedRead::Entries(vec![]));
        assert!(begun.elapsed() >= Duration::from_millis(180));
        // From the very start: every entry (nothing was trimmed).
        let FeedRead::Entries(all) = reader
            .read_after(&FeedCursor(String::new()), Duration::ZERO)
            .await
            .unwrap()
        else {
            panic!("no gap expected");
        };
        assert_eq!(all.len(), 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_reader_wakes_at_once_and_stalls_no_other_call() {
    let (a, ns) = store().await;
    let b = RedisStore::connect(&format!("redis://{}", a.target()), &ns)
        .await
        .unwrap();
    let head = b.head().await.unwrap();
    let reader = b.clone();
    let waiting = tokio::spawn(async move {
        let begun = Instant::now();
        let read = reader.read_after(&head, Duration::from_secs(5)).await;
        (read, begun.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // While b's reader blocks, b's other calls go through at once.
    let s = session(UserId::random(), Timestamp::now(), minutes(5), minutes(60));
    let begun = Instant::now();
    b.create_session(&s).await.unwrap();
    for _ in 0..50 {
        assert!(
            b.session_by_digest(&s.digest, Timestamp::now())
                .await
                .unwrap()
                .is_some()
        );
    }
    assert!(
        begun.elapsed() < Duration::from_millis(500),
        "{:?}",
        begun.elapsed()
    );

    let published = Instant::now();
    a.publish(&Change::KeysChanged, Timestamp::now())
        .await
        .unwrap();
    let (read, waited) = waiting.await.unwrap();
    let delivered = published.elapsed();
    assert!(matches!(read.unwrap(), FeedRead::Entries(e) if e.len() == 1));
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert!(delivered < Duration::from_millis(100), "{delivered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_reports_a_gap_once_entries_after_the_cursor_are_trimmed() {
    let ns = namespace();
    let options = RedisOptions {
        feed_max_len: 10,
        ..RedisOptions::default()
    };
    let url = tokio::task::spawn_blocking(|| server().url())
        .await
        .unwrap();
    let store = RedisStore::connect_with(&url, &ns, options).await.unwrap();
    let early = store.head().await.unwrap();
    store
        .publish(&Change::KeysChanged, Timestamp::now())
        .await
        .unwrap();
    let FeedRead::Entries(first) = store.read_after(&early, Duration::ZERO).await.unwrap() else {
        panic!("no gap yet");
    };
    let after_first = first[0].cursor.clone();
    // Approximate trimming drops whole stream nodes (100 entries each by default).
    for _ in 0..1000 {
        store
            .publish(&Change::KeysChanged, Timestamp::now())
            .await
            .unwrap();
    }
    for cursor in [&early, &after_first, &FeedCursor(String::new())] {
        assert_eq!(
            store.read_after(cursor, Duration::ZERO).await.unwrap(),
            FeedRead::Gap,
            "{cursor:?}"
        );
    }
    // The reader reloads and continues from the head: no gap from there.
    let head = store.head().await.unwrap();
    assert_eq!(
        store
            .read_after(&head, Duration::from_millis(10))
            .await
            .unwrap(),
        FeedRead::Entries(vec![])
    );
    // A cursor that names no position is a gap too, not an error.
    assert_eq!(
        store
            .read_after(&FeedCursor("garbage".into()), Duration::ZERO)
            .await
            .unwrap(),
        FeedRead::Gap
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_reports_a_gap_when_redis_lost_its_data() {
    let mut redis = RedisServer::start().unwrap();
    let store = RedisStore::connect(&redis.url(), "lost").await.unwrap();
    store
        .publish(&Change::KeysChanged, Timestamp::now())
        .await
        .unwrap();
    let before = store.head().await.unwrap();
    redis.stop();
    redis.restart().unwrap();
    // Redis came back empty (no persistence): the stream and its epoch are gone.
    let deadline = Instant::now() + Duration::from_secs(2);
    let read = loop {
        match store.read_after(&before, Duration::ZERO).await {
            Ok(read) => break read,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(read, FeedRead::Gap);
    // Even once new entries arrive (whose ids are later than the old cursor's).
    store
        .publish(&Change::KeysChanged, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        store.read_after(&before, Duration::ZERO).await.unwrap(),
        FeedRead::Gap
    );
    let head = store.head().await.unwrap();
    assert_ne!(head, before);
    assert_eq!(
        store.read_after(&head, Duration::ZERO).await.unwrap(),
        FeedRead::Entries(vec![])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_entry_that_does_not_decode_is_a_gap() {
    let (store, ns) = store().await;
    let mut raw = shared_raw().await;
    for fields in [&["c", "\u{1}garbage"][..], &["other", "x"][..]] {
        let head = store.head().await.unwrap();
        // The next number, as the publish script would give it.
        let n: u64 = head
            .0
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches("-0")
            .parse()
            .unwrap();
        let mut xadd = redis::cmd("XADD");
        xadd.arg(format!("{ns}:feed"))
            .arg(format!("{}-0", n + 1))
            .arg(fields);
        xadd.query_async::<String>(&mut raw).await.unwrap();
        assert_eq!(
            store.read_after(&head, Duration::ZERO).await.unwrap(),
            FeedRead::Gap
        );
    }
    // A good entry after them reads again from the head.
    let head = store.head().await.unwrap();
    store
        .publish(&Change::KeysChanged, Timestamp::now())
        .await
        .unwrap();
    assert!(matches!(
        store.read_after(&head, Duration::ZERO).await.unwrap(),
        FeedRead::Entries(e) if e.len() == 1
    ));
}

/// Polls `call` until it succeeds; how long that took (panics after `limit`).
async fn until_ok<T, F, Fut>(limit: Duration, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let begun = Instant::now();
    loop {
        if call().await.is_ok() {
            return begun.elapsed();
        }
        assert!(begun.elapsed() < limit, "not back within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_redis_is_gone_and_work_again_once_it_is_back() {
    let mut redis = RedisServer::start().unwrap();
    let store = RedisStore::connect(&redis.url(), "outage").await.unwrap();
    let s = session(UserId::random(), Timestamp::now(), minutes(30), minutes(60));
    store.create_session(&s).await.unwrap();
    let head = store.head().await.unwrap();

    // Killed: refused connections.
    redis.stop();
    for _ in 0..3 {
        let begun = Instant::now();
        assert_unavailable(store.session_by_digest(&s.digest, Timestamp::now()).await);
        assert_unavailable(store.ping().await);
        assert!(
            begun.elapsed() < Duration::from_millis(1200),
            "{:?}",
            begun.elapsed()
        );
    }
    let begun = Instant::now();
    assert_unavailable(store.read_after(&head, Duration::from_secs(1)).await);
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "{:?}",
        begun.elapsed()
    );

    redis.restart().unwrap();
    let back = until_ok(Duration::from_secs(2), || {
        store.session_by_digest(&s.digest, Timestamp::now())
    })
    .await;
    println!("back {back:?} after the restart");
    assert!(
        store
            .session_by_digest(&s.digest, Timestamp::now())
            .await
            .unwrap()
            .is_none(),
        "no persistence: the session is gone"
    );
    until_ok(Duration::from_secs(2), || {
        store.read_after(&head, Duration::ZERO)
    })
    .await;

    // Frozen (SIGSTOP): connected, but no answer. Calls time out instead of hanging.
    let pid = redis.pid().unwrap().to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let begun = Instant::now();
    assert_unavailable(store.session_by_digest(&s.digest, Timestamp::now()).await);
    let frozen = begun.elapsed();
    let begun = Instant::now();
    assert_unavailable(store.read_after(&head, Duration::from_millis(500)).await);
    let frozen_read = begun.elapsed();
    signal("-CONT");
    assert!(frozen < Duration::from_millis(1200), "{frozen:?}");
    assert!(frozen_read < Duration::from_millis(1600), "{frozen_read:?}");
    let thawed = until_ok(Duration::from_secs(2), || store.ping()).await;
    println!("thawed after {thawed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_aof_sessions_revocations_and_throttle_counts_survive_a_kill() {
    let mut redis = RedisServer::start_with_aof().unwrap();
    let store = RedisStore::connect(&redis.url(), "durable").await.unwrap();
    let now = Timestamp::now();
    let s = session(UserId::random(), now, minutes(30), minutes(60));
    store.create_session(&s).await.unwrap();
    let revocation = Revocation {
        kind: RevokedKind::AccessToken,
        id: "jti-42".into(),
        expires_at: now.plus(minutes(10)),
    };
    store.revoke(&revocation).await.unwrap();
    let since = now.minus(minutes(15));
    let account = [Bucket {
        key: "account:bob",
        limit: 3,
    }];
    for i in 0..3 {
        let outcome = store
            .try_record(&account, &format!("a{i}"), now, since)
            .await
            .unwrap();
        assert_eq!(outcome, Ok(()));
    }

    redis.stop();
    redis.restart().unwrap();
    until_ok(Duration::from_secs(2), || store.ping()).await;

    assert_eq!(
        store
            .session_by_digest(&s.digest, now)
            .await
            .unwrap()
            .as_deref(),
        Some(&s)
    );
    assert_eq!(
        store.revocations(now).await.unwrap(),
        vec![revocation.clone()]
    );
    assert_eq!(
        store.try_record(&account, "a3", now, since).await.unwrap(),
        Err(now),
        "the three failures still count"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_do_not_decode_are_corrupt() {
    let (store, ns) = store().await;
    let mut raw = shared_raw().await;
    let now = Timestamp::now();
    let s = session(UserId::random(), now, minutes(30), minutes(60));

    // A session value that is not one.
    let _: () = redis::cmd("SET")
        .arg(session_key(&ns, &s.digest))
        .arg("\u{1}short")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_corrupt(store.session_by_digest(&s.digest, now).await);
    assert_corrupt(store.touch_session(&s).await);

    // A user index entry whose session value is garbage.
    let other = session(UserId::random(), now, minutes(30), minutes(60));
    store.create_session(&other).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(session_key(&ns, &other.digest))
        .arg(vec![0xffu8; 80])
        .arg("KEEPTTL")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_corrupt(store.sessions_of_user(other.user_id, now).await);
    assert_corrupt(store.session_by_digest(&other.digest, now).await);

    // A revocation of an unknown kind.
    let _: () = redis::cmd("ZADD")
        .arg(format!("{ns}:r"))
        .arg(now.plus(minutes(5)).as_millis())
        .arg("?what")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_corrupt(store.revocations(now).await);

    // A key of the wrong type.
    let (wrong, wrong_ns) = self::store().await;
    let _: () = redis::cmd("SET")
        .arg(format!("{wrong_ns}:r"))
        .arg("not a sorted set")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_corrupt(wrong.revocations(now).await);
    assert_corrupt(
        wrong
            .revoke(&Revocation {
                kind: RevokedKind::Sid,
                id: "x".into(),
                expires_at: now,
            })
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_errors_say_what_is_wrong_without_the_password() {
    let unused = tessera_testkit::free_port();
    let cases = [
        ("redis//missing-colon", "malformed Redis URL"),
        ("http://127.0.0.1:6379", "malformed Redis URL"),
        (
            "redis://127.0.0.1:6379/?protocol=nonsense",
            "malformed Redis URL",
        ),
        (
            &format!("redis://:pa55-unreachable@127.0.0.1:{unused}") as &str,
            "cannot reach Redis",
        ),
    ];
    for (url, expected) in cases {
        let e = RedisStore::connect(url, "t").await.unwrap_err();
        let text = chain(&e);
        assert!(text.contains(expected), "{url}: {text}");
        assert!(!text.contains("pa55"), "{text}");
        assert!(!format!("{e:?}").contains("pa55"));
    }
    let url = tokio::task::spawn_blocking(|| server().url())
        .await
        .unwrap();
    let e = RedisStore::connect(&url, "no:colons").await.unwrap_err();
    assert!(
        chain(&e).contains("invalid Redis namespace"),
        "{}",
        chain(&e)
    );

    // A server with a password.
    let redis = RedisServer::start().unwrap();
    let mut raw = raw(&redis.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("c0rrect-horse")
        .query_async(&mut raw)
        .await
        .unwrap();
    let port = redis.port();
    for url in [
        format!("redis://:wr0ng-horse@127.0.0.1:{port}"),
        format!("redis://default:wr0ng-horse@127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}"),
    ] {
        let e = RedisStore::connect(&url, "t").await.unwrap_err();
        let text = chain(&e);
        assert!(text.contains("refused the credentials"), "{text}");
        assert!(
            !text.contains("wr0ng") && !format!("{e:?}").contains("wr0ng"),
            "{text}"
        );
        assert!(!text.contains("c0rrect"), "{text}");
    }
    let store = RedisStore::connect(&format!("redis://:c0rrect-horse@127.0.0.1:{port}"), "t")
        .await
        .unwrap();
    store.ping().await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("c0rrect"), "{debug}");
    assert!(debug.contains(&format!("127.0.0.1:{port}")), "{debug}");
}

/// `used_memory` of `INFO memory`.
async fn used_memory(raw: &mut MultiplexedConnection) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(raw)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Redis memory per session, for docs/BENCHMARKS.md (printed; run with `--nocapture`): 100 000
/// sessions of 100 000 users created through the store (pipelined by the multiplexed
/// connection), against 100 000 plain keys with a TTL and a 1-byte value (Redis's own per-key
/// overhead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_per_session() {
    const N: usize = 100_000;
    let redis = RedisServer::start().unwrap();
    let mut raw = raw(&redis.url()).await;
    let store = RedisStore::connect(&redis.url(), "mem").await.unwrap();

    // Redis's own overhead of a key with a TTL, with keys as long as a session's.
    let before = used_memory(&mut raw).await;
    for chunk in (0..N).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            let mut key = b"mem:x:".to_vec();
            key.extend_from_slice(&(*i as u64).to_le_bytes());
            key.extend_from_slice(&[7u8; 24]);
            pipe.cmd("SET")
                .arg(key)
                .arg("x")
                .arg("PX")
                .arg(3_600_000)
                .ignore();
        }
        pipe.query_async::<()>(&mut raw).await.unwrap();
    }
    let per_key = (used_memory(&mut raw).await - before) as f64 / N as f64;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut raw).await.unwrap();

    let before = used_memory(&mut raw).await;
    let now = Timestamp::now();
    let mut pending = JoinSet::new();
    for _ in 0..N {
        if pending.len() >= 256 {
            pending.join_next().await.unwrap().unwrap();
        }
        let store = store.clone();
        let s = session(UserId::random(), now, minutes(30), minutes(480));
        pending.spawn(async move { store.create_session(&s).await.unwrap() });
    }
    pending.join_all().await;
    let after = used_memory(&mut raw).await;
    let per_session = (after - before) as f64 / N as f64;
    let keys: i64 = redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap();
    let beyond = per_session - per_key * keys as f64 / N as f64;
    println!(
        "redis memory: {per_session:.0} bytes per session ({keys} keys for {N} sessions of as \
         many users); a plain key with a TTL costs {per_key:.0}; beyond Redis's per-key \
         overhead: {beyond:.0} bytes per session"
    );
    assert_eq!(keys, 2 * N as i64);
    assert!(
        beyond < 300.0,
        "{beyond:.0} bytes per session beyond key overhead"
    );
}
