//! LISTEN for reload notifications (`db-channel`) on a connection of its own.

use super::{conn_info, connect};
use std::time::Duration;

/// LISTENs on `channel` and sends each notification's payload to `tx`, reconnecting with
/// backoff when the connection drops (at most a second apart, so that the reload sent on
/// reconnecting follows a restarted database closely). Runs until `tx` is closed.
pub async fn listen(uri: String, channel: String, tx: tokio::sync::mpsc::Sender<String>) {
    use futures_util::future::poll_fn;
    const FIRST: Duration = Duration::from_millis(100);
    let mut backoff = FIRST;
    let mut reconnecting = false;
    loop {
        if tx.is_closed() {
            return;
        }
        let Ok(info) = conn_info(&uri) else {
            return;
        };
        match connect(&info, "tusk listener").await {
            Ok((client, mut connection)) => {
                let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
                let notify = tx.clone();
                // Aborted when this task is (a config reload moving the channel): no
                // notification of the old channel may slip through meanwhile.
                let driver = AbortOnDrop(tokio::spawn(async move {
                    loop {
                        match poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                                if notify.send(n.payload().to_string()).await.is_err() {
                                    break;
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => break,
                        }
                    }
                    let _ = done_tx.send(());
                }));
                let listen = crate::query::listen(&channel);
                if client.batch_execute(&listen.sql).await.is_ok() {
                    tracing::info!("Listening for notifications on the {channel} channel");
                    backoff = FIRST;
                    if reconnecting {
                        // Notifications may have been missed meanwhile: reload to be safe.
                        let _ = tx.send("reload schema".into()).await;
                    }
                    reconnecting = true;
                    let _ = done_rx.await;
                    tracing::error!("The LISTEN connection was lost; reconnecting");
                }
                drop(driver);
            }
            Err(e) => {
                tracing::debug!("Could not connect for LISTEN: {}", e.message);
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
