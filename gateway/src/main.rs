//! `aula-gateway`: Hive Router with Aula's plugins. Configured by the YAML file named by
//! `ROUTER_CONFIG_FILE_PATH` (see `gateway/router.yaml`).
#![recursion_limit = "256"]

use hive_router::error::RouterInitError;
use hive_router::{
    RouterGlobalAllocator, configure_global_allocator, init_rustls_crypto_provider, ntex,
    router_entrypoint,
};

configure_global_allocator!();

#[hive_router::main]
async fn main() -> Result<(), RouterInitError> {
    // Before anything touches TLS: the router's provider (aws-lc-rs).
    init_rustls_crypto_provider();
    router_entrypoint(gateway::plugins()).await
}
