//! Cases for [`tessera_core::store::FailureLog`]: the login throttle's sliding windows.

use tessera_core::store::{Bucket, Stores};

use crate::fixtures::at;

fn buckets<'a>(account: &'a str, address: &'a str, limit: u32) -> [Bucket<'a>; 2] {
    [
        Bucket {
            key: account,
            limit,
        },
        Bucket {
            key: address,
            limit: 100,
        },
    ]
}

/// Attempts are admitted up to the limit within the window; the next is refused with the entry
/// whose leaving the window lets one in, and admitted once it has left.
pub async fn failures_limit_within_the_sliding_window(stores: &Stores) {
    let log = &stores.failures;
    for (i, id) in ["a1", "a2", "a3"].into_iter().enumerate() {
        let now = at(10 + i as i64);
        let admitted = log
            .try_record(
                &buckets("account:alice", "address:1", 3),
                id,
                now,
                at(-1000),
            )
            .await
            .unwrap();
        assert_eq!(admitted, Ok(()));
    }
    let refused = log
        .try_record(
            &buckets("account:alice", "address:2", 3),
            "a4",
            at(20),
            at(-880),
        )
        .await
        .unwrap();
    assert_eq!(refused, Err(at(10)));
    // The window starts after the first entry: one attempt fits again.
    let admitted = log
        .try_record(
            &buckets("account:alice", "address:2", 3),
            "a5",
            at(911),
            at(10),
        )
        .await
        .unwrap();
    assert_eq!(admitted, Ok(()));
}

/// A refusal by one bucket records nothing in the other; the latest blocking entry is reported
/// when both are full.
pub async fn failures_refusal_records_nothing(stores: &Stores) {
    let log = &stores.failures;
    let full = [Bucket {
        key: "address:9",
        limit: 1,
    }];
    assert_eq!(
        log.try_record(&full, "x1", at(5), at(-1000)).await.unwrap(),
        Ok(())
    );
    let both = [
        Bucket {
            key: "account:bob",
            limit: 1,
        },
        Bucket {
            key: "address:9",
            limit: 1,
        },
    ];
    assert_eq!(
        log.try_record(&both, "x2", at(6), at(-1000)).await.unwrap(),
        Err(at(5))
    );
    // "account:bob" got no entry from the refused attempt.
    let bob = [Bucket {
        key: "account:bob",
        limit: 1,
    }];
    assert_eq!(
        log.try_record(&bob, "x3", at(7), at(-1000)).await.unwrap(),
        Ok(())
    );
    assert_eq!(
        log.try_record(&both, "x4", at(8), at(-1000)).await.unwrap(),
        Err(at(7))
    );
}

/// Withdrawing takes back exactly that attempt's entry; clearing forgets the key; other keys
/// keep their entries.
pub async fn failures_withdraw_and_clear(stores: &Stores) {
    let log = &stores.failures;
    let one = [Bucket {
        key: "account:carol",
        limit: 2,
    }];
    let other = [Bucket {
        key: "account:dave",
        limit: 1,
    }];
    log.try_record(&one, "c1", at(1), at(-1000))
        .await
        .unwrap()
        .unwrap();
    log.try_record(&one, "c2", at(1), at(-1000))
        .await
        .unwrap()
        .unwrap();
    log.try_record(&other, "d1", at(1), at(-1000))
        .await
        .unwrap()
        .unwrap();
    assert!(
        log.try_record(&one, "c3", at(2), at(-1000))
            .await
            .unwrap()
            .is_err()
    );
    log.withdraw("account:carol", "c2").await.unwrap();
    log.try_record(&one, "c4", at(3), at(-1000))
        .await
        .unwrap()
        .unwrap();
    log.clear("account:carol").await.unwrap();
    log.try_record(&one, "c5", at(4), at(-1000))
        .await
        .unwrap()
        .unwrap();
    log.try_record(&one, "c6", at(4), at(-1000))
        .await
        .unwrap()
        .unwrap();
    assert!(
        log.try_record(&other, "d2", at(4), at(-1000))
            .await
            .unwrap()
            .is_err()
    );
}

/// Concurrent attempts on one key never exceed its limit.
pub async fn failures_concurrent_attempts_admit_exactly_the_limit(stores: &Stores) {
    let attempts = (0..30).map(|i| {
        let log = stores.failures.clone();
        tokio::spawn(async move {
            let b = [Bucket {
                key: "account:eve",
                limit: 5,
            }];
            log.try_record(&b, &format!("e{i}"), at(1), at(-1000))
                .await
                .unwrap()
                .is_ok()
        })
    });
    let mut admitted = 0;
    for attempt in attempts {
        if attempt.await.unwrap() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
}
