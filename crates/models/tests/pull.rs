//! `models pull` against a local fake hub that answers the hub's routes as the real one
//! does: the repository listing with sizes and LFS sha256, `resolve` redirecting large
//! files to a CDN path that honours ranges and `If-Range`, and a gated repository.
//! Faults: a transfer that breaks off mid-body, and a file whose bytes do not match.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use articket_models::hub::{sha256_of, Hub, Progress};
use articket_models::{pull, Consent, PullError, Target};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Default)]
struct Fake {
    /// Path → bytes, for every file of `acme/tiny-turbo`.
    files: HashMap<String, Vec<u8>>,
    /// Files whose first transfer breaks off halfway.
    break_once: Mutex<Vec<String>>,
    /// Files served with other bytes than their listed checksum.
    corrupt: Vec<String>,
    /// Every download request: (file, Range header).
    seen: Mutex<Vec<(String, Option<String>)>>,
    listings: Mutex<usize>,
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Large files are LFS files: the hub lists their sha256 and redirects to the CDN.
fn is_lfs(name: &str) -> bool {
    name.ends_with(".safetensors")
}

fn repo_files() -> HashMap<String, Vec<u8>> {
    let big = |seed: u8, n: usize| (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
    let mut m = HashMap::new();
    m.insert(
        "model_index.json".into(),
        br#"{"_class_name":"StableDiffusionPipeline"}"#.to_vec(),
    );
    m.insert(
        "unet/config.json".into(),
        br#"{"cross_attention_dim":1024}"#.to_vec(),
    );
    m.insert(
        "unet/diffusion_pytorch_model.fp16.safetensors".into(),
        big(1, 300_000),
    );
    m.insert(
        "unet/diffusion_pytorch_model.safetensors".into(),
        big(2, 600_000),
    );
    m.insert("vae/config.json".into(), b"{}".to_vec());
    m.insert(
        "vae/diffusion_pytorch_model.fp16.safetensors".into(),
        big(3, 120_000),
    );
    m.insert("README.md".into(), b"# tiny".to_vec());
    m.insert("unet/diffusion_pytorch_model.bin".into(), big(4, 1000));
    m
}

async fn listing(
    State(fake): State<Arc<Fake>>,
    Path((owner, repo, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    *fake.listings.lock().unwrap() += 1;
    if owner == "gated" && headers.get("authorization").is_none() {
        return (StatusCode::UNAUTHORIZED, "gated").into_response();
    }
    if owner != "acme" && owner != "gated" || repo != "tiny-turbo" || rev != "main" {
        return (StatusCode::NOT_FOUND, "Repository not found").into_response();
    }
    let siblings: Vec<_> = fake
        .files
        .iter()
        .map(|(name, bytes)| {
            if is_lfs(name) {
                json!({"rfilename": name, "size": bytes.len(), "lfs": {"sha256": sha(bytes), "size": bytes.len(), "pointerSize": 134}})
            } else {
                json!({"rfilename": name, "size": bytes.len()})
            }
        })
        .collect();
    axum::Json(json!({"id": format!("{owner}/{repo}"), "sha": COMMIT, "siblings": siblings, "gated": false}))
        .into_response()
}

async fn resolve(
    State(fake): State<Arc<Fake>>,
    Path((_owner, _repo, rev, file)): Path<(String, String, String, String)>,
) -> Response {
    assert_eq!(rev, COMMIT, "files are fetched at the listing's commit");
    let Some(bytes) = fake.files.get(&file) else {
        return (StatusCode::NOT_FOUND, "Entry not found").into_response();
    };
    if is_lfs(&file) {
        return Response::builder()
            .status(StatusCode::FOUND)
            .header("location", format!("/cdn/{file}"))
            .header("x-linked-etag", format!("\"{}\"", sha(bytes)))
            .body(Body::empty())
            .unwrap();
    }
    fake.seen.lock().unwrap().push((file.clone(), None));
    bytes.clone().into_response()
}

async fn cdn(
    State(fake): State<Arc<Fake>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut bytes = fake.files[&file].clone();
    let etag = format!("\"{}\"", sha(&bytes));
    if fake.corrupt.contains(&file) {
        bytes[7] ^= 0xff;
    }
    let range = headers.get("range").map(|v| v.to_str().unwrap().to_owned());
    fake.seen
        .lock()
        .unwrap()
        .push((file.clone(), range.clone()));
    let if_range_ok = headers
        .get("if-range")
        .is_none_or(|v| v.to_str().unwrap() == etag);
    let start = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) if if_range_ok => r.trim_end_matches('-').parse::<usize>().unwrap(),
        _ => 0,
    };
    let mut list = fake.break_once.lock().unwrap();
    if let Some(i) = list.iter().position(|f| *f == file) {
        list.remove(i);
        // Headers promise the whole file; half arrives, then the connection drops.
        use futures_util::StreamExt as _;
        let half = bytes[..bytes.len() / 2].to_vec();
        let first = futures_util::stream::iter([Ok::<_, std::io::Error>(half)]);
        // The half goes out on the wire before the connection drops.
        let then_drop = futures_util::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            Err(std::io::Error::other("connection reset"))
        });
        return Response::builder()
            .header("content-length", bytes.len())
            .header("etag", &etag)
            .body(Body::from_stream(first.chain(then_drop)))
            .unwrap();
    }
    let status = if start > 0 {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut res = Response::builder()
        .status(status)
        .header("etag", &etag)
        .header("accept-ranges", "bytes");
    if start > 0 {
        res = res.header(
            "content-range",
            format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()),
        );
    }
    res.body(Body::from(bytes[start..].to_vec())).unwrap()
}

