//! The operations a worker can run, one module per kind, and the contract
//! between an operation and the runner: its context, its output and how it
//! fails (retryable, permanent, cancelled).

use outpost_kinds::ErrorClass;
pub mod captures;
pub mod checkpoint;
pub mod diag_sleep;
pub mod env;
pub mod net_reach;
pub mod redfish;
pub mod ssh;
pub mod vcenter;

pub use env::OpEnv;

use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use outpost_kinds::Kind;

/// How an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// Worth another attempt later (a busy device, a dropped session).
    Retryable { kind: ErrorClass, message: String },
    /// Another attempt would fail the same way (bad parameters, refused).
    Permanent { kind: ErrorClass, message: String },
    /// The operation stopped because its cancel token fired.
    Cancelled,
}

impl OpError {
    pub fn retryable(kind: ErrorClass, message: impl Into<String>) -> Self {
        OpError::Retryable {
            kind,
            message: message.into(),
        }
    }

    pub fn permanent(kind: ErrorClass, message: impl Into<String>) -> Self {
        OpError::Permanent {
            kind,
            message: message.into(),
        }
    }

    /// The class, if the operation failed rather than stopped.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            OpError::Retryable { kind, .. } | OpError::Permanent { kind, .. } => Some(*kind),
            OpError::Cancelled => None,
        }
    }
}

/// A progress report from a running operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub percent: u32,
    pub step: String,
}

/// What an operation gets to work with.
#[derive(Clone)]
pub struct OpCtx {
    pub job_id: String,
    pub task_id: String,
    pub zone: String,
    pub target: String,
    pub params: serde_json::Value,
    /// Delivery attempt, 1-based.
    pub attempt: u32,
    /// Fires when the job is cancelled or the worker gives the task back.
    pub cancel: CancellationToken,
    /// What the worker shares with its operations (vault, stores, limits).
    pub env: Arc<OpEnv>,
    progress: mpsc::UnboundedSender<Progress>,
    /// For one part of several (`i` of `n`, named): progress is scaled
    /// into the part's share and its step prefixed with the name.
    part: Option<(u32, u32, String)>,
}

impl OpCtx {
    pub fn new(
        task: &outpost_proto::pb::Task,
        params: serde_json::Value,
        attempt: u32,
        cancel: CancellationToken,
        env: Arc<OpEnv>,
        progress: mpsc::UnboundedSender<Progress>,
    ) -> Self {
        Self {
            job_id: task.job_id.clone(),
            task_id: task.task_id.clone(),
            zone: task.zone.clone(),
            target: task.target.clone(),
            params,
            attempt,
            cancel,
            env,
            progress,
            part: None,
        }
    }

    /// This context for part `i` (0-based) of `n` parts named `name`:
    /// the same task, cancel and stores, its progress one share of the
    /// whole (part 2 of 4 at 50 % reports 37 %).
    pub fn part(&self, i: usize, n: usize, name: &str) -> OpCtx {
        OpCtx {
            part: Some((i as u32, (n as u32).max(1), name.to_string())),
            ..self.clone()
        }
    }

    /// A context sharing `env` (credentials, in-memory stores) with other
    /// detached runs: a test's "worker" that can run a task twice.
    pub fn detached_with(
        task_id: &str,
        target: &str,
        params: serde_json::Value,
        attempt: u32,
        cancel: CancellationToken,
        env: Arc<OpEnv>,
        progress: mpsc::UnboundedSender<Progress>,
    ) -> Self {
        let task = outpost_proto::pb::Task {
            task_id: task_id.into(),
            job_id: "j".into(),
            zone: "detached".into(),
            target: target.into(),
            ..Default::default()
        };
        Self::new(&task, params, attempt, cancel, env, progress)
    }

