//! The gateway's driver: rsipstack's endpoint on the SIP port, a loop that turns incoming
//! INVITEs, dialog events and the call service's [`PhoneCommand`]s into SIP and into
//! [`GatewayRequest`]s for the service. The loop never waits on the network: every SIP
//! operation that takes time runs in a small task that reports back.

mod dialogs;
mod inbound;
mod outbound;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use confab_signaling::protocol::{CallId, ParticipantId};
use confab_signaling::{EndReason, Identity, PhoneCommand, PhoneRefusal, PhoneRoute};
use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::{DialogState, DialogStateSender};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, TransportLayer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Checked, SipConfig, SipConfigError};
use crate::dtmf::Digit;
use crate::leg::{Latching, LegConfig};
use crate::metrics::{Inspector, SipMetrics};
use crate::sdp::{self, LocalAudio, Negotiated};
use crate::sockets::{RtpPorts, ScreenedSocket, route_address};

/// What the gateway asks of the call service.
#[derive(Debug)]
#[non_exhaustive]
pub enum GatewayRequest {
    /// A phone calls in; answer with [`ToGateway::CallIn`] carrying the same `token`.
    CallIn {
        /// Names this request in the answer.
        token: u64,
        /// The caller (`4:+…`, or `4:anonymous`).
        from: Identity,
        /// The caller's display name, if the INVITE had one.
        display_name: String,
        /// Where the call goes.
        route: PhoneRoute,
    },
    /// A dialled phone rings (180), or plays early media (183 with SDP).
    Progress {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// Early media (its audio is in the call from now on).
        early_media: bool,
    },
    /// A dialled phone answered.
    Answered {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
    },
    /// The phone's side ended (BYE, CANCEL, a final error, a timeout).
    Ended {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// Why (SIP status as subcode where there is one).
        reason: EndReason,
    },
    /// The phone held or resumed the call (re-INVITE).
    Hold {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// Held now.
        on: bool,
    },
    /// The phone pressed a key (SIP INFO; RFC 4733 keys are read by the media plane).
    Dtmf {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// The key.
        digit: Digit,
        /// How long, in milliseconds.
        duration_ms: u32,
    },
    /// The phone's RTP: the media plane takes the socket and runs the leg.
    AttachMedia {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// Socket and settings.
        media: PhoneMedia,
    },
    /// A new offer/answer (re-INVITE): new address, codec or direction.
    UpdateMedia {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// What was agreed.
        negotiated: Negotiated,
    },
    /// Play keys to the phone in its RTP (RFC 4733).
    SendDtmf {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// The keys.
        digits: Vec<Digit>,
    },
}

/// What the call service tells the gateway, in order on one channel: the answer to a phone
/// calling in always comes before any command about that phone's participant.
#[derive(Debug)]
#[non_exhaustive]
pub enum ToGateway {
    /// What the call wants of a phone.
    Command(PhoneCommand),
    /// Where a phone's call went: the call and the phone's participant, or why not.
    CallIn {
        /// The request's token.
        token: u64,
        /// The answer.
        result: Result<(CallId, ParticipantId), PhoneRefusal>,
    },
}

/// A phone leg's RTP, handed to the media plane.
#[derive(Debug)]
pub struct PhoneMedia {
    /// The leg's own UDP socket (non-blocking).
    pub socket: std::net::UdpSocket,
    /// How the leg runs.
    pub config: LegConfig,
}

/// The gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] SipConfigError),
    /// The SIP port (or the trunk's name) failed.
    #[error("SIP {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The SIP stack refused to start.
    #[error("SIP stack: {0}")]
    Stack(String),
}

