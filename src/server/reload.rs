//! The reloader: in charge of the configuration (file, environment and in-database settings:
//! start-up, `NOTIFY pgrst, 'reload config'`, SIGUSR2) and the schema cache (start-up,
//! `NOTIFY pgrst, 'reload schema'`, SIGUSR1, lost connections), with backoff while the database
//! is unreachable; and of the `LISTEN` task that brings the notifications. A configuration that
//! does not validate is rejected: logged, and the current one kept.

use super::Ops;
use crate::config::{Config, ConfigError};
use crate::db;
use crate::error::Error;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{Receiver, Sender};

/// A request to the reloader: what to load again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// The schema cache: `NOTIFY pgrst, 'reload schema'` (or an empty payload), SIGUSR1, a lost
    /// database connection.
    Schema,
    /// The configuration: `NOTIFY pgrst, 'reload config'`, SIGUSR2, start-up with `db-config`.
    Config,
}

impl Reload {
    /// A `NOTIFY` payload as PostgREST reads it; any other payload is ignored (`None`).
    pub fn from_notification(payload: &str) -> Option<Reload> {
        match payload.trim() {
            "" | "reload schema" => Some(Reload::Schema),
            "reload config" => Some(Reload::Config),
            other => {
                tracing::debug!("ignoring notification {other:?}");
                None
            }
        }
    }
}

/// What the queued reload requests ask for.
#[derive(Default)]
struct Pending {
    config: bool,
    schema: bool,
}

impl Pending {
    fn add(&mut self, reload: Reload) {
        match reload {
            Reload::Schema => self.schema = true,
            Reload::Config => {
                tracing::info!("Reloading the configuration");
                self.config = true;
            }
        }
    }

    /// Takes every request queued meanwhile (a burst of them is one reload).
    fn drain(&mut self, rx: &mut Receiver<Reload>) {
        while let Ok(reload) = rx.try_recv() {
            self.add(reload);
        }
    }
}

/// The first wait before trying the database again, and the longest: a database that comes back
/// is noticed within [`RETRY_MAX`] (one connection attempt a second costs it nothing).
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// Reloads the configuration and the schema cache whenever asked, retrying with backoff while
/// the database is away. Requests keep being served with the previous ones meanwhile.
pub(super) async fn reloader(ops: Arc<Ops>, mut rx: Receiver<Reload>) {
    while let Some(reload) = rx.recv().await {
        let mut pending = Pending::default();
        pending.add(reload);
        pending.drain(&mut rx);
        let mut backoff = RETRY_MIN;
        while pending.config || pending.schema {
            let outcome = if pending.config {
                reload_config(&ops).await.map(|schemas_changed| {
                    pending.config = false;
                    pending.schema |= schemas_changed;
                })
            } else {
                load_schema_cache(&ops).await.map(|()| pending.schema = false)
            };
            if let Err(why) = outcome {
                // The database is away: once it is back, read its settings (in-db configuration,
                // role settings) again too, they may have changed meanwhile; before the schema
                // cache. One line per attempt, saying what failed.
                pending.config = true;
                tracing::error!("{why}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
                pending.drain(&mut rx);
            }
        }
    }
}

async fn load_schema_cache(ops: &Ops) -> Result<(), String> {
    let state = &ops.state;
    let config = state.config();
    let started = Instant::now();
    match db::load_schema_cache(&state.db.pool, &config.db_schemas, &config.db_extra_search_path).await {
        Ok((cache, packer)) => {
            let took = started.elapsed();
            ops.schema_cache_query_us.store(took.as_micros() as u64, Ordering::Relaxed);
            ops.schema_cache_loads_ok.fetch_add(1, Ordering::Relaxed);
            tracing::info!("Schema cache queried in {:.1} milliseconds", took.as_secs_f64() * 1000.0);
            tracing::info!("Schema cache loaded: {}", cache.summary());
            state.db.clear_statement_caches();
            if let Ok(mut slot) = state.schema_cache.write() {
                *slot = Some(Arc::new(cache));
            }
            // A schema change may change what a subscription reads.
            state.live.refresh_all();
            // The document of /schema_cache, once its packer is done (it was packing while
            // the rows were decoded; the new cache is already in use).
            match tokio::task::spawn_blocking(move || packer.finish()).await {
                Ok(Ok(json)) => {
                    if let Ok(mut slot) = ops.schema_cache_json.write() {
                        *slot = Some(Arc::new(json));
                    }
                }
                Ok(Err(why)) => tracing::error!("{why}"),
                Err(why) => tracing::error!("the schema cache's packer failed: {why}"),
            }
            Ok(())
        }
        Err(e) => {
            ops.schema_cache_loads_failed.fetch_add(1, Ordering::Relaxed);
            Err(format!("Could not load the schema cache: {e}"))
        }
    }
}

/// Why [`reread_config`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RereadError {
    /// The file, the environment or the merged settings do not make a valid configuration.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The in-database settings could not be read (`Error::DbConnection`: the database is away).
    #[error("{0}")]
    InDb(Error),
}

