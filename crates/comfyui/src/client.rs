//! One ComfyUI server's calls: upload the photo, queue the workflow, follow it on the
//! socket (or over HTTP when the socket stalls), fetch the picture, clean up. Every
//! failure is an [`articket_pool::CallError`], sorted into "try again" or
//! "the request is wrong", as the A1111 client sorts them.

use std::time::Duration;

use articket_pool::http::{network, status_error, CallError, Endpoint};
use articket_pool::ServerSettings;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// One ComfyUI server.
#[derive(Clone)]
pub struct ComfyServer {
    endpoint: Endpoint,
}

impl std::ops::Deref for ComfyServer {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// Where an image lives on the server, as `/history` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub filename: String,
    pub subfolder: String,
    pub kind: String,
}

/// A job's end as the server reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Finished; its history entry holds the outputs.
    Done,
    /// `execution_error`: the node and the exception.
    Failed(String),
    /// `execution_interrupted` (an operator or our own `/interrupt`).
    Interrupted,
}

/// What a job's socket says.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The job started running (`execution_start`, or a first `executing`).
    Started,
    /// A sampler's step `value` of `max`.
    Progress { value: u64, max: u64 },
    /// The job ended.
    Ended(Outcome),
    /// A live preview's image bytes (JPEG or PNG), from a binary frame; sent when the
    /// server runs with `--preview-method auto` (or `taesd`, `latent2rgb`).
    Preview(Vec<u8>),
}

/// The image in a binary socket frame, if it is a preview for `prompt_id`: event 1
/// (`PREVIEW_IMAGE`: 4-byte event, 4-byte format, image) or event 4
/// (`PREVIEW_IMAGE_WITH_METADATA`: 4-byte event, 4-byte metadata length, JSON metadata
/// naming the prompt, image). All numbers big-endian.
pub fn preview_of(frame: &[u8], prompt_id: &str) -> Option<Vec<u8>> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(frame.get(at..at + 4)?.try_into().ok()?))
    };
    match word(0)? {
        1 => Some(frame.get(8..)?.to_vec()),
        4 => {
            let len = word(4)? as usize;
            let meta: Value = serde_json::from_slice(frame.get(8..8 + len)?).ok()?;
            let ours = meta
                .get("prompt_id")
                .and_then(Value::as_str)
                .is_none_or(|p| p == prompt_id);
            ours.then(|| frame.get(8 + len..).map(<[u8]>::to_vec))?
        }
        _ => None,
    }
}

impl ComfyServer {
    pub fn new(settings: ServerSettings, http: reqwest::Client) -> Self {
        Self {
            endpoint: Endpoint::new(settings, http),
        }
    }

    /// `GET /system_stats`: the health probe.
    pub async fn system_stats(&self, timeout: Duration) -> Result<Value, CallError> {
        self.endpoint
            .json::<Value>(self.request(reqwest::Method::GET, "/system_stats", timeout))
            .await
    }

    /// `GET /object_info`: every node class with its inputs and their choices.
    pub async fn object_info(&self, timeout: Duration) -> Result<Value, CallError> {
        self.endpoint
            .json::<Value>(self.request(reqwest::Method::GET, "/object_info", timeout))
            .await
    }

