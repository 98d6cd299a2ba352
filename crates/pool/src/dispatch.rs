//! The queue in front of a set of Stable Diffusion servers, whatever their API: one
//! FIFO across all visits, per-server slots, health, and each visit's place in line.
//! The A1111 pool and the ComfyUI pool both paint through it.
//!
//! Both kinds of server run one generation at a time (a global queue), so requests
//! piling up on a server only wait there, out of sight. The dispatcher keeps them here
//! instead: at most `max_in_flight` per server, each free slot going to the
//! least-loaded healthy server. Waiting jobs are grouped by visit, and visits take
//! turns (round robin in order of arrival), so one visit's four painters never starve
//! the next visitor: a newcomer waits for at most one job of each visit ahead. The
//! position in that rotation is what the visitor sees as "2 visitors ahead of you".

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use articket_style::{Progress, StyleError, Update};
use tokio::sync::oneshot;

use crate::settings::Dispatch;

/// A snapshot for logs, `/healthz` and the operator page.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolStatus {
    pub servers: Vec<ServerStatus>,
    /// Jobs waiting for a server.
    pub queued: usize,
    /// Visits with jobs waiting.
    pub visits_waiting: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServerStatus {
    pub label: String,
    pub url: String,
    pub healthy: bool,
    pub in_flight: usize,
    pub last_error: Option<String>,
}

/// The queue; clones share it.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    /// (label, url) per server, for status and logs.
    servers: Vec<(String, String)>,
    dispatch: Dispatch,
    max_in_flight: usize,
    sched: Mutex<Sched>,
}

struct Sched {
    servers: Vec<Slots>,
    /// Visits with waiting jobs, in turn order.
    rotation: VecDeque<Arc<str>>,
    visits: HashMap<Arc<str>, VisitState>,
}

struct Slots {
    healthy: bool,
    in_flight: usize,
    last_error: Option<String>,
}

#[derive(Default)]
struct VisitState {
    waiting: VecDeque<Waiter>,
    running: usize,
    /// Sequential dispatch keeps a visit on the server it started on.
    server: Option<usize>,
}

struct Waiter {
    tx: oneshot::Sender<usize>,
    progress: Progress,
    reported: Option<usize>,
}

impl Dispatcher {
    /// A queue over `servers` (label, url), all unhealthy until probed.
    /// Server `index`'s label, for logs and errors.
    pub fn label(&self, index: usize) -> &str {
        self.inner
            .servers
            .get(index)
            .map_or("?", |(label, _)| label)
    }

    pub fn new(servers: Vec<(String, String)>, dispatch: Dispatch, max_in_flight: usize) -> Self {
        let sched = Sched {
            servers: servers
                .iter()
                .map(|_| Slots {
                    healthy: false,
                    in_flight: 0,
                    last_error: Some("not probed yet".into()),
                })
                .collect(),
            rotation: VecDeque::new(),
            visits: HashMap::new(),
        };
        Dispatcher {
            inner: Arc::new(Inner {
                servers,
                dispatch,
                max_in_flight,
                sched: Mutex::new(sched),
            }),
        }
    }

    fn sched(&self) -> std::sync::MutexGuard<'_, Sched> {
        self.inner.sched.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> PoolStatus {
        let sched = self.sched();
        PoolStatus {
            servers: self
                .inner
                .servers
                .iter()
                .zip(&sched.servers)
                .map(|((label, url), slots)| ServerStatus {
                    label: label.clone(),
                    url: url.clone(),
                    healthy: slots.healthy,
                    in_flight: slots.in_flight,
                    last_error: slots.last_error.clone(),
                })
                .collect(),
            queued: sched.visits.values().map(|v| v.waiting.len()).sum(),
            visits_waiting: sched.rotation.len(),
        }
    }

    /// A queue over the servers `[ai]` lists, with its dispatch and slots per server.
    pub fn for_settings(settings: &crate::AiSettings) -> Self {
        Dispatcher::new(
            settings
                .servers
                .iter()
                .map(|s| (s.label(), s.url.clone()))
                .collect(),
            settings.dispatch,
            settings.max_in_flight,
        )
    }

    /// Whether any server is healthy.
    pub fn available(&self) -> bool {
        self.sched().servers.iter().any(|s| s.healthy)
    }

    /// Waits for a slot on a server for one of `visit`'s jobs, reporting the visit's
    /// place in line to `progress` while it waits.
    pub async fn acquire(&self, visit: &Arc<str>, progress: &Progress) -> Result<Slot, StyleError> {
        let rx = {
            let mut sched = self.sched();
            if !sched.servers.iter().any(|s| s.healthy) {
                return Err(StyleError::Unavailable(self.no_server_message()));
            }
            let (tx, rx) = oneshot::channel();
            let state = sched.visits.entry(visit.clone()).or_default();
            let was_waiting = !state.waiting.is_empty();
            state.waiting.push_back(Waiter {
                tx,
                progress: progress.clone(),
                reported: None,
            });
            if !was_waiting {
                sched.rotation.push_back(visit.clone());
            }
            self.inner.pump(&mut sched);
            rx
        };
        match rx.await {
            Ok(server) => Ok(Slot {
                inner: self.inner.clone(),
                visit: visit.clone(),
                server,
            }),
            // The queue was emptied because every server went down.
            Err(_) => Err(StyleError::Unavailable(
                "every painting server stopped answering".into(),
            )),
        }
    }

