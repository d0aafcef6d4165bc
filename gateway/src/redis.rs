//! Redis for the plugins. The router runs one single-threaded tokio runtime per worker thread,
//! so each worker keeps its own multiplexed connection (a connection's driver lives on the
//! runtime that opened it); calls time out instead of hanging a request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;

/// How long one Redis call may take before the plugin treats Redis as down.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);

thread_local! {
    static CONNECTIONS: RefCell<HashMap<String, ConnectionManager>> = RefCell::new(HashMap::new());
}

/// A Redis server the plugins talk to.
#[derive(Clone, Debug)]
pub struct Redis {
    url: String,
    client: redis::Client,
}

/// Redis could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct RedisDown(String);

impl Redis {
    /// A handle for `url` (no I/O yet).
    pub fn open(url: &str) -> Result<Self, RedisDown> {
        let client = redis::Client::open(url).map_err(|e| RedisDown(e.to_string()))?;
        Ok(Self {
            url: url.to_owned(),
            client,
        })
    }

    /// A client for connections of the caller's own (subscriptions).
    pub fn client(&self) -> redis::Client {
        self.client.clone()
    }

    /// This worker thread's connection, opened on first use.
    pub async fn connection(&self) -> Result<ConnectionManager, RedisDown> {
        if let Some(conn) = CONNECTIONS.with(|c| c.borrow().get(&self.url).cloned()) {
            return Ok(conn);
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            CALL_TIMEOUT * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| RedisDown("connect timed out".into()))?
        .map_err(|e| RedisDown(e.to_string()))?;
        CONNECTIONS.with(|c| c.borrow_mut().insert(self.url.clone(), conn.clone()));
        Ok(conn)
    }

    /// Runs `cmd`, bounded by [`CALL_TIMEOUT`].
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, RedisDown> {
        let mut conn = self.connection().await?;
        bounded(cmd.query_async(&mut conn)).await
    }
}

/// `call`, given at most [`CALL_TIMEOUT`].
pub async fn bounded<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, RedisDown> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| RedisDown("call timed out".into()))?
        .map_err(|e| RedisDown(e.to_string()))
}
