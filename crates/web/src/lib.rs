//! The web server: the HTTP API, the rooms' WebSockets, the embedded kiosk and phone
//! pages, and the booth configuration. [`launch_with_listener`] is what `main` and the
//! integration tests both call.

pub mod admin;
pub mod qr;

mod auth;
mod charts;
mod error;
mod https;
mod limits;
mod net;
mod origin;
mod routes;
mod showcase;
mod state;
mod views;

/// The booth's configuration lives in its own crate; `articket_web::config` names it.
pub use articket_config as config;

use std::future::Future;

pub use config::{Config, ConfigError};
pub use https::Listeners;
pub use net::advertised_base_url;
pub use state::AppState;

/// The router over a built state. Tests may drive it with `oneshot`.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Opens the booth for the address it listens on: the data folder (made, and locked
/// against a second booth), the store and its migrations, the painting backends and the
/// ticket design; then resumes the visits a previous run left unfinished. Every
/// start-up failure happens here, before the booth says it is running.
pub async fn open(config: Config, local_addr: std::net::SocketAddr) -> anyhow::Result<AppState> {
    let state = AppState::build(config, local_addr).await?;
    state.studio.start().await;
    Ok(state)
}

/// Serves the booth over plain HTTP on `listener` until `shutdown` resolves (the
/// integration tests' entry).
pub async fn launch_with_listener(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listeners = Listeners {
        main: listener,
        redirect: None,
    };
    launch(config, listeners, |_| {}, shutdown).await
}

/// Opens the booth and serves it on `listeners` until `shutdown` resolves. With
/// `[server.tls]` on, the certificate is read or obtained first; `ready` is called
/// once the booth answers visitors (the start-up banner).
pub async fn launch(
    mut config: Config,
    listeners: Listeners,
    ready: impl FnOnce(&AppState),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let certs = articket_tls::Certificates::open(&config.server.tls, &config.server.data_dir)?;
    let local = listeners.main.local_addr()?;
    if let Some(name) = certs.as_ref().and_then(|c| c.primary_name()) {
        if config.server.public_url.trim().is_empty() {
            config.server.public_url = net::https_url(&name, local.port());
        }
    }
    let state = open(config, local).await?;
    serve(state, listeners, certs, ready, shutdown).await
}

/// Answers requests for an opened booth until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listeners: Listeners,
    certs: Option<articket_tls::Certificates>,
    ready: impl FnOnce(&AppState),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use std::future::IntoFuture as _;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    {
        let (closing, stop) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            shutdown.await;
            closing.close();
            let _ = stop.send(true);
        });
    }
    let store = state.studio.store.clone();
    let app = app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let main = match &certs {
        Some(c) => {
            use axum::serve::ListenerExt as _;
            // `tap_io` lends the TLS listener axum's connection-info plumbing.
            let listener = https::TlsListener::new(listeners.main, c)?.tap_io(|_| {});
            let server =
                axum::serve(listener, app).with_graceful_shutdown(until_stopped(stopped.clone()));
            tokio::spawn(server.into_future())
        }
        None => {
            let server = axum::serve(listeners.main, app)
                .with_graceful_shutdown(until_stopped(stopped.clone()));
            tokio::spawn(server.into_future())
        }
    };
    let redirect = listeners.redirect.map(|listener| {
        let app = https::redirect_app(state.reach.base_url.clone(), certs.clone());
        let server =
            axum::serve(listener, app).with_graceful_shutdown(until_stopped(stopped.clone()));
        tokio::spawn(server.into_future())
    });
    let mut upkeep = None;
    if let Some(c) = &certs {
        if c.served().is_none() {
            tracing::info!(
                "HTTPS: getting a certificate for {} from {}",
                state.config().server.tls.domains.join(", "),
                state.config().server.tls.directory
            );
        }
        if let Err(e) = c.obtain().await {
            state.close();
            let _ = stop.send(true);
            let _ = main.await;
            store.release();
            return Err(e);
        }
        if let Some(info) = c.served() {
            tracing::info!(
                "HTTPS: serving the certificate for {info}, from {}",
                info.issuer
            );
        }
        upkeep = Some(tokio::spawn(c.clone().keep_fresh()));
    }
    ready(&state);
    let served = main.await;
    if let Some(task) = upkeep {
        task.abort();
    }
    if let Some(task) = redirect {
        let _ = task.await;
    }
    // The data folder is free for the next booth, even while a socket still lingers.
    store.release();
    served.map_err(|e| anyhow::anyhow!("the server task failed: {e}"))??;
    Ok(())
}

