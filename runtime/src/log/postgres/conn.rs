//! Connecting to the server: the URL (shown only with its password hidden), new connections,
//! a small pool of idle ones, and turning driver errors into `SIDEFX-LOG` errors that never
//! carry the password.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::log::open::{scrub, secrets_of};
use crate::{Error, Result};

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Reader connections open at once (each log); more readers queue for one.
const MAX_READERS: usize = 8;

/// A parsed PostgreSQL URL and how to show it.
#[derive(Clone)]
pub(crate) struct Target {
    config: tokio_postgres::Config,
    shown: String,
    secrets: Vec<String>,
}

impl Target {
    /// Parses `postgres://` or `postgresql://` URLs. The error never quotes the password.
    pub(crate) fn parse(url: &str) -> Result<Target> {
        let secrets = secrets_of(url);
        let shown = scrub(url, &secrets);
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            // Text only: the driver's error could quote the password, so it is scrubbed, not kept.
            Error::Log(
                scrub(
                    &format!(
                        "{shown} is not a valid PostgreSQL URL: {e}; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                    ),
                    &secrets,
                )
                .into(),
            )
        })?;
        if config.get_hosts().is_empty() {
            return Err(Error::Log(
                format!(
                    "{shown} names no server: write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE \
                 (a unix socket directory goes in ?host=/path)"
                )
                .into(),
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("sidefx");
        }
        let mut secrets = secrets;
        if let Some(p) = config.get_password() {
            secrets.push(String::from_utf8_lossy(p).into_owned());
        }
        secrets.retain(|s| !s.is_empty());
        Ok(Target {
            config,
            shown,
            secrets,
        })
    }

    /// The URL with its password replaced by `***`.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Opens a connection and drives it on the current runtime.
    pub(crate) async fn connect(&self) -> Result<Client> {
        self.connect_client()
            .await
            .map_err(|e| self.error("cannot connect to", &e))
    }

    /// [`connect`](Self::connect) with the driver's error, to tell passing failures apart.
    pub(crate) async fn connect_client(&self) -> std::result::Result<Client, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            // The client sees the failure on its next request; nothing to report here.
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Opens a connection whose messages (notifications) the caller polls itself.
    pub(crate) async fn connect_raw(
        &self,
    ) -> Result<(
        Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    )> {
        self.config
            .connect(NoTls)
            .await
            .map_err(|e| self.error("cannot connect to", &e))
    }

    /// A driver error as `SIDEFX-LOG`: what was being done, where, why, and the fix where one
    /// is known. The password never appears, even if the server or driver quoted it.
    pub(crate) fn error(&self, what: &str, e: &tokio_postgres::Error) -> Error {
        let why = match e.as_db_error() {
            Some(db) => {
                let code = db.code();
                let fix = if *code == SqlState::INVALID_PASSWORD
                    || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                {
                    "; check the user and password in the URL (the password is not shown)"
                } else if *code == SqlState::INVALID_CATALOG_NAME {
                    "; create the database (createdb NAME) or fix the URL"
                } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                    "; grant the database user the privileges listed in the README's \"Many machines\" section"
                } else {
                    ""
                };
                format!("{} (SQLSTATE {}){fix}", db.message(), code.code())
            }
            None => chain(e),
        };
        // Text only: the driver's error could quote the password, so it is scrubbed, not kept.
        Error::Log(
            scrub(
                &format!("{what} the PostgreSQL event log at {}: {why}", self.shown),
                &self.secrets,
            )
            .into(),
        )
    }
}

/// The error and its sources, one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        next = s.source();
    }
    text
}

/// Whether a failure may pass once the server is back (a restart, a dropped connection, a
/// deadlock or serialization failure): the writer retries those.
pub(crate) fn transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01" || c == "53300"
        }
        // No server error: an I/O failure of the connection itself.
        None => e.as_db_error().is_none(),
    }
}

/// Idle reader connections for reuse, at most [`MAX_READERS`] in use at once.
pub(crate) struct Pool {
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
}

/// A connection taken from the pool; give it back with [`Pool::put`].
pub(crate) struct Pooled<'a> {
    pub(crate) client: Client,
    _permit: Option<SemaphorePermit<'a>>,
}

impl Pool {
    pub(crate) fn new() -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(MAX_READERS),
        }
    }

    /// An idle open connection, else a new one.
    pub(crate) async fn get<'a>(
        &'a self,
        target: &Target,
    ) -> std::result::Result<Pooled<'a>, tokio_postgres::Error> {
        // The semaphore is never closed, so this is always a permit.
        let permit = self.permits.acquire().await.ok();
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(c) if c.is_closed() => continue,
                Some(client) => {
                    return Ok(Pooled {
                        client,
                        _permit: permit,
                    });
                }
                None => break,
            }
        }
        let client = target.connect_client().await?;
        Ok(Pooled {
            client,
            _permit: permit,
        })
    }

    /// Adds a connection opened elsewhere (the one that checked the schema).
    pub(crate) fn put_new(&self, client: Client) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(client);
    }

    /// Returns a connection for reuse unless it was closed.
    pub(crate) fn put(&self, pooled: Pooled<'_>) {
        if !pooled.client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(pooled.client);
        }
    }
}
