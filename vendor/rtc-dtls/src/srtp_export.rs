//! confab patch: hands the DTLS-SRTP keying material (RFC 5764 4.2) to the embedding
//! application on the thread that completed the handshake.
//!
//! `rtc` derives its SRTP contexts from [`State::export_keying_material`] and keeps them
//! private. An application that protects some of its own RTP (confab's lean egress path for
//! the mixed audio, on an SSRC `rtc` never sends) needs the same keys. Every export under the
//! DTLS-SRTP label is parked here, on the current thread, until [`take`] collects it; the
//! application calls [`take`] right after each call into the connection that may complete a
//! handshake, so an export is always attributed to the connection that produced it.
//!
//! [`State::export_keying_material`]: crate::state::State::export_keying_material

use std::cell::RefCell;

use crate::extension::extension_use_srtp::SrtpProtectionProfile;
use crypto::SecretVec;

/// The label RFC 5764 exports SRTP keys under.
pub(crate) const DTLS_SRTP_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// One handshake's SRTP keying material.
#[derive(Debug, Clone)]
pub struct SrtpExport {
    /// client key | server key | client salt | server salt, as RFC 5764 lays them out.
    pub keying_material: SecretVec,
    /// Whether this side was the DTLS client (its keys are the client's half).
    pub is_client: bool,
    /// The SRTP protection profile the handshake negotiated.
    pub profile: SrtpProtectionProfile,
}

thread_local! {
    static PARKED: RefCell<Option<SrtpExport>> = const { RefCell::new(None) };
}

pub(crate) fn park(export: SrtpExport) {
    PARKED.with(|p| *p.borrow_mut() = Some(export));
}

/// The keying material of the latest handshake completed on this thread, if not taken yet.
pub fn take() -> Option<SrtpExport> {
    PARKED.with(|p| p.borrow_mut().take())
}
