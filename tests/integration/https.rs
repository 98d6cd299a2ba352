//! HTTPS built in (`[server.tls]`), against real servers: Let's Encrypt's test ACME
//! server Pebble (Debian's `pebble`, with `pebble-challtestsrv` answering DNS for the
//! test domain), started here on loopback. The booth gets its certificate through a
//! real TLS-ALPN-01 (or HTTP-01) challenge, serves it, renews it, and a Chromium phone
//! visits over it. Without Pebble these tests skip, except under CI, where they fail.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::Digest as _;

use crate::browser::Browser;
use crate::e2e::{open_kiosk, open_phone, send_photo, wait_for_qr, FOUR_DONE, TICKET_SHOWN};
use crate::util::{camera_photo, free_port, TestServer, OPERATOR_PASSWORD};

/// The domain the booth gets its certificate for. challtestsrv answers 127.0.0.1 for it.
pub const DOMAIN: &str = "booth.articket.test";

/// A client that trusts only the CA in `root_pem` and reaches `DOMAIN` at `addr`.
pub fn trusting(root_pem: &str, addr: SocketAddr) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(root_pem.as_bytes()).unwrap()])
        .resolve(DOMAIN, addr)
}

/// Whether `tool` runs; outside CI a missing tool skips the test.
pub fn have(tool: &str, package: &str) -> bool {
    let found = Command::new(tool)
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is not installed (apt install {package})"
        );
        eprintln!("skipped: {tool} is not installed (apt install {package})");
    }
    found
}

