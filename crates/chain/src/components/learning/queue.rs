//! The deadline-indexed queue that drives the block hook (security review H3): every live task
//! that needs the hook has exactly one entry `learning/due/<height><task>` (mirrored in
//! [`Task::next_tick`]), and `begin_block` at height `h` only loads the tasks due at `h` — a
//! round's next phase deadline, the block after a message that may let a window close early, the
//! block after a round ends (to open the next one), or a retry `OPEN_RETRY_BLOCKS` later when the
//! quorum cannot be met. Tasks that wait for nothing cost nothing per block.

use chorus_types::Height;
use chorus_types::learning::TaskId;

use super::Task;
use crate::TxError;
use crate::codec::write;
use crate::state::{StateDelta, StateRead};
use crate::state_key;

/// Moves `t`'s queue entry to `at` (`None`: removes it). The caller writes `t`.
pub(super) fn reschedule(delta: &mut StateDelta<'_>, t: &mut Task, at: Option<Height>) {
    if t.next_tick == at {
        return;
    }
    if let Some(old) = t.next_tick {
        delta.delete(state_key::learning_due(old, t.id));
    }
    if let Some(h) = at {
        write(delta, state_key::learning_due(h, t.id), &());
    }
    t.next_tick = at;
}

/// Makes sure `t` is looked at no later than `at` (keeps an earlier entry). The caller writes `t`.
pub(super) fn wake(delta: &mut StateDelta<'_>, t: &mut Task, at: Height) {
    if t.next_tick.is_none_or(|h| h > at) {
        reschedule(delta, t, Some(at));
    }
}

fn parse(key: &[u8]) -> Option<(Height, TaskId)> {
    let rest = key.get(state_key::LEARNING_DUE_PREFIX.len()..)?;
    let h: [u8; 8] = rest.get(..8)?.try_into().ok()?;
    let id: [u8; 8] = rest.get(8..16)?.try_into().ok()?;
    Some((u64::from_be_bytes(h), u64::from_be_bytes(id)))
}

/// The queue entries due at `height`, in task order. Heights are consecutive (the ledger only
/// accepts a block at the previous height + 1) and every entry is scheduled strictly after the
/// height that schedules it, so looking up exactly `height` misses nothing.
pub(super) fn due(state: &dyn StateRead, height: Height) -> Result<Vec<(Height, TaskId)>, TxError> {
    Ok(state
        .scan_prefix(&state_key::learning_due_at(height))?
        .iter()
        .filter_map(|(k, _)| parse(k))
        .collect())
}

/// Queue entries (height, task), for tests and diagnostics.
pub fn queue(state: &dyn StateRead) -> Result<Vec<(Height, TaskId)>, TxError> {
    Ok(state
        .scan_prefix(state_key::LEARNING_DUE_PREFIX)?
        .iter()
        .filter_map(|(k, _)| parse(k))
        .collect())
}
