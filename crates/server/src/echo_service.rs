//! The `8:echo123` echo test, hosted by the service: a bot (the SDK's, like any other)
//! signed in as the echo identity, answering every call. It reconnects if its connection
//! drops.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confab_bot::BotConfig;
use confab_echo::EchoService;
use confab_signaling::{Identity, Scope, TokenKey};
use tokio::sync::oneshot;

/// How long the echo test records a caller.
const RECORD: Duration = Duration::from_secs(5);

/// Runs the echo test service against the signaling endpoint at `url` for ever; `ready`
/// hears when it first signed in.
#[allow(clippy::disallowed_methods)] // a driver: tokens are minted against the wall clock
pub(crate) async fn host(url: String, key: TokenKey, ready: oneshot::Sender<()>) {
    let mut ready = Some(ready);
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match key.mint(&Identity::EchoService, &[Scope::Bot], now, 7 * 86_400) {
            Ok(token) => {
                let mut config = BotConfig::new(url.clone(), Identity::EchoService, token);
                config.display_name = "Echo test".into();
                match EchoService::connect(config, RECORD).await {
                    Ok(service) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(());
                        }
                        match service.serve().await {
                            Ok(()) => {
                                tracing::info!("echo test service disconnected; reconnecting");
                            }
                            Err(e) => tracing::warn!("echo test service: {e}; reconnecting"),
                        }
                    }
                    Err(e) => tracing::warn!("echo test service cannot sign in: {e}; retrying"),
                }
            }
            Err(e) => tracing::error!("cannot mint the echo test's token: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
