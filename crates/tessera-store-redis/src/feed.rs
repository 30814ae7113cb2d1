//! [`ChangeFeed`]: a Redis stream, trimmed to about [`crate::RedisOptions::feed_max_len`]
//! entries, read with `XREAD BLOCK` on the store's second connection.
//!
//! Entries are numbered: the publish script gives each the stream id `N-0`, `N` one more than
//! the last id the stream generated, so a reader knows exactly which entries it has seen. A
//! cursor is `EPOCH/N-0`, the epoch a random id kept beside the stream (`NS:feed:epoch`) and
//! written with the first entry: when Redis loses its data (a restart without persistence) the
//! epoch goes with it, so an old cursor is recognised as a gap even after new entries arrive.
//! Entries after a cursor `N` were dropped exactly when the oldest entry held is later than
//! `N + 1` (trimming removes the oldest), an entry after `N` was deleted (`max-deleted-entry-id`),
//! or the epoch changed.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::{Script, Value};
use tessera_core::Timestamp;
use tessera_core::secret::random_bytes;
use tessera_core::store::{Change, ChangeFeed, FeedCursor, FeedEntry, FeedRead, StoreResult};

use crate::RedisStore;
use crate::codec::{self, array, bulk};
use crate::error::corrupt;

/// How many entries one read returns at most.
const READ_COUNT: u32 = 2000;

/// KEYS: stream, epoch. ARGV: a new epoch, the stream's approximate length, the payload.
static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[2], ARGV[1], 'NX')
local n = 1
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      n = tonumber(string.match(info[i + 1], '^(%d+)')) + 1
    end
  end
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], string.format('%d-0', n),
                  'c', ARGV[3])
",
    )
});

/// The feed's state: `{epoch or '', last-generated-id, max-deleted-entry-id, first id}`
/// (`0-0` for what is not there). With a non-empty `ARGV[1]`, sets the epoch to it first if
/// there is none.
///
/// KEYS: stream, epoch.
static STATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if ARGV[1] ~= '' then redis.call('SET', KEYS[2], ARGV[1], 'NX') end
local epoch = redis.call('GET', KEYS[2]) or ''
if redis.call('EXISTS', KEYS[1]) == 0 then return {epoch, '0-0', '0-0', '0-0'} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, deleted = '0-0', '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
  if info[i] == 'max-deleted-entry-id' then deleted = info[i + 1] end
end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local first_id = '0-0'
if first[1] then first_id = first[1][1] end
return {epoch, last, deleted, first_id}
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
    /// The id of the newest entry ever added (`0-0`: none).
    last: StreamId,
    /// The id of the newest entry deleted by `XDEL` (`0-0`: none).
    deleted: StreamId,
    /// The id of the oldest entry held (`0-0`: none).
    first: StreamId,
}

impl State {
    /// Whether entries after `n` (a cursor's number) are no longer all held.
    fn lost_after(&self, n: u64) -> bool {
        let held_from = if self.first == (0, 0) {
            // Empty: everything up to the last entry is gone.
            self.last.0 + 1
        } else {
            self.first.0
        };
        n > self.last.0 || self.deleted.0 > n || held_from > n + 1
    }
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
        let [epoch, last, deleted, first] = <[Value; 4]>::try_from(items).map_err(|_| bad())?;
        let text = |v: Value| -> StoreResult<String> {
            String::from_utf8(bulk(v)?.ok_or_else(bad)?).map_err(|_| bad())
        };
        Ok(State {
            epoch: text(epoch)?,
            last: parse_id(&text(last)?).ok_or_else(bad)?,
            deleted: parse_id(&text(deleted)?).ok_or_else(bad)?,
            first: parse_id(&text(first)?).ok_or_else(bad)?,
        })
    }

    /// The entries of an `XREAD` reply; `None` when one does not decode.
    /// Entries must follow `from` without a hole (each id one more than the one before).
    fn decode_read(reply: Value, epoch: &str, from: u64) -> StoreResult<Option<Vec<FeedEntry>>> {
        let mut out = Vec::new();
        let mut expected = from + 1;
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
                if id != (expected, 0) {
                    tracing::warn!(entry = %format!("{}-{}", id.0, id.1), "a change feed entry is out of sequence: reporting a gap");
                    return Ok(None);
                }
                expected += 1;
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
            Some(Position::Start) => (None, 0),
            Some(Position::After { epoch, id }) => {
                if epoch != before.epoch {
                    return Ok(FeedRead::Gap);
                }
                (Some(epoch), id.0)
            }
        };
        if before.lost_after(from) {
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
            .arg(format!("{from}-0"));
        let reply = self.feed_conn.blocking_cmd(&read, wait).await?;
        if matches!(reply, Value::Nil) {
            return Ok(FeedRead::Entries(Vec::new()));
        }
        // Entries came: make sure none after the cursor was dropped meanwhile, and the feed is
        // the same life, before trusting them.
        let after = self.feed_state("").await?;
        if after.epoch.is_empty()
            || after.lost_after(from)
            || expected_epoch.is_some_and(|e| e != after.epoch)
        {
            return Ok(FeedRead::Gap);
        }
        Ok(match Self::decode_read(reply, &after.epoch, from)? {
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
    fn losses_are_seen_from_the_numbering() {
        let state = |last: u64, deleted: u64, first: u64| State {
            epoch: "e".into(),
            last: (last, 0),
            deleted: (deleted, 0),
            first: (first, 0),
        };
        // Entries 1..=10 held: nothing lost after any cursor up to 10.
        for n in 0..=10 {
            assert!(!state(10, 0, 1).lost_after(n), "{n}");
        }
        assert!(state(10, 0, 1).lost_after(11), "a cursor from the future");
        // 1..=4 trimmed: lost after 0..=3, not after 4.
        assert!(state(10, 0, 5).lost_after(3));
        assert!(!state(10, 0, 5).lost_after(4));
        // Entry 7 deleted: lost after 6, not after 7.
        assert!(state(10, 7, 1).lost_after(6));
        assert!(!state(10, 7, 1).lost_after(7));
        // Empty after 10 entries: lost after anything but 10.
        assert!(state(10, 0, 0).lost_after(9));
        assert!(!state(10, 0, 0).lost_after(10));
        // Never written.
        assert!(!state(0, 0, 0).lost_after(0));
    }

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
