//! Style backend: a pool of ComfyUI servers, each painter running the operator's own
//! workflow (ComfyUI's API format) with the visitor's photo, prompts and seed filled in.
//!
//! - [`workflow`]: loading and checking workflows, and filling their placeholders.
//! - [`client`]: one server's calls (upload, prompt, socket, history, view, interrupt).
//! - [`pool`]: the shared fair queue (from `articket_a1111::dispatch`) in front of the
//!   servers, health, and the [`articket_style::Stylizer`] implementation.
//! - `fake` (feature `fake`): a protocol-faithful fake ComfyUI with fault injection.
//!
//! The settings are `[ai]`'s, shared with the A1111 pool (servers, dispatch, time
//! limits, each painter's prompts, steps, cfg and strength), plus `workflow`.

pub mod client;
#[cfg(feature = "fake")]
pub mod fake;
pub mod pool;
pub mod workflow;

pub use pool::ComfyPool;
pub use workflow::{Workflow, WorkflowError};
