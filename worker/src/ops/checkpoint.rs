//! Task checkpoints: what a long operation must remember across a worker
//! crash (a firmware update's Dell JID, whether the image was uploaded),
//! kept in KV `outpost_checkpoints` under `<zone>.<task_id>`, so the next
//! attempt of the task — on any worker of the zone — resumes instead of
//! starting over. Detached contexts (unit tests) keep them in memory.

use crate::kv::Bucket;
use outpost_kinds::ErrorClass;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

use super::OpError;

pub enum Checkpoints {
    Kv { store: Box<Bucket>, zone: String },
    Memory(Mutex<HashMap<String, Value>>),
}

fn key(zone: &str, task_id: &str) -> Result<String, OpError> {
    outpost_proto::layout::checkpoint_key(zone, task_id).map_err(|e| {
        OpError::permanent(
            ErrorClass::Params,
            format!("task id unusable as a key: {e}"),
        )
    })
}

impl Checkpoints {
    pub fn memory() -> Self {
        Checkpoints::Memory(Mutex::new(HashMap::new()))
    }

    /// The checkpoint an earlier attempt of `task_id` left, if any.
    pub async fn load(&self, task_id: &str) -> Result<Option<Value>, OpError> {
        let zone = match self {
            Checkpoints::Kv { zone, .. } => zone.as_str(),
            Checkpoints::Memory(_) => "memory",
        };
        let key = key(zone, task_id)?;
        match self {
            Checkpoints::Memory(m) => Ok(m
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned()),
            Checkpoints::Kv { store: s, .. } => match s.get(&key).await {
                Ok(Some(b)) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                    OpError::permanent(
                        ErrorClass::Checkpoint,
                        format!("stored checkpoint is unreadable: {e}"),
                    )
                }),
                Ok(None) => Ok(None),
                Err(e) => Err(OpError::retryable(
                    ErrorClass::Checkpoint,
                    format!("cannot read the checkpoint: {e}"),
                )),
            },
        }
    }

    /// Records `v` for the next attempt; a failure to record is retryable,
    /// since continuing without it could repeat a device action.
    pub async fn save(&self, task_id: &str, v: &Value) -> Result<(), OpError> {
        let zone = match self {
            Checkpoints::Kv { zone, .. } => zone.as_str(),
            Checkpoints::Memory(_) => "memory",
        };
        let key = key(zone, task_id)?;
        match self {
            Checkpoints::Memory(m) => {
                m.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, v.clone());
                Ok(())
            }
            Checkpoints::Kv { store: s, .. } => {
                let bytes = serde_json::to_vec(v).unwrap_or_default();
                s.put(&key, bytes.into()).await.map(|_| ()).map_err(|e| {
                    OpError::retryable(
                        ErrorClass::Checkpoint,
                        format!("cannot record the checkpoint: {e}"),
                    )
                })
            }
        }
    }
}
