//! The booth behind a reverse proxy: Debian's Caddy, running the shipped
//! `deploy/Caddyfile` with its own test CA (`local_certs`) in front of a plain-HTTP
//! booth. A Chromium phone visits through it; the proxy passes WebSocket upgrades,
//! large photos and the visitor's address (`X-Forwarded-For`, believed only from
//! `trusted_proxies`). Without Caddy this test skips, except under CI.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::https::{have, trusting_browser_args, visit_over_https, DOMAIN};
use crate::util::{free_port, get_json, TestServer, OPERATOR_PASSWORD};

struct Caddy {
    dir: tempfile::TempDir,
    child: Child,
    https_port: u16,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Caddy {
    /// Caddy with the shipped Caddyfile, for `DOMAIN` on loopback, proxying to
    /// `upstream`. Only the test's global options are its own: ports, a private CA in
    /// place of Let's Encrypt, storage in a temporary folder.
    async fn start(upstream: SocketAddr) -> Option<Caddy> {
        if !have("caddy", "caddy") {
            return None;
        }
        articket_pool::http::install_tls_provider();
        let dir = tempfile::tempdir().unwrap();
        let (http_port, https_port) = (free_port(), free_port());
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Caddyfile");
        let caddyfile = dir.path().join("Caddyfile");
        std::fs::write(
            &caddyfile,
            format!(
                "{{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n\thttp_port {http_port}\n\thttps_port {https_port}\n\tstorage file_system {}\n}}\nimport {}\n",
                dir.path().join("data").display(),
                shipped.display()
            ),
        )
        .unwrap();
        let child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&caddyfile)
            .env("ARTICKET_DOMAIN", DOMAIN)
            .env("ARTICKET_UPSTREAM", upstream.to_string())
            .env("XDG_DATA_HOME", dir.path().join("xdg-data"))
            .env("XDG_CONFIG_HOME", dir.path().join("xdg-config"))
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("caddy.log")).unwrap())
            .spawn()
            .unwrap();
        let caddy = Caddy {
            dir,
            child,
            https_port,
        };
        // Caddy makes its CA and the site's certificate on start.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !caddy.ca_file("intermediate.crt").exists() || caddy.client().is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "Caddy did not start within 30 s: {}",
                caddy.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(caddy)
    }

    fn ca_file(&self, name: &str) -> std::path::PathBuf {
        self.dir
            .path()
            .join("data/pki/authorities/local")
            .join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }

    fn base(&self) -> String {
        format!("https://{DOMAIN}:{}", self.https_port)
    }

    /// A client that trusts Caddy's CA and reaches `DOMAIN` at Caddy, from
    /// 127.0.0.2, an address the booth does not trust as a proxy.
    fn client(&self) -> Option<reqwest::Client> {
        let root = std::fs::read(self.ca_file("root.crt")).ok()?;
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&root).ok()?])
            .resolve(DOMAIN, SocketAddr::from(([127, 0, 0, 1], self.https_port)))
            .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
            .cookie_store(true)
            .build()
            .ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_through_caddy_with_the_shipped_caddyfile() {
    let upstream_port = free_port();
    let Some(caddy) = Caddy::start(SocketAddr::from(([127, 0, 0, 1], upstream_port))).await else {
        return;
    };
    let public = caddy.base();
    let mut server = TestServer::start_with(|c| {
        c.server.bind = SocketAddr::from(([127, 0, 0, 1], upstream_port));
        c.server.public_url = public.clone();
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.kiosk.finished_hold_secs = 1;
    })
    .await;
    // From here on the test is a visitor: everything goes through Caddy.
    server.base = public;
    let http = caddy.client().unwrap();
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert!(health.status().is_success(), "{}", caddy.log());

    // The visitor's own address reaches the booth through the proxy's header.
    let wrong = http
        .post(server.url("/api/admin/login"))
        .json(&json!({ "password": "not the password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = http
        .post(server.url("/api/admin/login"))
        .json(&json!({ "password": OPERATOR_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 204);
    // The proxy told the booth the visitor came over HTTPS: the cookie is Secure.
    let cookie = right.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let log: Value = get_json(&http, &server, "/api/admin/log?after=0").await;
    let wrong_line = log["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["text"].as_str())
        .find(|l| l.contains("Wrong operator password"))
        .unwrap()
        .to_owned();
    assert!(wrong_line.ends_with("from 127.0.0.2"), "{wrong_line}");

    // A photo too large for the booth gets the booth's own answer, in words, not a
    // proxy's error page.
    let res = http
        .post(server.url("/api/visits/v/photo"))
        .header("content-type", "image/jpeg")
        .body(vec![0u8; 26 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body = res.text().await.unwrap();
    assert!(body.contains("The photo is too large"), "{body}");

    // The whole visit in Chromium, live paintings over wss:// through the proxy.
    let intermediate = std::fs::read_to_string(caddy.ca_file("intermediate.crt")).unwrap();
    let args = trusting_browser_args(&intermediate);
    if let Some(mut browser) = Browser::launch_with(&args).await {
        // A phone camera's full-size photo: proxies refuse bodies over 1 MB unless told.
        let photo = articket_intake::fixtures::camera_jpeg(4000, 3000, 95, 6, 7);
        assert!(photo.len() > 4 << 20, "{} bytes", photo.len());
        visit_over_https(&mut browser, &server, &photo).await;
    }
    server.stop().await;
}
