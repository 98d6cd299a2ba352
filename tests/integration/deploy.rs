//! docs/deploy.md, followed command by command: the guide's "A public host, step by
//! step" section is read from the file and every command in it is run, in order, with
//! the machine's paths moved into a temporary root, the ports moved to free loopback
//! ports, and Pebble in place of Let's Encrypt. Commands that change the machine itself
//! (DNS, firewall, system users, systemd) are listed here by name, so that a new step
//! in the guide either runs or is added to that list on purpose.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::https::{have, served_certificate, Pebble, DOMAIN};
use crate::util::{free_port, Booth};

/// One step of the guide: a shell command, or a file to write.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Run(String),
    Write(String, String),
}

/// The steps of the markdown section `heading`: ```sh blocks (one command a line,
/// `\` continues a line) and ```toml PATH blocks (a file's content). Other blocks are
/// examples, not steps.
fn steps(markdown: &str, heading: &str) -> Vec<Step> {
    let start = markdown.find(heading).expect("the guide's section");
    let rest = &markdown[start + heading.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut out = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut body = Vec::new();
        for inner in lines.by_ref() {
            if inner.starts_with("```") {
                break;
            }
            body.push(inner);
        }
        let mut words = info.split_whitespace();
        match (words.next(), words.next()) {
            (Some("sh"), None) => {
                let mut command = String::new();
                for line in body {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    match line.strip_suffix('\\') {
                        Some(part) => command.push_str(part),
                        None => {
                            command.push_str(line);
                            out.push(Step::Run(std::mem::take(&mut command)));
                        }
                    }
                }
            }
            (Some("toml"), Some(path)) => {
                out.push(Step::Write(path.into(), body.join("\n") + "\n"))
            }
            _ => {}
        }
    }
    out
}

/// Commands that change the machine itself, and what stands in for them here.
const MACHINE_ONLY: &[&str] = &[
    "dig +short booth.example.org",
    "ufw allow 443/tcp",
    "ufw allow 80/tcp",
    "useradd --system --home-dir /var/lib/articket --create-home --shell /usr/sbin/nologin articket",
    "chgrp articket /etc/articket/articket.toml",
    "systemctl daemon-reload",
    "journalctl -u articket -n 30",
];

