//! Compact binary encodings of what is stored, and strict decoding of Redis replies: anything
//! unexpected is [`StoreError::Corrupt`], never a panic.
//!
//! A session (its digest is the key, not stored in the value), version 1:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0 | version `1` |
//! | 1..17 | session id |
//! | 17..33 | user id |
//! | 33..41 | `created_at` (i64 little-endian milliseconds) |
//! | 41..49 | `last_seen_at` |
//! | 49..57 | `expires_at` |
//! | 57..65 | `idle_expires_at` |
//! | 65..67 | length of the user agent (u16 little-endian) |
//! | 67.. | the user agent, then the ip (UTF-8) |
//!
//! The touch script reads and rewrites `last_seen_at` and `idle_expires_at` in place, at
//! these offsets.

use redis::Value;
use tessera_core::session::SessionRecord;
use tessera_core::store::{Change, Revocation, RevokedKind, StoreResult};
use tessera_core::{SessionId, Timestamp, TokenDigest, UserId};

use crate::error::corrupt;

const SESSION_V1: u8 = 1;
/// Bytes before the user agent.
pub(crate) const SESSION_FIXED: usize = 67;

/// The stored value of `s`.
pub(crate) fn encode_session(s: &SessionRecord) -> Vec<u8> {
    // The core cuts user agents to 256 characters; a longer one is cut here, on a char boundary.
    let mut ua_len = s.user_agent.len().min(usize::from(u16::MAX));
    while !s.user_agent.is_char_boundary(ua_len) {
        ua_len -= 1;
    }
    let ua = &s.user_agent.as_bytes()[..ua_len];
    let mut out = Vec::with_capacity(SESSION_FIXED + ua.len() + s.ip.len());
    out.push(SESSION_V1);
    out.extend_from_slice(s.id.as_bytes());
    out.extend_from_slice(s.user_id.as_bytes());
    for t in [
        s.created_at,
        s.last_seen_at,
        s.expires_at,
        s.idle_expires_at,
    ] {
        out.extend_from_slice(&t.as_millis().to_le_bytes());
    }
    out.extend_from_slice(&(ua.len() as u16).to_le_bytes());
    out.extend_from_slice(ua);
    out.extend_from_slice(s.ip.as_bytes());
    out
}

/// The session stored as `value` under `digest`.
pub(crate) fn decode_session(digest: TokenDigest, value: &[u8]) -> StoreResult<SessionRecord> {
    let bad = || corrupt("a stored session");
    if value.len() < SESSION_FIXED || value[0] != SESSION_V1 {
        return Err(bad());
    }
    let array16 = |at: usize| -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&value[at..at + 16]);
        out
    };
    let time = |at: usize| -> Timestamp {
        let mut out = [0u8; 8];
        out.copy_from_slice(&value[at..at + 8]);
        Timestamp::from_millis(i64::from_le_bytes(out))
    };
    let ua_len = usize::from(u16::from_le_bytes([value[65], value[66]]));
    let rest = &value[SESSION_FIXED..];
    if rest.len() < ua_len {
        return Err(bad());
    }
    let (ua, ip) = rest.split_at(ua_len);
    Ok(SessionRecord {
        id: SessionId::from_bytes(array16(1)),
        digest,
        user_id: UserId::from_bytes(array16(17)),
        created_at: time(33),
        last_seen_at: time(41),
        expires_at: time(49),
        idle_expires_at: time(57),
        user_agent: std::str::from_utf8(ua).map_err(|_| bad())?.to_owned(),
        ip: std::str::from_utf8(ip).map_err(|_| bad())?.to_owned(),
    })
}

/// The member of a session in its user's index: `id ‖ digest`.
pub(crate) fn index_member(s: &SessionRecord) -> Vec<u8> {
    [s.id.as_bytes().as_slice(), s.digest.as_bytes()].concat()
}

/// The digest of an index member.
pub(crate) fn member_digest(member: &[u8]) -> StoreResult<TokenDigest> {
    let digest: [u8; 32] = member
        .get(16..)
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| corrupt("a session index entry"))?;
    Ok(TokenDigest::from_bytes(digest))
}

