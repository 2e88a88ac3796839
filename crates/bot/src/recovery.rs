//! Surviving network drops: when the signaling link or the media of a call is lost, and
//! when to offer a new media connection or give the call up. No I/O and no clock of its
//! own: the call task feeds it what happened and when, and does what it says.

use std::time::{Duration, Instant};

use crate::CallEvent;

/// How long a new media connection gets to come up before another is offered (ICE gives
/// up on a candidate after 1.4 s, DTLS needs a few round trips more).
pub(crate) const RESTART_WAIT: Duration = Duration::from_millis(2_500);

/// How soon a replacement that failed (ICE gave up) is followed by another.
pub(crate) const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(250);

/// What the call task must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Offer a new media connection.
    Offer,
    /// The drop lasted too long: the call is lost.
    GiveUp,
}

/// A call's view of its connections.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// How long a drop may last; `None`: drops are not recovered from.
    limit: Option<Duration>,
    link_up: bool,
    media_up: bool,
    /// Media connected at least once (before that, setting up is not recovering).
    ever_connected: bool,
    /// When the current drop began (`Some` while recovering).
    since: Option<Instant>,
    /// When to offer the next media connection (`Some` while media is being replaced).
    next_offer: Option<Instant>,
}

impl Recovery {
    pub(crate) fn new(limit: Option<Duration>) -> Recovery {
        Recovery {
            limit,
            link_up: true,
            media_up: false,
            ever_connected: false,
            since: None,
            next_offer: None,
        }
    }

    /// Whether a drop is being recovered from.
    pub(crate) fn recovering(&self) -> bool {
        self.since.is_some()
    }

    /// The media connection came up: the first time, or after a replacement.
    pub(crate) fn media_connected(&mut self) -> Option<CallEvent> {
        self.media_up = true;
        self.next_offer = None;
        if !std::mem::replace(&mut self.ever_connected, true) {
            return Some(CallEvent::MediaConnected);
        }
        self.settle()
    }

    /// Media stopped arriving (`failed`: its connection gave up). A replacement already
    /// on its way is left to its own timer, unless it failed: then the next is offered
    /// soon (the network may be back by then).
    pub(crate) fn media_lost(&mut self, now: Instant, failed: bool) -> Option<CallEvent> {
        if self.limit.is_none() || !self.ever_connected {
            return None;
        }
        if let Some(next) = self.next_offer {
            if failed {
                self.next_offer = Some(next.min(now + RETRY_AFTER_FAILURE));
            }
            return None;
        }
        self.media_up = false;
        self.next_offer = Some(now);
        self.begin(now)
    }

    /// The signaling connection dropped (it is being re-opened).
    pub(crate) fn link_down(&mut self, now: Instant) -> Option<CallEvent> {
        self.link_up = false;
        self.limit?;
        self.begin(now)
    }

    /// The signaling connection is back, with this call in it.
    pub(crate) fn link_up(&mut self) -> Option<CallEvent> {
        self.link_up = true;
        self.settle()
    }

    /// The call was joined afresh (a new instance on a live node) at `now`: the link is up,
    /// the old media connection leads nowhere, offer a new one at once.
    pub(crate) fn rejoined(&mut self, now: Instant) {
        self.link_up = true;
        self.media_up = false;
        if self.since.is_none() {
            self.since = Some(now);
        }
        self.next_offer = Some(now);
    }

    /// What to do at `now`.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Step> {
        let since = self.since?;
        if self.limit.is_some_and(|limit| now >= since + limit) {
            return Some(Step::GiveUp);
        }
        // Offers travel on the signaling link: none while it is down.
        if self.link_up && self.next_offer.is_some_and(|t| now >= t) {
            self.next_offer = Some(now + RESTART_WAIT);
            return Some(Step::Offer);
        }
        None
    }

    /// When [`poll`](Recovery::poll) has something to do next.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let since = self.since?;
        let give_up = self.limit.map(|limit| since + limit);
        let offer = self.next_offer.filter(|_| self.link_up);
        [give_up, offer].into_iter().flatten().min()
    }

    fn begin(&mut self, now: Instant) -> Option<CallEvent> {
        if self.since.is_some() {
            return None;
        }
        self.since = Some(now);
        Some(CallEvent::Reconnecting)
    }

    fn settle(&mut self) -> Option<CallEvent> {
        if self.since.is_some() && self.link_up && self.media_up {
            self.since = None;
            return Some(CallEvent::Reconnected);
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::disallowed_methods)] // a test's clock starts anywhere
mod tests {
    use super::*;

