//! A job's task state stored in chunks: `tasks.<job>.<n>` in KV
//! `outpost_jobs` holds up to [`layout::TASKS_PER_CHUNK`] tasks as one JSON
//! document, written together with revision compare-and-set. A 20 000-task
//! job is 313 writes at submit instead of 20 000, and an event batch
//! rewrites each chunk it touched once, whatever number of its tasks moved.
//!
//! A chunk is rewritten whole, so its bytes are what a busy job costs the
//! server: what the tasks of a chunk share (job, zone, kind, parameters) is
//! written once in the chunk's head, each task keeps only what differs
//! (its id after the job's, its progress). Chunks written as a plain array
//! of tasks (before that) are still read.
//!
//! A chunk grown past [`MAX_CHUNK_BYTES`] (big outputs) gives its second
//! half to a new chunk at the end of the job: the new chunk is written
//! first, so a crash between the two writes leaves a task in two chunks,
//! never in none; loading keeps the copy that saw more events.

use super::view::{Chunk, JobEntry};
use crate::model::{Status, TaskProgress, TaskState};
use outpost_proto::layout;
use serde::{Deserialize, Serialize};

/// The largest chunk written as it is (NATS's default message limit is
/// 1 MiB); a bigger one is split.
pub const MAX_CHUNK_BYTES: usize = 512 * 1024;

/// The version written in a chunk's head.
const VERSION: u8 = 2;

/// A chunk as written: the head's fields apply to every task that does
/// not name its own.
#[derive(Serialize)]
struct ChunkOut<'a> {
    v: u8,
    job_id: &'a str,
    zone: &'a str,
    kind: &'a str,
    params: &'a serde_json::Value,
    tasks: Vec<TaskOut<'a>>,
}

/// One task as written in a chunk: fields equal to the head's, empty or
/// zero are left out.
#[derive(Serialize)]
struct TaskOut<'a> {
    /// The id after `<job>-`, when it starts so.
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<&'a str>,
    /// The whole id, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "str::is_empty")]
    target: &'a str,
    status: Status,
    #[serde(skip_serializing_if = "is_zero")]
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<&'a TaskProgress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_seq: Option<u64>,
    #[serde(skip_serializing_if = "is_origin")]
    applied: (u32, u32),
    #[serde(skip_serializing_if = "is_false")]
    cleanup: bool,
}

#[derive(Deserialize)]
struct ChunkIn {
    v: u8,
    job_id: String,
    zone: String,
    kind: String,
    #[serde(default)]
    params: serde_json::Value,
    tasks: Vec<TaskIn>,
}

