//! [`ChangeFeed`]: a Redis stream, trimmed to about [`crate::RedisOptions::feed_max_len`]
//! entries, read with `XREAD BLOCK` on the store's second connection.
//!
//! A cursor is `EPOCH/MS-SEQ`: the stream entry id, and the epoch, a random id kept beside the
//! stream (`NS:feed:epoch`) and written with the first entry. When Redis loses its data (a
//! restart without persistence) the epoch goes with it, so an old cursor is recognised as a
//! gap even after new entries arrive. Entries after a cursor were dropped exactly when the
//! stream's `max-deleted-entry-id` is later than it, or the epoch changed.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::{Script, Value};
use tessera_core::Timestamp;
use tessera_core::secret::random_bytes;
use tessera_core::store::{Change, ChangeFeed, FeedCursor, FeedEntry, FeedRead, StoreResult};

use crate::RedisStore;
use crate::codec::{self, array, bulk, int};
use crate::error::corrupt;

/// How many entries one read returns at most.
const READ_COUNT: u32 = 2000;

/// KEYS: stream, epoch. ARGV: a new epoch, the stream's approximate length, the payload.
static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[2], ARGV[1], 'NX')
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'c', ARGV[3])
",
    )
});

/// The feed's state: `{epoch or '', exists, last-generated-id, max-deleted-entry-id}`.
/// With a non-empty `ARGV[1]`, sets the epoch to it first if there is none.
///
/// KEYS: stream, epoch.
static STATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if ARGV[1] ~= '' then redis.call('SET', KEYS[2], ARGV[1], 'NX') end
local epoch = redis.call('GET', KEYS[2]) or ''
if redis.call('EXISTS', KEYS[1]) == 0 then return {epoch, 0, '0-0', '0-0'} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, deleted = '0-0', '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
  if info[i] == 'max-deleted-entry-id' then deleted = info[i + 1] end
end
return {epoch, 1, last, deleted}
",
    )
});

/// A stream entry id, `ms-seq`.
type StreamId = (u64, u64);

fn parse_id(text: &str) -> Option<StreamId> {
    let (ms, seq) = text.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn format_cursor(epoch: &str, id: StreamId) -> FeedCursor {
    FeedCursor(format!("{epoch}/{}-{}", id.0, id.1))
}

/// What a cursor names.
#[derive(Debug, PartialEq, Eq)]
enum Position {
    /// Before everything (the empty cursor, or one of a feed that had no epoch yet).
    Start,
    /// After the entry `id` of the feed's life `epoch`.
    After { epoch: String, id: StreamId },
}

fn parse_cursor(cursor: &FeedCursor) -> Option<Position> {
    let text = cursor.0.as_str();
    if matches!(text, "" | "0" | "0-0") {
        return Some(Position::Start);
    }
    let (epoch, id) = text.split_once('/')?;
    if epoch.is_empty() {
        return Some(Position::Start);
    }
    Some(Position::After {
        epoch: epoch.to_owned(),
        id: parse_id(id)?,
    })
}

/// The stream's state as [`STATE`] reports it.
struct State {
    epoch: String,
    exists: bool,
    last: StreamId,
    deleted: StreamId,
}

impl RedisStore {
    async fn feed_state(&self, new_epoch: &str) -> StoreResult<State> {
        let reply = self
            .conn
            .script(
                STATE
                    .key(self.keys.feed())
                    .key(self.keys.feed_epoch())
                    .arg(new_epoch),
            )
            .await?;
        let bad = || corrupt("the feed's state");
        let items = array(reply)?;
        let [epoch, exists, last, deleted] = <[Value; 4]>::try_from(items).map_err(|_| bad())?;
        let text = |v: Value| -> StoreResult<String> {
            String::from_utf8(bulk(v)?.ok_or_else(bad)?).map_err(|_| bad())
        };
        Ok(State {
            epoch: text(epoch)?,
            exists: int(&exists)? == 1,
            last: parse_id(&text(last)?).ok_or_else(bad)?,
            deleted: parse_id(&text(deleted)?).ok_or_else(bad)?,
        })
    }

    /// The entries of an `XREAD` reply; `None` when one does not decode.
    fn decode_read(reply: Value, epoch: &str) -> StoreResult<Option<Vec<FeedEntry>>> {
        let mut out = Vec::new();
        for stream in array(reply)? {
            let mut parts = array(stream)?.into_iter();
            let entries = parts.nth(1).ok_or_else(|| corrupt("an XREAD reply"))?;
            for entry in array(entries)? {
                let mut parts = array(entry)?.into_iter();
                let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
                    return Ok(None);
                };
                let Some(id) = bulk(id)?
                    .and_then(|id| String::from_utf8(id).ok())
                    .and_then(|id| parse_id(&id))
                else {
                    return Ok(None);
                };
                let fields = array(fields)?;
                let payload = fields
                    .chunks(2)
                    .find(|kv| matches!(&kv[0], Value::BulkString(k) if k == b"c"))
                    .and_then(|kv| kv.get(1));
                let Some(Value::BulkString(payload)) = payload else {
                    tracing::warn!(entry = %format!("{}-{}", id.0, id.1), "a change feed entry has no payload: reporting a gap");
                    return Ok(None);
                };
                let Some((change, published_at)) = codec::decode_change(payload) else {
                    tracing::warn!(entry = %format!("{}-{}", id.0, id.1), "a change feed entry does not decode: reporting a gap");
                    return Ok(None);
                };
                out.push(FeedEntry {
                    cursor: format_cursor(epoch, id),
                    published_at,
                    change,
                });
            }
        }
        Ok(Some(out))
    }
}

