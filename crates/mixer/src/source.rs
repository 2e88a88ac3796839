//! Who the mixer hears: sources are identified by a small number the caller chooses.

use std::fmt;

/// One participant's audio in a room (the call service maps its participant ids to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}
