//! Cases for [`tessera_core::store::RefreshStore`].

use tessera_core::store::{RefreshFamily, RefreshToken, RotateOutcome, Stores};
use tessera_core::{FamilyId, TokenDigest, UserId};

use crate::fixtures::{assert_conflict, at, digest, family, token};

/// The refresh token stored under `digest`, with its family.
async fn stored(stores: &Stores, digest: &TokenDigest) -> Option<(RefreshToken, RefreshFamily)> {
    stores.refresh.refresh_token(digest).await.unwrap()
}

/// A family and its first token, created together.
async fn open_family(
    stores: &Stores,
    user_id: UserId,
    expires_secs: i64,
) -> (RefreshFamily, RefreshToken) {
    let f = family(user_id, at(0), at(expires_secs));
    let first = token(f.id, at(0));
    stores.refresh.create_family(&f, &first).await.unwrap();
    (f, first)
}

/// The first token is found with its family, every field intact; unknown digests are `None`.
pub async fn refresh_create_and_lookup(stores: &Stores) {
    let (f, first) = open_family(stores, UserId::random(), 1000).await;
    assert_eq!(stored(stores, &first.digest).await, Some((first, f)));
    assert_eq!(stores.refresh.refresh_token(&digest()).await.unwrap(), None);
}

/// A taken family id or token digest is a conflict that creates nothing.
pub async fn refresh_conflict_on_family_id_or_digest(stores: &Stores) {
    let user_id = UserId::random();
    let (f, first) = open_family(stores, user_id, 1000).await;

    let other_token = token(f.id, at(1));
    assert_conflict(stores.refresh.create_family(&f, &other_token).await);
    assert_eq!(stored(stores, &other_token.digest).await, None);

    let other_family = family(user_id, at(1), at(1000));
    let same_digest = RefreshToken {
        family_id: other_family.id,
        ..first.clone()
    };
    assert_conflict(
        stores
            .refresh
            .create_family(&other_family, &same_digest)
            .await,
    );
    assert!(
        !stores
            .refresh
            .end_family(other_family.id, at(2))
            .await
            .unwrap(),
        "family was created"
    );
    assert_eq!(stored(stores, &first.digest).await, Some((first, f)));
}

/// Rotation spends a token exactly once and stores its successor; the chain goes on from there.
pub async fn refresh_rotate_spends_a_token_once(stores: &Stores) {
    let (f, first) = open_family(stores, UserId::random(), 1000).await;
    let second = token(f.id, at(10));

    let outcome = stores
        .refresh
        .rotate(&first.digest, at(10), &second, b"sealed second")
        .await;
    assert_eq!(outcome.unwrap(), RotateOutcome::Rotated);
    let spent = RefreshToken {
        spent_at: Some(at(10)),
        successor: Some(second.digest),
        sealed_successor: Some(b"sealed second".to_vec()),
        ..first.clone()
    };
    assert_eq!(
        stored(stores, &first.digest).await,
        Some((spent.clone(), f.clone()))
    );
    assert_eq!(
        stored(stores, &second.digest).await,
        Some((second.clone(), f.clone()))
    );

    let rival = token(f.id, at(11));
    let outcome = stores
        .refresh
        .rotate(&first.digest, at(11), &rival, b"sealed rival")
        .await;
    assert_eq!(outcome.unwrap(), RotateOutcome::NotRotated);
    assert_eq!(stored(stores, &rival.digest).await, None);
    assert_eq!(
        stored(stores, &first.digest).await,
        Some((spent, f.clone()))
    );

    let third = token(f.id, at(20));
    let outcome = stores
        .refresh
        .rotate(&second.digest, at(20), &third, b"sealed third")
        .await;
    assert_eq!(outcome.unwrap(), RotateOutcome::Rotated);
    assert_eq!(stored(stores, &third.digest).await, Some((third, f)));
}

/// A successor whose digest is taken is a conflict: the token stays unspent.
pub async fn refresh_rotate_to_a_taken_digest_conflicts(stores: &Stores) {
    let user_id = UserId::random();
    let (f, first) = open_family(stores, user_id, 1000).await;
    let (other, other_first) = open_family(stores, user_id, 1000).await;

    let taken = RefreshToken {
        family_id: f.id,
        ..other_first.clone()
    };
    assert_conflict(
        stores
            .refresh
            .rotate(&first.digest, at(10), &taken, b"sealed")
            .await,
    );
    assert_eq!(
        stored(stores, &first.digest).await,
        Some((first.clone(), f.clone()))
    );
    assert_eq!(
        stored(stores, &other_first.digest).await,
        Some((other_first, other))
    );

    let fresh = token(f.id, at(11));
    let outcome = stores
        .refresh
        .rotate(&first.digest, at(11), &fresh, b"sealed")
        .await;
    assert_eq!(outcome.unwrap(), RotateOutcome::Rotated);
}