    /// A context with no vault or stores, for unit tests of operations.
    pub fn detached(
        target: &str,
        params: serde_json::Value,
        attempt: u32,
        cancel: CancellationToken,
        progress: mpsc::UnboundedSender<Progress>,
    ) -> Self {
        let task = outpost_proto::pb::Task {
            task_id: "t".into(),
            job_id: "j".into(),
            zone: "detached".into(),
            target: target.into(),
            ..Default::default()
        };
        Self::new(
            &task,
            params,
            attempt,
            cancel,
            Arc::new(OpEnv::detached()),
            progress,
        )
    }

    /// Reports progress; the runner turns it into an event.
    pub fn progress(&self, percent: u32, step: impl Into<String>) {
        let percent = percent.min(100);
        let (percent, step) = match &self.part {
            Some((i, n, name)) => (
                (i * 100 + percent) / n,
                format!("[{}/{n}] {name}: {}", i + 1, step.into()),
            ),
            None => (percent, step.into()),
        };
        let _ = self.progress.send(Progress { percent, step });
    }

    /// The login named `name` (the default one when `None`): a credential
    /// sealed to this zone in the task (`params.sealed_credentials`, put
    /// there by the coordinator for jobs from Dell Server Manager) first,
    /// else the zone's vault.
    pub fn credential(&self, name: Option<&str>) -> Result<crate::credentials::Login, OpError> {
        if let Some(map) = self.params["sealed_credentials"].as_object()
            && !map.is_empty()
        {
            let entry = match name {
                Some(n) => map.get_key_value(n),
                None if map.len() == 1 => map.iter().next(),
                None => None,
            };
            if let Some((key_name, e)) = entry {
                let key = self.env.zone_key.as_ref().ok_or_else(|| {
                    OpError::permanent(
                        ErrorClass::Credentials,
                        "the task carries credentials sealed to this zone, but this worker has no zone key (--zone-key-file)",
                    )
                })?;
                let password = outpost_vault::sealed::open(
                    key.expose(),
                    e["password"].as_str().unwrap_or_default(),
                )
                .map_err(|err| {
                    OpError::permanent(
                        ErrorClass::Credentials,
                        format!("credential {key_name:?}: {err}"),
                    )
                })?;
                return Ok(crate::credentials::Login {
                    name: key_name.clone(),
                    username: e["username"].as_str().unwrap_or_default().to_string(),
                    password,
                    enable_secret: None,
                });
            }
        }
        self.env
            .credentials
            .resolve(name)
            .map_err(|e| OpError::permanent(ErrorClass::Credentials, e))
    }

    /// The task's parameters as `T`, or a permanent `params` error naming the problem.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, OpError> {
        let mut v = if self.params.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            self.params.clone()
        };
        // Read through `credential`, not by the operation.
        if let Some(m) = v.as_object_mut() {
            m.remove("sealed_credentials");
        }
        serde_json::from_value(v).map_err(|e| {
            OpError::permanent(ErrorClass::Params, format!("invalid task params: {e}"))
        })
    }
}

/// Runs one task of `kind`. Each kind's operation is boxed: the future of
/// the biggest (a firmware update's) is kilobytes, and every task would
/// otherwise carry and copy that size, however small its own kind's is.
pub async fn run(kind: Kind, ctx: &OpCtx) -> Result<serde_json::Value, OpError> {
    match kind {
        Kind::NetReach => Box::pin(net_reach::run(ctx)).await,
        Kind::DiagSleep => Box::pin(diag_sleep::run(ctx)).await,
        Kind::SshCollect => Box::pin(ssh::run(ctx)).await,
        Kind::RedfishDiscover => Box::pin(redfish::discover::run(ctx)).await,
        Kind::RedfishInventory => Box::pin(redfish::inventory::run(ctx)).await,
        Kind::RedfishPower => Box::pin(redfish::power::run(ctx)).await,
        Kind::RedfishFirmware => Box::pin(redfish::firmware::run(ctx)).await,
        Kind::VcenterMaintenance => Box::pin(vcenter::maintenance::run(ctx)).await,
        Kind::VcenterInventory => Box::pin(vcenter::inventory::run(ctx)).await,
    }
}