/// A running gateway.
#[derive(Debug)]
pub struct SipGateway {
    local_addr: SocketAddr,
    metrics: Arc<SipMetrics>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl SipGateway {
    /// Where SIP over UDP listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The gateway's counters.
    pub fn metrics(&self) -> Arc<SipMetrics> {
        self.metrics.clone()
    }

    /// Stops the gateway (calls still up are not hung up: end them first).
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

/// Which way a leg was set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// The phone called in; `answer_now` for a group (else the callee answers later).
    Inbound { answer_now: bool },
    /// Confab dialled the phone.
    Outbound,
}

/// One phone leg: its dialog and where it stands.
struct Leg {
    dialog: InviteDialog,
    way: Way,
    participant: Option<(CallId, ParticipantId)>,
    /// The RTP socket, until the media plane takes it.
    socket: Option<std::net::UdpSocket>,
    local_rtp: SocketAddr,
    negotiated: Option<Negotiated>,
    session_id: u64,
    sdp_version: u64,
    answered: bool,
    on_hold: bool,
    /// Confab is ending it (BYE, CANCEL or a final error sent): what comes back is quiet.
    ending: bool,
    /// Its media was handed to the media plane (it counts in the legs gauge).
    attached: bool,
}

impl std::fmt::Debug for Leg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leg")
            .field("way", &self.way)
            .field("participant", &self.participant)
            .field("answered", &self.answered)
            .finish_non_exhaustive()
    }
}

/// What the gateway's own tasks report back to its loop.
#[derive(Debug)]
enum Internal {
    DialDone {
        sip_call: String,
        status: Result<u16, String>,
    },
}

/// Channels bounded like everything else in the service.
const INTERNAL_QUEUE: usize = 1024;

struct Gateway {
    config: SipConfig,
    checked: Checked,
    dialogs: Arc<DialogLayer>,
    states: DialogStateSender,
    contact: rsipstack::sip::Uri,
    advertised: IpAddr,
    trunk: Option<(SipAddr, Vec<SocketAddr>)>,
    service: mpsc::Sender<GatewayRequest>,
    internal: mpsc::Sender<Internal>,
    legs: HashMap<String, Leg>,
    by_participant: HashMap<(CallId, ParticipantId), String>,
    /// Phones calling in whose answer from the service is awaited, by token.
    calling_in: HashMap<u64, String>,
    next_token: u64,
    ports: RtpPorts,
    metrics: Arc<SipMetrics>,
}

/// Starts the gateway on the current tokio runtime. It asks the service through `service`
/// and takes the service's commands from `commands`.
pub async fn start(
    config: SipConfig,
    service: mpsc::Sender<GatewayRequest>,
    commands: mpsc::Receiver<ToGateway>,
) -> Result<SipGateway, GatewayError> {
    let checked = config.check()?;
    let bind = config.udp.ok_or(GatewayError::Io {
        what: "address",
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no sip.udp address"),
    })?;
    let io = |what| move |source| GatewayError::Io { what, source };
    let trunk = match &config.trunk {
        Some(t) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host(t.address.as_str())
                .await
                .map_err(io("trunk address"))?
                .collect();
            let first = *addrs.first().ok_or(GatewayError::Io {
                what: "trunk address",
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            })?;
            let target = SipAddr {
                r#type: Some(rsipstack::sip::Transport::Udp),
                addr: first.into(),
            };
            Some((target, addrs))
        }
        None => None,
    };
    let metrics = Arc::new(SipMetrics::default());
    let cancel = CancellationToken::new();
    let udp = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(io("UDP bind"))?;
    let local_addr = udp.local_addr().map_err(io("UDP bind"))?;
    let toward = trunk
        .as_ref()
        .map_or(SocketAddr::from(([127, 0, 0, 1], 5060)), |(_, a)| a[0]);
    let advertised = config
        .public_ip
        .unwrap_or_else(|| route_address(local_addr.ip(), toward));
    let external =
        (advertised != local_addr.ip()).then(|| SocketAddr::new(advertised, local_addr.port()));
    let transport = TransportLayer::new(cancel.child_token());
    let screened: Arc<dyn rsipstack::platform::net::UdpSocket> = Arc::new(ScreenedSocket {
        inner: udp,
        metrics: metrics.clone(),
    });
    let connection = UdpConnection::from_socket(screened, external, Some(cancel.child_token()))
        .await
        .map_err(|e| GatewayError::Stack(e.to_string()))?;
    transport.add_transport(connection.into());
    if let Some(tcp) = config.tcp {
        let listener = rsipstack::transport::tcp_listener::TcpListenerConnection::new(
            tcp,
            external.map(|e| SocketAddr::new(e.ip(), tcp.port())),
        )
        .await
        .map_err(|e| GatewayError::Stack(e.to_string()))?;
        transport.add_transport(listener.into());
    }
    let endpoint = rsipstack::EndpointBuilder::new()
        .with_transport_layer(transport)
        .with_cancel_token(cancel.clone())
        .with_user_agent(concat!("confab/", env!("CARGO_PKG_VERSION")))
        .with_inspector(Box::new(Inspector(metrics.clone())))
        .build();
    let incoming = endpoint
        .incoming_transactions()
        .map_err(|e| GatewayError::Stack(e.to_string()))?;
    let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
    let (states, state_rx) = dialogs.new_dialog_state_channel();
    let contact: rsipstack::sip::Uri = format!(
        "sip:confab@{}",
        SocketAddr::new(advertised, local_addr.port())
    )
    .as_str()
    .try_into()
    .map_err(|e: rsipstack::sip::Error| GatewayError::Stack(e.to_string()))?;
    let (internal, internal_rx) = mpsc::channel(INTERNAL_QUEUE);
    let ports = RtpPorts::new(local_addr.ip(), config.rtp_ports);
    let gateway = Gateway {
        config,
        checked,
        dialogs,
        states,
        contact,
        advertised,
        trunk,
        service,
        internal,
        legs: HashMap::new(),
        by_participant: HashMap::new(),
        calling_in: HashMap::new(),
        next_token: 1,
        ports,
        metrics: metrics.clone(),
    };
    let stack = endpoint.inner.clone();
    let stop = cancel.clone();
    let task = tokio::spawn(async move {
        let serve = tokio::spawn(async move {
            if let Err(e) = stack.serve().await {
                tracing::error!("SIP stack stopped: {e}");
            }
        });
        gateway
            .run(incoming, state_rx, commands, internal_rx, stop)
            .await;
        serve.abort();
        drop(endpoint);
    });
    tracing::info!(%local_addr, %advertised, "SIP gateway listening");
    Ok(SipGateway {
        local_addr,
        metrics,
        cancel,
        task,
    })
}

