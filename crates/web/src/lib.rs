//! The web server: the HTTP API, the rooms' WebSockets, the embedded kiosk and phone
//! pages, and the booth configuration. [`launch_with_listener`] is what `main` and the
//! integration tests both call.

pub mod admin;
pub mod config;
pub mod qr;

mod auth;
mod backends;
mod charts;
mod clock;
mod error;
mod events;
mod finishing;
mod limits;
mod net;
mod origin;
mod painting;
mod print;
mod retention;
mod routes;
mod running;
mod showcase;
mod state;
mod tickets;
mod views;

use std::future::Future;

pub use config::{Config, ConfigError};
pub use net::advertised_base_url;
pub use state::AppState;

/// The router over a built state. Tests may drive it with `oneshot`.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves the booth on `listener` until `shutdown` resolves. Opens the store, resumes
/// visits that a previous run left unfinished, then answers requests.
pub async fn launch_with_listener(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::build(config, listener.local_addr()?).await?;
    match painting::resume_unfinished(&state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!("resumed {n} unfinished visits"),
        Err(e) => tracing::error!("could not resume unfinished visits: {}", e.msg),
    }
    tokio::spawn(retention::sweep_forever(state.clone()));
    let closing = state.clone();
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        closing.close();
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod layout_tests {
    //! The crate's files import one another without cycles, so each can be read with
    //! only what it names (see README's layout table).

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Module path ("routes::admin") → the source of that file, without its tests.
    fn modules() -> BTreeMap<String, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
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
    fn imports(module: &str, code: &str, all: &BTreeMap<String, String>) -> BTreeSet<String> {
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
                    path.extend(segs.iter().take_while(|s| s.chars().all(word)));
                    let target = resolve(&path);
                    if target != module {
                        out.insert(target);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_web_crates_files_import_one_another_without_cycles() {
        let all = modules();
        assert!(all.contains_key("painting") && all.contains_key("routes::visits"));
        let graph: BTreeMap<String, BTreeSet<String>> = all
            .iter()
            .map(|(m, code)| (m.clone(), imports(m, code, &all)))
            .collect();
        assert!(
            graph["routes::visits"].contains("state") && graph["painting"].contains("finishing"),
            "the scan finds imports: {graph:?}"
        );
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
            let cycle = visit(m, &graph, &mut Vec::new(), &mut done);
            assert!(
                cycle.is_none(),
                "import cycle: {}",
                cycle.unwrap().join(" → ")
            );
        }
    }
}
