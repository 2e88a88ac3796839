//! The state of a call as one participant sees it.

use serde::{Deserialize, Serialize};

/// A call's state from one participant's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// A phone callee is playing announcements or ringback before answering (SIP 183).
    EarlyMedia,
    /// Someone is calling this participant; not answered yet.
    Incoming,
    /// Setting up: placed but not ringing yet, or answered but media not flowing yet.
    Connecting,
    /// The callee's devices are ringing.
    Ringing,
    /// Answered and media flowing.
    Connected,
    /// This participant put the call on hold.
    LocalHold,
    /// The other party (of a 1:1 call) put the call on hold.
    RemoteHold,
    /// Hanging up.
    Disconnecting,
    /// Over.
    Disconnected,
}

/// What moves a call from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallEvent {
    /// The callee's devices started ringing.
    Ringing,
    /// The callee sent early media.
    EarlyMedia,
    /// This participant answered an incoming call.
    Accept,
    /// The call is answered and this participant's media flows.
    Connected,
    /// Media was lost and is being re-established.
    Reconnecting,
    /// This participant held the call.
    LocalHold,
    /// This participant resumed it.
    LocalUnhold,
    /// The other party held the call.
    RemoteHold,
    /// The other party resumed it.
    RemoteUnhold,
    /// Hang-up started (by anyone, for any reason).
    HangUp,
    /// The call is over.
    Ended,
}

impl CallEvent {
    /// Every event, for exhaustive tests.
    pub const ALL: [CallEvent; 11] = [
        CallEvent::Ringing,
        CallEvent::EarlyMedia,
        CallEvent::Accept,
        CallEvent::Connected,
        CallEvent::Reconnecting,
        CallEvent::LocalHold,
        CallEvent::LocalUnhold,
        CallEvent::RemoteHold,
        CallEvent::RemoteUnhold,
        CallEvent::HangUp,
        CallEvent::Ended,
    ];
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("call cannot go from {from:?} on {event:?}")]
pub struct InvalidCallTransition {
    /// The state it was in.
    pub from: CallState,
    /// The event refused.
    pub event: CallEvent,
}

impl CallState {
    /// Every state, for exhaustive tests.
    pub const ALL: [CallState; 9] = [
        CallState::EarlyMedia,
        CallState::Incoming,
        CallState::Connecting,
        CallState::Ringing,
        CallState::Connected,
        CallState::LocalHold,
        CallState::RemoteHold,
        CallState::Disconnecting,
        CallState::Disconnected,
    ];

    /// The state after `event`, or an error if the event makes no sense now.
    pub fn on(self, event: CallEvent) -> Result<CallState, InvalidCallTransition> {
        use CallEvent as E;
        use CallState as S;
        let next = match (self, event) {
            (S::Connecting, E::Ringing) => S::Ringing,
            (S::Connecting | S::Ringing, E::EarlyMedia) => S::EarlyMedia,
            (S::Incoming, E::Accept) => S::Connecting,
            (S::Connecting | S::Ringing | S::EarlyMedia, E::Connected) => S::Connected,
            (S::Connected | S::LocalHold | S::RemoteHold, E::Reconnecting) => S::Connecting,
            (S::Connected | S::RemoteHold, E::LocalHold) => S::LocalHold,
            (S::LocalHold, E::LocalUnhold) => S::Connected,
            (S::Connected, E::RemoteHold) => S::RemoteHold,
            (S::RemoteHold, E::RemoteUnhold) => S::Connected,
            // Both held: the local hold wins; the remote one is forgotten when it is lifted.
            (S::LocalHold, E::RemoteHold | E::RemoteUnhold) => S::LocalHold,
            (s, E::HangUp) if s != S::Disconnected && s != S::Disconnecting => S::Disconnecting,
            (s, E::Ended) if s != S::Disconnected => S::Disconnected,
            (from, event) => return Err(InvalidCallTransition { from, event }),
        };
        Ok(next)
    }

    /// Whether the call is over.
    pub fn is_terminal(self) -> bool {
        self == CallState::Disconnected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallEvent as E;
    use CallState as S;

    /// The full table: every (state, event) pair and what it must lead to.
    fn expected(state: S, event: E) -> Option<S> {
        Some(match (state, event) {
            (S::Connecting, E::Ringing) => S::Ringing,
            (S::Connecting, E::EarlyMedia) | (S::Ringing, E::EarlyMedia) => S::EarlyMedia,
            (S::Incoming, E::Accept) => S::Connecting,
            (S::Connecting, E::Connected)
            | (S::Ringing, E::Connected)
            | (S::EarlyMedia, E::Connected) => S::Connected,
            (S::Connected, E::Reconnecting)
            | (S::LocalHold, E::Reconnecting)
            | (S::RemoteHold, E::Reconnecting) => S::Connecting,
            (S::Connected, E::LocalHold) | (S::RemoteHold, E::LocalHold) => S::LocalHold,
            (S::LocalHold, E::LocalUnhold) => S::Connected,
            (S::Connected, E::RemoteHold) => S::RemoteHold,
            (S::RemoteHold, E::RemoteUnhold) => S::Connected,
            (S::LocalHold, E::RemoteHold) | (S::LocalHold, E::RemoteUnhold) => S::LocalHold,
            (S::Disconnecting, E::HangUp) | (S::Disconnected, E::HangUp) => return None,
            (_, E::HangUp) => S::Disconnecting,
            (S::Disconnected, E::Ended) => return None,
            (_, E::Ended) => S::Disconnected,
            _ => return None,
        })
    }

    #[test]
    fn every_transition_matches_the_table() {
        let mut allowed = 0;
        for state in S::ALL {
            for event in E::ALL {
                let got = state.on(event).ok();
                assert_eq!(got, expected(state, event), "{state:?} on {event:?}");
                allowed += usize::from(got.is_some());
            }
        }
        assert_eq!(allowed, 32, "allowed transitions");
    }

    #[test]
    fn invalid_transitions_are_errors_not_panics() {
        let err = S::Disconnected.on(E::Accept).unwrap_err();
        assert_eq!(
            err,
            InvalidCallTransition {
                from: S::Disconnected,
                event: E::Accept
            }
        );
        assert!(S::Incoming.on(E::LocalHold).is_err());
        assert!(S::Disconnected.is_terminal());
    }
}
