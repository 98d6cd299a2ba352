//! The load tool behind `articket loadtest`: plays `visits` kiosk-and-phone pairs, at
//! most `concurrency` at a time, against a booth, exactly as the pages do (room, join,
//! both sockets, upload, results, ticket). Every event on every socket is checked
//! against the room it arrived in, so a single cross-room delivery is counted.
//!
//! The booth must not rate-limit the tool's one address: run it with
//! `ARTICKET__LIMITS__UPLOADS_PER_MINUTE=0` and a high `max_open_rooms` (the binary's
//! `loadtest` without `--url` starts such a booth itself).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone)]
pub struct Options {
    /// The booth's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub visits: usize,
    pub concurrency: usize,
    /// How long one visit may take, from creating its room to fetching its ticket.
    pub visit_timeout: Duration,
    /// How many paintings a visit should get (the booth's configured painters).
    pub painters: usize,
}

/// What a run measured.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub visits: usize,
    pub completed: usize,
    pub wall: Duration,
    /// Upload sent → last painting announced, per completed visit, sorted.
    pub latencies: Vec<Duration>,
    /// One line per failed visit.
    pub errors: Vec<String>,
    /// Events that arrived on a socket of another visit's room. Must be 0.
    pub cross_room: usize,
    /// Paintings missing from completed visits' final state. Must be 0.
    pub lost_results: usize,
    /// Events received on all sockets.
    pub events: usize,
    /// Uploads the booth answered "busy, try again in N s" (503) and the tool sent
    /// again, as the phone page does.
    pub busy_retries: usize,
}

