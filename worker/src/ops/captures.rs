//! Outputs that travel back through the zone's `outpost_captures_<zone>`
//! object store rather than in the result message: an SSH capture, an
//! inventory too large for one message. Each task writes one object, named
//! after its job and task, which the coordinator reads by that name.

use crate::ops::{OpCtx, OpError};
use outpost_kinds::ErrorClass;

/// Puts `body` in the zone's captures store as this task's object; returns
/// the object's name.
pub async fn put(ctx: &OpCtx, body: Vec<u8>) -> Result<String, OpError> {
    let Some(store) = &ctx.env.captures else {
        return Err(OpError::retryable(
            ErrorClass::CaptureUpload,
            "the captures object store is not available",
        ));
    };
    let name = outpost_proto::layout::capture_object(&ctx.job_id, &ctx.task_id)
        .map_err(|e| OpError::permanent(ErrorClass::Params, e.to_string()))?;
    let mut reader = std::io::Cursor::new(body);
    let mut reader = tokio::io::BufReader::new(&mut reader);
    store.put(name.as_str(), &mut reader).await.map_err(|e| {
        OpError::retryable(
            ErrorClass::CaptureUpload,
            format!("cannot store the output in the captures store: {e}"),
        )
    })?;
    Ok(name)
}