async fn start(fake: Fake) -> (String, Arc<Fake>) {
    let fake = Arc::new(fake);
    let app = Router::new()
        .route("/api/models/{owner}/{repo}/revision/{rev}", get(listing))
        .route("/{owner}/{repo}/resolve/{rev}/{*file}", get(resolve))
        .route("/cdn/{*file}", get(cdn))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), fake)
}

#[derive(Default)]
struct Quiet {
    resumed: Vec<(String, u64)>,
}

impl Progress for Quiet {
    fn started(&mut self, file: &str, _total: Option<u64>, resumed_from: u64) {
        if resumed_from > 0 {
            self.resumed.push((file.to_owned(), resumed_from));
        }
    }
    fn advanced(&mut self, _done: u64) {}
    fn finished(&mut self) {}
}

/// `pull` at the repository's main branch, printing nothing.
async fn pull_main(
    hub: &Hub,
    target: &Target,
    models: &std::path::Path,
    consent: Consent<'_>,
) -> Result<std::path::PathBuf, PullError> {
    pull(hub, target, "main", models, consent, &mut Quiet::default()).await
}

fn target() -> Target {
    Target::parse("acme/tiny-turbo").unwrap()
}

#[tokio::test]
async fn a_pull_fetches_the_fp16_weights_and_configs_checks_them_and_resumes_a_broken_transfer() {
    let files = repo_files();
    let (url, fake) = start(Fake {
        files: files.clone(),
        break_once: Mutex::new(vec!["unet/diffusion_pytorch_model.fp16.safetensors".into()]),
        ..Default::default()
    })
    .await;
    let hub = Hub::new(&url, None).unwrap();
    let models = tempfile::tempdir().unwrap();
    let mut progress = Quiet::default();
    let dir = pull(
        &hub,
        &target(),
        "main",
        models.path(),
        Consent::Given,
        &mut progress,
    )
    .await
    .unwrap();
    assert_eq!(dir, models.path().join("tiny-turbo"));
    // Exactly what the engine reads: no full-precision twin, no .bin, no README.
    let mut got: Vec<String> = Vec::new();
    for f in files.keys() {
        if dir.join(f).is_file() {
            got.push(f.clone());
        }
    }
    got.sort();
    assert_eq!(
        got,
        [
            "model_index.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.fp16.safetensors",
            "vae/config.json",
            "vae/diffusion_pytorch_model.fp16.safetensors",
        ]
    );
    for f in &got {
        assert_eq!(std::fs::read(dir.join(f)).unwrap(), files[f], "{f}");
    }
    // The broken transfer resumed where it stopped, with a range request.
    let unet = "unet/diffusion_pytorch_model.fp16.safetensors";
    let half = files[unet].len() / 2;
    assert_eq!(progress.resumed, [(unet.to_owned(), half as u64)]);
    let seen = fake.seen.lock().unwrap().clone();
    assert!(
        seen.contains(&(unet.to_owned(), Some(format!("bytes={half}-")))),
        "{seen:?}"
    );
    assert_eq!(
        sha256_of(&dir.join(unet)).unwrap(),
        sha(&files[unet]),
        "checked against the hub's sha256"
    );
    assert!(!dir.join(format!("{unet}.part")).exists());

    // Pulling again downloads nothing.
    let before = fake.seen.lock().unwrap().len();
    pull_main(&hub, &target(), models.path(), Consent::Given)
        .await
        .unwrap();
    assert_eq!(fake.seen.lock().unwrap().len(), before);

    // `models list` says what it is and how big.
    let list = articket_models::list(models.path()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].family, "SD 2.x");
    assert_eq!(list[0].unfinished, 0);
    assert!(list[0].bytes >= 420_000, "{}", list[0].bytes);
}

