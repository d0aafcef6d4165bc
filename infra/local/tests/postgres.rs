//! A throwaway PostgreSQL cluster is created, started on a free loopback port, reused when
//! already running, and stopped.

use std::net::TcpStream;

use local::{Install, PostgresCluster};

#[test]
fn a_cluster_starts_on_loopback_and_stops() {
    let dir = std::env::temp_dir().join(format!("aula-local-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cluster = PostgresCluster::open(&dir, Install::from_env()).expect("initdb");
    assert!(dir.join("PG_VERSION").exists());
    cluster.start(&["fsync=off"]).expect("start");
    let port = cluster.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_eq!(cluster.running_port(), Some(port));

    let mut reopened = PostgresCluster::open(&dir, Install::Never).expect("reopen");
    assert_eq!(
        reopened.port(),
        port,
        "an already running cluster is found, not started twice"
    );
    reopened.start(&[]).expect("start is a no-op");

    cluster.stop().expect("stop");
    assert_eq!(cluster.running_port(), None);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
