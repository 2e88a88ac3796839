//! Roles in a call and the one place that decides who may do what.

use serde::{Deserialize, Serialize};

use crate::protocol::ErrorCode;

/// A participant's role in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Started the call (or holds an admin token): every right.
    Organizer,
    /// May share, mute others and run the lobby.
    Presenter,
    /// Takes part: talks, shares video, invites.
    Attendee,
    /// A bot without organizer rights: takes part like an attendee.
    Bot,
}

/// Everything a participant can ask for that touches others or the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Ring another identity into the call (or promote a 1:1 call by adding one).
    Invite,
    /// Dial a phone number into the call.
    DialOut,
    /// Share the screen.
    ShareScreen,
    /// Mute someone else.
    MuteOthers,
    /// Admit or reject someone waiting in the lobby.
    ManageLobby,
    /// Remove someone from the call.
    Remove,
    /// End the call for everyone.
    EndForAll,
}

impl Action {
    /// Every action, for exhaustive tests.
    pub const ALL: [Action; 7] = [
        Action::Invite,
        Action::DialOut,
        Action::ShareScreen,
        Action::MuteOthers,
        Action::ManageLobby,
        Action::Remove,
        Action::EndForAll,
    ];
}

/// Whether `role` may perform `action`. Every check in the service goes through here.
pub fn authorize(role: Role, action: Action) -> Result<(), ErrorCode> {
    use Action::*;
    use Role::*;
    let allowed = match action {
        Invite | ShareScreen => true,
        DialOut | MuteOthers | ManageLobby => matches!(role, Organizer | Presenter),
        Remove | EndForAll => role == Organizer,
    };
    if allowed {
        Ok(())
    } else {
        Err(ErrorCode::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_table() {
        let table = [
            (Role::Organizer, [true, true, true, true, true, true, true]),
            (
                Role::Presenter,
                [true, true, true, true, true, false, false],
            ),
            (
                Role::Attendee,
                [true, false, true, false, false, false, false],
            ),
            (Role::Bot, [true, false, true, false, false, false, false]),
        ];
        for (role, expected) in table {
            for (action, allowed) in Action::ALL.iter().zip(expected) {
                assert_eq!(
                    authorize(role, *action).is_ok(),
                    allowed,
                    "{role:?} {action:?}"
                );
            }
        }
    }
}
