//! A job's tasks in pages: `GET /api/v1/jobs/{id}` carries the job, its
//! counts and the first page; `GET /api/v1/jobs/{id}/tasks?after=&limit=&status=`
//! pages the rest in task-id order, which does not change while the job
//! runs, so a walk sees every task once.

use super::{ApiError, AppState};
use crate::engine::View;
use crate::model::{JobState, Status, TaskState};
use axum::Json;
use axum::extract::{Path, Query, State};
use outpost_api::{JobDocument, TaskPage};
use serde::Deserialize;
use std::ops::Bound;

/// Tasks in the job document and in a page when no `limit` is given.
pub const DEFAULT_PAGE: usize = 100;
/// Largest page.
pub const MAX_PAGE: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Tasks after this task id.
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    /// Only tasks in this status.
    #[serde(default)]
    status: Option<String>,
}

/// `GET /api/v1/jobs/{id}`; for a job that left the hot state, its
/// summary (`archived: true`, the first failed tasks, no task pages).
pub async fn job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let hot = state.engine.read(|v| {
        let (job, page) = page(v, &id, None, DEFAULT_PAGE, None)?;
        Some(JobDocument {
            job,
            tasks: page.tasks,
            tasks_next: page.next,
        })
    });
    if let Some(doc) = hot {
        return Ok(Json(doc).into_response());
    }
    match state.engine.archived(&id).await? {
        Some(summary) => Ok(Json(summary).into_response()),
        None => Err(ApiError::NotFound(format!("no job {id:?}"))),
    }
}

/// `GET /api/v1/jobs/{id}/tasks?after=<task id>&limit=<1..1000>&status=<status>`.
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TaskPage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit {limit} is not between 1 and {MAX_PAGE}"
        )));
    }
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status {s:?} is not one of pending, running, succeeded, failed, cancelled"
            ))
        })?),
    };
    if let Some(p) = state
        .engine
        .read(|v| page(v, &id, q.after.as_deref(), limit, status).map(|(_, p)| p))
    {
        return Ok(Json(p));
    }
    match state.engine.archived(&id).await? {
        Some(_) => Err(ApiError::NotFound(format!(
            "job {id:?} is archived: its tasks are no longer kept (GET /api/v1/jobs/{id} has its summary)"
        ))),
        None => Err(ApiError::NotFound(format!("no job {id:?}"))),
    }
}

/// Up to `limit` tasks of job `id` after task id `after`, in id order,
/// optionally only those in `status`; `None` if there is no such job.
fn page(
    view: &View,
    id: &str,
    after: Option<&str>,
    limit: usize,
    status: Option<Status>,
) -> Option<(JobState, TaskPage)> {
    let entry = view.jobs.get(id)?;
    let start = match after {
        Some(a) => Bound::Excluded(a),
        None => Bound::Unbounded,
    };
    let mut matching = entry
        .tasks
        .range::<str, _>((start, Bound::Unbounded))
        .map(|(_, (t, _))| t)
        .filter(|t| status.is_none_or(|s| t.status == s));
    let tasks: Vec<TaskState> = matching.by_ref().take(limit).cloned().collect();
    let next = match matching.next() {
        Some(_) => tasks.last().map(|t| t.id.clone()),
        None => None,
    };
    Some((entry.job.clone(), TaskPage { tasks, next }))
}
