//! Tenant suspension flags in Redis: identity raises and clears them, every subgraph and the
//! gateway check them on each request, so a suspended tenant's still-unexpired tokens stop
//! working at once. Each process remembers the flags it has read ([`Suspensions`]) and forgets
//! them when identity announces a change on a Redis channel, so the per-request check costs no
//! round trip while the announcement subscription is live.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tenancy::TenantId;

/// The channel identity announces suspension changes on: a tenant id, or [`EVERYONE`].
pub const CHANNEL: &str = "aula:tenant:suspensions";

/// The announcement that every tenant's flag may have changed (start-up reconciliation).
pub const EVERYONE: &str = "*";

/// The longest a remembered flag is trusted even without an announcement: bounds staleness if
/// the subscription dies without the connection noticing (no TCP reset), or Redis is flushed.
pub const REMEMBER_FOR: Duration = Duration::from_secs(30);

/// Flags remembered per process at most (then the memory starts over).
const REMEMBERED_MAX: usize = 100_000;

fn key(tenant: TenantId) -> String {
    format!("aula:tenant:{tenant}:suspended")
}

/// Whether `tenant` is suspended, asked of Redis.
async fn ask(redis: &ConnectionManager, tenant: TenantId) -> redis::RedisResult<bool> {
    redis.clone().exists(key(tenant)).await
}

/// Raises or clears `tenant`'s suspension flag and announces the change, in one transaction.
/// The calling process's own `memory` forgets the flag at once: its next request must not wait
/// for the announcement to come back.
pub async fn set_suspended(
    redis: &ConnectionManager,
    tenant: TenantId,
    suspended: bool,
    memory: &Suspensions,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    if suspended {
        pipe.set(key(tenant), 1).ignore();
    } else {
        pipe.del(key(tenant)).ignore();
    }
    pipe.publish(CHANNEL, tenant.to_string()).ignore();
    pipe.query_async::<()>(&mut redis.clone()).await?;
    memory.forget(Some(tenant));
    Ok(())
}

/// Sets every listed tenant's flag to its suspension state in one round trip (start-up
/// reconciliation after Redis lost its data or a change half-failed), then announces that
/// every flag may have changed (the calling process's own `memory` forgets them all at once).
pub async fn reconcile(
    redis: &ConnectionManager,
    tenants: impl IntoIterator<Item = (TenantId, bool)>,
    memory: &Suspensions,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for (tenant, suspended) in tenants {
        if suspended {
            pipe.set(key(tenant), 1).ignore();
        } else {
            pipe.del(key(tenant)).ignore();
        }
    }
    pipe.publish(CHANNEL, EVERYONE).ignore();
    pipe.query_async::<()>(&mut redis.clone()).await?;
    memory.forget(None);
    Ok(())
}

/// A process's memory of suspension flags, kept true by [`CHANNEL`]'s announcements.
///
/// A flag is remembered only while the subscription is live, and only if no announcement
/// arrived between asking Redis and remembering the answer (a generation counter), so an
/// answer that raced a change is never kept. Losing the subscription forgets everything and
/// sends every check to Redis until it is back; a memory that never watched (the default)
/// asks Redis every time.
#[derive(Debug, Default)]
pub struct Suspensions {
    remembered: Mutex<HashMap<TenantId, (bool, Instant)>>,
    generation: AtomicU64,
    live: AtomicBool,
}