/// The member of a revocation in the revocation set: a kind byte, then the id.
pub(crate) fn revocation_member(kind: RevokedKind, id: &str) -> Vec<u8> {
    let tag = match kind {
        RevokedKind::AccessToken => b'a',
        RevokedKind::Sid => b's',
    };
    [&[tag], id.as_bytes()].concat()
}

/// The revocation stored as `member` with expiry `score`.
pub(crate) fn decode_revocation(member: &[u8], score: &Value) -> StoreResult<Revocation> {
    let bad = || corrupt("a stored revocation");
    let (tag, id) = member.split_first().ok_or_else(bad)?;
    let kind = match tag {
        b'a' => RevokedKind::AccessToken,
        b's' => RevokedKind::Sid,
        _ => return Err(bad()),
    };
    Ok(Revocation {
        kind,
        id: std::str::from_utf8(id).map_err(|_| bad())?.to_owned(),
        expires_at: Timestamp::from_millis(score_millis(score).ok_or_else(bad)?),
    })
}

/// A sorted-set score holding milliseconds (RESP2 sends scores as text).
pub(crate) fn score_millis(score: &Value) -> Option<i64> {
    match score {
        Value::Int(n) => Some(*n),
        Value::Double(d) if d.is_finite() => Some(*d as i64),
        Value::BulkString(bytes) => {
            let text = std::str::from_utf8(bytes).ok()?;
            text.parse::<i64>().ok().or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .filter(|d| d.is_finite())
                    .map(|d| d as i64)
            })
        }
        _ => None,
    }
}

const CHANGE_V1: u8 = 1;

/// A feed entry's payload: version, `published_at`, then the change.
pub(crate) fn encode_change(change: &Change, published_at: Timestamp) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(CHANGE_V1);
    out.extend_from_slice(&published_at.as_millis().to_le_bytes());
    match change {
        Change::Revoked(r) => {
            out.push(1);
            out.extend_from_slice(&r.expires_at.as_millis().to_le_bytes());
            out.extend_from_slice(&revocation_member(r.kind, &r.id));
        }
        Change::SessionEnded(digest) => {
            out.push(2);
            out.extend_from_slice(digest.as_bytes());
        }
        Change::UserChanged(user) => {
            out.push(3);
            out.extend_from_slice(user.as_bytes());
        }
        Change::KeysChanged => out.push(4),
    }
    out
}

/// The change and its `published_at` in a feed entry's payload; `None` when it does not decode.
pub(crate) fn decode_change(payload: &[u8]) -> Option<(Change, Timestamp)> {
    let (&version, rest) = payload.split_first()?;
    if version != CHANGE_V1 || rest.len() < 9 {
        return None;
    }
    let (published, rest) = rest.split_at(8);
    let published_at = Timestamp::from_millis(i64::from_le_bytes(published.try_into().ok()?));
    let (&tag, body) = rest.split_first()?;
    let change = match tag {
        1 if body.len() > 8 => {
            let (expires, member) = body.split_at(8);
            let expires_at = Timestamp::from_millis(i64::from_le_bytes(expires.try_into().ok()?));
            let r = decode_revocation(member, &Value::Int(expires_at.as_millis())).ok()?;
            Change::Revoked(r)
        }
        2 => Change::SessionEnded(TokenDigest::from_bytes(body.try_into().ok()?)),
        3 => Change::UserChanged(UserId::from_bytes(body.try_into().ok()?)),
        4 if body.is_empty() => Change::KeysChanged,
        _ => return None,
    };
    Some((change, published_at))
}

/// A bulk reply's bytes; `None` for nil.
pub(crate) fn bulk(value: Value) -> StoreResult<Option<Vec<u8>>> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(bytes)),
        Value::SimpleString(text) => Ok(Some(text.into_bytes())),
        _ => Err(corrupt("a reply")),
    }
}

/// An array reply's items (nil is empty).
pub(crate) fn array(value: Value) -> StoreResult<Vec<Value>> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::Array(items) | Value::Set(items) => Ok(items),
        _ => Err(corrupt("a reply")),
    }
}

