//! Connections that reconnect by themselves, and calls bounded in time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    Cmd, ErrorKind, IntoConnectionInfo, ProtocolVersion, RedisError, RedisResult, ScriptInvocation,
    Value,
};
use tessera_core::store::{StoreError, StoreResult};

use crate::error::{BackendError, ConnectError, Redactor};

/// The oldest Redis whose commands this store uses (`ZADD GT`, `XINFO` with
/// `max-deleted-entry-id`).
const MIN_MAJOR_VERSION: u32 = 7;

/// One connection to Redis (multiplexed: concurrent calls share it) that reconnects by itself,
/// each call bounded by a timeout.
#[derive(Clone)]
pub(crate) struct Conn {
    manager: ConnectionManager,
    timeout: Duration,
    shared: Arc<Shared>,
}

struct Shared {
    target: String,
    redactor: Redactor,
}

/// Opens the main connection (checked: reachable, credentials accepted, version) and the
/// feed's own connection (opened on first use).
pub(crate) async fn open(url: &str, timeout: Duration) -> Result<(Conn, Conn), ConnectError> {
    let redactor = Redactor::for_url(url);
    let malformed = |e: RedisError| ConnectError::MalformedUrl {
        reason: redactor.clean(&e.to_string()),
    };
    // The replies are decoded as RESP2 spells them, whatever the URL asks for.
    let info = url.into_connection_info().map_err(malformed)?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP2);
    let client = redis::Client::open(info.set_redis_settings(settings)).map_err(malformed)?;
    let target = client.get_connection_info().addr().to_string();
    let shared = Arc::new(Shared {
        target: target.clone(),
        redactor,
    });
    let refused = |e: &RedisError| {
        let reason = shared.redactor.clean(&e.to_string());
        let target = target.clone();
        if is_credentials_error(e) {
            ConnectError::Credentials { target, reason }
        } else {
            ConnectError::Unreachable { target, reason }
        }
    };
    let config = manager_config(timeout, Some(timeout));
    let manager = match tokio::time::timeout(
        timeout,
        ConnectionManager::new_with_config(client.clone(), config),
    )
    .await
    {
        Ok(Ok(manager)) => manager,
        Ok(Err(e)) => return Err(refused(&e)),
        Err(_) => {
            return Err(ConnectError::Unreachable {
                target: target.clone(),
                reason: format!("no answer within {timeout:?}"),
            });
        }
    };
    let conn = Conn {
        manager,
        timeout,
        shared: shared.clone(),
    };
    // A server that wants a password the URL lacks accepts the connection and refuses this.
    let info = match tokio::time::timeout(
        timeout,
        redis::cmd("INFO")
            .arg("server")
            .query_async::<Value>(&mut conn.manager.clone()),
    )
    .await
    {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => return Err(refused(&e)),
        Err(_) => {
            return Err(ConnectError::Unreachable {
                target: target.clone(),
                reason: format!("no answer within {timeout:?}"),
            });
        }
    };
    let version = server_version(&info).unwrap_or_default();
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < MIN_MAJOR_VERSION) {
        return Err(ConnectError::TooOld {
            target,
            found: version,
        });
    }
    // Blocking reads wait longer than any other call: no response timeout of the driver's
    // (each read bounds itself), and nothing else queues behind them.
    let feed = ConnectionManager::new_lazy_with_config(client, manager_config(timeout, None))
        .map_err(|e| refused(&e))?;
    let feed = Conn {
        manager: feed,
        timeout,
        shared,
    };
    Ok((conn, feed))
}

/// One connection attempt per reconnection (each within `timeout`): a call never waits through
/// a series of retries, and the next call after Redis is back reconnects.
fn manager_config(timeout: Duration, response: Option<Duration>) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(response)
        .set_number_of_retries(0)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(Duration::from_millis(100))
}

fn is_credentials_error(e: &RedisError) -> bool {
    e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
        || e.to_string().contains("WRONGPASS")
        || e.to_string().contains("NOAUTH")
}

/// `redis_version` from an `INFO server` reply.
fn server_version(info: &Value) -> Option<String> {
    let text = match info {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::SimpleString(text) => text.clone(),
        _ => return None,
    };
    text.lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .map(|v| v.trim().to_owned())
}

impl Conn {
    /// `host:port` of the server.
    pub(crate) fn target(&self) -> &str {
        &self.shared.target
    }

    /// Runs `cmd`.
    pub(crate) async fn cmd(&self, cmd: &Cmd) -> StoreResult<Value> {
        self.call(self.timeout, |mut m| async move {
            cmd.query_async(&mut m).await
        })
        .await
    }

    /// Runs the script invocation (loading the script first if Redis lacks it).
    pub(crate) async fn script(&self, invocation: &ScriptInvocation<'_>) -> StoreResult<Value> {
        self.call(self.timeout, |mut m| async move {
            invocation.invoke_async(&mut m).await
        })
        .await
    }

    /// Runs `cmd`, which may block in Redis for up to `wait`: it is given `wait` plus the usual
    /// timeout.
    pub(crate) async fn blocking_cmd(&self, cmd: &Cmd, wait: Duration) -> StoreResult<Value> {
        self.call(wait.saturating_add(self.timeout), |mut m| async move {
            cmd.query_async(&mut m).await
        })
        .await
    }

    /// Runs `f` on the connection within `limit`. A call refused at connecting never reached
    /// Redis, so it is tried once more at once: the first attempt after Redis is back only
    /// starts the reconnection, the second uses it.
    async fn call<F, Fut>(&self, limit: Duration, f: F) -> StoreResult<Value>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<Value>>,
    {
        let attempt = async {
            match f(self.manager.clone()).await {
                Err(e) if e.is_connection_refusal() => f(self.manager.clone()).await,
                other => other,
            }
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.shared.redactor.store_error(&e)),
            Err(_) => Err(StoreError::unavailable(BackendError(format!(
                "no answer from Redis at {} within {limit:?}",
                self.shared.target
            )))),
        }
    }
}
