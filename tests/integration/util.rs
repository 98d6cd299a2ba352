//! Shared helpers: a server fixture that polls its health check and stops on drop, and
//! kiosk/phone clients that speak the public API.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use articket_web::Config;
use futures_util::{SinkExt, StreamExt};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The operator password every test server starts with.
pub const OPERATOR_PASSWORD: &str = "test-operator-pw";

/// `POST /api/admin/login` with `password`.
pub async fn login(
    http: &reqwest::Client,
    server: &TestServer,
    password: &str,
) -> reqwest::Response {
    http.post(server.url("/api/admin/login"))
        .json(&serde_json::json!({ "password": password }))
        .send()
        .await
        .unwrap()
}

/// A browser logged in to the operator page.
pub async fn operator(server: &TestServer) -> reqwest::Client {
    let (http, _) = Phone::browser();
    let res = login(&http, server, OPERATOR_PASSWORD).await;
    assert_eq!(res.status(), 204, "{:?}", res.text().await);
    http
}

/// Waits until `check` holds, asking every 20 ms; fails the test after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no visit has painters at work (the operator's status says so).
pub async fn wait_painters_idle(server: &TestServer, limit: Duration) {
    let http = operator(server).await;
    wait_until("no visit has painters at work", limit, || async {
        get_json(&http, server, "/api/admin/status").await["rooms"]["painting"] == 0
    })
    .await;
}

