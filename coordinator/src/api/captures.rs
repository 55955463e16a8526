//! `GET /api/v1/jobs/{id}/tasks/{task}/capture`: the capture of one
//! succeeded `ssh.collect` task, streamed from the `outpost_captures`
//! object store as the worker sent it, so the client that ran the job
//! (`outpost run-job`) writes it where its job file says; or the whole
//! inventory of a `vcenter.inventory` task too large for its result
//! (`output.stored`). The result's `output.sha256` (`output.stored.sha256`)
//! lets the client check what it received.

use super::{ApiError, AppState};
use async_nats::jetstream::object_store::GetErrorKind;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::io::AsyncReadExt;

/// Bytes read from the store per chunk of the answer.
const CHUNK: usize = 64 * 1024;

pub async fn get(
    State(state): State<AppState>,
    Path((id, task)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    // The result event reaches a follower before the relay applies it, so
    // the task may still read `running` here: the capture is looked up by
    // its name, and the client checks it against the result's SHA-256.
    let found = state.engine.read(|v| {
        let entry = v.jobs.get(&id)?;
        Some(entry.tasks.get(task.as_str()).map(|(t, _)| {
            let sha = t.output.as_ref().and_then(|o| {
                outpost_kinds::ssh::Output::deserialize(o)
                    .ok()
                    .map(|o| o.sha256)
                    .or_else(|| outpost_kinds::stored::Stored::of(o).map(|s| s.sha256))
            });
            (t.kind.clone(), t.zone.clone(), sha)
        }))
    });
    let (kind, zone, sha) = match found {
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
    if kind != "ssh.collect" && kind != "vcenter.inventory" {
        return Err(ApiError::NotFound(format!(
            "task {task:?} is a {kind} task: only ssh.collect tasks have captures, \
             and vcenter.inventory tasks whose inventory was too large for their result"
        )));
    }
    let bad = |e: outpost_proto::layout::SubjectError| ApiError::BadRequest(e.to_string());
    let object = outpost_proto::layout::capture_object(&id, &task).map_err(bad)?;
    let store_name = outpost_proto::layout::captures_store(&zone).map_err(bad)?;
    let store = state
        .bus
        .js
        .get_object_store(&store_name)
        .await
        .map_err(|e| ApiError::Unavailable(format!("captures object store: {e}")))?;
    let reader = store.get(&object).await.map_err(|e| match e.kind() {
        GetErrorKind::NotFound => ApiError::NotFound(format!(
            "no capture of task {task:?} in the captures store: it exists once the task succeeded in a job that saves captures, and is kept as long as the events stream keeps events"
        )),
        _ => ApiError::Unavailable(format!("captures object store: {e}")),
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
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response();
    if let Some(v) = sha.and_then(|s| header::HeaderValue::from_str(&s).ok()) {
        resp.headers_mut()
            .insert(header::HeaderName::from_static("x-outpost-sha256"), v);
    }
    Ok(resp)
}
