//! The call and participant state machines, and the reasons calls end.

pub(crate) mod call_state;
pub(crate) mod end_reason;
pub(crate) mod participant_state;