impl Report {
    pub fn visits_per_sec(&self) -> f64 {
        self.completed as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, nearest rank.
    pub fn latency(&self, q: f64) -> Option<Duration> {
        let last = self.latencies.len().checked_sub(1)?;
        self.latencies
            .get(((last as f64) * q).round() as usize)
            .copied()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Option<Duration>| {
            d.map_or("-".into(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
        };
        writeln!(
            f,
            "visits: {} completed of {} in {:.1} s ({:.2} visits/s)",
            self.completed,
            self.visits,
            self.wall.as_secs_f64(),
            self.visits_per_sec()
        )?;
        writeln!(
            f,
            "upload -> last painting: p50 {}, p99 {}, max {}",
            ms(self.latency(0.5)),
            ms(self.latency(0.99)),
            ms(self.latencies.last().copied())
        )?;
        writeln!(
            f,
            "events: {}, cross-room deliveries: {}, lost results: {}, errors: {}, busy answers retried: {}",
            self.events,
            self.cross_room,
            self.lost_results,
            self.errors.len(),
            self.busy_retries
        )?;
        for e in self.errors.iter().take(5) {
            writeln!(f, "  error: {e}")?;
        }
        Ok(())
    }
}

/// One finished visit.
struct Outcome {
    latency: Duration,
    events: usize,
    cross_room: usize,
    /// Uploads answered "busy, retry after" before one was taken.
    busy: usize,
    lost: usize,
}

/// Installs the TLS crypto provider reqwest needs before any client is built (the
/// workspace builds reqwest with rustls but no default provider).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs the load. Visit failures are counted in the report, not returned as errors.
pub async fn run(opts: &Options) -> Report {
    install_tls_provider();
    let photo: Arc<[u8]> = articket_intake::fixtures::jpeg_with_orientation(
        &articket_intake::fixtures::portrait(1600, 1200),
        6,
    )
    .into();
    let started = Instant::now();
    let results: Vec<Result<Outcome, String>> = futures_util::stream::iter(0..opts.visits)
        .map(|i| {
            let photo = photo.clone();
            async move {
                match tokio::time::timeout(opts.visit_timeout, one_visit(opts, i, photo)).await {
                    Ok(r) => r.map_err(|e| format!("visit {i}: {e:#}")),
                    Err(_) => Err(format!(
                        "visit {i}: not finished within {} s",
                        opts.visit_timeout.as_secs()
                    )),
                }
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut report = Report {
        visits: opts.visits,
        wall: started.elapsed(),
        ..Report::default()
    };
    for r in results {
        match r {
            Ok(o) => {
                report.completed += 1;
                report.latencies.push(o.latency);
                report.events += o.events;
                report.cross_room += o.cross_room;
                report.lost_results += o.lost;
                report.busy_retries += o.busy;
            }
            Err(e) => report.errors.push(e),
        }
    }
    report.latencies.sort();
    report
}

async fn one_visit(opts: &Options, i: usize, photo: Arc<[u8]>) -> anyhow::Result<Outcome> {
    let base = opts.url.trim_end_matches('/');
    let ws_base = format!("ws{}", base.trim_start_matches("http"));
    let http = reqwest::Client::new();

    // The kiosk: a room and its socket.
    let room: Value = ok_json(http.post(format!("{base}/api/rooms")).send().await?, 201).await?;
    let room_id = text(&room, "room_id")?;
    let token = text(&room, "kiosk_token")?;
    let secret = text(&room, "join_url")?
        .split_once('#')
        .map(|(_, s)| s.to_owned())
        .ok_or_else(|| anyhow::anyhow!("join_url has no secret"))?;
    let (kiosk_socket, _) = tokio_tungstenite::connect_async(format!(
        "{ws_base}/api/rooms/{room_id}/events?kiosk_token={token}"
    ))
    .await?;

    // The phone: its own cookie jar, as a browser has.
    let jar = Arc::new(Jar::default());
    let phone = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()?;
    let joined: Value = ok_json(
        phone
            .post(format!("{base}/api/join"))
            .json(&serde_json::json!({ "room_id": room_id, "secret": secret }))
            .send()
            .await?,
        200,
    )
    .await?;
    let visit_id = text(&joined, "visit_id")?;
    let cookie = jar
        .cookies(&base.parse()?)
        .ok_or_else(|| anyhow::anyhow!("the join set no cookie"))?;
    let mut req = format!("{ws_base}/api/rooms/{room_id}/events").into_client_request()?;
    req.headers_mut().insert("cookie", cookie);
    let (phone_socket, _) = tokio_tungstenite::connect_async(req).await?;

    // Both screens listen from before the upload to the end of the visit.
    let kiosk_task = tokio::spawn(listen(kiosk_socket, visit_id.clone(), opts.painters));
    let phone_task = tokio::spawn(listen(phone_socket, visit_id.clone(), opts.painters));

    // As the phone page does: a busy booth answers 503 with Retry-After, and the upload
    // is sent again after that long, up to 5 times. The latency counts the waiting.
    let sent = Instant::now();
    let mut busy = 0;
    loop {
        let form = reqwest::multipart::Form::new()
            .text("name", format!("Load {i}"))
            .part(
                "photo",
                reqwest::multipart::Part::bytes(photo.to_vec())
                    .file_name("load.jpg")
                    .mime_str("image/jpeg")?,
            );
        let res = phone
            .post(format!("{base}/api/visits/{visit_id}/photo"))
            .multipart(form)
            .send()
            .await?;
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        match (res.status().as_u16(), retry_after) {
            (503, Some(secs)) if busy < 5 => {
                busy += 1;
                tokio::time::sleep(Duration::from_secs(secs)).await;
            }
            _ => {
                ok_json(res, 202).await?;
                break;
            }
        }
    }
    let kiosk = kiosk_task.await??;
    let phone_seen = phone_task.await??;
    let last_painting = kiosk.last_painting.unwrap_or(kiosk.done_at);

    // The stored state is the truth: every painting there, and the ticket served.
    let state: Value = ok_json(
        phone
            .get(format!("{base}/api/visits/{visit_id}"))
            .send()
            .await?,
        200,
    )
    .await?;
    let results = state["results"].as_array().cloned().unwrap_or_default();
    let painted = results
        .iter()
        .filter(|r| r["status"] == "done" && r["image_url"].is_string())
        .count();
    let ticket = state["ticket_url"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the visit has no ticket"))?;
    let png = phone.get(format!("{base}{ticket}")).send().await?;
    anyhow::ensure!(png.status() == 200, "ticket: HTTP {}", png.status());
    anyhow::ensure!(
        png.bytes().await?.starts_with(b"\x89PNG"),
        "the ticket is not a PNG"
    );
    Ok(Outcome {
        latency: last_painting.duration_since(sent),
        events: kiosk.events + phone_seen.events,
        cross_room: kiosk.cross_room + phone_seen.cross_room,
        busy,
        lost: opts.painters.saturating_sub(painted),
    })
}

/// What one socket saw.
struct Heard {
    events: usize,
    cross_room: usize,
    last_painting: Option<Instant>,
    done_at: Instant,
}

/// Reads a room socket until its visit is done. Events naming another visit are
/// counted as cross-room deliveries.
async fn listen(mut socket: Socket, visit_id: String, painters: usize) -> anyhow::Result<Heard> {
    let (mut events, mut cross_room, mut done, mut last_painting) = (0, 0, 0, None);
    while let Some(msg) = socket.next().await {
        let text = match msg? {
            Message::Text(t) => t,
            Message::Ping(p) => {
                socket.send(Message::Pong(p)).await?;
                continue;
            }
            Message::Close(_) => break,
            _ => continue,
        };
        events += 1;
        let ev: Value = serde_json::from_str(&text)?;
        if let Some(id) = ev["visit_id"].as_str() {
            if id != visit_id {
                cross_room += 1;
                continue;
            }
        }
        if ev["type"] == "painter" && ev["status"] == "done" {
            done += 1;
            if done == painters {
                last_painting = Some(Instant::now());
            }
        }
        if ev["type"] == "visit_done" {
            let _ = socket.close(None).await;
            return Ok(Heard {
                events,
                cross_room,
                last_painting,
                done_at: Instant::now(),
            });
        }
    }
    anyhow::bail!("the socket closed before the visit was done")
}

async fn ok_json(res: reqwest::Response, want: u16) -> anyhow::Result<Value> {
    let status = res.status().as_u16();
    let body = res.text().await?;
    anyhow::ensure!(status == want, "HTTP {status}: {body}");
    Ok(serde_json::from_str(&body)?)
}

fn text(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no {key} in {v}"))
}
