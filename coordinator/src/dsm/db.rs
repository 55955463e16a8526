//! Connections to the app's database: tokio-postgres, its connection
//! driven on a task of its own, notifications forwarded to a channel.
//! Errors never carry the connection string.

use futures::StreamExt;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot connect to the DSM database ({url}): {message}")]
    Connect { url: String, message: String },
    #[error("DSM database: {0}")]
    Query(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        let mut m = e.to_string();
        if let Some(db) = e.as_db_error() {
            m = format!("{}: {}", db.code().code(), db.message());
        }
        DbError::Query(m)
    }
}

/// A notification on a channel the connection listens to.
#[derive(Debug, Clone)]
pub struct Notice {
    pub channel: String,
    pub payload: String,
}

/// Connects; notifications go to the returned receiver.
pub async fn connect(url: &str) -> Result<(Client, mpsc::UnboundedReceiver<Notice>), DbError> {
    let (client, mut conn) =
        tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| DbError::Connect {
                url: super::config::redact(url),
                message: e.to_string(),
            })?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = tx.send(Notice {
                        channel: n.channel().to_string(),
                        payload: n.payload().to_string(),
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "DSM database connection ended");
                    break;
                }
            }
        }
    });
    Ok((client, rx))
}