/// Rotating an unknown token changes nothing.
pub async fn refresh_rotate_unknown_token_is_not_rotated(stores: &Stores) {
    let (f, _) = open_family(stores, UserId::random(), 1000).await;
    let successor = token(f.id, at(10));
    let outcome = stores
        .refresh
        .rotate(&digest(), at(10), &successor, b"sealed")
        .await;
    assert_eq!(outcome.unwrap(), RotateOutcome::NotRotated);
    assert_eq!(stored(stores, &successor.digest).await, None);
}

/// No rotation in an ended family, nor in one at or past its expiry.
pub async fn refresh_rotate_in_closed_family_is_not_rotated(stores: &Stores) {
    let user_id = UserId::random();
    let (ended, first) = open_family(stores, user_id, 1000).await;
    assert!(stores.refresh.end_family(ended.id, at(5)).await.unwrap());
    let successor = token(ended.id, at(10));
    let outcome = stores
        .refresh
        .rotate(&first.digest, at(10), &successor, b"sealed")
        .await;
    assert_eq!(outcome.unwrap(), RotateOutcome::NotRotated);
    assert_eq!(stored(stores, &successor.digest).await, None);
    let (unspent, _) = stored(stores, &first.digest).await.unwrap();
    assert_eq!((unspent.spent_at, unspent.successor), (None, None));

    let (expiring, first) = open_family(stores, user_id, 100).await;
    let successor = token(expiring.id, at(100));
    let outcome = stores
        .refresh
        .rotate(&first.digest, at(100), &successor, b"sealed")
        .await;
    assert_eq!(outcome.unwrap(), RotateOutcome::NotRotated);
    assert_eq!(stored(stores, &successor.digest).await, None);
    // The same rotation a moment earlier succeeds: it was the expiry that refused it.
    let outcome = stores
        .refresh
        .rotate(&first.digest, at(99), &successor, b"sealed")
        .await;
    assert_eq!(outcome.unwrap(), RotateOutcome::Rotated);
}

