//! Getting one synthetic participant into the call: a token, the signaling WebSocket, the
//! group call, an offer with confab's media layout and the service's answer. The signaling
//! connection then stays open (and answered) until the run ends.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use confab_signaling::client::{ClientConfig, SignalingClient};
use confab_signaling::protocol::{ClientMessage, ServerMessage};
use confab_signaling::{Identity, Scope, TokenKey};
use confab_transport::peer::{MediaLayout, Peer, PeerOptions};
use tokio::sync::watch;

use crate::participant::{Joining, Role};

/// How participants get their tokens.
#[derive(Debug, Clone)]
pub(crate) enum Tokens {
    /// Minted here with the service's signing key (its data directory on this machine).
    Key(TokenKey),
    /// Issued by the service's admin API (`POST /v1/tokens`), for a service elsewhere.
    AdminKey(String),
}

#[allow(clippy::disallowed_methods)] // tokens carry wall-clock expiry
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Tokens {
    fn token(&self, base: &str, identity: &Identity) -> Result<String, String> {
        match self {
            Tokens::Key(key) => key
                .mint(identity, &[Scope::Voip], unix_now(), 6 * 3600)
                .map_err(|e| e.to_string()),
            Tokens::AdminKey(admin) => {
                let body = format!(
                    "{{\"identity\":\"{identity}\",\"scopes\":[\"voip\"],\"ttl_secs\":21600}}"
                );
                let reply = post(base, "/v1/tokens", admin, &body)?;
                let value: serde_json::Value =
                    serde_json::from_str(&reply).map_err(|e| format!("{e}: {reply}"))?;
                value["token"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("no token in {reply}"))
            }
        }
    }
}

/// One plain-HTTP POST with the admin key (the load tool needs nothing more).
fn post(base: &str, path: &str, admin: &str, body: &str) -> Result<String, String> {
    let host = base
        .strip_prefix("http://")
        .ok_or("the admin API needs an http:// URL")?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(host).map_err(|e| format!("{host}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "{path}: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    Ok(body.to_string())
}

/// The local address that reaches the service (the host candidate offered).
pub(crate) fn local_ip_towards(base: &str) -> IpAddr {
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or(base)
        .trim_end_matches('/')
        .to_string();
    let probe = || -> std::io::Result<IpAddr> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.connect(host.as_str())?;
        Ok(socket.local_addr()?.ip())
    };
    probe().unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// What a participant is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) index: usize,
    pub(crate) role: Role,
    pub(crate) decode: bool,
    pub(crate) camera: bool,
    pub(crate) group: uuid::Uuid,
}

/// Joins the call; returns the negotiated participant for a media thread. The signaling
/// connection is kept by a task until `end` turns true, then the participant leaves.
#[allow(clippy::disallowed_methods)] // a driver: it reads the clock
pub(crate) async fn join(
    base: String,
    tokens: Tokens,
    ip: IpAddr,
    plan: Plan,
    end: watch::Receiver<bool>,
) -> Result<Joining, String> {
    let began = Instant::now();
    let identity = Identity::new_user();
    let token = {
        let (base, identity) = (base.clone(), identity.clone());
        tokio::task::spawn_blocking(move || tokens.token(&base, &identity))
            .await
            .map_err(|e| e.to_string())??
    };
    let ws = format!(
        "{}/ws",
        base.trim_end_matches('/')
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1)
    );
    let mut config = ClientConfig::new(ws, identity, token);
    config.display_name = Some(format!("load-{}", plan.index));
    eprintln!("token {:?}", began.elapsed());
    let (client, mut events) = SignalingClient::connect(&config)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("ws {:?}", began.elapsed());
    let created = client
        .request(ClientMessage::CreateCall {
            group_id: Some(plan.group),
            lobby: false,
            video: plan.camera,
        })
        .await
        .map_err(|e| e.to_string())?;
    let ServerMessage::Ok {
        call_id: Some(call_id),
        ..
    } = created
    else {
        return Err(format!("join refused: {created:?}"));
    };
    eprintln!("create_call {:?}", began.elapsed());
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|e| e.to_string())?;
    let layout = MediaLayout {
        video_slots: 1,
        unmixed_slots: 0,
    };
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let (mut peer, offer) = Peer::offer(local, layout, PeerOptions::default(), Instant::now())
        .map_err(|e| e.to_string())?;
    eprintln!("offer_built {:?}", began.elapsed());
    client
        .request(ClientMessage::SdpOffer {
            call_id,
            sdp: offer,
        })
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("offer_sent {:?}", began.elapsed());
    let answer = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(message) = events.recv().await {
            if let ServerMessage::SdpAnswer { sdp, .. } = message {
                return Some(sdp);
            }
        }
        None
    })
    .await
    .map_err(|_| "no SDP answer within 15 s".to_string())?
    .ok_or("signaling closed before the answer")?;
    eprintln!("answer {:?}", began.elapsed());
    peer.accept_answer(&answer, Instant::now())
        .map_err(|e| e.to_string())?;
    // Keep the connection: drain its events until the run ends, then leave.
    let mut end = end;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                message = events.recv() => if message.is_none() { break },
                changed = end.changed() => {
                    if changed.is_err() || *end.borrow() {
                        let _ = client.request(ClientMessage::Leave { call_id }).await;
                        client.close().await;
                        break;
                    }
                }
            }
        }
    });
    Ok(Joining {
        index: plan.index,
        role: plan.role,
        decode: plan.decode,
        camera: plan.camera,
        peer,
        socket,
        began,
        answered: Instant::now(),
    })
}