    fn at(origin: Instant, ms: u64) -> Instant {
        origin + Duration::from_millis(ms)
    }

    #[test]
    fn lost_media_is_replaced_until_it_connects() {
        let t0 = Instant::now();
        let mut r = Recovery::new(Some(Duration::from_secs(30)));
        assert_eq!(r.media_connected(), Some(CallEvent::MediaConnected));
        assert_eq!(r.poll(at(t0, 100)), None);
        assert_eq!(
            r.media_lost(at(t0, 1_000), false),
            Some(CallEvent::Reconnecting)
        );
        assert_eq!(r.poll(at(t0, 1_000)), Some(Step::Offer));
        // Stalls reported while a replacement is on its way change nothing.
        assert_eq!(r.media_lost(at(t0, 2_000), false), None);
        assert_eq!(r.poll(at(t0, 2_000)), None);
        // That one did not come up: another.
        assert_eq!(r.deadline(), Some(at(t0, 3_500)));
        assert_eq!(r.poll(at(t0, 3_500)), Some(Step::Offer));
        // Its ICE gave up: the next one follows soon, not after the full wait.
        assert_eq!(r.media_lost(at(t0, 4_900), true), None);
        assert_eq!(r.deadline(), Some(at(t0, 5_150)));
        assert_eq!(r.poll(at(t0, 5_150)), Some(Step::Offer));
        assert_eq!(r.media_connected(), Some(CallEvent::Reconnected));
        assert!(!r.recovering());
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn a_dropped_link_holds_offers_back_and_both_must_return() {
        let t0 = Instant::now();
        let mut r = Recovery::new(Some(Duration::from_secs(30)));
        r.media_connected();
        assert_eq!(r.link_down(t0), Some(CallEvent::Reconnecting));
        assert_eq!(
            r.media_lost(at(t0, 500), false),
            None,
            "already reconnecting"
        );
        assert_eq!(r.poll(at(t0, 600)), None, "no offers without signaling");
        assert_eq!(r.link_up(), None, "media is still down");
        assert_eq!(r.poll(at(t0, 700)), Some(Step::Offer));
        assert_eq!(r.media_connected(), Some(CallEvent::Reconnected));
        // Only the link: media never left.
        assert_eq!(r.link_down(at(t0, 5_000)), Some(CallEvent::Reconnecting));
        assert_eq!(r.link_up(), Some(CallEvent::Reconnected));
    }

    #[test]
    fn a_drop_longer_than_the_limit_gives_the_call_up() {
        let t0 = Instant::now();
        let mut r = Recovery::new(Some(Duration::from_secs(10)));
        r.media_connected();
        r.media_lost(t0, false);
        let mut offers = 0;
        let mut now = t0;
        loop {
            match r.poll(now) {
                Some(Step::Offer) => offers += 1,
                Some(Step::GiveUp) => break,
                None => now = r.deadline().unwrap(),
            }
        }
        assert_eq!(now, at(t0, 10_000));
        assert_eq!(offers, 4, "every 2.5 s until the limit");
    }

    #[test]
    fn without_a_limit_nothing_is_recovered() {
        let t0 = Instant::now();
        let mut r = Recovery::new(None);
        assert_eq!(r.media_lost(t0, false), None, "not connected yet");
        r.media_connected();
        assert_eq!(r.media_lost(t0, true), None);
        assert_eq!(r.link_down(t0), None);
        assert_eq!(r.poll(at(t0, 60_000)), None);
    }

    #[test]
    fn a_call_joined_afresh_offers_media_at_once() {
        let t0 = Instant::now();
        let mut r = Recovery::new(Some(Duration::from_secs(30)));
        assert_eq!(r.media_connected(), Some(CallEvent::MediaConnected));
        assert_eq!(r.link_down(t0), Some(CallEvent::Reconnecting));
        // The link came back, but the call was gone: joined afresh under a new id.
        r.rejoined(at(t0, 4_000));
        assert_eq!(r.deadline(), Some(at(t0, 4_000)));
        assert_eq!(r.poll(at(t0, 4_000)), Some(Step::Offer));
        assert_eq!(r.media_connected(), Some(CallEvent::Reconnected));
        assert!(!r.recovering());
    }
}