#[derive(Deserialize)]
struct TaskIn {
    n: Option<String>,
    id: Option<String>,
    zone: Option<String>,
    kind: Option<String>,
    params: Option<serde_json::Value>,
    #[serde(default)]
    target: String,
    status: Status,
    #[serde(default)]
    attempts: u32,
    worker_id: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    progress: Option<TaskProgress>,
    error_kind: Option<String>,
    error: Option<String>,
    output: Option<serde_json::Value>,
    stream_seq: Option<u64>,
    #[serde(default)]
    applied: (u32, u32),
    #[serde(default)]
    cleanup: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_origin(a: &(u32, u32)) -> bool {
    *a == (0, 0)
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Chunk `n` of `e` encoded as stored, with its key.
pub fn encode(e: &JobEntry, n: u32) -> Option<(String, bytes::Bytes)> {
    let c = e.chunks.get(n as usize)?;
    let key = layout::task_chunk_key(&e.job.id, n).ok()?;
    let tasks: Vec<&TaskState> = c
        .ids
        .iter()
        .filter_map(|id| e.tasks.get(id).map(|(t, _)| t))
        .collect();
    let bytes = serde_json::to_vec(&chunk_out(&e.job.id, &tasks)).ok()?;
    Some((key, bytes.into()))
}

fn chunk_out<'a>(job_id: &'a str, tasks: &[&'a TaskState]) -> ChunkOut<'a> {
    static NULL: serde_json::Value = serde_json::Value::Null;
    let first = tasks.first();
    let zone = first.map_or("", |t| t.zone.as_str());
    let kind = first.map_or("", |t| t.kind.as_str());
    let params = first.map_or(&NULL, |t| &t.params);
    ChunkOut {
        v: VERSION,
        job_id,
        zone,
        kind,
        params,
        tasks: tasks
            .iter()
            .map(|t| task_out(job_id, zone, kind, params, t))
            .collect(),
    }
}

fn task_out<'a>(
    job_id: &str,
    zone: &str,
    kind: &str,
    params: &serde_json::Value,
    t: &'a TaskState,
) -> TaskOut<'a> {
    // Every field named: a field added to TaskState must be stored here.
    let TaskState {
        id,
        job_id: task_job,
        zone: task_zone,
        kind: task_kind,
        target,
        status,
        attempts,
        worker_id,
        started_at,
        finished_at,
        progress,
        error_kind,
        error,
        output,
        params: task_params,
        stream_seq,
        applied,
        cleanup,
        chunk: _,
    } = t;
    let suffix = (task_job == job_id)
        .then(|| id.strip_prefix(job_id)?.strip_prefix('-'))
        .flatten()
        .filter(|s| !s.is_empty());
    TaskOut {
        n: suffix,
        id: suffix.is_none().then_some(id.as_str()),
        zone: (task_zone != zone).then_some(task_zone.as_str()),
        kind: (task_kind != kind).then_some(task_kind.as_str()),
        params: (task_params != params).then_some(task_params),
        target,
        status: *status,
        attempts: *attempts,
        worker_id: worker_id.as_deref(),
        started_at: started_at.as_deref(),
        finished_at: finished_at.as_deref(),
        progress: progress.as_ref(),
        error_kind: error_kind.as_deref(),
        error: error.as_deref(),
        output: output.as_ref(),
        stream_seq: *stream_seq,
        applied: *applied,
        cleanup: *cleanup,
    }
}

/// The tasks of a stored chunk; an unreadable one yields an error naming why.
pub fn decode(bytes: &[u8]) -> Result<Vec<TaskState>, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        // Written before chunks had a head.
        return serde_json::from_slice(bytes).map_err(|e| e.to_string());
    }
    let c: ChunkIn = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if c.v != VERSION {
        return Err(format!(
            "chunk format version {} is not known (this coordinator reads {VERSION})",
            c.v
        ));
    }
    c.tasks
        .into_iter()
        .map(|t| task_in(&c.job_id, &c.zone, &c.kind, &c.params, t))
        .collect()
}

fn task_in(
    job_id: &str,
    zone: &str,
    kind: &str,
    params: &serde_json::Value,
    t: TaskIn,
) -> Result<TaskState, String> {
    let TaskIn {
        n,
        id,
        zone: task_zone,
        kind: task_kind,
        params: task_params,
        target,
        status,
        attempts,
        worker_id,
        started_at,
        finished_at,
        progress,
        error_kind,
        error,
        output,
        stream_seq,
        applied,
        cleanup,
    } = t;
    let id = match (n, id) {
        (Some(n), None) if !n.is_empty() => format!("{job_id}-{n}"),
        (None, Some(id)) => id,
        _ => return Err("a task has neither an id nor a number, or both".into()),
    };
    Ok(TaskState {
        id,
        job_id: job_id.to_string(),
        zone: task_zone.unwrap_or_else(|| zone.to_string()),
        kind: task_kind.unwrap_or_else(|| kind.to_string()),
        target,
        status,
        attempts,
        worker_id,
        started_at,
        finished_at,
        progress,
        error_kind,
        error,
        output,
        params: task_params.unwrap_or_else(|| params.clone()),
        stream_seq,
        applied,
        cleanup,
        chunk: 0,
    })
}