    fn no_server_message(&self) -> String {
        if self.inner.servers.is_empty() {
            "no painting server is configured ([[ai.servers]])".into()
        } else {
            "no painting server is answering".into()
        }
    }

    /// Records a probe's outcome for server `index`: a healthy server takes waiting
    /// jobs; when none is left healthy, every waiting job fails at once.
    pub fn set_health(&self, index: usize, result: Result<(), String>) {
        let mut sched = self.sched();
        let label = &self.inner.servers[index].0;
        let slots = &mut sched.servers[index];
        match result {
            Ok(()) => {
                if !slots.healthy {
                    tracing::info!(server = %label, "painting server is answering; back in rotation");
                }
                slots.healthy = true;
                slots.last_error = None;
                self.inner.pump(&mut sched);
            }
            Err(e) => {
                if slots.healthy {
                    tracing::warn!(server = %label, "painting server taken out of rotation: {e}");
                }
                slots.healthy = false;
                slots.last_error = Some(e);
                if !sched.servers.iter().any(|s| s.healthy) {
                    // Nothing can serve the queue: let every waiting job fail now, so
                    // the studio can retry later or fall back, rather than hang.
                    sched.rotation.clear();
                    sched.visits.retain(|_, v| {
                        v.waiting.clear();
                        v.running > 0
                    });
                } else {
                    self.inner.pump(&mut sched);
                }
            }
        }
    }
}

impl Inner {
    /// Hands free slots to waiting jobs, then tells every waiting job its place.
    fn pump(&self, sched: &mut Sched) {
        let sequential = self.dispatch == Dispatch::Sequential;
        let max = self.max_in_flight;
        loop {
            let free = |s: &Slots| s.healthy && s.in_flight < max;
            // The least-loaded healthy server with a free slot.
            let Some(best) = (0..sched.servers.len())
                .filter(|&i| free(&sched.servers[i]))
                .min_by_key(|&i| sched.servers[i].in_flight)
            else {
                break;
            };
            // The first visit in turn order that may start a job now.
            let mut chosen = None;
            for (pos, visit) in sched.rotation.iter().enumerate() {
                let state = &sched.visits[visit];
                if !sequential {
                    chosen = Some((pos, best));
                    break;
                }
                if state.running > 0 {
                    continue;
                }
                let server = match state.server {
                    Some(s) if sched.servers[s].healthy => s,
                    _ => best,
                };
                if free(&sched.servers[server]) {
                    chosen = Some((pos, server));
                    break;
                }
            }
            let Some((pos, server)) = chosen else { break };
            let visit = sched.rotation.remove(pos).expect("position in rotation");
            let state = sched.visits.get_mut(&visit).expect("visit state");
            let waiter = state.waiting.pop_front().expect("a waiting job");
            if !state.waiting.is_empty() {
                sched.rotation.push_back(visit.clone());
            }
            if waiter.tx.send(server).is_ok() {
                state.running += 1;
                state.server = Some(server);
                sched.servers[server].in_flight += 1;
            } else if state.running == 0 && state.waiting.is_empty() {
                // The job was cancelled while it waited.
                sched.visits.remove(&visit);
            }
        }
        // Places in the queue, announced when they change.
        for (ahead, visit) in sched.rotation.iter().enumerate() {
            if let Some(state) = sched.visits.get_mut(visit) {
                for w in state.waiting.iter_mut().filter(|w| !w.tx.is_closed()) {
                    if w.reported != Some(ahead) {
                        w.reported = Some(ahead);
                        (w.progress)(Update::Queued {
                            visits_ahead: ahead,
                        });
                    }
                }
            }
        }
    }
}

/// A claimed slot on one server; gives it back when dropped, even on cancellation.
pub struct Slot {
    inner: Arc<Inner>,
    visit: Arc<str>,
    server: usize,
}

impl Slot {
    /// Which server (its index in the settings' list).
    pub fn index(&self) -> usize {
        self.server
    }

    /// Whether this is the only job on its server now (so the server's progress is
    /// this job's).
    pub fn alone(&self) -> bool {
        let sched = self.inner.sched.lock().unwrap_or_else(|p| p.into_inner());
        sched.servers[self.server].in_flight == 1
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut sched = self.inner.sched.lock().unwrap_or_else(|p| p.into_inner());
        sched.servers[self.server].in_flight -= 1;
        if let Some(state) = sched.visits.get_mut(&self.visit) {
            state.running -= 1;
            if state.running == 0 && state.waiting.is_empty() {
                sched.visits.remove(&self.visit);
            }
        }
        self.inner.pump(&mut sched);
    }
}
