//! LISTEN for reload notifications (`db-channel`) and change notifications
//! (`db-changes-channel`, for live subscriptions) on one connection of its own.

use super::{conn_info, connect};
use std::time::Duration;

/// What the LISTEN connection heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Notification {
        channel: String,
        payload: String,
    },
    /// The connection came back after being lost: notifications may have been missed.
    Reconnected,
}

/// LISTENs on `channels` and sends each notification to `tx`, reconnecting with backoff when
/// the connection drops (at most a second apart, so that what is done on reconnecting follows
/// a restarted database closely). Runs until `tx` is closed.
pub async fn listen(uri: String, channels: Vec<String>, tx: tokio::sync::mpsc::Sender<Heard>) {
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
                                let heard = Heard::Notification {
                                    channel: n.channel().to_string(),
                                    payload: n.payload().to_string(),
                                };
                                if notify.send(heard).await.is_err() {
                                    break;
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => break,
                        }
                    }
                    let _ = done_tx.send(());
                }));
                let listen = crate::query::listen(&channels);
                if client.batch_execute(&listen.sql).await.is_ok() {
                    for channel in &channels {
                        tracing::info!("Listening for notifications on the {channel} channel");
                    }
                    backoff = FIRST;
                    if reconnecting {
                        // Notifications may have been missed meanwhile: reload to be safe.
                        let _ = tx.send(Heard::Reconnected).await;
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