/// A certificate authority made for one test, and a server certificate it signed.
pub struct TestCa {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(names: &[&str]) -> TestCa {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Articket test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        TestCa {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Pebble and its DNS, running until dropped.
pub struct Pebble {
    pub dir: tempfile::TempDir,
    acme_port: u16,
    management_port: u16,
    /// The CA of Pebble's own HTTPS listener (not of the certificates it issues).
    pub listener_root: PathBuf,
    children: Vec<Child>,
    http: reqwest::Client,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Pebble {
    /// Starts challtestsrv (DNS: every name is 127.0.0.1) and Pebble, which checks
    /// TLS-ALPN-01 on `tls_port` and HTTP-01 on `http_port`, issuing certificates valid
    /// for `validity_secs`. `None` when Pebble is not installed (outside CI).
    pub async fn start(tls_port: u16, http_port: u16, validity_secs: u64) -> Option<Pebble> {
        if !have("pebble", "pebble") || !have("pebble-challtestsrv", "pebble") {
            return None;
        }
        articket_pool::http::install_tls_provider();
        let dir = tempfile::tempdir().unwrap();
        let listener = TestCa::new(&["localhost", "127.0.0.1"]);
        let listener_root = dir.path().join("listener-ca.pem");
        std::fs::write(&listener_root, &listener.ca_pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &listener.cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &listener.key_pem).unwrap();
        let (acme_port, management_port, dns_port, dns_management) =
            (free_port(), free_port(), free_port(), free_port());
        let config = json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme_port}"),
            "managementListenAddress": format!("127.0.0.1:{management_port}"),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity_secs,
        }});
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let dns = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .stdout(log("dns.log"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            // No artificial waits, and no nonces refused at random: the test's time
            // and outcome depend on the booth alone.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            // Every order needs a fresh challenge (renewals included).
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log("pebble.log"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let root = reqwest::Certificate::from_pem(listener.ca_pem.as_bytes()).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .unwrap();
        let pebble = Pebble {
            dir,
            acme_port,
            management_port,
            listener_root,
            children: vec![dns, pebble],
            http,
        };
        for _ in 0..200 {
            if pebble.http.get(pebble.directory()).send().await.is_ok() {
                return Some(pebble);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("Pebble did not answer within 5 s: {}", pebble.log());
    }

    pub fn directory(&self) -> String {
        format!("https://localhost:{}/dir", self.acme_port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// A certificate of Pebble's chain, PEM: `roots/0` or `intermediates/0`.
    pub async fn chain_pem(&self, which: &str) -> String {
        let url = format!("https://localhost:{}/{which}", self.management_port);
        let res = self.http.get(url).send().await.unwrap();
        assert!(res.status().is_success(), "{which}: {}", res.status());
        res.text().await.unwrap()
    }

    /// What Pebble knows of the certificate with this serial (hex): it issued it.
    pub async fn issued(&self, serial: &str) -> Value {
        let url = format!(
            "https://localhost:{}/cert-status-by-serial/{serial}",
            self.management_port
        );
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(
            res.status(),
            200,
            "Pebble never issued the served certificate {serial}"
        );
        res.json().await.unwrap()
    }
}

/// The base64 SHA-256 of a PEM certificate's public key, as Chromium's
/// `--ignore-certificate-errors-spki-list` takes it.
pub fn spki_hash(pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let digest = sha2::Sha256::digest(cert.tbs_certificate.subject_pki.raw);
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The certificate a TLS server at `addr` presents for `DOMAIN`, trusting only `root`:
/// (serial in hex, DNS names). Fails if the chain does not lead to `root`.
pub async fn served_certificate(addr: SocketAddr, root_pem: &str) -> (String, Vec<String>) {
    let client = trusting(root_pem, addr).tls_info(true).build().unwrap();
    let res = client
        .get(format!("https://{DOMAIN}:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("HTTPS with the ACME server's root: {e:?}"));
    assert!(res.status().is_success());
    let info = res.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    let der = info.peer_certificate().unwrap().to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let names = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    let serial = cert.tbs_certificate.raw_serial_as_string().replace(':', "");
    (serial, names)
}

/// A booth launched like `articket serve` (its own listeners, `[server.tls]`), once
/// it answers HTTPS for `DOMAIN` trusting `root`.
async fn launch_booth(
    tweak: impl FnOnce(&mut articket_web::Config),
    trust_root: &str,
) -> (TestServer, SocketAddr) {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = articket_web::Config::default();
    config.server.data_dir = tmp.path().to_owned();
    config.limits.uploads_per_minute = 0;
    config.admin.password = Some(OPERATOR_PASSWORD.into());
    config.kiosk.finished_hold_secs = 1;
    tweak(&mut config);
    let listeners = articket_web::Listeners::bind(&config).await.unwrap();
    let addr = listeners.main.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(articket_web::launch(
        config,
        listeners,
        |_| {},
        async move {
            let _ = rx.await;
        },
    ));
    let client = trusting(trust_root, addr).build().unwrap();
    let health = format!("https://{DOMAIN}:{}/healthz", addr.port());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(&health).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(!task.is_finished(), "the booth stopped: {:?}", task.await);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the booth did not answer HTTPS within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = format!("https://{DOMAIN}:{}", addr.port());
    (TestServer::running(base, tmp, tx, task), addr)
}

/// The ACME settings for a booth on `tls_port` in front of `pebble`.
fn acme(config: &mut articket_web::Config, pebble: &Pebble, tls_port: u16, http_port: u16) {
    config.server.bind = SocketAddr::from(([127, 0, 0, 1], tls_port));
    let tls = &mut config.server.tls;
    tls.mode = articket_web::config::TlsMode::Acme;
    tls.domains = vec![DOMAIN.into()];
    tls.contact = "ops@articket.test".into();
    tls.directory = pebble.directory();
    tls.directory_root = pebble.listener_root.clone();
    tls.redirect_from = format!("127.0.0.1:{http_port}");
}

/// The Chromium switches for a phone that reaches `DOMAIN` at 127.0.0.1 and trusts the
/// chain whose intermediate is `intermediate_pem` (a test CA, like Pebble's, that no
/// system trusts).
pub fn trusting_browser_args(intermediate_pem: &str) -> Vec<String> {
    vec![
        format!("--host-resolver-rules=MAP {DOMAIN} 127.0.0.1"),
        format!(
            "--ignore-certificate-errors-spki-list={}",
            spki_hash(intermediate_pem)
        ),
        // Linux builds keep the Web Share API behind a switch; phones have it.
        "--enable-features=WebShare".into(),
    ]
}

/// The phone's visit over HTTPS, as the e2e test plays it: QR code, join, upload, four
/// live paintings over `wss://`, the ticket, and the share sheet offered for it.
pub async fn visit_over_https(browser: &mut Browser, server: &TestServer, jpeg: &[u8]) {
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("me.jpg");
    std::fs::write(&photo, jpeg).unwrap();
    let kiosk = open_kiosk(browser, server).await;
    let join_url = wait_for_qr(browser, &kiosk, None).await;
    assert!(
        join_url.starts_with(&server.url("/j/")),
        "the QR code names the HTTPS address: {join_url}"
    );
    let phone = open_phone(browser, &join_url).await;
    assert_eq!(
        browser.eval(&phone, "window.isSecureContext").await,
        json!(true)
    );
    send_photo(browser, &phone, "Ada", &photo).await;
    browser.tap(&phone, "#send").await;
    browser
        .wait_for(&phone, FOUR_DONE, Duration::from_secs(90), "four paintings")
        .await;
    browser
        .wait_for(&phone, TICKET_SHOWN, Duration::from_secs(10), "the ticket")
        .await;
    browser
        .wait_for(
            &kiosk,
            FOUR_DONE,
            Duration::from_secs(10),
            "four on the kiosk",
        )
        .await;
    // The live events came over an encrypted socket.
    let sockets: Vec<String> = browser
        .requests(&phone)
        .into_iter()
        .filter(|u| u.starts_with("ws"))
        .collect();
    assert!(
        !sockets.is_empty() && sockets.iter().all(|u| u.starts_with("wss://")),
        "{sockets:?}"
    );
    // Saving the ticket can offer the share sheet (Web Share needs HTTPS).
    let can_share = browser
        .eval(
            &phone,
            "(async () => {
               const url = document.getElementById('save-ticket').getAttribute('href');
               const blob = await (await fetch(url, { credentials: 'same-origin' })).blob();
               const file = new File([blob], 'articket-ticket.png', { type: 'image/png' });
               return typeof navigator.canShare === 'function' && navigator.canShare({ files: [file] });
             })()",
        )
        .await;
    assert_eq!(can_share, json!(true), "navigator.canShare with the ticket");
    for (tab, page) in [(&kiosk, "kiosk"), (&phone, "phone")] {
        crate::e2e::assert_first_party(browser, tab, server, page);
        browser.assert_clean(tab, page).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booth_gets_its_certificate_from_pebble_serves_a_phone_visit_over_it_and_renews_it() {
    let (tls_port, http_port) = (free_port(), free_port());
    // Certificates of 30 s: the booth renews with a third left, 20 s in.
    let Some(pebble) = Pebble::start(tls_port, http_port, 30).await else {
        return;
    };
    let root = pebble.chain_pem("roots/0").await;
    let (server, addr) = launch_booth(|c| acme(c, &pebble, tls_port, http_port), &root).await;

    // The certificate served is the one Pebble issued, for the domain, through a chain
    // to Pebble's root.
    let (serial, names) = served_certificate(addr, &root).await;
    assert_eq!(names, [format!("DNSName({DOMAIN})")]);
    let status = pebble.issued(&serial).await;
    assert_eq!(status["Status"], "Valid", "{status}");
    let cached = server.data_dir.join("tls/cert.pem");
    assert!(
        cached.exists(),
        "the certificate is kept in the data folder"
    );

    // HTTPS niceties: HSTS, Secure cookies, and port 80 sends browsers over.
    let https = trusting(&root, addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = https.get(server.url("/")).send().await.unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let login = https
        .post(server.url("/api/admin/login"))
        .json(&json!({ "password": OPERATOR_PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let plain = https
        .get(format!("http://127.0.0.1:{http_port}/kiosk?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 308);
    assert_eq!(
        plain.headers()["location"],
        format!("https://{DOMAIN}:{tls_port}/kiosk?x=1")
    );

    // A phone visit over it, in Chromium trusting Pebble's chain.
    let intermediate = pebble.chain_pem("intermediates/0").await;
    if let Some(mut browser) = Browser::launch_with(&trusting_browser_args(&intermediate)).await {
        visit_over_https(&mut browser, &server, &camera_photo()).await;
    }

    // Renewed before it ends: a new certificate from Pebble, served without a restart.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let renewed = loop {
        let (now, _) = served_certificate(addr, &root).await;
        if now != serial {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not renewed within 40 s: {}",
            pebble.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(pebble.issued(&renewed).await["Status"], "Valid");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_on_port_80_also_gets_a_certificate_and_a_restart_reuses_the_cached_one() {
    let (tls_port, http_port) = (free_port(), free_port());
    let Some(pebble) = Pebble::start(tls_port, http_port, 3600).await else {
        return;
    };
    let root = pebble.chain_pem("roots/0").await;
    let data = tempfile::tempdir().unwrap();
    let tweak = |c: &mut articket_web::Config| {
        acme(c, &pebble, tls_port, http_port);
        c.server.tls.challenge = articket_web::config::Challenge::Http01;
        c.server.tls.cache_dir = data.path().to_owned();
    };
    let (server, addr) = launch_booth(tweak, &root).await;
    let (first, _) = served_certificate(addr, &root).await;
    assert_eq!(pebble.issued(&first).await["Status"], "Valid");
    server.stop().await;
    // The next run serves the cached certificate: no new order (rate limits).
    let orders = pebble.log().matches("Issued certificate serial").count();
    let (server, addr) = launch_booth(tweak, &root).await;
    let (again, _) = served_certificate(addr, &root).await;
    assert_eq!(again, first);
    assert_eq!(
        pebble.log().matches("Issued certificate serial").count(),
        orders
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_the_authority_cannot_reach_stops_the_start_and_says_what_to_check() {
    // Pebble checks a port where no booth answers.
    let (tls_port, http_port) = (free_port(), free_port());
    let Some(pebble) = Pebble::start(free_port(), http_port, 3600).await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut config = articket_web::Config::default();
    config.server.data_dir = tmp.path().to_owned();
    acme(&mut config, &pebble, tls_port, http_port);
    let listeners = articket_web::Listeners::bind(&config).await.unwrap();
    let err = articket_web::launch(config, listeners, |_| panic!("not ready"), async {})
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    eprintln!("{text}");
    assert!(
        text.contains(&format!("cannot get a certificate for {DOMAIN}")),
        "{text}"
    );
    assert!(text.contains("port 443"), "{text}");
    assert!(text.contains("firewall"), "{text}");
    // The data folder is free again: the booth can start once it is fixed.
    assert!(articket_web::Listeners::bind(&articket_web::Config {
        server: articket_web::config::ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], tls_port)),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .is_ok());
}

/// `mode = "files"`: a certificate from a file, read again when the file changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_files_is_served_and_read_again_when_replaced() {
    articket_pool::http::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let first = TestCa::new(&[DOMAIN]);
    let (cert, key) = (
        dir.path().join("fullchain.pem"),
        dir.path().join("privkey.pem"),
    );
    let write = |ca: &TestCa| {
        std::fs::write(&cert, format!("{}{}", ca.cert_pem, ca.ca_pem)).unwrap();
        std::fs::write(&key, &ca.key_pem).unwrap();
    };
    write(&first);
    let tweak = |c: &mut articket_web::Config| {
        c.server.bind = "127.0.0.1:0".parse().unwrap();
        c.server.tls.mode = articket_web::config::TlsMode::Files;
        c.server.tls.cert = cert.clone();
        c.server.tls.key = key.clone();
        c.server.tls.redirect_from = String::new();
    };
    let (server, addr) = launch_booth(tweak, &first.ca_pem).await;
    // No domains configured: the certificate's name is the public address.
    assert_eq!(server.base, format!("https://{DOMAIN}:{}", addr.port()));
    let (serial, _) = served_certificate(addr, &first.ca_pem).await;

    let second = TestCa::new(&[DOMAIN]);
    write(&second);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let client = trusting(&second.ca_pem, addr).build().unwrap();
        if client
            .get(format!("https://{DOMAIN}:{}/healthz", addr.port()))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was not served within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (now, _) = served_certificate(addr, &second.ca_pem).await;
    assert_ne!(now, serial);
    // A broken replacement keeps the served certificate.
    std::fs::write(&key, "not a key").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(served_certificate(addr, &second.ca_pem).await.0, now);
    server.stop().await;
}

#[tokio::test]
async fn a_missing_certificate_file_stops_the_start_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = articket_web::Config::default();
    config.server.data_dir = tmp.path().to_owned();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.server.tls.mode = articket_web::config::TlsMode::Files;
    config.server.tls.cert = tmp.path().join("nope.pem");
    config.server.tls.key = tmp.path().join("nope.key");
    config.server.tls.redirect_from = String::new();
    let listeners = articket_web::Listeners::bind(&config).await.unwrap();
    let err = articket_web::launch(config, listeners, |_| {}, async {})
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("nope.pem") && text.contains("server.tls.cert"),
        "{text}"
    );
}

#[tokio::test]
async fn a_busy_port_says_how_to_find_who_holds_it() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = articket_web::Config::default();
    config.server.bind = holder.local_addr().unwrap();
    let err = articket_web::Listeners::bind(&config).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("(server.bind)") && text.contains("ss -ltnp"),
        "{text}"
    );
}
