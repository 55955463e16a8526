//! A job's task state stored in chunks: `tasks.<job>.<n>` in KV
//! `outpost_jobs` holds up to [`layout::TASKS_PER_CHUNK`] tasks as one JSON
//! array, written together with revision compare-and-set. A 20 000-task job
//! is 313 writes at submit instead of 20 000, and an event batch rewrites
//! each chunk it touched once, whatever number of its tasks moved.
//!
//! A chunk grown past [`MAX_CHUNK_BYTES`] (big outputs) gives its second
//! half to a new chunk at the end of the job: the new chunk is written
//! first, so a crash between the two writes leaves a task in two chunks,
//! never in none; loading keeps the copy that saw more events.

use super::view::{Chunk, JobEntry};
use crate::model::TaskState;
use outpost_proto::layout;

/// The largest chunk written as it is (NATS's default message limit is
/// 1 MiB); a bigger one is split.
pub const MAX_CHUNK_BYTES: usize = 512 * 1024;

/// Chunk `n` of `e` encoded as stored, with its key.
pub fn encode(e: &JobEntry, n: u32) -> Option<(String, bytes::Bytes)> {
    let c = e.chunks.get(n as usize)?;
    let key = layout::task_chunk_key(&e.job.id, n).ok()?;
    let tasks: Vec<&TaskState> = c
        .ids
        .iter()
        .filter_map(|id| e.tasks.get(id).map(|(t, _)| t))
        .collect();
    let bytes = serde_json::to_vec(&tasks).ok()?;
    Some((key, bytes.into()))
}

/// The tasks of a stored chunk; an unreadable one yields an error naming why.
pub fn decode(bytes: &[u8]) -> Result<Vec<TaskState>, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
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

    #[test]
    fn a_foreign_task_in_a_chunk_is_ignored() {
        let mut back = JobEntry::new(job("j"), Vec::new());
        assemble(&mut back, vec![(0, 1, vec![task("other", 1)])]);
        assert!(back.tasks.is_empty());
    }
}
