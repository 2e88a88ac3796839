//! [`BotClient`]: a bot's signaling connection, and the calls it runs on it.

use confab_signaling::Identity;
use confab_signaling::client::{ClientConfig, SignalingClient};
use confab_signaling::protocol::{CallId, ClientMessage, ParticipantId, ServerMessage};
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;

use crate::router::Router;
use crate::{Bot, BotConfig, BotError, CallHandle, CallReport, call};

/// A call ringing for the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// The call.
    pub call_id: CallId,
    /// Who calls.
    pub from: Identity,
    /// Their name.
    pub from_name: String,
    /// Whether it is a group call (an invitation).
    pub group: bool,
    /// Whether the caller sends video.
    pub video: bool,
}

/// A call being run by a bot on its own task.
#[derive(Debug)]
pub struct CallTask {
    handle: CallHandle,
    join: tokio::task::JoinHandle<Result<CallReport, BotError>>,
}

impl CallTask {
    /// The call.
    pub fn call_id(&self) -> CallId {
        self.handle.call_id()
    }

    /// The bot's handle to the call (also given to every bot method).
    pub fn handle(&self) -> &CallHandle {
        &self.handle
    }

    /// Waits for the call to end; says why and how it went.
    pub async fn finished(self) -> Result<CallReport, BotError> {
        self.join
            .await
            .map_err(|e| BotError::Protocol(format!("call task: {e}")))?
    }
}

/// A bot signed in to a confab service: it joins, places and answers calls, each run by a
/// [`Bot`] on its own task with its own media thread.
#[derive(Debug)]
pub struct BotClient {
    client: SignalingClient,
    router: Router,
    incoming: Mutex<mpsc::Receiver<IncomingCall>>,
    config: BotConfig,
}

impl BotClient {
    /// Connects and signs in.
    pub async fn connect(config: BotConfig) -> Result<BotClient, BotError> {
        if !(1..=confab_transport::peer::MAX_VIDEO_SLOTS).contains(&config.video_slots)
            || config.unmixed_slots > confab_transport::peer::MAX_UNMIXED_SLOTS
        {
            return Err(BotError::Config(format!(
                "video slots 1..=10 and unmixed slots 0..=32, not {} and {}",
                config.video_slots, config.unmixed_slots
            )));
        }
        let mut signaling = ClientConfig::new(
            config.ws_url(),
            config.identity.clone(),
            config.token.clone(),
        );
        signaling.display_name = Some(config.display_name.clone());
        signaling.request_timeout = config.request_timeout;
        signaling.endpoint = Some(config.endpoint.clone());
        signaling.reconnect = config.reconnect;
        signaling.fallback_urls = config.fallback_ws_urls();
        signaling.ca_certificates = config.ca_certificates.clone();
        let (client, events) = SignalingClient::connect(&signaling).await?;
        let (router, incoming) = Router::start(events, client.link(), client.node_lost_signal());
        Ok(BotClient {
            client,
            router,
            incoming: Mutex::new(incoming),
            config,
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &BotConfig {
        &self.config
    }

    /// Joins the call of a group (starting it if nobody is in it yet).
    pub async fn join_group<B: Bot>(&self, group_id: Uuid, bot: B) -> Result<CallTask, BotError> {
        let reply = self
            .client
            .request(ClientMessage::CreateCall {
                group_id: Some(group_id),
                lobby: false,
                video: false,
            })
            .await?;
        let task = self.start(reply, bot).await?;
        self.router.set_group(task.handle.call_id(), group_id);
        Ok(task)
    }

    /// Joins a call by its id.
    pub async fn join_call<B: Bot>(&self, call_id: CallId, bot: B) -> Result<CallTask, BotError> {
        let reply = self
            .client
            .request(ClientMessage::JoinCall {
                call_id: Some(call_id),
                group_id: None,
                video: false,
            })
            .await?;
        self.start(reply, bot).await
    }

    /// Places a 1:1 call; media is set up at once, the other side hears it once it answers.
    pub async fn place_call<B: Bot>(&self, to: Identity, bot: B) -> Result<CallTask, BotError> {
        let reply = self
            .client
            .request(ClientMessage::PlaceCall {
                to: to.clone(),
                video: false,
                resumes: None,
            })
            .await?;
        let task = self.start(reply, bot).await?;
        // A phone's call lives with its SIP dialog on its node: not resumed elsewhere.
        if !to.is_phone() {
            self.router.set_one_to_one(task.handle.call_id(), to, true);
        }
        Ok(task)
    }

    /// The next call ringing for the bot (`None` once the connection is gone).
    pub async fn next_incoming(&self) -> Option<IncomingCall> {
        self.incoming.lock().await.recv().await
    }

    /// Answers a ringing call with `bot`.
    pub async fn answer<B: Bot>(&self, call: IncomingCall, bot: B) -> Result<CallTask, BotError> {
        let reply = self
            .client
            .request(ClientMessage::AcceptCall {
                call_id: call.call_id,
                video: false,
            })
            .await?;
        let task = self.start(reply, bot).await?;
        if !call.group && !call.from.is_phone() {
            self.router
                .set_one_to_one(task.handle.call_id(), call.from, false);
        }
        Ok(task)
    }

    /// Declines a ringing call.
    pub async fn reject(&self, call: &IncomingCall) -> Result<(), BotError> {
        self.client
            .request(ClientMessage::RejectCall {
                call_id: call.call_id,
            })
            .await?;
        Ok(())
    }

    /// Closes the connection (calls still running end as network-lost for the others).
    pub async fn close(&self) {
        self.client.close().await;
    }

    async fn start<B: Bot>(&self, reply: ServerMessage, bot: B) -> Result<CallTask, BotError> {
        let ServerMessage::Ok {
            call_id: Some(call_id),
            participant,
        } = reply
        else {
            return Err(BotError::Protocol(format!("unexpected answer {reply:?}")));
        };
        let me: Option<ParticipantId> = participant;
        let events = self.router.register(call_id);
        let prepared = match call::prepare(
            self.client.clone(),
            self.router.clone(),
            &self.config,
            call_id,
            me,
            events,
        )
        .await
        {
            Ok(prepared) => prepared,
            Err(e) => {
                self.router.unregister(call_id);
                let _ = self.client.send(ClientMessage::Leave { call_id }).await;
                return Err(e);
            }
        };
        let handle = prepared.handle.clone();
        let join = tokio::spawn(call::run(bot, prepared));
        Ok(CallTask { handle, join })
    }
}
