//! The payload of an event message: a batch of [`pb::Event`]s of one job
//! ([`pb::Events`]). One place encodes and decodes it, so every reader (the
//! relay, reconciliation, the API's event streams, the tests) agrees on the
//! bound of what one message may hold.

use crate::pb;
use prost::Message;

/// The most events one message may carry: a worker's batch is cut well
/// below (see the worker's outbox), so more is not a worker's.
pub const MAX_PER_MESSAGE: usize = 1024;

/// Why an event message was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    #[error("undecodable: {0}")]
    Undecodable(String),
    #[error("holds no event")]
    Empty,
    #[error("holds {0} events, more than the {MAX_PER_MESSAGE} one message may carry")]
    TooMany(usize),
}

/// Encodes `events` as one message payload.
pub fn encode(events: Vec<pb::Event>) -> Vec<u8> {
    pb::Events { events }.encode_to_vec()
}

/// Encodes a single event as one message payload.
pub fn encode_one(event: pb::Event) -> Vec<u8> {
    encode(vec![event])
}

/// Decodes a message payload into its events, in order.
pub fn decode(payload: &[u8]) -> Result<Vec<pb::Event>, EventsError> {
    let batch = pb::Events::decode(payload).map_err(|e| EventsError::Undecodable(e.to_string()))?;
    match batch.events.len() {
        0 => Err(EventsError::Empty),
        n if n > MAX_PER_MESSAGE => Err(EventsError::TooMany(n)),
        _ => Ok(batch.events),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(task: &str, seq: u32) -> pb::Event {
        pb::Event {
            job_id: "j1".into(),
            task_id: task.into(),
            zone: "a".into(),
            attempt: 1,
            seq,
            ..Default::default()
        }
    }

    #[test]
    fn a_batch_comes_back_in_order() {
        let sent = vec![ev("t1", 1), ev("t2", 1), ev("t1", 2)];
        assert_eq!(decode(&encode(sent.clone())), Ok(sent));
    }

    #[test]
    fn empty_oversized_and_garbage_payloads_are_refused() {
        assert_eq!(decode(&encode(vec![])), Err(EventsError::Empty));
        let many = (0..=MAX_PER_MESSAGE as u32).map(|i| ev("t", i)).collect();
        assert!(matches!(
            decode(&encode(many)),
            Err(EventsError::TooMany(_))
        ));
        assert!(matches!(
            decode(b"\xff\xff\xff"),
            Err(EventsError::Undecodable(_))
        ));
    }
}
