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
    context: String,
    mobile: bool,
}

impl Tab {
    pub fn session(&self) -> &str {
        &self.session
    }
}

/// What an emulated phone reports: iOS Safari on an iPhone.
pub const IPHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1";

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
        Self::launch_with(&[]).await
    }

    /// [`Browser::launch`] with more command-line switches (host mapping, trusted keys).
    pub async fn launch_with(extra: &[String]) -> Option<Browser> {
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
            .args(extra)
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
        match self.try_call(session, method, params).await {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    /// As [`Browser::call`], but a protocol error is returned, not a panic.
    pub async fn try_call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
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
                    return Err(e.clone());
                }
                return Ok(v["result"].clone());
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
            context: ctx["browserContextId"].as_str().unwrap().to_owned(),
            mobile,
        };
        let s = Some(tab.session.as_str());
        self.call(s, "Page.enable", json!({})).await;
        self.call(s, "Runtime.enable", json!({})).await;
        self.call(s, "Network.enable", json!({})).await;
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
            self.call(
                s,
                "Emulation.setUserAgentOverride",
                json!({ "userAgent": IPHONE_UA, "platform": "iPhone" }),
            )
            .await;
        }
        tab
    }

    /// Closes `tab` with its browser context (cookies, storage and all).
    pub async fn close(&mut self, tab: &Tab) {
        self.call(
            None,
            "Target.disposeBrowserContext",
            json!({ "browserContextId": tab.context }),
        )
        .await;
    }

    /// Saves downloads of `tab`'s context into `dir` under their suggested names.
    pub async fn downloads_to(&mut self, tab: &Tab, dir: &Path) {
        self.call(
            None,
            "Browser.setDownloadBehavior",
            json!({ "behavior": "allow", "browserContextId": tab.context,
                    "downloadPath": dir.to_str().unwrap(), "eventsEnabled": true }),
        )
        .await;
    }

    /// A PNG of the whole page as it is now.
    pub async fn screenshot(&mut self, tab: &Tab) -> Vec<u8> {
        let shot = self
            .call(
                Some(&tab.session),
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true }),
            )
            .await;
        decode_base64(&shot["data"])
    }

    /// A PNG of one element (scrolled into view first), at CSS-pixel scale.
    pub async fn element_png(&mut self, tab: &Tab, selector: &str) -> Vec<u8> {
        let rect = self.rect(tab, selector).await;
        let shot = self
            .call(
                Some(&tab.session),
                "Page.captureScreenshot",
                json!({ "format": "png", "clip": {
                    "x": rect.0 - rect.2 / 2.0, "y": rect.1 - rect.3 / 2.0,
                    "width": rect.2, "height": rect.3, "scale": 1 } }),
            )
            .await;
        decode_base64(&shot["data"])
    }

    /// The element's centre and size in page coordinates, after scrolling it into view.
    async fn rect(&mut self, tab: &Tab, selector: &str) -> (f64, f64, f64, f64) {
        let sel = serde_json::to_string(selector).unwrap();
        let r = self
            .eval(
                tab,
                &format!(
                    "(() => {{ const e = document.querySelector({sel}); e.scrollIntoView({{block: 'center'}});
                       const r = e.getBoundingClientRect();
                       return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height, scrollX, scrollY]; }})()"
                ),
            )
            .await;
        let n = |i: usize| r[i].as_f64().unwrap();
        (n(0) + n(4), n(1) + n(5), n(2), n(3))
    }

    /// Taps (touch, on a phone) or clicks (mouse) the middle of an element, as a person
    /// would: the page gets real input events.
    pub async fn tap(&mut self, tab: &Tab, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(
            tab,
            &format!("document.querySelector({sel}).scrollIntoView({{block: 'center'}})"),
        )
        .await;
        let r = self
            .eval(
                tab,
                &format!("(() => {{ const r = document.querySelector({sel}).getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"),
            )
            .await;
        let (x, y) = (r[0].as_f64().unwrap(), r[1].as_f64().unwrap());
        let s = Some(tab.session.as_str());
        if tab.mobile {
            for kind in ["touchStart", "touchEnd"] {
                let points = if kind == "touchEnd" {
                    json!([])
                } else {
                    json!([{ "x": x, "y": y }])
                };
                self.call(
                    s,
                    "Input.dispatchTouchEvent",
                    json!({ "type": kind, "touchPoints": points }),
                )
                .await;
            }
        } else {
            for kind in ["mousePressed", "mouseReleased"] {
                self.call(
                    s,
                    "Input.dispatchMouseEvent",
                    json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
                )
                .await;
            }
        }
    }

    /// Focuses an input and types `text` into it (as an input method would insert it).
    pub async fn type_into(&mut self, tab: &Tab, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(tab, &format!("document.querySelector({sel}).focus()"))
            .await;
        self.call(
            Some(&tab.session),
            "Input.insertText",
            json!({ "text": text }),
        )
        .await;
    }

    /// Cuts the tab off the network (open sockets stay until they are closed) or
    /// reconnects it.
    pub async fn set_offline(&mut self, tab: &Tab, offline: bool) {
        self.call(
            Some(&tab.session),
            "Network.emulateNetworkConditions",
            json!({ "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1 }),
        )
        .await;
    }

    /// Every URL the tab requested so far, WebSockets included.
    pub fn requests(&self, tab: &Tab) -> Vec<String> {
        self.events
            .iter()
            .filter(|(s, _, _)| *s == tab.session)
            .filter_map(|(_, m, p)| match m.as_str() {
                "Network.requestWillBeSent" => p["request"]["url"].as_str(),
                "Network.webSocketCreated" => p["url"].as_str(),
                _ => None,
            })
            .map(str::to_owned)
            .collect()
    }

    pub async fn goto(&mut self, tab: &Tab, url: &str) {
        self.call(Some(&tab.session), "Page.navigate", json!({ "url": url }))
            .await;
    }

    /// Evaluates `expr` in the page (promises are awaited) and returns its value.
    pub async fn eval(&mut self, tab: &Tab, expr: &str) -> Value {
        let r = match self.try_evaluate(tab, expr).await {
            Ok(r) => r,
            Err(e) => panic!("Runtime.evaluate failed: {e}"),
        };
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// DevTools' answer to evaluating `expr`, or its protocol error.
    async fn try_evaluate(&mut self, tab: &Tab, expr: &str) -> Result<Value, Value> {
        self.try_call(
            Some(&tab.session),
            "Runtime.evaluate",
            json!({ "expression": expr, "awaitPromise": true, "returnByValue": true }),
        )
        .await
    }

    /// Polls `expr` until it is truthy; panics with `what` after `limit`. A page that
    /// is navigating answers a probe with a protocol error ("Inspected target navigated
    /// or closed", seen on a loaded machine after a form's submit): that is a "not yet".
    pub async fn wait_for(&mut self, tab: &Tab, expr: &str, limit: Duration, what: &str) {
        let deadline = tokio::time::Instant::now() + limit;
        let probe =
            format!("(() => {{ try {{ return !!({expr}); }} catch (e) {{ return false; }} }})()");
        loop {
            let answer = self.try_evaluate(tab, &probe).await;
            if answer.is_ok_and(|r| r["result"]["value"] == json!(true)) {
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

fn decode_base64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

/// Reads the one QR code in a PNG.
pub fn read_qr(png: &[u8]) -> String {
    let img = image::load_from_memory(png).unwrap().into_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "expected one QR code in the image");
    grids[0].decode().unwrap().1
}

/// Where the browser tests put their screenshots: `target/e2e/`.
pub fn screenshot_dir() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
