//! The listener: one connection per log that `LISTEN`s on `sidefx_log` and wakes this
//! process's waiters when any process commits an append, reconnecting when the server goes
//! away. Waiters re-read the log after every wake-up and every change of connection state, so
//! a notification lost while disconnected loses no event.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::AsyncMessage;

use super::Shared;
use crate::log::Topic;

/// The channel appends notify, with payload `ID TOPIC` (the topic's new head).
pub(crate) const CHANNEL: &str = "sidefx_log";
const RETRY_START: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_millis(500);

/// Whether the listener is connected; `generation` changes on every connect and disconnect.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Listening {
    pub(crate) connected: bool,
    pub(crate) generation: u64,
}

pub(crate) async fn listener_loop(shared: Arc<Shared>) {
    let mut delay = RETRY_START;
    loop {
        if let Ok((client, mut conn)) = shared.target.connect_raw().await {
            let listening = {
                let sql = format!("LISTEN {CHANNEL}");
                let listen = client.batch_execute(&sql);
                tokio::pin!(listen);
                loop {
                    tokio::select! {
                        r = &mut listen => break r.is_ok(),
                        m = std::future::poll_fn(|cx| conn.poll_message(cx)) => match m {
                            Some(Ok(message)) => deliver(&shared, message),
                            _ => break false,
                        },
                    }
                }
            };
            if listening {
                delay = RETRY_START;
                set(&shared, true);
                // Until the connection ends: a restart, a network failure, the log dropped.
                while let Some(Ok(message)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                    deliver(&shared, message);
                }
                set(&shared, false);
            }
            drop(client);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}

fn set(shared: &Shared, connected: bool) {
    shared.listening.send_modify(|s| {
        s.connected = connected;
        s.generation += 1;
    });
}

fn deliver(shared: &Shared, message: AsyncMessage) {
    if let AsyncMessage::Notification(n) = message
        && n.channel() == CHANNEL
        && let Some((id, topic)) = n.payload().split_once(' ')
        && let (Ok(id), Ok(topic)) = (id.parse(), Topic::new(topic))
    {
        shared.announce(&topic, id);
    }
}