#[test]
fn the_guides_steps_are_read_from_its_code_blocks() {
    let md = "## A\n```sh\nsudo a \\\n  --b\n# a note\nc\n```\n```toml /etc/x.toml\nk = 1\n```\n```toml\nexample = true\n```\n## B\n```sh\nnot this\n```\n";
    assert_eq!(
        steps(md, "## A"),
        [
            Step::Run("sudo a --b".into()),
            Step::Run("c".into()),
            Step::Write("/etc/x.toml".into(), "k = 1\n".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_guide_works_command_by_command() {
    if !have("curl", "curl") {
        return;
    }
    let (tls_port, http_port) = (free_port(), free_port());
    let Some(pebble) = Pebble::start(tls_port, http_port, 3600).await else {
        return;
    };
    let pebble_root = pebble.dir.path().join("issuing-root.pem");
    let root_pem = pebble.chain_pem("roots/0").await;
    std::fs::write(&pebble_root, &root_pem).unwrap();

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(repo.join("docs/deploy.md")).unwrap();
    let steps = steps(&guide, "## A public host, step by step");
    // A fresh machine: the usual folders, nothing of ours.
    let machine = tempfile::tempdir().unwrap();
    let root = machine.path();
    for dir in ["usr/local/bin", "etc/systemd/system", "var/lib"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let at = |path: &str| format!("{}{path}", root.display());
    let replacements: Vec<(String, String)> = vec![
        ("sudo -u articket ".into(), String::new()),
        ("sudo ".into(), String::new()),
        ("target/release/articket".into(), env!("CARGO_BIN_EXE_articket").into()),
        ("/usr/local/bin/".into(), at("/usr/local/bin/")),
        ("/etc/".into(), at("/etc/")),
        ("/var/lib/articket".into(), at("/var/lib/articket")),
        ("deploy/".into(), format!("{}/deploy/", repo.display())),
        ("0.0.0.0:443".into(), format!("127.0.0.1:{tls_port}")),
        ("0.0.0.0:80".into(), format!("127.0.0.1:{http_port}")),
        (
            "\"https://acme-v02.api.letsencrypt.org/directory\"".into(),
            format!(
                "\"{}\"\ndirectory_root = \"{}\"",
                pebble.directory(),
                pebble.listener_root.display()
            ),
        ),
        ("https://booth.example.org".into(), format!("https://{DOMAIN}:{tls_port}")),
        ("http://booth.example.org".into(), format!("http://{DOMAIN}:{http_port}")),
        ("booth.example.org".into(), DOMAIN.into()),
        (
            "curl ".into(),
            format!(
                "curl --resolve {DOMAIN}:{tls_port}:127.0.0.1 --resolve {DOMAIN}:{http_port}:127.0.0.1 --cacert {} ",
                pebble_root.display()
            ),
        ),
    ];
    let local = |text: &str| {
        // Leading `sudo` only; the rest in order, each once over the original text's
        // pieces (so a replacement's output is never replaced again).
        let mut pieces = vec![(text.to_owned(), false)];
        for (from, to) in &replacements {
            let mut next = Vec::new();
            for (piece, done) in pieces {
                if done {
                    next.push((piece, true));
                    continue;
                }
                let mut rest = piece.as_str();
                while let Some(i) = rest.find(from.as_str()) {
                    next.push((rest[..i].to_owned(), false));
                    next.push((to.clone(), true));
                    rest = &rest[i + from.len()..];
                }
                next.push((rest.to_owned(), false));
            }
            pieces = next;
        }
        pieces.into_iter().map(|(p, _)| p).collect::<String>()
    };

    let mut skipped = Vec::new();
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    let mut password_hash = None;
    let mut service: Option<Booth> = None;
    for step in &steps {
        match step {
            Step::Write(path, content) => {
                let hash = password_hash
                    .as_deref()
                    .expect("hash-password runs before the config");
                let content = local(content).replace("PASTE WHAT hash-password PRINTED", hash);
                std::fs::write(local(path), content).unwrap();
            }
            Step::Run(command) => {
                let plain = command
                    .trim_start_matches("sudo -u articket ")
                    .trim_start_matches("sudo ");
                if MACHINE_ONLY.contains(&plain) {
                    if plain.starts_with("useradd") {
                        // What useradd --create-home makes.
                        std::fs::create_dir_all(root.join("var/lib/articket")).unwrap();
                    }
                    skipped.push(plain.to_owned());
                    continue;
                }
                if plain == "systemctl enable --now articket" {
                    let unit = PathBuf::from(local("/etc/systemd/system/articket.service"));
                    service = Some(start_unit(&unit, &local, &root.join("booth.log")));
                    continue;
                }
                let mut child = Command::new("bash")
                    .args(["-c", &local(command)])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                if plain.ends_with("hash-password") {
                    use std::io::Write as _;
                    writeln!(child.stdin.take().unwrap(), "correct horse battery").unwrap();
                }
                drop(child.stdin.take());
                let out = tokio::task::spawn_blocking(move || child.wait_with_output())
                    .await
                    .unwrap()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "the guide's `{command}` failed:\n{}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    service
                        .as_ref()
                        .map_or(String::new(), |_| std::fs::read_to_string(
                            root.join("booth.log")
                        )
                        .unwrap_or_default())
                );
                let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if plain.ends_with("hash-password") {
                    password_hash = Some(stdout.clone());
                }
                outputs.insert(plain.to_owned(), stdout);
            }
        }
    }
    assert_eq!(
        skipped, MACHINE_ONLY,
        "the machine-only steps, in the guide's order"
    );
    assert!(service.is_some(), "the guide starts the service");

    // What the guide promised.
    let health = outputs
        .iter()
        .find(|(c, _)| c.contains("/healthz"))
        .map(|(_, o)| o.clone())
        .unwrap();
    assert!(health.contains("ok"), "{health}");
    let redirect = outputs
        .iter()
        .find(|(c, _)| c.contains("redirect_url"))
        .map(|(_, o)| o.clone())
        .unwrap();
    assert_eq!(redirect, format!("308 https://{DOMAIN}:{tls_port}/kiosk"));
    let (serial, _) = served_certificate(
        std::net::SocketAddr::from(([127, 0, 0, 1], tls_port)),
        &root_pem,
    )
    .await;
    assert_eq!(pebble.issued(&serial).await["Status"], "Valid");
    assert!(root.join("var/lib/articket/data/tls/cert.pem").exists());
    assert!(root
        .join("var/lib/articket/backup-1/articket.sqlite3")
        .exists());
    // The config holds a password hash only its group may read.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(root.join("etc/articket/articket.toml"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o640);
    drop(service);
}

/// `systemctl start` for the unit file at `unit`: its ExecStart, in its
/// WorkingDirectory, with its Environment (paths already moved by `local`).
fn start_unit(unit: &Path, local: &dyn Fn(&str) -> String, log: &Path) -> Booth {
    let text = std::fs::read_to_string(unit).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| local(v.trim()))
    };
    let exec = value("ExecStart").expect("ExecStart");
    let mut words = exec.split_whitespace();
    let mut command = Command::new(words.next().unwrap());
    command.args(words);
    if let Some(dir) = value("WorkingDirectory") {
        command.current_dir(dir);
    }
    for line in text.lines().filter_map(|l| l.strip_prefix("Environment=")) {
        let (k, v) = line.split_once('=').unwrap();
        command.env(k, v);
    }
    let log = std::fs::File::create(log).unwrap();
    Booth(
        command
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// The unit file is one systemd accepts as it is: no unknown keys, no bad values.
#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is not installed (apt install systemd)"
        );
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(repo.join("deploy/articket.service")).unwrap();
    for needed in [
        "User=articket",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/articket",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "Restart=on-failure",
        "NoNewPrivileges=true",
    ] {
        assert!(unit.contains(needed), "{needed}");
    }
    // verify checks that ExecStart's program exists: point it at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("articket.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/articket", env!("CARGO_BIN_EXE_articket")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    // systemd exits 0 on unknown keys too, and says so on stderr.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}