impl Gateway {
    async fn run(
        mut self,
        mut incoming: rsipstack::transaction::TransactionReceiver,
        mut states: rsipstack::dialog::dialog::DialogStateReceiver,
        mut commands: mpsc::Receiver<ToGateway>,
        mut internal: mpsc::Receiver<Internal>,
        stop: CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some(tx) = incoming.recv() => self.transaction(tx),
                Some(state) = states.recv() => self.dialog_state(state),
                Some(message) = commands.recv() => match message {
                    ToGateway::Command(command) => self.command(command),
                    ToGateway::CallIn { token, result } => {
                        if let Some(sip_call) = self.calling_in.remove(&token) {
                            self.call_in_done(&sip_call, result);
                        }
                    }
                },
                Some(report) = internal.recv() => self.report(report),
                else => break,
            }
        }
    }

    /// Hands a request to the call service without blocking the loop.
    fn tell(&self, request: GatewayRequest) {
        match self.service.try_send(request) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(request)) => {
                let service = self.service.clone();
                tokio::spawn(async move {
                    let _ = service.send(request).await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("call service gone: gateway request dropped");
            }
        }
    }

    /// Reports from the gateway's own tasks.
    fn report(&mut self, report: Internal) {
        match report {
            Internal::DialDone { sip_call, status } => self.dial_done(&sip_call, status),
        }
    }

    /// A new transaction outside any dialog we answer ourselves; in-dialog requests go to
    /// their dialog.
    fn transaction(&mut self, mut tx: Transaction) {
        use rsipstack::sip::{HeadersExt, Method, StatusCode};
        let in_dialog = tx
            .original
            .to_header()
            .ok()
            .and_then(|t| t.tag().ok().flatten())
            .is_some();
        if in_dialog {
            match self.dialogs.match_dialog(&tx) {
                Some(mut dialog) => {
                    tokio::spawn(async move {
                        if let Err(e) = dialog.handle(&mut tx).await {
                            tracing::debug!("in-dialog request: {e}");
                        }
                    });
                }
                None => {
                    tokio::spawn(async move {
                        let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
                    });
                }
            }
            return;
        }
        match tx.original.method {
            Method::Invite => self.invite(tx),
            Method::Options => {
                tokio::spawn(async move {
                    let _ = tx.reply(StatusCode::OK).await;
                });
            }
            Method::Ack => {}
            _ => {
                tokio::spawn(async move {
                    let _ = tx.reply(StatusCode::MethodNotAllowed).await;
                });
            }
        }
    }

    /// The leg of a participant.
    fn leg_of(
        &mut self,
        call_id: CallId,
        participant: ParticipantId,
    ) -> Option<(String, &mut Leg)> {
        let sip_call = self.by_participant.get(&(call_id, participant))?.clone();
        let leg = self.legs.get_mut(&sip_call)?;
        Some((sip_call, leg))
    }

    /// Forgets a leg.
    fn forget(&mut self, sip_call: &str) {
        if let Some(leg) = self.legs.remove(sip_call) {
            if let Some(key) = leg.participant {
                self.by_participant.remove(&key);
            }
            if leg.attached {
                self.metrics
                    .legs
                    .fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |n| Some(n.saturating_sub(1)),
                    )
                    .ok();
            }
            self.dialogs.remove_dialog(&leg.dialog.id());
        }
    }

    /// Our SDP for a leg (a new version each time).
    fn local_sdp(leg: &mut Leg) -> LocalAudio {
        leg.sdp_version += 1;
        LocalAudio {
            addr: leg.local_rtp,
            session_id: leg.session_id,
            version: leg.sdp_version,
        }
    }

    /// The leg's RTP settings once offer and answer agree.
    fn leg_config(&self, negotiated: Negotiated) -> LegConfig {
        let random = uuid::Uuid::new_v4().as_u128();
        LegConfig {
            negotiated,
            ssrc: random as u32,
            initial_seq: (random >> 32) as u16,
            initial_timestamp: (random >> 48) as u32,
            inactivity: Duration::from_secs(self.config.rtp_timeout_secs.max(1)),
            latching: Latching::FirstSource,
        }
    }

    /// Gives the leg's socket to the media plane.
    fn attach(&mut self, sip_call: &str, negotiated: Negotiated) {
        let config = self.leg_config(negotiated);
        let Some(leg) = self.legs.get_mut(sip_call) else {
            return;
        };
        leg.negotiated = Some(negotiated);
        let (Some((call_id, participant)), Some(socket)) = (leg.participant, leg.socket.take())
        else {
            return;
        };
        leg.attached = true;
        self.metrics
            .legs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.metrics
            .legs_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tell(GatewayRequest::AttachMedia {
            call_id,
            participant,
            media: PhoneMedia { socket, config },
        });
    }

    /// What the service asks of phones.
    fn command(&mut self, command: PhoneCommand) {
        match command {
            PhoneCommand::Dial {
                call_id,
                participant,
                number,
                caller,
                caller_name,
            } => self.dial(call_id, participant, &number, &caller, &caller_name),
            PhoneCommand::Answer {
                call_id,
                participant,
            } => self.answer_inbound(call_id, participant),
            PhoneCommand::HangUp {
                call_id,
                participant,
                reason,
            } => self.hang_up(call_id, participant, &reason),
            PhoneCommand::SendDtmf {
                call_id,
                participant,
                digits,
            } => self.send_dtmf(call_id, participant, &digits),
            _ => {}
        }
    }

    fn dialog_state(&mut self, state: DialogState) {
        dialogs::handle(self, state);
    }
}

/// The SIP Call-ID of a dialog (legs are keyed by it).
fn sip_call_of(id: &DialogId) -> String {
    id.call_id.clone()
}

/// A body as SDP text.
fn body_text(body: &[u8]) -> Option<String> {
    (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned())
}

/// `Content-Type: application/sdp`.
fn sdp_header() -> Vec<rsipstack::sip::Header> {
    vec![rsipstack::sip::Header::ContentType(
        "application/sdp".into(),
    )]
}

/// Reads an SDP answer or offer, logging what was wrong.
fn read_sdp(text: &str) -> Result<sdp::RemoteAudio, sdp::SdpError> {
    sdp::parse(text).inspect_err(|e| tracing::info!("unusable SDP: {e}"))
}
