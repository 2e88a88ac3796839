//! How the gateway is set up: where it listens, the trunk it dials out through, who may
//! call in, and where calls to each number (DID) go.

use std::net::{IpAddr, SocketAddr};

use confab_signaling::{Identity, PhoneRoute};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The SIP gateway's settings (the `sip` object of the service's config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// SIP over UDP listens here (e.g. `0.0.0.0:5060`); the gateway is off without it.
    pub udp: Option<SocketAddr>,
    /// SIP over TCP listens here too, when set.
    pub tcp: Option<SocketAddr>,
    /// The address written into Contact headers and SDP, when the bound one is not what
    /// the trunk should reach (a wildcard bind, NAT).
    pub public_ip: Option<IpAddr>,
    /// Ports for phones' RTP, first and last; `[0, 0]` lets the system pick.
    pub rtp_ports: [u16; 2],
    /// The trunk calls are dialled out through (and which may always call in).
    pub trunk: Option<Trunk>,
    /// Sources (addresses or CIDR blocks, e.g. `203.0.113.0/24`) whose INVITEs are
    /// accepted; everyone else gets 403. The trunk's address is always allowed.
    pub allow: Vec<String>,
    /// Where calls to each number go.
    pub routes: Vec<DidRoute>,
    /// A phone that sends no RTP for this many seconds (while not on hold) is hung up.
    pub rtp_timeout_secs: u64,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            udp: None,
            tcp: None,
            public_ip: None,
            rtp_ports: [0, 0],
            trunk: None,
            allow: Vec::new(),
            routes: Vec::new(),
            rtp_timeout_secs: 30,
        }
    }
}

/// A SIP trunk (a carrier's or a PBX's SIP endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    /// Where to send INVITEs: `host:port` (resolved when the gateway starts).
    pub address: String,
    /// The domain in request URIs (`sip:+4930…@domain`); the address's host by default.
    #[serde(default)]
    pub domain: Option<String>,
    /// Digest username (also from `CONFAB_SIP_USERNAME`).
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password (also from `CONFAB_SIP_PASSWORD`).
    #[serde(default)]
    pub password: Option<String>,
    /// The number (E.164, `+…`) shown as caller id when someone who is not a phone dials
    /// out.
    #[serde(default)]
    pub caller_id: Option<String>,
}

/// One called number and where its calls go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidRoute {
    /// The number called, E.164 (`+4930…`); separators are ignored.
    pub number: String,
    /// Ring this identity (a 1:1 call from the phone)...
    #[serde(default)]
    pub identity: Option<Identity>,
    /// ...or join this group's call.
    #[serde(default)]
    pub group: Option<Uuid>,
}

/// A configuration the gateway cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SipConfigError {
    /// An allow-list entry is neither an address nor a CIDR block.
    #[error("sip.allow: {0:?} is not an address or CIDR block")]
    Allow(String),
    /// A route names both or neither of identity and group, or a bad number.
    #[error("sip.routes: {0}")]
    Route(String),
    /// The RTP port range is backwards, or only half zero.
    #[error("sip.rtp_ports: {0:?} is not a range")]
    Ports([u16; 2]),
}

/// An address block of the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressBlock {
    network: IpAddr,
    prefix: u8,
}