#[cfg(test)]
mod layout_tests {
    //! Every crate's files import one another without cycles, so each can be read with
    //! only what it names (see README's layout table).

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Module path ("routes::admin") → the source of that file under `root` (a crate's
    /// `src`), without its tests.
    fn modules(root: &Path) -> BTreeMap<String, String> {
        let root = root.to_owned();
        let mut out = BTreeMap::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let rel = path.strip_prefix(&root).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap().to_owned();
                out.insert(parts.join("::"), code);
            }
        }
        out
    }

    /// The modules a file's code names: `crate::a::b`, `super::x`, grouped
    /// `use crate::{a, b}`, and a parent's `child::item`.
    /// `reexports`: names the crate root re-exports (`pub use error::IntakeError`) →
    /// the module that defines them, so `crate::IntakeError` counts as `error`.
    fn imports(
        module: &str,
        code: &str,
        all: &BTreeMap<String, String>,
        reexports: &BTreeMap<String, String>,
    ) -> BTreeSet<String> {
        let resolve = |path: &[&str]| -> String {
            (0..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| all.contains_key(m))
                .unwrap_or_default()
        };
        let parent: Vec<&str> = match module.rsplit_once("::") {
            Some((p, _)) => p.split("::").collect(),
            None => Vec::new(),
        };
        let own: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        let mut out = BTreeSet::new();
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent), ("", own)] {
            for (at, _) in code.match_indices(prefix) {
                if prefix.is_empty() && at > 0 {
                    // A bare `child::` counts only at the start of a path.
                    let before = code[..at].chars().last().unwrap_or(' ');
                    if word(before) || before == ':' {
                        continue;
                    }
                }
                if !prefix.is_empty() && at > 0 && code[..at].ends_with(|c: char| word(c)) {
                    continue;
                }
                let rest = &code[at + prefix.len()..];
                let mut items: Vec<String> = Vec::new();
                if let Some(group) = rest.strip_prefix('{') {
                    let group = &group[..group.find('}').unwrap_or(0)];
                    items.extend(group.split(',').map(|s| s.trim().to_owned()));
                } else {
                    items.push(rest.chars().take_while(|&c| word(c) || c == ':').collect());
                }
                for item in items {
                    let segs: Vec<&str> = item.split("::").filter(|s| !s.is_empty()).collect();
                    if prefix.is_empty()
                        && (segs.len() < 2 || !code.contains(&format!("mod {};", segs[0])))
                    {
                        continue;
                    }
                    let mut path = base.clone();
                    if prefix == "crate::" {
                        if let Some(m) = segs.first().and_then(|s| reexports.get(*s)) {
                            path.push(m.as_str());
                        }
                    }
                    path.extend(segs.iter().take_while(|s| s.chars().all(word)));
                    let target = resolve(&path);
                    // The crate root and a folder's mod.rs are their files' common
                    // ground (an error type, options): naming them is no edge.
                    let ancestor = target.is_empty() || module.starts_with(&format!("{target}::"));
                    if target != module && !ancestor {
                        out.insert(target);
                    }
                }
            }
        }
        out
    }

    /// The import graph of the crate whose sources are in `root`. The crate root's
    /// `pub use` lines are its public face, not imports: they are left out.
    fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
        let all = modules(root);
        let mut reexports = BTreeMap::new();
        for line in all.get("").map_or("", String::as_str).lines() {
            let Some(rest) = line.trim().strip_prefix("pub use ") else {
                continue;
            };
            let Some((module, names)) = rest.trim_end_matches(';').split_once("::") else {
                continue;
            };
            if !all.contains_key(module) {
                continue;
            }
            for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
                let name = name.split(" as ").last().unwrap_or(name).trim();
                reexports.insert(name.to_owned(), module.to_owned());
            }
        }
        all.iter()
            .map(|(m, code)| {
                let code = if m.is_empty() {
                    let own: Vec<&str> = code
                        .lines()
                        .filter(|l| !l.trim_start().starts_with("pub use "))
                        .collect();
                    own.join("\n")
                } else {
                    code.clone()
                };
                (m.clone(), imports(m, &code, &all, &reexports))
            })
            .collect()
    }

    #[test]
    fn every_crates_files_import_one_another_without_cycles() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut roots: Vec<_> = std::fs::read_dir(&crates)
            .unwrap()
            .map(|e| e.unwrap().path().join("src"))
            .filter(|p| p.is_dir())
            .collect();
        roots.push(crates.join("../src"));
        roots.sort();
        assert!(roots.len() >= 14, "{roots:?}");
        let web = graph(&crates.join("web/src"));
        assert!(
            web["routes::visits"].contains("state"),
            "the scan finds imports: {web:?}"
        );
        let studio = graph(&crates.join("studio/src"));
        assert!(
            studio["painting"].contains("finishing") && studio["visits"].contains("painting"),
            "the scan finds imports: {studio:?}"
        );
        for root in &roots {
            check_acyclic(root, &graph(root));
        }
    }

    fn check_acyclic(root: &Path, graph: &BTreeMap<String, BTreeSet<String>>) {
        // Depth-first search; a module met again on the current path closes a cycle.
        fn visit<'a>(
            m: &'a str,
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<&'a str>> {
            if let Some(i) = path.iter().position(|p| *p == m) {
                let mut cycle = path[i..].to_vec();
                cycle.push(m);
                return Some(cycle);
            }
            if !done.insert(m) {
                return None;
            }
            path.push(m);
            for next in &graph[m] {
                if let Some(c) = visit(next, graph, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            let cycle = visit(m, graph, &mut Vec::new(), &mut done);
            assert!(
                cycle.is_none(),
                "import cycle in {}: {}",
                root.display(),
                cycle.unwrap().join(" → ")
            );
        }
    }
}
