//! Style backend: a pool of ComfyUI servers, each painter running the operator's own
//! workflow (ComfyUI's API format) with the visitor's photo, prompts and seed filled in.
//!
//! - [`workflow`]: loading and checking workflows, and filling their placeholders.
//! - [`client`]: one server's calls (upload, prompt, socket, history, view, interrupt).
//! - [`pool`]: the protocol on the shared pool (crates/pool): health with the workflows
//!   checked against each server, and one job from upload to picture.
//! - `fake` (feature `fake`): a protocol-faithful fake ComfyUI with fault injection.
//!
//! The settings are `[ai]`'s, shared with the A1111 pool (servers, dispatch, time
//! limits, each painter's prompts, steps, cfg and strength), plus `workflow`.

pub mod client;
#[cfg(feature = "fake")]
pub mod fake;
pub mod pool;
pub mod workflow;

pub use pool::{Comfy, ComfyPool};
pub use workflow::{Workflow, WorkflowError};
