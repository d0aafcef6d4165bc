//! Suspension flags against a real Redis: a process remembers what it read, and forgets it as
//! soon as identity announces a change (or reconciles every flag).

use std::time::Duration;

use kit::revocation::{self, Suspensions};
use redis::AsyncCommands;
use tenancy::TenantId;

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 2 s");
}

#[tokio::test]
async fn remembered_flags_are_forgotten_when_a_change_is_announced() {
    let url = harness::redis_url();
    let redis = kit::server::connect_redis(&url).expect("redis url");
    let memory =
        Suspensions::watch(redis::Client::open(url.as_str()).expect("url")).expect("watch");
    let other = Suspensions::watch(redis::Client::open(url.as_str()).expect("url")).expect("watch");
    until("subscribing", async || memory.is_live() && other.is_live()).await;

    let (a, b) = (TenantId::generate(), TenantId::generate());
    assert!(!memory.is_suspended(&redis, a).await.expect("ask"));
    assert!(!memory.is_suspended(&redis, b).await.expect("ask"));

    // Remembered: a flag raised behind the announcements' back is not seen (no round trip)...
    let mut raw = redis.clone();
    let _: () = raw
        .set(format!("aula:tenant:{a}:suspended"), 1)
        .await
        .expect("set");
    assert!(!memory.is_suspended(&redis, a).await.expect("recall"));
    assert!(
        other.is_suspended(&redis, a).await.expect("ask"),
        "asked afresh"
    );

    // ...while an announced suspension reaches every process's memory at once.
    revocation::set_suspended(&redis, b, true, &Suspensions::default())
        .await
        .expect("suspend");
    until("memory forgets b", async || {
        memory.is_suspended(&redis, b).await.expect("ask")
    })
    .await;
    assert!(other.is_suspended(&redis, b).await.expect("ask"));
    assert!(
        !memory.is_suspended(&redis, a).await.expect("recall"),
        "a untouched"
    );

    // Reconciliation announces that every flag may have changed.
    revocation::reconcile(&redis, [(b, false)], &Suspensions::default())
        .await
        .expect("reconcile");
    until("memory forgets everything", async || {
        memory.is_suspended(&redis, a).await.expect("ask")
            && !memory.is_suspended(&redis, b).await.expect("ask")
    })
    .await;

    let _: () = raw
        .del(format!("aula:tenant:{a}:suspended"))
        .await
        .expect("del");
}

#[tokio::test]
async fn a_memory_that_never_watched_asks_redis_every_time() {
    let url = harness::redis_url();
    let redis = kit::server::connect_redis(&url).expect("redis url");
    let memory = Suspensions::default();
    let tenant = TenantId::generate();
    let flag = format!("aula:tenant:{tenant}:suspended");
    let mut raw = redis.clone();

    assert!(!memory.is_suspended(&redis, tenant).await.expect("ask"));
    let _: () = raw.set(&flag, 1).await.expect("set");
    assert!(
        memory.is_suspended(&redis, tenant).await.expect("ask"),
        "nothing was remembered: the raised flag is seen at once"
    );
    let _: () = raw.del(&flag).await.expect("del");
    assert!(!memory.is_suspended(&redis, tenant).await.expect("ask"));
}
