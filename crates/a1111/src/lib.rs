//! Style backend: a pool of Stable Diffusion servers that speak the AUTOMATIC1111 web
//! API (A1111, Forge, SD.Next, or `articket worker`).
//!
//! - [`api`]: the request and response types of the endpoints we use.
//! - [`client`]: one server's HTTP calls, failures sorted into retryable or not.
//! - [`dispatch`]: the fair queue in front of a set of servers, whatever their API
//!   (shared with the ComfyUI pool).
//! - [`pool`]: the A1111 servers behind that queue, health probes, captions, and the
//!   [`articket_style::Stylizer`] implementation.
//! - [`settings`]: the `[ai]` config, with defaults for an SD 1.5-class checkpoint.
//! - `fake` (feature `fake`): a protocol-faithful fake server with fault injection.

pub mod api;
pub mod client;
pub mod dispatch;
#[cfg(feature = "fake")]
pub mod fake;
pub mod pool;
pub mod settings;

pub use pool::{A1111Pool, PoolStatus};
pub use settings::{
    A1111Settings, Captioner, ControlNetUnit, Dispatch, GenerationSettings, SeedPolicy,
    ServerSettings,
};