    /// `POST /upload/image` into `input/<subfolder>/<name>`; the name to give
    /// `LoadImage` (`subfolder/name`, as the server stored it).
    pub async fn upload_image(
        &self,
        bytes: Vec<u8>,
        subfolder: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<String, CallError> {
        let mime = if name.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        };
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(mime)
            .map_err(|e| CallError::Malformed(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .part("image", part)
            .text("type", "input")
            .text("subfolder", subfolder.to_owned())
            .text("overwrite", "true");
        let answer: Value = self
            .json(
                self.request(reqwest::Method::POST, "/upload/image", timeout)
                    .multipart(form),
            )
            .await?;
        let stored = answer["name"].as_str().ok_or_else(|| {
            CallError::Malformed(format!("the upload was not acknowledged: {answer}"))
        })?;
        let folder = answer["subfolder"].as_str().unwrap_or("");
        Ok(if folder.is_empty() {
            stored.to_owned()
        } else {
            format!("{folder}/{stored}")
        })
    }

    /// `POST /prompt`: queues the workflow for our socket's client id. A 400 names the
    /// nodes the server refused (`node_errors`).
    pub async fn queue_prompt(
        &self,
        prompt: &Value,
        client_id: &str,
        timeout: Duration,
    ) -> Result<String, CallError> {
        let body = serde_json::json!({ "prompt": prompt, "client_id": client_id });
        let rb = self
            .request(reqwest::Method::POST, "/prompt", timeout)
            .json(&body);
        let response = rb.send().await.map_err(network)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network)?;
        if status == reqwest::StatusCode::BAD_REQUEST {
            return Err(CallError::Rejected {
                status: 400,
                detail: node_errors(&bytes),
            });
        }
        if !status.is_success() {
            return Err(status_error(status, &bytes));
        }
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|e| CallError::Malformed(format!("/prompt answered without JSON ({e})")))?;
        answer["prompt_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                CallError::Malformed(format!("/prompt answered without a prompt_id: {answer}"))
            })
    }

    /// `GET /history/{id}`: the job's entry, or `None` while it is queued or running
    /// (the server answers `{}` until it ends).
    pub async fn history(
        &self,
        prompt_id: &str,
        timeout: Duration,
    ) -> Result<Option<Value>, CallError> {
        let answer = self
            .json::<Value>(self.request(
                reqwest::Method::GET,
                &format!("/history/{prompt_id}"),
                timeout,
            ))
            .await?;
        Ok(answer.get(prompt_id).cloned())
    }

    /// `GET /view`: an output image's bytes.
    pub async fn view(&self, image: &ImageRef, timeout: Duration) -> Result<Vec<u8>, CallError> {
        let mut url = reqwest::Url::parse("http://x/view")
            .map_err(|e| CallError::Malformed(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("filename", &image.filename)
            .append_pair("subfolder", &image.subfolder)
            .append_pair("type", &image.kind);
        let path = format!("/view?{}", url.query().unwrap_or(""));
        let rb = self.request(reqwest::Method::GET, &path, timeout);
        self.endpoint.send(rb).await
    }

    /// `POST /history {"delete": [id]}`: forgets a fetched job, so the server keeps no
    /// record of the visitor's picture.
    pub async fn delete_history(
        &self,
        prompt_id: &str,
        timeout: Duration,
    ) -> Result<(), CallError> {
        let rb = self
            .request(reqwest::Method::POST, "/history", timeout)
            .json(&serde_json::json!({ "delete": [prompt_id] }));
        self.endpoint.send(rb).await.map(|_| ())
    }

    /// `POST /queue {"delete": [id]}`: takes a job off the queue before it runs.
    pub async fn delete_queued(&self, prompt_id: &str, timeout: Duration) -> Result<(), CallError> {
        let rb = self
            .request(reqwest::Method::POST, "/queue", timeout)
            .json(&serde_json::json!({ "delete": [prompt_id] }));
        self.endpoint.send(rb).await.map(|_| ())
    }

    /// `GET /queue`: the ids of the jobs running now.
    pub async fn running(&self, timeout: Duration) -> Result<Vec<String>, CallError> {
        let answer = self
            .json::<Value>(self.request(reqwest::Method::GET, "/queue", timeout))
            .await?;
        Ok(answer["queue_running"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.get(1).and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// Interrupts the job `prompt_id` if it is the one running; `/interrupt` stops
    /// whatever runs, so it is only sent for our own job.
    pub async fn interrupt_if_running(&self, prompt_id: &str) {
        match self.running(Duration::from_secs(5)).await {
            Ok(ids) if ids.iter().any(|id| id == prompt_id) => self.interrupt().await,
            Ok(_) => {}
            Err(e) => tracing::warn!(server = %self.label, "cannot read the queue: {e}"),
        }
    }

    /// `POST /interrupt`: stops the job running now (ComfyUI has one at a time).
    pub async fn interrupt(&self) {
        let rb = self.request(reqwest::Method::POST, "/interrupt", Duration::from_secs(5));
        if let Err(e) = self.endpoint.send(rb).await {
            tracing::warn!(server = %self.label, "interrupt failed: {e}");
        }
    }

    /// Opens `/ws?clientId=…`, with the server's credentials and headers.
    pub async fn connect(&self, client_id: &str, timeout: Duration) -> Result<Socket, CallError> {
        let url = format!(
            "{}/ws?clientId={client_id}",
            self.base().replacen("http", "ws", 1)
        );
        let mut request = url
            .into_client_request()
            .map_err(|e| CallError::Malformed(format!("bad socket URL: {e}")))?;
        // The same credentials and headers as every HTTP call (`Endpoint::request`).
        let http = self
            .request(reqwest::Method::GET, "/ws", timeout)
            .build()
            .map_err(|e| CallError::Malformed(format!("bad socket request: {e}")))?;
        for (name, value) in http.headers() {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let connect = tokio_tungstenite::connect_async(request);
        let (stream, _) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| CallError::Network("the socket did not open in time".into()))?
            .map_err(|e| CallError::Network(format!("cannot open the socket: {e}")))?;
        Ok(Socket { stream })
    }
}

/// A job's socket.
pub struct Socket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Socket {
    /// The next event about `prompt_id`; `Ok(None)` when the socket closed. Messages
    /// about other jobs are skipped.
    pub async fn next(&mut self, prompt_id: &str) -> Result<Option<Event>, CallError> {
        loop {
            let Some(message) = self.stream.next().await else {
                return Ok(None);
            };
            let message =
                message.map_err(|e| CallError::Network(format!("the socket failed: {e}")))?;
            let text = match message {
                Message::Text(t) => t,
                Message::Close(_) => return Ok(None),
                // Previews: the socket is the job's own (its client id), so event 1's
                // are ours; event 4's name their prompt.
                Message::Binary(frame) => match preview_of(&frame, prompt_id) {
                    Some(image) if !image.is_empty() => return Ok(Some(Event::Preview(image))),
                    _ => continue,
                },
                // Pings and pongs: not ours to read.
                _ => continue,
            };
            let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            if let Some(event) = event_of(&value, prompt_id) {
                return Ok(Some(event));
            }
        }
    }
}

/// One socket message as an event about `prompt_id`, if it is one. Messages without a
/// prompt id (older servers' `progress`) are ours: the socket is the job's own.
pub fn event_of(message: &Value, prompt_id: &str) -> Option<Event> {
    let data = &message["data"];
    let ours = data
        .get("prompt_id")
        .and_then(Value::as_str)
        .is_none_or(|p| p == prompt_id);
    if !ours {
        return None;
    }
    match message["type"].as_str()? {
        "execution_start" => Some(Event::Started),
        "executing" if data.get("node").is_some_and(Value::is_null) => {
            // The end of the job, on servers of every age (newer ones also send
            // execution_success first). Only trust it with our id.
            (data.get("prompt_id").and_then(Value::as_str) == Some(prompt_id))
                .then_some(Event::Ended(Outcome::Done))
        }
        "executing" => Some(Event::Started),
        "execution_success" => Some(Event::Ended(Outcome::Done)),
        "progress" => Some(Event::Progress {
            value: data["value"].as_u64()?,
            max: data["max"].as_u64()?.max(1),
        }),
        "execution_error" => Some(Event::Ended(Outcome::Failed(format!(
            "node {} ({}): {}",
            data["node_id"].as_str().unwrap_or("?"),
            data["node_type"].as_str().unwrap_or("?"),
            data["exception_message"]
                .as_str()
                .unwrap_or("failed")
                .trim()
        )))),
        "execution_interrupted" => Some(Event::Ended(Outcome::Interrupted)),
        _ => None,
    }
}

/// The outcome a finished history entry records, for the HTTP path.
pub fn outcome_of(entry: &Value) -> Outcome {
    let status = &entry["status"];
    match status["status_str"].as_str() {
        Some("error") => {
            let message = status["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m[0] == "execution_error")
                .map(|m| {
                    format!(
                        "node {} ({}): {}",
                        m[1]["node_id"].as_str().unwrap_or("?"),
                        m[1]["node_type"].as_str().unwrap_or("?"),
                        m[1]["exception_message"]
                            .as_str()
                            .unwrap_or("failed")
                            .trim()
                    )
                });
            let interrupted = status["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m[0] == "execution_interrupted");
            if interrupted {
                Outcome::Interrupted
            } else {
                Outcome::Failed(message.unwrap_or_else(|| "the workflow failed".into()))
            }
        }
        _ => Outcome::Done,
    }
}

/// Every image a finished history entry lists, in node order.
pub fn images_of(entry: &Value) -> Vec<ImageRef> {
    let mut out = Vec::new();
    let Some(outputs) = entry["outputs"].as_object() else {
        return out;
    };
    let mut ids: Vec<&String> = outputs.keys().collect();
    ids.sort_by_key(|id| id.parse::<u64>().unwrap_or(u64::MAX));
    for id in ids {
        for image in outputs[id]["images"].as_array().into_iter().flatten() {
            if let Some(filename) = image["filename"].as_str() {
                out.push(ImageRef {
                    filename: filename.to_owned(),
                    subfolder: image["subfolder"].as_str().unwrap_or("").to_owned(),
                    kind: image["type"].as_str().unwrap_or("output").to_owned(),
                });
            }
        }
    }
    out
}

/// A 400 from `/prompt`, as a sentence naming the nodes and what each got wrong.
fn node_errors(bytes: &[u8]) -> String {
    let Ok(answer) = serde_json::from_slice::<Value>(bytes) else {
        return articket_pool::http::snippet(bytes);
    };
    let mut parts = Vec::new();
    if let Some(nodes) = answer["node_errors"].as_object() {
        for (id, node) in nodes {
            let reasons: Vec<String> = node["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let details = e["details"].as_str().unwrap_or("");
                    let message = e["message"].as_str().unwrap_or("invalid");
                    if details.is_empty() {
                        message.to_owned()
                    } else {
                        format!("{message}: {details}")
                    }
                })
                .collect();
            parts.push(format!(
                "node {id} ({}): {}",
                node["class_type"].as_str().unwrap_or("?"),
                reasons.join("; ")
            ));
        }
    }
    if parts.is_empty() {
        let e = &answer["error"];
        parts.push(match (e["message"].as_str(), e.as_str()) {
            (Some(m), _) => format!("{m} {}", e["details"].as_str().unwrap_or(""))
                .trim()
                .to_owned(),
            (None, Some(s)) => s.to_owned(),
            _ => answer.to_string(),
        });
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_frames_give_their_image_and_skip_other_prompts() {
        let mut one = vec![0, 0, 0, 1, 0, 0, 0, 2];
        one.extend_from_slice(b"png-bytes");
        assert_eq!(preview_of(&one, "p1").as_deref(), Some(&b"png-bytes"[..]));
        let meta = br#"{"node_id":"3","prompt_id":"p2"}"#;
        let mut four = vec![0, 0, 0, 4];
        four.extend_from_slice(&(meta.len() as u32).to_be_bytes());
        four.extend_from_slice(meta);
        four.extend_from_slice(b"jpeg");
        assert_eq!(preview_of(&four, "p2").as_deref(), Some(&b"jpeg"[..]));
        assert_eq!(preview_of(&four, "p1"), None, "another job's preview");
        assert_eq!(
            preview_of(&[0, 0, 0, 3, 1], "p1"),
            None,
            "text frames are not previews"
        );
        assert_eq!(preview_of(&[0, 0], "p1"), None);
    }
}
