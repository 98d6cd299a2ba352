//! The skeleton every painting-server backend shares (AUTOMATIC1111-style servers,
//! ComfyUI, and the settings and seeds of our own engine), so each kind is only a
//! protocol adapter:
//!
//! - [`settings`]: the `[ai]` settings ([`AiSettings`]): servers, dispatch, captions,
//!   time limits and each painter's generation settings.
//! - [`dispatch`]: the fair queue in front of a set of servers.
//! - [`skeleton`]: the pool itself ([`Pool`]): captions, health probes, errors sorted
//!   into retry or not, and the [`articket_style::Stylizer`]; a server kind implements
//!   [`Protocol`].
//! - [`http`]: what every server client shares: [`CallError`], an endpoint with
//!   credentials, the HTTP client, the BLIP captioning server.
//! - [`caption`], [`seed`], [`photo`]: one caption cache, one seed rule, one output size.
//! - [`mask`]: masked img2img from the matte: the person painted gently, the
//!   background freely.

pub mod caption;
pub mod dispatch;
pub mod http;
pub mod mask;
pub mod photo;
pub mod seed;
pub mod settings;
pub mod skeleton;

pub use dispatch::{Dispatcher, PoolStatus, ServerStatus, Slot};
pub use http::CallError;
pub use settings::{
    AiSettings, Captioner, ControlNetUnit, Dispatch, GenerationSettings, SeedPolicy, ServerSettings,
};
pub use skeleton::{Painting, Pool, PoolCore, Probe, Protocol};
