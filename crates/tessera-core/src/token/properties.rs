//! Property tests (proptest): token round-trips, base64url segments, and the timeout
//! arithmetic of `Timestamp` and the session deadlines.

use std::time::Duration;

use proptest::prelude::*;

use super::TokenError;
use super::jws::{decode_segment, encode_segment};
use super::testing::{ALGORITHMS, T0, ring};
use crate::session::SessionPolicy;
use crate::{Timestamp, UserId};

fn role() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,16}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the algorithm, roles, `sid` and lifetime, a token issued verifies to exactly
    /// what was issued, until its `exp` plus the leeway, and not after.
    #[test]
    fn issued_tokens_verify_to_what_was_issued(
        alg in 0..ALGORITHMS.len(),
        roles in proptest::collection::vec(role(), 0..5),
        sid in "[A-Za-z0-9_-]{0,32}",
        ttl in 1u64..100_000,
        at in 0i64..1_000_000,
    ) {
        let ring = ring(ALGORITHMS[alg]);
        let sub = UserId::random();
        let now = T0.plus(Duration::from_secs(at as u64));
        let issued = ring.issue(sub, &roles, &sid, None, Some(Duration::from_secs(ttl)), now)
            .unwrap();
        let claims = ring.verify(&issued.token, now).unwrap();
        prop_assert_eq!(claims.sub, sub);
        prop_assert_eq!(&claims.roles, &roles);
        prop_assert_eq!(&claims.sid, &sid);
        prop_assert_eq!(&claims.jti, &issued.jti);
        prop_assert_eq!(claims.exp, now.as_secs() + ttl as i64);
        prop_assert_eq!(claims.expires_at(), issued.expires_at);
        let leeway = ring.settings().leeway;
        let last = issued.expires_at.plus(leeway).minus(Duration::from_millis(1));
        prop_assert!(ring.verify(&issued.token, last).is_ok());
        prop_assert_eq!(
            ring.verify(&issued.token, issued.expires_at.plus(leeway)).unwrap_err(),
            TokenError::Expired
        );
    }

    /// Any one byte of an issued token changed: it no longer verifies.
    #[test]
    fn a_changed_byte_never_verifies(alg in 0..ALGORITHMS.len(), pick in any::<usize>(), to in any::<u8>()) {
        let ring = ring(ALGORITHMS[alg]);
        let issued = ring.issue(UserId::random(), &[], "s", None, None, T0).unwrap();
        let mut bytes = issued.token.clone().into_bytes();
        let i = pick % bytes.len();
        prop_assume!(bytes[i] != to);
        bytes[i] = to;
        let Ok(token) = String::from_utf8(bytes) else { return Ok(()) };
        // Also a change in the last character's unused low bits: the decoder is canonical.
        prop_assert!(ring.verify(&token, T0).is_err(), "{token}");
    }

    /// base64url segments: every byte string round-trips, the encoding is unpadded URL-safe,
    /// and decoding is canonical (one text per byte string).
    #[test]
    fn segments_round_trip_and_decode_canonically(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let text = encode_segment(&bytes);
        prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(text.len(), (bytes.len() * 4).div_ceil(3));
        prop_assert_eq!(decode_segment(&text).unwrap(), bytes.clone());
        let padded = text.clone() + "=";
        prop_assert!(decode_segment(&padded).is_err());
    }

    /// Any text that decodes encodes back to itself.
    #[test]
    fn decoded_segments_reencode_to_the_same_text(text in "[A-Za-z0-9_+/=-]{0,64}") {
        if let Ok(bytes) = decode_segment(&text) {
            prop_assert_eq!(encode_segment(&bytes), text);
        }
    }

    /// `plus`, `minus` and `since`: inverse of each other away from the ends, saturating at
    /// them, `since` never negative.
    #[test]
    fn timestamp_arithmetic(t in any::<i64>(), ms in 0u64..(1 << 62), other in any::<i64>()) {
        let t = Timestamp::from_millis(t);
        let d = Duration::from_millis(ms);
        let later = t.plus(d);
        prop_assert!(later >= t);
        let earlier = t.minus(d);
        prop_assert!(earlier <= t);
        if t.as_millis().checked_add(ms as i64).is_some() {
            prop_assert_eq!(later.minus(d), t);
            prop_assert_eq!(later.since(t), d);
            prop_assert_eq!(t.since(later), Duration::ZERO);
        } else {
            prop_assert_eq!(later.as_millis(), i64::MAX);
        }
        if t.as_millis().checked_sub(ms as i64).is_some() {
            prop_assert_eq!(earlier.plus(d), t);
            prop_assert_eq!(t.since(earlier), d);
        } else {
            prop_assert_eq!(earlier.as_millis(), i64::MIN);
        }
        let o = Timestamp::from_millis(other);
        prop_assert_eq!(t.since(o).is_zero(), t <= o);
    }

    /// Session deadlines: the idle one never passes the absolute one, both follow the policy,
    /// a touch moves the idle deadline forward and never back, and a session is live exactly
    /// before the earlier of the two.
    #[test]
    fn session_deadlines(
        idle in 1u64..100_000,
        extra in 0u64..100_000,
        created in 0i64..4_000_000_000,
        touches in proptest::collection::vec(0u64..50_000, 0..8),
    ) {
        let policy = SessionPolicy {
            idle_timeout: Duration::from_secs(idle),
            absolute_timeout: Duration::from_secs(idle + extra),
            max_per_user: None,
        };
        let now = Timestamp::from_secs(created);
        let (_, mut s) = policy.new_session(UserId::random(), now, "ua", "127.0.0.1".into());
        prop_assert_eq!(s.expires_at, now.plus(policy.absolute_timeout));
        prop_assert_eq!(s.idle_expires_at, now.plus(policy.idle_timeout));
        let mut at = now;
        for gap in touches {
            at = at.plus(Duration::from_secs(gap));
            let deadline = policy.idle_deadline(&s, at);
            prop_assert!(deadline <= s.expires_at);
            prop_assert_eq!(deadline, at.plus(policy.idle_timeout).min(s.expires_at));
            if s.is_live(at) {
                prop_assert!(deadline >= s.idle_expires_at);
                s.last_seen_at = at;
                s.idle_expires_at = deadline;
            }
            prop_assert_eq!(s.ends_at(), s.expires_at.min(s.idle_expires_at));
            prop_assert_eq!(s.is_live(at), at < s.ends_at());
        }
        prop_assert!(!s.is_live(s.expires_at));
        prop_assert!(!s.is_live(s.idle_expires_at));
    }
}