/// An integer reply.
pub(crate) fn int(value: &Value) -> StoreResult<i64> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::BulkString(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| corrupt("a reply")),
        _ => Err(corrupt("a reply")),
    }
}

/// Pairs of `(bytes, value)` from a flat array reply `[k1, v1, k2, v2, …]`.
pub(crate) fn pairs(value: Value) -> StoreResult<Vec<(Vec<u8>, Value)>> {
    let items = array(value)?;
    if items.len() % 2 != 0 {
        return Err(corrupt("a reply"));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((bulk(k)?.ok_or_else(|| corrupt("a reply"))?, v));
    }
    Ok(out)
}

/// Whether `e` is this crate's "does not decode".
#[cfg(test)]
fn is_corrupt<T>(r: &StoreResult<T>) -> bool {
    matches!(r, Err(tessera_core::store::StoreError::Corrupt(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SessionRecord {
        SessionRecord {
            id: SessionId::random(),
            digest: TokenDigest::from_bytes([7; 32]),
            user_id: UserId::random(),
            created_at: Timestamp::from_millis(1_700_000_000_123),
            last_seen_at: Timestamp::from_millis(1_700_000_001_000),
            expires_at: Timestamp::from_millis(1_700_028_800_123),
            idle_expires_at: Timestamp::from_millis(1_700_001_801_000),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0 ünïcode".into(),
            ip: "2001:db8::1".into(),
        }
    }

    #[test]
    fn sessions_round_trip_compactly() {
        let s = record();
        let bytes = encode_session(&s);
        assert_eq!(bytes.len(), SESSION_FIXED + s.user_agent.len() + s.ip.len());
        assert_eq!(decode_session(s.digest, &bytes).unwrap(), s);
        let empty = SessionRecord {
            user_agent: String::new(),
            ip: String::new(),
            ..s
        };
        assert_eq!(
            decode_session(empty.digest, &encode_session(&empty)).unwrap(),
            empty
        );
    }

    #[test]
    fn damaged_sessions_are_corrupt() {
        let s = record();
        let bytes = encode_session(&s);
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 9;
        let mut long_ua = bytes.clone();
        long_ua[65] = 0xff;
        long_ua[66] = 0xff;
        let mut bad_utf8 = bytes.clone();
        bad_utf8[SESSION_FIXED] = 0xff;
        for damaged in [
            &b""[..],
            &bytes[..SESSION_FIXED - 1],
            &wrong_version,
            &long_ua,
            &bad_utf8,
        ] {
            assert!(is_corrupt(&decode_session(s.digest, damaged)));
        }
    }

    #[test]
    fn changes_round_trip_and_garbage_is_refused() {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let changes = [
            Change::Revoked(Revocation {
                kind: RevokedKind::Sid,
                id: "sid-1".into(),
                expires_at: now,
            }),
            Change::Revoked(Revocation {
                kind: RevokedKind::AccessToken,
                id: "jti".into(),
                expires_at: now,
            }),
            Change::SessionEnded(TokenDigest::from_bytes([1; 32])),
            Change::UserChanged(UserId::random()),
            Change::KeysChanged,
        ];
        for change in changes {
            let bytes = encode_change(&change, now);
            let fixed_size = !matches!(change, Change::Revoked(_));
            assert_eq!(decode_change(&bytes), Some((change, now)));
            if fixed_size {
                assert_eq!(decode_change(&bytes[..bytes.len() - 1]), None);
            }
        }
        for garbage in [
            &b""[..],
            b"\x01",
            b"\x02aaaaaaaa\x04",
            b"\x01aaaaaaaa\x09",
            b"{}",
        ] {
            assert_eq!(decode_change(garbage), None);
        }
    }

    #[test]
    fn scores_parse_as_millis() {
        assert_eq!(
            score_millis(&Value::BulkString(b"1700000000000".to_vec())),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            score_millis(&Value::BulkString(b"1.7e12".to_vec())),
            Some(1_700_000_000_000)
        );
        assert_eq!(score_millis(&Value::BulkString(b"inf".to_vec())), None);
        assert_eq!(score_millis(&Value::Nil), None);
    }
}
