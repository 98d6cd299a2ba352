//! Style backend: a pool of Stable Diffusion servers that speak the AUTOMATIC1111 web
//! API (A1111, Forge, SD.Next, or `articket worker`).
//!
//! - [`api`]: the request and response types of the endpoints we use.
//! - [`client`]: one server's HTTP calls, failures sorted into retryable or not.
//! - [`pool`]: the protocol on the shared pool (crates/pool): health probes, img2img
//!   with progress, captions by interrogate.
//! - `fake` (feature `fake`): a protocol-faithful fake server with fault injection.

pub mod api;
pub mod client;
#[cfg(feature = "fake")]
pub mod fake;
pub mod pool;

pub use pool::{A1111Pool, PoolStatus, A1111};
