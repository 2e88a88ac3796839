//! The state of one participant as the call (and everyone in its roster) sees it.

use serde::{Deserialize, Serialize};

/// A participant's state in the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantState {
    /// Invited and being rung; not answered yet.
    Idle,
    /// A phone participant sending early media before answering.
    EarlyMedia,
    /// Joined (or admitted); media not flowing yet, or being re-established.
    Connecting,
    /// In the call with media flowing.
    Connected,
    /// Has put the call on hold: sends and receives no media.
    OnHold,
    /// Waiting in the lobby to be admitted.
    InLobby,
    /// Gone.
    Disconnected,
}

/// What moves a participant from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParticipantEvent {
    /// Answered an invitation, or joined directly.
    Join,
    /// Joined a call with a lobby and must wait.
    EnterLobby,
    /// Let in from the lobby.
    Admit,
    /// Sent early media (phones).
    EarlyMedia,
    /// Media started flowing.
    MediaConnected,
    /// Media was lost; trying to re-establish.
    MediaLost,
    /// Held the call.
    Hold,
    /// Resumed it.
    Unhold,
    /// Left, was removed, rejected, timed out or lost: gone.
    Leave,
}

impl ParticipantEvent {
    /// Every event, for exhaustive tests.
    pub const ALL: [ParticipantEvent; 9] = [
        ParticipantEvent::Join,
        ParticipantEvent::EnterLobby,
        ParticipantEvent::Admit,
        ParticipantEvent::EarlyMedia,
        ParticipantEvent::MediaConnected,
        ParticipantEvent::MediaLost,
        ParticipantEvent::Hold,
        ParticipantEvent::Unhold,
        ParticipantEvent::Leave,
    ];
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("participant cannot go from {from:?} on {event:?}")]
pub struct InvalidParticipantTransition {
    /// The state it was in.
    pub from: ParticipantState,
    /// The event refused.
    pub event: ParticipantEvent,
}

impl ParticipantState {
    /// Every state, for exhaustive tests.
    pub const ALL: [ParticipantState; 7] = [
        ParticipantState::Idle,
        ParticipantState::EarlyMedia,
        ParticipantState::Connecting,
        ParticipantState::Connected,
        ParticipantState::OnHold,
        ParticipantState::InLobby,
        ParticipantState::Disconnected,
    ];

    /// The state after `event`, or an error if the event makes no sense now.
    pub fn on(
        self,
        event: ParticipantEvent,
    ) -> Result<ParticipantState, InvalidParticipantTransition> {
        use ParticipantEvent as E;
        use ParticipantState as S;
        let next = match (self, event) {
            (S::Idle | S::EarlyMedia, E::Join) => S::Connecting,
            (S::Idle, E::EnterLobby) => S::InLobby,
            (S::InLobby, E::Admit) => S::Connecting,
            (S::Idle, E::EarlyMedia) => S::EarlyMedia,
            (S::Connecting, E::MediaConnected) => S::Connected,
            (S::Connected, E::MediaLost) => S::Connecting,
            (S::Connected, E::Hold) => S::OnHold,
            (S::OnHold, E::Unhold) => S::Connected,
            (s, E::Leave) if s != S::Disconnected => S::Disconnected,
            (from, event) => return Err(InvalidParticipantTransition { from, event }),
        };
        Ok(next)
    }

    /// Whether the participant takes part in the media of the call now.
    pub fn has_media(self) -> bool {
        matches!(
            self,
            ParticipantState::Connected | ParticipantState::EarlyMedia
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParticipantEvent as E;
    use ParticipantState as S;

    fn expected(state: S, event: E) -> Option<S> {
        Some(match (state, event) {
            (S::Idle, E::Join) | (S::EarlyMedia, E::Join) => S::Connecting,
            (S::Idle, E::EnterLobby) => S::InLobby,
            (S::InLobby, E::Admit) => S::Connecting,
            (S::Idle, E::EarlyMedia) => S::EarlyMedia,
            (S::Connecting, E::MediaConnected) => S::Connected,
            (S::Connected, E::MediaLost) => S::Connecting,
            (S::Connected, E::Hold) => S::OnHold,
            (S::OnHold, E::Unhold) => S::Connected,
            (S::Disconnected, E::Leave) => return None,
            (_, E::Leave) => S::Disconnected,
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
        assert_eq!(allowed, 15);
        assert!(S::Disconnected.on(E::Join).is_err());
    }
}