/// Reads the configuration again as PostgREST does: the file and the environment, then, when
/// they say `db-config`, the in-database settings (calling `db-pre-config` first), which win.
/// Restart-only settings keep `current`'s values; the names of those that wanted to change are
/// returned with it. The one loader of the in-database settings: reloads and `--dump-config`.
pub async fn reread_config(current: &Config) -> Result<(Config, Vec<String>), RereadError> {
    let fresh = current.source.read()?;
    // db-config and db-pre-config themselves come from the file and the environment.
    let (base, _) = current.reloaded(fresh.clone(), &[])?;
    let in_db = if base.db_config {
        db::load_db_settings(&current.db_uri, base.db_pre_config.as_ref()).await.map_err(RereadError::InDb)?
    } else {
        Vec::new()
    };
    Ok(current.reloaded(fresh, &in_db)?)
}

/// Reads the file, the environment and (with `db-config`) the in-database settings again, and
/// the settings of the request roles, and applies the result. A configuration that does not validate is logged and the current one
/// kept. `Err` (what failed) only when the database could not be reached (the caller retries
/// and logs it); `Ok(true)`
/// when `db-schemas` changed, so the schema cache must be reloaded.
async fn reload_config(ops: &Ops) -> Result<bool, String> {
    let old = ops.state.config();
    let keep = |e: &dyn std::fmt::Display| {
        tracing::error!("Failed reloading the configuration: {e}; the previous configuration stays in effect");
        Ok(false)
    };
    let (mut new, ignored) = match reread_config(&old).await {
        Ok(c) => c,
        Err(RereadError::InDb(Error::DbConnection(e))) => {
            return Err(format!("Could not read the in-database configuration: {e}"));
        }
        Err(RereadError::InDb(e)) => return keep(&format!("reading the in-database configuration: {e}")),
        Err(RereadError::Config(e)) => return keep(&e),
    };
    for name in ignored {
        tracing::warn!("{name} changed; restart tusk to apply it");
    }
    match db::load_role_settings(&ops.state.db.pool).await {
        Ok(settings) => new.role_settings = Arc::new(settings),
        Err(Error::DbConnection(e)) => return Err(format!("Could not read the settings of the request roles: {e}")),
        Err(e) => {
            tracing::error!("Could not read the settings of the request roles ({e}); keeping the previous ones");
            new.role_settings = old.role_settings.clone();
        }
    }
    let schemas_changed = new.db_schemas != old.db_schemas;
    let listener_changed = new.db_channel != old.db_channel
        || new.db_channel_enabled != old.db_channel_enabled
        || new.db_changes_channel != old.db_changes_channel;
    let new = Arc::new(new);
    ops.state.jwt_cache.reset(new.jwt_cache_max_entries);
    match ops.state.config.write() {
        Ok(mut slot) => *slot = new.clone(),
        Err(poisoned) => *poisoned.into_inner() = new.clone(),
    }
    if listener_changed {
        restart_listener(ops, &new);
    }
    reload_certificate(ops, &new);
    tracing::info!("Config reloaded");
    Ok(schemas_changed)
}