/// Of many concurrent rotations of one token, exactly one wins and only its successor is stored.
pub async fn refresh_concurrent_rotations_have_one_winner(stores: &Stores) {
    let (f, first) = open_family(stores, UserId::random(), 1000).await;
    let successors: Vec<RefreshToken> = (0..8).map(|_| token(f.id, at(10))).collect();

    let tasks: Vec<_> = successors
        .iter()
        .map(|successor| {
            let (stores, successor) = (stores.clone(), successor.clone());
            tokio::spawn(async move {
                stores
                    .refresh
                    .rotate(&first.digest, at(10), &successor, b"sealed")
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (task, successor) in tasks.into_iter().zip(&successors) {
        if task.await.unwrap().unwrap() == RotateOutcome::Rotated {
            winners.push(successor.digest);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation may win");

    let (spent, _) = stored(stores, &first.digest).await.unwrap();
    assert_eq!(spent.successor, Some(winners[0]));
    for successor in &successors {
        let stored = stored(stores, &successor.digest).await;
        assert_eq!(stored.is_some(), successor.digest == winners[0]);
    }
}

/// `end_family` ends an open family once; its tokens stay readable with the family's end.
pub async fn refresh_end_family(stores: &Stores) {
    let (f, first) = open_family(stores, UserId::random(), 1000).await;

    assert!(stores.refresh.end_family(f.id, at(5)).await.unwrap());
    let ended = RefreshFamily {
        ended_at: Some(at(5)),
        ..f.clone()
    };
    assert_eq!(
        stored(stores, &first.digest).await,
        Some((first.clone(), ended.clone()))
    );

    assert!(!stores.refresh.end_family(f.id, at(6)).await.unwrap());
    assert_eq!(stored(stores, &first.digest).await, Some((first, ended)));
    assert!(
        !stores
            .refresh
            .end_family(FamilyId::random(), at(6))
            .await
            .unwrap()
    );
}

/// `end_families_of_user` ends the user's open families but `keep`, and returns exactly those.
pub async fn refresh_end_families_of_user_keeps_one(stores: &Stores) {
    let (alice, bob) = (UserId::random(), UserId::random());
    let (open, open_first) = open_family(stores, alice, 1000).await;
    let (kept, kept_first) = open_family(stores, alice, 1000).await;
    let (ended, ended_first) = open_family(stores, alice, 1000).await;
    assert!(stores.refresh.end_family(ended.id, at(1)).await.unwrap());
    let (_, expired_first) = open_family(stores, alice, 50).await;
    let (_, bobs_first) = open_family(stores, bob, 1000).await;

    let ids = stores
        .refresh
        .end_families_of_user(alice, Some(kept.id), at(60))
        .await
        .unwrap();
    assert_eq!(ids, vec![open.id]);

    let ended_at = |first: RefreshToken| async move {
        stored(stores, &first.digest).await.unwrap().1.ended_at
    };
    assert_eq!(ended_at(open_first).await, Some(at(60)));
    assert_eq!(ended_at(kept_first.clone()).await, None);
    assert_eq!(ended_at(ended_first).await, Some(at(1)));
    assert_eq!(ended_at(expired_first).await, None);
    assert_eq!(ended_at(bobs_first.clone()).await, None);

    let ids = stores
        .refresh
        .end_families_of_user(alice, None, at(61))
        .await
        .unwrap();
    assert_eq!(ids, vec![kept.id]);
    assert_eq!(ended_at(kept_first).await, Some(at(61)));
    assert_eq!(
        stores
            .refresh
            .end_families_of_user(alice, None, at(62))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(ended_at(bobs_first).await, None);
}

/// `purge_refresh` drops families (and their tokens) that expired or ended before `now`, and the
/// sealed successors of tokens spent before `grace_closed_before`, keeping everything else.
pub async fn refresh_purge_drops_closed_families_and_old_sealed_successors(stores: &Stores) {
    let user_id = UserId::random();
    let (open, first) = open_family(stores, user_id, 10_000).await;
    let second = token(open.id, at(10));
    let third = token(open.id, at(100));
    let rotated = stores
        .refresh
        .rotate(&first.digest, at(10), &second, b"sealed second")
        .await;
    assert_eq!(rotated.unwrap(), RotateOutcome::Rotated);
    let rotated = stores
        .refresh
        .rotate(&second.digest, at(100), &third, b"sealed third")
        .await;
    assert_eq!(rotated.unwrap(), RotateOutcome::Rotated);

    let (_, expired_first) = open_family(stores, user_id, 150).await;
    let (ended, ended_first) = open_family(stores, user_id, 10_000).await;
    assert!(stores.refresh.end_family(ended.id, at(120)).await.unwrap());
    let (_, other_first) = open_family(stores, UserId::random(), 10_000).await;

    assert_eq!(
        stores.refresh.purge_refresh(at(200), at(50)).await.unwrap(),
        2
    );

    assert_eq!(stored(stores, &expired_first.digest).await, None);
    assert_eq!(stored(stores, &ended_first.digest).await, None);
    assert!(stored(stores, &other_first.digest).await.is_some());

    let (old, _) = stored(stores, &first.digest).await.unwrap();
    assert_eq!(
        old.sealed_successor, None,
        "grace closed: sealed successor dropped"
    );
    assert_eq!(
        (old.spent_at, old.successor),
        (Some(at(10)), Some(second.digest))
    );
    let (recent, _) = stored(stores, &second.digest).await.unwrap();
    assert_eq!(
        recent.sealed_successor,
        Some(b"sealed third".to_vec()),
        "still in grace"
    );
    assert!(stored(stores, &third.digest).await.is_some());

    assert_eq!(
        stores.refresh.purge_refresh(at(200), at(50)).await.unwrap(),
        0
    );
}

/// `families_of_user` lists the user's open families only: not ended, not expired, not
/// another user's.
pub async fn refresh_families_of_user_lists_open_ones(stores: &Stores) {
    let user_id = UserId::random();
    let open = family(user_id, at(0), at(1000));
    let ended = family(user_id, at(1), at(1000));
    let expired = family(user_id, at(2), at(50));
    let foreign = family(UserId::random(), at(3), at(1000));
    for f in [&open, &ended, &expired, &foreign] {
        stores
            .refresh
            .create_family(f, &token(f.id, f.created_at))
            .await
            .unwrap();
    }
    assert!(stores.refresh.end_family(ended.id, at(10)).await.unwrap());
    assert_eq!(
        stores
            .refresh
            .families_of_user(user_id, at(100))
            .await
            .unwrap(),
        vec![open.id]
    );
}
