//! Real headless Chromium, driven over the DevTools protocol: each [`Tab`] lives in its
//! own browser context (its own cookies, as a separate device would have). Without
//! Chromium these tests skip with a message, except under CI, where they fail.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::util::Socket;

pub struct Browser {
    child: Child,
    socket: Socket,
    next_id: u64,
    /// Events received while waiting for answers: (session id, method, params).
    pub events: Vec<(String, String, Value)>,
    _profile: tempfile::TempDir,
}

/// A page in its own browser context.
#[derive(Clone)]
pub struct Tab {
    session: String,
}

/// Runs before every page's own scripts: counts Content-Security-Policy violations and
/// uncaught errors, so tests can assert there were none.
const WATCH: &str = r#"
window.__csp = [];
window.__errors = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
"#;

impl Browser {
    /// Starts Chromium, or returns `None` (outside CI) when it is not installed.
    pub async fn launch() -> Option<Browser> {
        let exe = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|c| {
                Command::new(c)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
        let Some(exe) = exe else {
            assert!(
                std::env::var_os("CI").is_none(),
                "Chromium is not installed (apt install chromium)"
            );
            eprintln!("skipped: Chromium is not installed (apt install chromium)");
            return None;
        };
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // Chromium prints its DevTools address on stderr; keep draining it afterwards so
        // it never blocks on a full pipe.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url.trim().to_owned());
                    }
                }
            }
        });
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await
            .unwrap()
            .expect("chromium did not print its DevTools address");
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Some(Browser {
            child,
            socket,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        })
    }

    /// Sends one command and waits for its answer (events meanwhile are kept).
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.socket
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            let Some(Ok(Message::Text(text))) = next else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
            if let Some(method) = v["method"].as_str() {
                let session = v["sessionId"].as_str().unwrap_or_default().to_owned();
                self.events
                    .push((session, method.to_owned(), v["params"].clone()));
            }
        }
    }

    /// A fresh tab in a fresh context, `width`×`height` CSS pixels (`mobile` emulates a
    /// phone's touch screen and viewport).
    pub async fn tab(&mut self, width: u32, height: u32, mobile: bool) -> Tab {
        let ctx = self
            .call(None, "Target.createBrowserContext", json!({}))
            .await;
        let target = self
            .call(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank", "browserContextId": ctx["browserContextId"] }),
            )
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        let tab = Tab {
            session: attached["sessionId"].as_str().unwrap().to_owned(),
        };
        let s = Some(tab.session.as_str());
        self.call(s, "Page.enable", json!({})).await;
        self.call(s, "Runtime.enable", json!({})).await;
        self.call(
            s,
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": WATCH }),
        )
        .await;
        self.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": if mobile { 3 } else { 1 }, "mobile": mobile }),
        )
        .await;
        if mobile {
            self.call(
                s,
                "Emulation.setTouchEmulationEnabled",
                json!({ "enabled": true, "maxTouchPoints": 5 }),
            )
            .await;
        }
        tab
    }

    pub async fn goto(&mut self, tab: &Tab, url: &str) {
        self.call(Some(&tab.session), "Page.navigate", json!({ "url": url }))
            .await;
    }

    /// Evaluates `expr` in the page (promises are awaited) and returns its value.
    pub async fn eval(&mut self, tab: &Tab, expr: &str) -> Value {
        let r = self
            .call(
                Some(&tab.session),
                "Runtime.evaluate",
                json!({ "expression": expr, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is truthy; panics with `what` after `limit`.
    pub async fn wait_for(&mut self, tab: &Tab, expr: &str, limit: Duration, what: &str) {
        let deadline = tokio::time::Instant::now() + limit;
        let probe =
            format!("(() => {{ try {{ return !!({expr}); }} catch (e) {{ return false; }} }})()");
        loop {
            if self.eval(tab, &probe).await == json!(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Puts a file into an `<input type=file>` as if the user picked it.
    pub async fn set_file(&mut self, tab: &Tab, selector: &str, path: &Path) {
        let s = Some(tab.session.as_str());
        let doc = self.call(s, "DOM.getDocument", json!({})).await;
        let node = self
            .call(
                s,
                "DOM.querySelector",
                json!({ "nodeId": doc["root"]["nodeId"], "selector": selector }),
            )
            .await;
        self.call(
            s,
            "DOM.setFileInputFiles",
            json!({ "nodeId": node["nodeId"], "files": [path.to_str().unwrap()] }),
        )
        .await;
    }

    /// JavaScript dialogs (alert, confirm) any page opened so far.
    pub fn dialogs(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|(_, m, _)| m == "Page.javascriptDialogOpening")
            .map(|(_, _, p)| p["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Asserts the page saw no CSP violation and no uncaught error.
    pub async fn assert_clean(&mut self, tab: &Tab, page: &str) {
        let report = self
            .eval(tab, "({ csp: window.__csp, errors: window.__errors })")
            .await;
        assert_eq!(report["csp"], json!([]), "{page}: CSP violations");
        assert_eq!(report["errors"], json!([]), "{page}: script errors");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