#[async_trait]
impl ChangeFeed for RedisStore {
    async fn publish(&self, change: &Change, now: Timestamp) -> StoreResult<()> {
        self.conn
            .script(
                PUBLISH
                    .key(self.keys.feed())
                    .key(self.keys.feed_epoch())
                    .arg(new_epoch())
                    .arg(self.options.feed_max_len.max(1))
                    .arg(codec::encode_change(change, now)),
            )
            .await
            .map(drop)
    }

    async fn head(&self) -> StoreResult<FeedCursor> {
        let state = self.feed_state(&new_epoch()).await?;
        Ok(format_cursor(&state.epoch, state.last))
    }

    async fn read_after(&self, cursor: &FeedCursor, wait: Duration) -> StoreResult<FeedRead> {
        let before = self.feed_state("").await?;
        let (expected_epoch, from) = match parse_cursor(cursor) {
            None => return Ok(FeedRead::Gap),
            Some(Position::Start) => (None, (0, 0)),
            Some(Position::After { epoch, id }) => {
                let reset = epoch != before.epoch
                    || (!before.exists && id != (0, 0))
                    || (before.exists && id > before.last);
                if reset {
                    return Ok(FeedRead::Gap);
                }
                (Some(epoch), id)
            }
        };
        if before.deleted > from {
            return Ok(FeedRead::Gap);
        }
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT").arg(READ_COUNT);
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        if wait_ms > 0 {
            read.arg("BLOCK").arg(wait_ms);
        }
        read.arg("STREAMS")
            .arg(self.keys.feed())
            .arg(format!("{}-{}", from.0, from.1));
        let reply = self.feed_conn.blocking_cmd(&read, wait).await?;
        if matches!(reply, Value::Nil) {
            return Ok(FeedRead::Entries(Vec::new()));
        }
        // Entries came: make sure none after the cursor was trimmed, and the feed is the same
        // life, before trusting them.
        let after = self.feed_state("").await?;
        if after.epoch.is_empty()
            || after.deleted > from
            || expected_epoch.is_some_and(|e| e != after.epoch)
        {
            return Ok(FeedRead::Gap);
        }
        Ok(match Self::decode_read(reply, &after.epoch)? {
            Some(entries) => FeedRead::Entries(entries),
            None => FeedRead::Gap,
        })
    }
}

/// A random epoch, used only if the feed has none.
fn new_epoch() -> String {
    random_bytes::<8>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse() {
        for start in ["", "0", "0-0", "/5-1"] {
            assert_eq!(
                parse_cursor(&FeedCursor(start.into())),
                Some(Position::Start)
            );
        }
        assert_eq!(
            parse_cursor(&format_cursor("ab12", (1_700_000_000_000, 3))),
            Some(Position::After {
                epoch: "ab12".into(),
                id: (1_700_000_000_000, 3)
            })
        );
        for bad in ["ab/", "ab/1", "ab/x-1", "ab/1-", "nonsense"] {
            assert_eq!(parse_cursor(&FeedCursor(bad.into())), None, "{bad}");
        }
    }
}
