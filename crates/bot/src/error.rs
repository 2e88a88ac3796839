//! What can go wrong for a bot.

use confab_signaling::client::ClientError;

/// A call could not be set up or carried on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// Signaling failed or refused.
    #[error("signaling: {0}")]
    Signaling(#[from] ClientError),
    /// The peer connection could not be made.
    #[error("media: {0}")]
    Media(String),
    /// The server answered something unexpected.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A local resource (socket, thread) could not be had.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration cannot work.
    #[error("config: {0}")]
    Config(String),
}

/// Media a bot hands in could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The outgoing audio queue is full (the bot is more than the queue ahead).
    #[error("audio queue full")]
    QueueFull,
    /// The frame is not 20 ms of mono at the bot's rate.
    #[error("audio frame must be 20 ms mono at the bot's rate: {0}")]
    FrameShape(String),
    /// The call is over.
    #[error("the call has ended")]
    Ended,
}
