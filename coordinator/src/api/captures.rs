//! `GET /api/v1/jobs/{id}/tasks/{task}/capture`: the capture of one
//! succeeded `ssh.collect` task, streamed from the `outpost_captures`
//! object store as the worker sent it, so the client that ran the job
//! (`outpost run-job`) writes it where its job file says. The task's
//! `output.sha256` lets the client check what it received.

use super::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;

/// Bytes read from the store per chunk of the answer.
const CHUNK: usize = 64 * 1024;

pub async fn get(
    State(state): State<AppState>,
    Path((id, task)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let found = state.engine.read(|v| {
        let entry = v.jobs.get(&id)?;
        Some(
            entry
                .tasks
                .get(task.as_str())
                .map(|(t, _)| (t.kind.clone(), t.status, t.output.clone())),
        )
    });
    let (kind, status, output) = match found {
        Some(Some(t)) => t,
        Some(None) => {
            return Err(ApiError::NotFound(format!(
                "job {id:?} has no task {task:?}"
            )));
        }
        None if state.engine.archived(&id).await?.is_some() => {
            return Err(ApiError::NotFound(format!(
                "job {id:?} is archived: its tasks and captures are no longer served"
            )));
        }
        None => return Err(ApiError::NotFound(format!("no job {id:?}"))),
    };
    let object = output
        .as_ref()
        .and_then(|o| o["capture"].as_str())
        .map(str::to_string);
    let Some(object) = object.filter(|_| kind == "ssh.collect") else {
        return Err(ApiError::NotFound(format!(
            "task {task:?} has no capture ({kind}, {}; a capture exists for a succeeded ssh.collect task whose job saves them)",
            status.as_str()
        )));
    };
    let store = state
        .bus
        .js
        .get_object_store(outpost_proto::names::CAPTURES_STORE)
        .await
        .map_err(|e| ApiError::Unavailable(format!("captures object store: {e}")))?;
    let reader = store.get(&object).await.map_err(|e| {
        ApiError::NotFound(format!(
            "the capture of task {task:?} is no longer in the captures store ({e}): captures are kept as long as the events stream keeps events"
        ))
    })?;
    let stream = futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut buf = vec![0u8; CHUNK];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(axum::body::Bytes::from(buf)), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let sha = output
        .as_ref()
        .and_then(|o| o["sha256"].as_str())
        .unwrap_or_default()
        .to_string();
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::HeaderName::from_static("x-outpost-sha256"), sha),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