impl Suspensions {
    /// A memory that listens to `client`'s announcements on a thread of its own (it ends when
    /// the memory is dropped).
    pub fn watch(client: redis::Client) -> std::io::Result<Arc<Self>> {
        let memory = Arc::new(Self::default());
        let weak = Arc::downgrade(&memory);
        std::thread::Builder::new()
            .name("aula-suspensions".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(listen(client, weak)),
                    Err(e) => tracing::warn!(error = %e, "suspension announcements not followed"),
                }
            })?;
        Ok(memory)
    }

    /// Whether `tenant` is suspended: remembered, or asked of `redis` (and remembered). Errors
    /// (Redis unreachable) must be treated as "cannot tell".
    pub async fn is_suspended(
        &self,
        redis: &ConnectionManager,
        tenant: TenantId,
    ) -> redis::RedisResult<bool> {
        if let Some(flag) = self.recall(tenant) {
            return Ok(flag);
        }
        let asked_in = self.generation.load(Ordering::SeqCst);
        let flag = ask(redis, tenant).await?;
        self.remember(tenant, flag, asked_in);
        Ok(flag)
    }

    /// Whether announcements are being followed (flags are remembered only then).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    fn recall(&self, tenant: TenantId) -> Option<bool> {
        if !self.is_live() {
            return None;
        }
        let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        remembered
            .get(&tenant)
            .filter(|(_, at)| at.elapsed() < REMEMBER_FOR)
            .map(|(flag, _)| *flag)
    }

    fn remember(&self, tenant: TenantId, flag: bool, asked_in: u64) {
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock that `forget` takes too: no announcement since asking.
        if !self.is_live() || self.generation.load(Ordering::SeqCst) != asked_in {
            return;
        }
        if remembered.len() >= REMEMBERED_MAX {
            remembered.clear();
        }
        remembered.insert(tenant, (flag, Instant::now()));
    }

    /// Forgets `tenant`'s flag, or every flag: what an announcement does, and what
    /// [`set_suspended`] and [`reconcile`] do at once for the process that made the change.
    fn forget(&self, tenant: Option<TenantId>) {
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        match tenant {
            Some(tenant) => {
                remembered.remove(&tenant);
            }
            None => remembered.clear(),
        }
    }

    fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::SeqCst);
        self.forget(None);
    }
}

/// How often the listener checks whether its memory is still wanted.
const WANTED_CHECK: Duration = Duration::from_secs(1);

/// Follows the announcements while `memory` lives, resubscribing after a lost connection.
async fn listen(client: redis::Client, memory: Weak<Suspensions>) {
    let mut retry = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub.into_on_message())
        };
        match tokio::time::timeout(Duration::from_secs(2), subscribed).await {
            Ok(Ok(mut messages)) => {
                let Some(live) = memory.upgrade() else { return };
                live.set_live(true);
                drop(live);
                retry = Duration::from_millis(100);
                loop {
                    match tokio::time::timeout(WANTED_CHECK, messages.next()).await {
                        Ok(Some(message)) => {
                            let Some(live) = memory.upgrade() else { return };
                            let payload: String = message.get_payload().unwrap_or_default();
                            live.forget(payload.parse::<TenantId>().ok());
                        }
                        Ok(None) => break,
                        Err(_) if memory.strong_count() == 0 => return,
                        Err(_) => {}
                    }
                }
                tracing::warn!("suspension announcements lost; asking Redis on every request");
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot subscribe to suspension announcements")
            }
            Err(_) => tracing::debug!("subscribing to suspension announcements timed out"),
        }
        let Some(live) = memory.upgrade() else { return };
        live.set_live(false);
        drop(live);
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_that_raced_an_announcement_is_not_remembered() {
        let memory = Suspensions::default();
        let tenant = TenantId::generate();
        memory.remember(tenant, false, 0);
        assert_eq!(
            memory.recall(tenant),
            None,
            "nothing is remembered while not live"
        );

        memory.set_live(true);
        let asked_in = memory.generation.load(Ordering::SeqCst);
        memory.forget(Some(TenantId::generate()));
        memory.remember(tenant, false, asked_in);
        assert_eq!(memory.recall(tenant), None, "an announcement came between");

        let asked_in = memory.generation.load(Ordering::SeqCst);
        memory.remember(tenant, true, asked_in);
        assert_eq!(memory.recall(tenant), Some(true));
        memory.forget(Some(tenant));
        assert_eq!(memory.recall(tenant), None);

        memory.remember(tenant, true, memory.generation.load(Ordering::SeqCst));
        memory.set_live(false);
        assert_eq!(
            memory.recall(tenant),
            None,
            "losing the subscription forgets"
        );
    }
}