/// GETs `path` and parses the JSON answer, whatever its status.
pub async fn get_json(http: &reqwest::Client, server: &TestServer, path: &str) -> Value {
    http.get(server.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub struct TestServer {
    pub base: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let mut server = Self::start_in(&dir, tweak).await;
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on `data_dir` (kept after the server stops).
    pub async fn start_in(data_dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
        // The test clients share reqwest's build, which has no default TLS provider.
        articket_pool::http::install_tls_provider();
        let mut config = Config::default();
        config.server.bind = "127.0.0.1:0".parse().unwrap();
        config.server.data_dir = data_dir.to_owned();
        // Every test client is 127.0.0.1; tests that check the limit set it themselves.
        config.limits.uploads_per_minute = 0;
        config.limits.max_open_rooms = 10_000;
        config.admin.password = Some(OPERATOR_PASSWORD.into());
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind(config.server.bind)
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(articket_web::launch_with_listener(
            config,
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        let server = TestServer {
            base,
            data_dir: data_dir.to_owned(),
            _tmp: None,
            shutdown: Some(tx),
            task: Some(task),
        };
        server.wait_healthy().await;
        server
    }

    /// A booth the test launched itself (over HTTPS, say), already answering at `base`.
    pub fn running(
        base: String,
        tmp: tempfile::TempDir,
        shutdown: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<anyhow::Result<()>>,
    ) -> TestServer {
        TestServer {
            base,
            data_dir: tmp.path().to_owned(),
            _tmp: Some(tmp),
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// A booth running in another process (started by the test), reached at `base`.
    pub async fn external(base: String, data_dir: &Path) -> TestServer {
        articket_pool::http::install_tls_provider();
        let server = TestServer {
            base,
            data_dir: data_dir.to_owned(),
            _tmp: None,
            shutdown: None,
            task: None,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        // 20 s: a start takes well under one, but a machine busy with a build was seen
        // to take more than 5.
        for _ in 0..800 {
            if let Ok(r) = client.get(self.url("/healthz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the server did not become healthy within 20 s");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws{}{path}", self.base.trim_start_matches("http"))
    }

    /// Stops the server and waits until it has let go of its port and store.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// Waits until the store's folder is empty, failing with what is left after `limit`.
    pub async fn wait_no_files(&self, limit: std::time::Duration) {
        let start = std::time::Instant::now();
        while !self.stored_files().is_empty() {
            assert!(
                start.elapsed() < limit,
                "files left: {:?}",
                self.stored_files()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Names of the files in the store's folder, for leak checks.
    pub fn stored_files(&self) -> Vec<String> {
        std::fs::read_dir(self.data_dir.join("files"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The kiosk's view of a room.
pub struct Kiosk {
    pub room_id: String,
    pub token: String,
    pub join_url: String,
    pub qr_svg_url: String,
}

impl Kiosk {
    pub async fn open(server: &TestServer) -> Kiosk {
        let res = reqwest::Client::new()
            .post(server.url("/api/rooms"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        Kiosk {
            room_id: v["room_id"].as_str().unwrap().into(),
            token: v["kiosk_token"].as_str().unwrap().into(),
            join_url: v["join_url"].as_str().unwrap().into(),
            qr_svg_url: v["qr_svg_url"].as_str().unwrap().into(),
        }
    }

    /// The (room id, secret) a phone reads from the QR code's URL.
    pub fn join_parts(&self) -> (String, String) {
        let (path, secret) = self.join_url.split_once('#').unwrap();
        let room = path.rsplit('/').next().unwrap();
        (room.to_owned(), secret.to_owned())
    }

    pub async fn socket(&self, server: &TestServer) -> Socket {
        let url = server.ws_url(&format!(
            "/api/rooms/{}/events?kiosk_token={}",
            self.room_id, self.token
        ));
        tokio_tungstenite::connect_async(url).await.unwrap().0
    }

    pub async fn visit(&self, server: &TestServer, visit_id: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(server.url(&format!("/api/visits/{visit_id}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
}

/// A phone: an HTTP client with its own cookie jar, as a browser would have.
pub struct Phone {
    pub http: reqwest::Client,
    pub jar: Arc<Jar>,
    pub visit_id: String,
}

impl Phone {
    pub fn browser() -> (reqwest::Client, Arc<Jar>) {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()
            .unwrap();
        (http, jar)
    }

    pub async fn join(server: &TestServer, kiosk: &Kiosk) -> Phone {
        let (http, jar) = Self::browser();
        let res = join_request(&http, server, kiosk).await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let v: Value = res.json().await.unwrap();
        Phone {
            http,
            jar,
            visit_id: v["visit_id"].as_str().unwrap().into(),
        }
    }

    /// The Cookie header this phone sends to `server`.
    pub fn cookie_header(&self, server: &TestServer) -> String {
        let url = server.url("/").parse().unwrap();
        self.jar.cookies(&url).unwrap().to_str().unwrap().to_owned()
    }

    pub async fn upload(
        &self,
        server: &TestServer,
        name: &str,
        photo: Vec<u8>,
        file_name: &str,
    ) -> reqwest::Response {
        self.upload_with(server, name, photo, file_name, &[]).await
    }

    /// [`Phone::upload`] with more form fields (e.g. `on_screen`).
    pub async fn upload_with(
        &self,
        server: &TestServer,
        name: &str,
        photo: Vec<u8>,
        file_name: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(photo)
            .file_name(file_name.to_owned())
            .mime_str("image/jpeg")
            .unwrap();
        let mut form = reqwest::multipart::Form::new().text("name", name.to_owned());
        for (key, value) in fields {
            form = form.text(key.to_string(), value.to_string());
        }
        let form = form.part("photo", part);
        self.http
            .post(server.url(&format!("/api/visits/{}/photo", self.visit_id)))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn visit(&self, server: &TestServer) -> Value {
        let res = self.get_visit(server).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// The phone's own GET of its visit, whatever the answer.
    pub async fn get_visit(&self, server: &TestServer) -> reqwest::Response {
        self.http
            .get(server.url(&format!("/api/visits/{}", self.visit_id)))
            .send()
            .await
            .unwrap()
    }

    pub async fn socket(&self, server: &TestServer, room_id: &str) -> Socket {
        let mut req = server
            .ws_url(&format!("/api/rooms/{room_id}/events"))
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("cookie", self.cookie_header(server).parse().unwrap());
        tokio_tungstenite::connect_async(req).await.unwrap().0
    }
}

pub async fn join_request(
    http: &reqwest::Client,
    server: &TestServer,
    kiosk: &Kiosk,
) -> reqwest::Response {
    let (room_id, secret) = kiosk.join_parts();
    http.post(server.url("/api/join"))
        .json(&serde_json::json!({ "room_id": room_id, "secret": secret }))
        .send()
        .await
        .unwrap()
}

/// Reads events until one satisfies `last`, failing after `limit`. Returns them all.
pub async fn events_until(
    socket: &mut Socket,
    limit: Duration,
    last: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let msg = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; events so far: {seen:#?}"));
        match msg {
            Some(Ok(Message::Text(text))) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                let done = last(&v);
                seen.push(v);
                if done {
                    return seen;
                }
            }
            Some(Ok(Message::Ping(p))) => socket.send(Message::Pong(p)).await.unwrap(),
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}; events so far: {seen:#?}"),
        }
    }
}

pub fn is_type(v: &Value, t: &str) -> bool {
    v["type"] == t
}

/// A 1600×1200 camera-like JPEG stored sideways with EXIF orientation 6.
pub fn camera_photo() -> Vec<u8> {
    articket_intake::fixtures::jpeg_with_orientation(
        &articket_intake::fixtures::portrait(1600, 1200),
        6,
    )
}

pub async fn get_bytes(
    server: &TestServer,
    path: &str,
) -> (reqwest::StatusCode, Option<String>, Vec<u8>) {
    let res = reqwest::get(server.url(path)).await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ct, res.bytes().await.unwrap().to_vec())
}

/// A visit whose photo was just taken (202): the kiosk, the phone and the kiosk's
/// socket, opened before the upload so no event is missed.
pub async fn started_visit(server: &TestServer, name: &str) -> (Kiosk, Phone, Socket) {
    let kiosk = Kiosk::open(server).await;
    let socket = kiosk.socket(server).await;
    let phone = Phone::join(server, &kiosk).await;
    let res = phone.upload(server, name, camera_photo(), "p.jpg").await;
    assert_eq!(res.status(), 202);
    (kiosk, phone, socket)
}

/// A visit from kiosk to `visit_done` with the built-in painters: the kiosk, the phone
/// and the kiosk's socket (for later events).
pub async fn finished_visit(server: &TestServer) -> (Kiosk, Phone, Socket) {
    let (kiosk, phone, mut socket) = started_visit(server, "김민지").await;
    events_until(&mut socket, std::time::Duration::from_secs(60), |e| {
        is_type(e, "visit_done")
    })
    .await;
    (kiosk, phone, socket)
}

/// Joins, uploads, and waits for `visit_done`; returns the phone and all room events.
pub async fn paint_visit(server: &TestServer, name: &str, limit: Duration) -> (Phone, Vec<Value>) {
    let kiosk = Kiosk::open(server).await;
    let mut socket = kiosk.socket(server).await;
    let phone = Phone::join(server, &kiosk).await;
    let res = phone.upload(server, name, camera_photo(), "p.jpg").await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let events = events_until(&mut socket, limit, |e| is_type(e, "visit_done")).await;
    (phone, events)
}

/// The booth's process: killed with SIGKILL by [`Booth::kill`], or when the test ends
/// (a failed assertion included), so no booth outlives its test.
pub struct Booth(pub std::process::Child);

impl Booth {
    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Booth {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on (for a server a test starts, or a dead address).
///
/// Taken below Linux's ephemeral range (32768 and up), each port once per process: a
/// port the kernel hands out for "port 0" can go to another test's outgoing connection
/// between this check and the server's bind, and the deploy test's booth once found its
/// port taken so ("Address already in use").
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Each test process starts somewhere else in the span.
    let start = std::process::id() % SPAN;
    for _ in 0..SPAN {
        let port = (LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {LOW} and {}", LOW + SPAN);
}