/// Moves the second half of chunk `n` of `e` into a new chunk when `n`
/// encodes bigger than [`MAX_CHUNK_BYTES`]; returns the new chunk's index.
pub fn split_if_big(e: &mut JobEntry, n: u32, encoded: usize) -> Option<u32> {
    let c = e.chunks.get_mut(n as usize)?;
    if encoded <= MAX_CHUNK_BYTES || c.ids.len() < 2 {
        return None;
    }
    let moved = c.ids.split_off(c.ids.len() / 2);
    let new = e.chunks.len() as u32;
    for id in &moved {
        if let Some((t, rev)) = e.tasks.get_mut(id) {
            t.chunk = new;
            *rev = 0;
        }
    }
    e.chunks.push(Chunk { ids: moved, rev: 0 });
    Some(new)
}

/// Rebuilds a job's chunks from what was loaded: `(n, revision, tasks)`
/// per stored chunk. A task found in two chunks (a split cut short) is
/// kept once, the copy with more events applied, in the later chunk's
/// list only when that copy won.
pub fn assemble(e: &mut JobEntry, mut loaded: Vec<(u32, u64, Vec<TaskState>)>) {
    loaded.sort_by_key(|(n, _, _)| *n);
    let len = loaded.last().map(|(n, _, _)| *n as usize + 1).unwrap_or(0);
    e.chunks = vec![Chunk::default(); len];
    for (n, rev, tasks) in loaded {
        e.chunks[n as usize].rev = rev;
        for mut t in tasks {
            if t.job_id != e.job.id {
                continue;
            }
            t.chunk = n;
            let better = match e.tasks.get(&t.id) {
                None => true,
                Some((old, _)) => {
                    t.applied > old.applied || (t.status.is_terminal() && !old.status.is_terminal())
                }
            };
            if better {
                if let Some((old, _)) = e.tasks.get(&t.id) {
                    let from = old.chunk as usize;
                    e.chunks[from].ids.retain(|id| *id != t.id);
                }
                e.chunks[n as usize].ids.push(t.id.clone());
                e.tasks.insert(t.id.clone(), (t, rev));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobRules, NewTask};
    use crate::model::{JobState, Status};

    fn task(job: &str, i: usize) -> TaskState {
        TaskState::pending(
            format!("{job}-{i:05}"),
            job,
            "z".into(),
            "diag.sleep",
            String::new(),
            serde_json::json!({"ms": 0}),
        )
    }

    fn job(id: &str) -> JobState {
        JobState::pending(
            id,
            "diag.sleep",
            vec!["z".into()],
            None,
            serde_json::json!({}),
        )
    }

    #[test]
    fn a_big_job_is_stored_in_few_chunks_and_reads_back_whole() {
        let tasks: Vec<TaskState> = (0..1000).map(|i| task("j", i)).collect();
        let e = JobEntry::new(job("j"), tasks.clone());
        assert_eq!(e.chunks.len(), 1000usize.div_ceil(layout::TASKS_PER_CHUNK));
        let mut loaded = Vec::new();
        for n in 0..e.chunks.len() as u32 {
            let (key, bytes) = encode(&e, n).expect("chunk");
            assert_eq!(key, format!("tasks.j.{n}"));
            loaded.push((n, 7, decode(&bytes).expect("decodes")));
        }
        let mut back = JobEntry::new(job("j"), Vec::new());
        assemble(&mut back, loaded);
        assert_eq!(back.tasks.len(), 1000);
        for t in &tasks {
            assert_eq!(back.tasks[&t.id].0.id, t.id);
        }
    }

    #[test]
    fn a_split_cut_short_keeps_each_task_once_with_its_latest_state() {
        let mut e = JobEntry::new(job("j"), (0..4).map(|i| task("j", i)).collect());
        let old = decode(&encode(&e, 0).unwrap().1).unwrap();
        assert_eq!(split_if_big(&mut e, 0, MAX_CHUNK_BYTES + 1), Some(1));
        // The moved half finished meanwhile; the old chunk was never rewritten.
        let mut moved = decode(&encode(&e, 1).unwrap().1).unwrap();
        for t in &mut moved {
            t.status = Status::Succeeded;
            t.applied = (1, 1);
        }
        let mut back = JobEntry::new(job("j"), Vec::new());
        assemble(&mut back, vec![(0, 3, old), (1, 4, moved)]);
        assert_eq!(back.tasks.len(), 4);
        let ids: usize = back.chunks.iter().map(|c| c.ids.len()).sum();
        assert_eq!(ids, 4, "{:?}", back.chunks);
        assert_eq!(back.tasks["j-00003"].0.status, Status::Succeeded);
        assert_eq!(back.tasks["j-00003"].0.chunk, 1);
    }

    fn finished(mut t: TaskState, i: usize) -> TaskState {
        t.status = Status::Succeeded;
        t.attempts = 1;
        t.worker_id = Some("vm-cb42e2da".into());
        t.started_at = Some("2026-11-30T13:34:13.836Z".into());
        t.finished_at = Some("2026-11-30T13:34:13.837Z".into());
        t.output = Some(serde_json::json!({"slept_ms": 0}));
        t.stream_seq = Some(100_000 + i as u64);
        t.applied = (1, 2);
        t
    }

    #[test]
    fn every_field_of_every_task_reads_back_as_written() {
        let mut tasks: Vec<TaskState> = (0..6).map(|i| finished(task("j", i), i)).collect();
        // Tasks that differ from the chunk's head in each shared field.
        tasks[1].zone = "other-zone".into();
        tasks[2].kind = "redfish.power".into();
        tasks[3].params = serde_json::json!({"action": "on"});
        tasks[4].id = "not-prefixed".into();
        tasks[5].target = "10.0.0.5".into();
        tasks[5].progress = Some(TaskProgress {
            percent: 40,
            step: "flash".into(),
        });
        tasks[5].error_kind = Some("timeout".into());
        tasks[5].error = Some("no answer".into());
        tasks[5].cleanup = true;
        tasks[0].status = Status::Pending;
        tasks[0].attempts = 0;
        tasks[0].applied = (0, 0);
        tasks[0].stream_seq = None;
        let e = JobEntry::new(job("j"), tasks.clone());
        let (_, bytes) = encode(&e, 0).expect("chunk");
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back, tasks);
    }

    #[test]
    fn a_chunk_writes_what_its_tasks_share_once() {
        let tasks: Vec<TaskState> = (0..layout::TASKS_PER_CHUNK)
            .map(|i| finished(task("0b6f1f0e-3c55-4d2a-9f0b-8f7f2e6c1a10", i), i))
            .collect();
        let plain = serde_json::to_vec(&tasks).expect("json").len();
        let e = JobEntry::new(job("0b6f1f0e-3c55-4d2a-9f0b-8f7f2e6c1a10"), tasks);
        let headed = encode(&e, 0).expect("chunk").1.len();
        assert!(
            headed * 10 < plain * 7,
            "a headed chunk of finished tasks is {headed} bytes, as a plain array {plain}"
        );
    }

    #[test]
    fn a_chunk_written_as_a_plain_array_is_still_read() {
        let tasks: Vec<TaskState> = (0..3).map(|i| finished(task("j", i), i)).collect();
        let plain = serde_json::to_vec(&tasks).expect("json");
        assert_eq!(decode(&plain).expect("decodes"), tasks);
    }

    #[test]
    fn a_damaged_chunk_is_an_error_naming_what_is_wrong() {
        let no_id = br#"{"v":2,"job_id":"j","zone":"z","kind":"k","params":null,"tasks":[{"status":"pending"}]}"#;
        assert!(decode(no_id).unwrap_err().contains("id"));
        let future = br#"{"v":9,"job_id":"j","zone":"z","kind":"k","params":null,"tasks":[]}"#;
        assert!(decode(future).unwrap_err().contains("version 9"));
        assert!(decode(b"{\"v\":2").is_err());
    }

    #[test]
    fn a_foreign_task_in_a_chunk_is_ignored() {
        let mut back = JobEntry::new(job("j"), Vec::new());
        assemble(&mut back, vec![(0, 1, vec![task("other", 1)])]);
        assert!(back.tasks.is_empty());
    }
}