/// Reads the TLS certificate and key again (a renewal needs no restart); broken files keep the
/// current certificate. Turning TLS on or off needs a restart.
fn reload_certificate(ops: &Ops, config: &Config) {
    match (&ops.tls, &config.server_tls) {
        (Some(tls), Some((cert, key))) => match tls.reload(cert, key) {
            Ok(()) => tracing::info!("TLS certificate reloaded from {cert}"),
            Err(e) => tracing::error!("{e}; the current TLS certificate stays in effect"),
        },
        (None, None) => {}
        (Some(_), None) => tracing::warn!("server-tls-cert was unset; restart tusk to serve without TLS"),
        (None, Some(_)) => tracing::warn!("server-tls-cert was set; restart tusk to serve HTTPS"),
    }
}

/// (Re)starts the `LISTEN` task for the configured channel, or stops it when disabled.
pub(super) fn restart_listener(ops: &Ops, config: &Config) {
    let Ok(mut slot) = ops.listener.lock() else {
        return;
    };
    if let Some(old) = slot.take() {
        old.abort();
    }
    // The changes channel (live subscriptions) is listened to even without db-channel.
    let reload_channel = config.db_channel_enabled.then(|| config.db_channel.clone());
    let changes_channel = Some(config.db_changes_channel.clone()).filter(|c| !c.is_empty());
    if reload_channel.is_some() || changes_channel.is_some() {
        let channels = Channels { reload: reload_channel, changes: changes_channel };
        let live = ops.state.live.clone();
        *slot = Some(tokio::spawn(listen(config.db_uri.clone(), channels, ops.reload.clone(), live)));
    }
}

/// The channels the LISTEN connection listens on.
struct Channels {
    /// `db-channel`, when enabled.
    reload: Option<String>,
    /// `db-changes-channel`, unless empty.
    changes: Option<String>,
}

/// [`db::listen`], its notifications turned into [`Reload`] requests on the way to the
/// reloader, and change notifications handed to the live subscriptions. Aborting this task
/// stops both, so no payload of an old channel is forwarded.
async fn listen(uri: String, channels: Channels, reload: Sender<Reload>, live: Arc<db::live::Live>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<db::Heard>(64);
    let names = channels.reload.iter().chain(channels.changes.iter()).cloned().collect();
    let forward = async move {
        while let Some(heard) = rx.recv().await {
            let payload = match heard {
                db::Heard::Notification { channel, payload } => {
                    if channels.changes.as_ref() == Some(&channel) {
                        live.changed(&payload);
                    }
                    if channels.reload.as_ref() != Some(&channel) {
                        continue;
                    }
                    payload
                }
                // Notifications may have been missed meanwhile: every subscription re-runs,
                // and the schema cache is reloaded to be safe.
                db::Heard::Reconnected => {
                    live.refresh_all();
                    if channels.reload.is_none() {
                        continue;
                    }
                    "reload schema".to_string()
                }
            };
            if let Some(r) = Reload::from_notification(&payload) {
                if reload.send(r).await.is_err() {
                    return;
                }
            }
        }
    };
    tokio::select! {
        _ = db::listen(uri, names, tx) => {}
        _ = forward => {}
    }
}

/// SIGUSR1 reloads the schema cache; SIGUSR2 asks for a config reload.
pub(super) async fn signals(tx: Sender<Reload>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut usr1), Ok(mut usr2)) = (signal(SignalKind::user_defined1()), signal(SignalKind::user_defined2()))
    else {
        return;
    };
    loop {
        tokio::select! {
            _ = usr1.recv() => { let _ = tx.send(Reload::Schema).await; }
            _ = usr2.recv() => { let _ = tx.send(Reload::Config).await; }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reload;

    #[test]
    fn notification_payloads_as_postgrest_reads_them() {
        assert_eq!(Reload::from_notification(""), Some(Reload::Schema));
        assert_eq!(Reload::from_notification(" reload schema\n"), Some(Reload::Schema));
        assert_eq!(Reload::from_notification("reload config"), Some(Reload::Config));
        assert_eq!(Reload::from_notification("reload everything"), None);
    }
}