#[tokio::test]
async fn a_part_left_by_a_killed_pull_is_resumed_and_a_corrupt_file_is_caught() {
    let files = repo_files();
    let vae = "vae/diffusion_pytorch_model.fp16.safetensors";
    let (url, fake) = start(Fake {
        files: files.clone(),
        corrupt: vec![vae.into()],
        ..Default::default()
    })
    .await;
    let hub = Hub::new(&url, None).unwrap();
    let models = tempfile::tempdir().unwrap();
    // A previous pull was killed 100 kB into the UNet.
    let unet = "unet/diffusion_pytorch_model.fp16.safetensors";
    let dir = models.path().join("tiny-turbo");
    std::fs::create_dir_all(dir.join("unet")).unwrap();
    std::fs::write(dir.join(format!("{unet}.part")), &files[unet][..100_000]).unwrap();
    let err = pull_main(&hub, &target(), models.path(), Consent::Given)
        .await
        .unwrap_err();
    // The corrupt file fails the pull with its name, and its part is gone.
    let msg = err.to_string();
    assert!(
        matches!(err, PullError::Hub(_)) && msg.contains(vae) && msg.contains("checksum"),
        "{msg}"
    );
    assert!(!dir.join(vae).exists() && !dir.join(format!("{vae}.part")).exists());
    // The UNet resumed from the killed pull's 100 kB and is whole.
    let seen = fake.seen.lock().unwrap().clone();
    assert!(
        seen.contains(&(unet.to_owned(), Some("bytes=100000-".into()))),
        "{seen:?}"
    );
    assert_eq!(std::fs::read(dir.join(unet)).unwrap(), files[unet]);
}

#[tokio::test]
async fn the_licence_is_asked_once_and_a_no_downloads_nothing() {
    let (url, fake) = start(Fake {
        files: repo_files(),
        ..Default::default()
    })
    .await;
    let hub = Hub::new(&url, None).unwrap();
    let models = tempfile::tempdir().unwrap();
    let mut no = Cursor::new(b"n\n".to_vec());
    let err = pull_main(&hub, &target(), models.path(), Consent::Ask(&mut no))
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::Declined), "{err}");
    assert_eq!(
        *fake.listings.lock().unwrap(),
        0,
        "nothing asked of the hub"
    );
    assert!(!models.path().join("tiny-turbo").exists());

    let mut yes = Cursor::new(b"y\n".to_vec());
    pull_main(&hub, &target(), models.path(), Consent::Ask(&mut yes))
        .await
        .unwrap();
    assert!(models.path().join("tiny-turbo/.licence-accepted").is_file());
    // Asked once: an input with no answer is not read again.
    let mut silent = Cursor::new(Vec::new());
    pull_main(&hub, &target(), models.path(), Consent::Ask(&mut silent))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_gated_repository_asks_for_hf_token_and_an_unknown_one_says_so() {
    let (url, _fake) = start(Fake {
        files: repo_files(),
        ..Default::default()
    })
    .await;
    let models = tempfile::tempdir().unwrap();
    let gated = Target::parse("gated/tiny-turbo").unwrap();
    let hub = Hub::new(&url, None).unwrap();
    let err = pull_main(&hub, &gated, models.path(), Consent::Given)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("HF_TOKEN"), "{err}");
    let with_token = Hub::new(&url, Some("hf_test".into())).unwrap();
    pull_main(&with_token, &gated, models.path(), Consent::Given)
        .await
        .unwrap();

    let missing = Target::parse("acme/no-such-model").unwrap();
    let err = pull_main(&hub, &missing, models.path(), Consent::Given)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no such repository"), "{err}");
    let err = Target::parse("sd-trubo").unwrap_err().to_string();
    assert!(err.contains("sd-turbo"), "{err}");
}