impl AddressBlock {
    /// Reads `192.0.2.7`, `192.0.2.0/24`, `2001:db8::/32`.
    pub fn parse(text: &str) -> Option<AddressBlock> {
        let (ip, prefix) = match text.trim().split_once('/') {
            Some((ip, prefix)) => (ip.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?),
            None => {
                let ip = text.trim().parse::<IpAddr>().ok()?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(AddressBlock {
            network: ip,
            prefix,
        })
    }

    /// Whether `ip` lies in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Digits of a telephone number as SIP carries it (`+49 30 555-0100`, `tel:+4930…`,
/// `0049…` stays as written): separators dropped; `None` when anything else is there.
pub fn number_digits(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text.strip_prefix("tel:").unwrap_or(text);
    let text = text.strip_prefix('+').unwrap_or(text);
    let mut digits = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    (!digits.is_empty() && digits.len() <= 32).then_some(digits)
}

/// The checked form of a [`SipConfig`]: blocks parsed, routes by digits.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Allowed sources.
    pub allow: Vec<AddressBlock>,
    /// Number digits and where they go.
    pub routes: Vec<(String, PhoneRoute)>,
}

impl SipConfig {
    /// Checks the settings and reads them into their working form.
    pub fn check(&self) -> Result<Checked, SipConfigError> {
        let allow = self
            .allow
            .iter()
            .map(|a| AddressBlock::parse(a).ok_or_else(|| SipConfigError::Allow(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut routes = Vec::new();
        for route in &self.routes {
            let digits = number_digits(&route.number).ok_or_else(|| {
                SipConfigError::Route(format!("{:?} is not a number", route.number))
            })?;
            let target = match (&route.identity, route.group) {
                (Some(identity), None) => PhoneRoute::Identity(identity.clone()),
                (None, Some(group)) => PhoneRoute::Group(group),
                _ => {
                    return Err(SipConfigError::Route(format!(
                        "{} needs exactly one of identity and group",
                        route.number
                    )));
                }
            };
            routes.push((digits, target));
        }
        let [first, last] = self.rtp_ports;
        if first > last || (first == 0) != (last == 0) {
            return Err(SipConfigError::Ports(self.rtp_ports));
        }
        Ok(Checked { allow, routes })
    }
}

impl Checked {
    /// Where a call to `called` (the request URI's user part) goes.
    pub fn route_for(&self, called: &str) -> Option<&PhoneRoute> {
        let digits = number_digits(called)?;
        self.routes
            .iter()
            .find(|(number, _)| *number == digits)
            .map(|(_, route)| route)
    }

    /// Whether `ip` may call in (the trunk's own addresses are passed as `trunk`).
    pub fn allows(&self, ip: IpAddr, trunk: &[SocketAddr]) -> bool {
        trunk.iter().any(|t| t.ip() == ip) || self.allow.iter().any(|b| b.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_blocks() {
        let lan = AddressBlock::parse("10.1.0.0/16").unwrap();
        assert!(lan.contains("10.1.200.3".parse().unwrap()));
        assert!(!lan.contains("10.2.0.1".parse().unwrap()));
        assert!(lan.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = AddressBlock::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all = AddressBlock::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("198.51.100.1".parse().unwrap()));
        let v6 = AddressBlock::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "pbx.example", "10.0.0.0/x", "::/129"] {
            assert!(AddressBlock::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn numbers_as_sip_writes_them() {
        assert_eq!(
            number_digits("+49 30 555-0100").as_deref(),
            Some("49305550100")
        );
        assert_eq!(
            number_digits("tel:+1(415)5550123").as_deref(),
            Some("14155550123")
        );
        assert_eq!(number_digits("0305550100").as_deref(), Some("0305550100"));
        assert_eq!(number_digits("sipp"), None);
        assert_eq!(number_digits(""), None);
        assert_eq!(number_digits("+"), None);
    }

    #[test]
    fn routes_and_allow_list_from_json() {
        let config: SipConfig = serde_json::from_str(
            r#"{"udp":"127.0.0.1:5060","allow":["192.0.2.0/24"],
                "trunk":{"address":"198.51.100.5:5060","username":"u","password":"p"},
                "routes":[{"number":"+49 30 5550100","group":"6a1f7a2e-8f7b-4b8e-9a53-3d1c1e2f4a5b"},
                          {"number":"+4930555 0101","identity":"28:reception"}]}"#,
        )
        .unwrap();
        let checked = config.check().unwrap();
        assert!(matches!(
            checked.route_for("+4930-5550100"),
            Some(PhoneRoute::Group(_))
        ));
        assert_eq!(
            checked.route_for("4930 5550101"),
            Some(&PhoneRoute::Identity("28:reception".parse().unwrap()))
        );
        assert_eq!(checked.route_for("+4930555"), None);
        let trunk: SocketAddr = "198.51.100.5:5060".parse().unwrap();
        assert!(checked.allows("192.0.2.9".parse().unwrap(), &[trunk]));
        assert!(checked.allows("198.51.100.5".parse().unwrap(), &[trunk]));
        assert!(!checked.allows("203.0.113.1".parse().unwrap(), &[trunk]));
    }

    #[test]
    fn bad_settings_are_refused() {
        let both: SipConfig = serde_json::from_str(
            r#"{"routes":[{"number":"+1555","identity":"28:x","group":"6a1f7a2e-8f7b-4b8e-9a53-3d1c1e2f4a5b"}]}"#,
        )
        .unwrap();
        assert!(matches!(both.check(), Err(SipConfigError::Route(_))));
        let neither: SipConfig =
            serde_json::from_str(r#"{"routes":[{"number":"+1555"}]}"#).unwrap();
        assert!(matches!(neither.check(), Err(SipConfigError::Route(_))));
        let word: SipConfig =
            serde_json::from_str(r#"{"routes":[{"number":"reception","identity":"28:x"}]}"#)
                .unwrap();
        assert!(matches!(word.check(), Err(SipConfigError::Route(_))));
        let allow = SipConfig {
            allow: vec!["everyone".into()],
            ..SipConfig::default()
        };
        assert!(matches!(allow.check(), Err(SipConfigError::Allow(_))));
        let ports = SipConfig {
            rtp_ports: [30_000, 20_000],
            ..SipConfig::default()
        };
        assert!(matches!(ports.check(), Err(SipConfigError::Ports(_))));
        assert!(serde_json::from_str::<SipConfig>(r#"{"udpp":"1.2.3.4:5"}"#).is_err());
    }
}
