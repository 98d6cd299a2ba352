use super::*;

fn load_str(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("articket.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load(
        Some(&path),
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

#[test]
fn defaults_need_no_file() {
    let c = Config::load(None, Vec::new()).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.server.bind.port(), 8080);
    assert!(!c.ai.enabled);
}

#[test]
fn the_example_file_parses_and_equals_the_defaults() {
    let text = include_str!("../../../articket.example.toml");
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|l| l.contains(" = ") && !l.starts_with('#'))
                .unwrap_or(l)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(load_str(&uncommented, &[]).unwrap(), Config::default());
}

#[test]
fn the_example_files_server_and_painter_samples_are_valid() {
    let text = include_str!("../../../articket.example.toml");
    let samples: String = text
        .lines()
        .map(|l| l.strip_prefix("## ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = load_str(&samples, &[]).unwrap();
    let a = &c.ai.sd;
    assert_eq!(a.servers.len(), 2);
    assert_eq!(a.servers[1].user.as_deref(), Some("booth"));
    assert_eq!(a.vangogh.width, Some(768));
    assert_eq!(
        (a.vangogh.strength_person, a.vangogh.strength_background),
        (Some(0.26), Some(0.65))
    );
    assert_eq!(
        a.vangogh.override_settings["sd_model_checkpoint"],
        "vangogh-style-v2"
    );
    assert!(a.vangogh.alwayson_scripts.contains_key("ADetailer"));
    assert_eq!(
        a.vangogh.controlnet[0].model,
        "control_v11p_sd15_lineart [43d4be0d]"
    );
    assert_eq!(a.vangogh.controlnet[0].guidance_end, 0.8);
    assert_eq!(a.vangogh.workflow, "docs/comfyui/img2img-lineart.json");
    assert_eq!(
        a.servers[1].headers["Authorization"],
        "Bearer 0123456789abcdef"
    );
    // The other painters keep their defaults.
    assert_eq!(a.renoir, articket_pool::AiSettings::default().renoir);
    assert_eq!(c.ai.local.model_dir, PathBuf::from("models/sd15"));
    assert_eq!(c.ai.local.max_batch, 8);
}

#[test]
fn env_overrides_the_file() {
    let c = load_str(
        "[server]\nbind = \"127.0.0.1:9000\"\n[upload]\nlong_side = 300\n",
        &[
            ("ARTICKET__UPLOAD__LONG_SIDE", "256"),
            ("ARTICKET__SERVER__DATA_DIR", "/tmp/booth"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.bind, "127.0.0.1:9000".parse().unwrap());
    assert_eq!(c.upload.intake.long_side, 256);
    assert_eq!(c.server.data_dir, PathBuf::from("/tmp/booth"));
}

#[test]
fn painter_knobs_are_overridden_one_by_one() {
    let c = load_str(
        "[painting.builtin.vangogh]\nstroke_length = 14\n[painting.builtin.picasso]\npalette = [\"#112233\"]\n",
        &[],
    )
    .unwrap();
    let b = &c.painting.builtin;
    assert_eq!(b.vangogh.stroke_length, 14.0);
    assert_eq!(
        b.picasso.palette,
        vec![articket_style::builtin::Hex(0x112233)]
    );
    // Everything not named keeps its default.
    let defaults = articket_style::builtin::BuiltinParams::default();
    assert_eq!(b.vangogh.swirl_size, defaults.vangogh.swirl_size);
    assert_eq!(b.renoir, defaults.renoir);
    assert_eq!(b.lichtenstein, defaults.lichtenstein);
}

#[test]
fn errors_name_the_key() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("[server]\nbind = \"nonsense\"", &[], "server.bind"),
        ("[upload]\nlong_side = 10", &[], "upload.long_side"),
        ("[upload]\nlong_side = \"big\"", &[], "upload.long_side"),
        ("[upload]\nqueue = \"many\"", &[], "upload.queue"),
        ("[ticket]\nrenoir = 5", &[], "ticket.renoir"),
        ("[print]\npaper = \"a4\"", &[], "print.paper"),
        ("[upload]\nmax_byte = 10", &[], "upload"),
        (
            "[painting]\npainters = [\"monet\"]",
            &[],
            "painting.painters",
        ),
        ("[painting]\npainters = []", &[], "painting.painters"),
        (
            "[painting.builtin.lichtenstein]\npalette = [\"#D7262B\", \"red\", \"#1F5FAD\", \"#111111\", \"#F7F3E8\", \"#F4C3A0\"]",
            &[],
            "painting.builtin.lichtenstein.palette",
        ),
        (
            "[painting.builtin.vangogh]\nstroke_length = 0",
            &[],
            "painting.builtin.vangogh.stroke_length",
        ),
        ("[painting.builtin.monet]\nx = 1", &[], "painting.builtin"),
        ("[ai]\nenabled = true\nbackend = \"a1111\"", &[], "ai.servers"),
        (
            "[ai]\nenabled = true\nbackend = \"local\"",
            &[],
            if cfg!(feature = "engine") { "ai.local.model_dir" } else { "ai.backend" },
        ),
        ("[ai.local]\nqueue = \"x\"", &[], "ai.local.queue"),
        ("[ticket]\nbackground = \"blue\"", &[], "ticket.background"),
        ("[ai]\nbackend = \"gpu\"", &[], "ai.backend"),
        ("[ai]\nenabled = true\nbackend = \"comfyui\"", &[], "ai.servers"),
        (
            "[ai]\nenabled = true\nbackend = \"comfyui\"\nservers = [{ url = \"http://gpu:8188\" }]",
            &[],
            "ai.workflow",
        ),
        (
            "[ai]\nservers = [{ url = \"http://gpu:8188\", headers = { \"Bad Name\" = \"x\" } }]",
            &[],
            "ai.servers[0].headers",
        ),
        (
            "[[ai.picasso.controlnet]]\nmodel = \"control_v11p_sd15_lineart\"\ncontrol_mode = \"bogus\"",
            &[],
            "ai.picasso.controlnet[0].control_mode",
        ),
        ("[[ai.renoir.controlnet]]\nmodule = \"canny\"", &[], "ai.renoir.controlnet[0].model"),
        ("[ai]\ndispatch = \"random\"", &[], "ai.dispatch"),
        ("[ai]\nservers = [{ url = \"gpu:7860\" }]", &[], "ai.servers[0].url"),
        ("[ai.vangogh]\nresize_mode = 0", &[], "ai.vangogh.resize_mode"),
        ("[ai.renoir]\nsteps = 2\ndenoising_strength = 0.3", &[], "ai.renoir.steps"),
        ("[ai.renoir]\nstrength_person = 1.5", &[], "ai.renoir.strength_person"),
        (
            "[ai.renoir]\nstrength_person = 0.0\nstrength_background = 0.0",
            &[],
            "ai.renoir.strength_background",
        ),
        ("[ai.picasso]\nprompt_typo = \"x\"", &[], "ai.picasso"),
        (
            "",
            &[("ARTICKET__KIOSK__IDLE_RESET_SECS", "-5")],
            "kiosk.idle_reset_secs",
        ),
        (
            "[server]\npublic_url = \"booth.local\"",
            &[],
            "server.public_url",
        ),
    ];
    for (toml, env, key) in cases {
        let err = load_str(toml, env).unwrap_err().to_string();
        assert!(err.contains(&format!("`{key}")), "{toml:?}: {err}");
    }
}

/// What an operator reads for the usual mistakes: the key, the closest valid key, the
/// section's keys, types in words, and a syntax error's line and column.
#[test]
fn mistakes_are_explained_in_an_operators_words() {
    let said = |toml: &str| load_str(toml, &[]).unwrap_err().to_string();
    let m = said("[upload]\nlong_sid = 900");
    assert!(
        m.contains("config key `upload`: unknown key `long_sid`; did you mean `long_side`?")
            && m.contains("The keys of [upload] are:")
            && m.contains("max_bytes")
            && m.contains("queue"),
        "{m}"
    );
    let m = said("[ia]\nenabled = true");
    assert!(
        m.contains("unknown section [ia]; did you mean [ai]?"),
        "{m}"
    );
    assert!(
        m.contains("ai, ") || m.contains("ai."),
        "the list names [ai]: {m}"
    );
    let m = said("[ai]\nenabeld = true");
    assert!(
        m.contains("unknown key `enabeld`; did you mean `enabled`?"),
        "{m}"
    );
    assert!(m.contains("backend") && m.contains("fallback"), "{m}");
    let m = said("[upload]\nlong_side = \"big\"");
    assert!(
        m.contains("`upload.long_side`") && m.contains("expected a whole number"),
        "{m}"
    );
    let m = said("[kiosk]\nidle_reset_secs = 1.5");
    assert!(m.contains("expected a whole number"), "{m}");
    let m = said("[upload]\nlong_side = = 3");
    assert!(
        m.contains("line 2, column") && m.contains("long_side = = 3"),
        "{m}"
    );
    let m = said("[upload]\nqueue = 1\nqueue = 2");
    assert!(m.contains("line 3") && m.contains("duplicate key"), "{m}");
}

/// A painter's section that changes one thing keeps that painter's own prompt and
/// strength (it used to fall back to a generic "a painting of …").
#[test]
fn a_partial_painter_section_keeps_the_painters_own_prompt() {
    let c = load_str(
        "[ai.picasso]\nlong_side = 512\n[ai.renoir]\nprompt = \"mine {caption}\"",
        &[],
    )
    .unwrap();
    let defaults = articket_pool::AiSettings::default();
    assert_eq!(c.ai.sd.picasso.long_side, 512);
    assert_eq!(c.ai.sd.picasso.prompt, defaults.picasso.prompt);
    assert_eq!(
        c.ai.sd.picasso.denoising_strength,
        defaults.picasso.denoising_strength
    );
    assert_eq!(c.ai.sd.renoir.prompt, "mine {caption}");
    assert_eq!(
        c.ai.sd.renoir.denoising_strength,
        defaults.renoir.denoising_strength
    );
    assert_eq!(
        c.ai.sd.vangogh, defaults.vangogh,
        "untouched sections stay whole"
    );
}

#[test]
fn loras_for_a_painter_are_the_shared_ones_then_its_own_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let lcm = dir.path().join("lcm.safetensors");
    let ink = dir.path().join("ink.safetensors");
    std::fs::write(&lcm, b"x").unwrap();
    std::fs::write(&ink, b"x").unwrap();
    let text = format!(
        "[ai]\nenabled = true\nbackend = \"local\"\n[ai.local]\nmodel_dir = \"m\"\n\
         [[ai.local.lora]]\nfile = {lcm:?}\n\
         [[ai.local.lichtenstein.lora]]\nfile = {ink:?}\nweight = 0.7\n"
    );
    let c = load_str(&text, &[]);
    if !cfg!(feature = "engine") {
        assert!(c.is_err(), "no local engine in this build");
        return;
    }
    let c = c.unwrap();
    let l = c.ai.local.loras_for(articket_style::Painter::Lichtenstein);
    assert_eq!(
        l.iter()
            .map(|e| (e.file.clone(), e.weight))
            .collect::<Vec<_>>(),
        [(lcm.clone(), 1.0), (ink.clone(), 0.7)]
    );
    assert_eq!(
        c.ai.local.loras_for(articket_style::Painter::Renoir).len(),
        1
    );

    let missing = text.replace("ink.safetensors", "gone.safetensors");
    let e = load_str(&missing, &[]).unwrap_err().to_string();
    assert!(
        e.contains("ai.local.lichtenstein.lora") && e.contains("gone.safetensors"),
        "{e}"
    );
    let heavy = text.replace("weight = 0.7", "weight = 70");
    let e = load_str(&heavy, &[]).unwrap_err().to_string();
    assert!(e.contains("out of range"), "{e}");
}

#[test]
fn backgrounds_and_matting_are_read_and_checked() {
    use articket_style::builtin::backdrop::Background;
    let c = load_str(
        "[painting]\nbackground = \"photo\"\nbackgrounds = { vangogh = \"painter\" }\n\
         [matting]\nmodel = \"m/modnet.onnx\"\nside = 256\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.painting.background, Background::Photo);
    assert_eq!(
        c.painting.backgrounds[&Painter::VanGogh],
        Background::Painter
    );
    assert_eq!(
        c.matting.model_path(),
        Some((PathBuf::from("m/modnet.onnx"), true))
    );
    assert_eq!(c.matting.side, 256);
    let err = load_str("[painting]\nbackground = \"image\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("painting.background_image"), "{err}");
    let err = load_str("[painting]\nbackgrounds = { renoir = \"image\" }\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("painting.background_image"), "{err}");
    let err = load_str("[painting]\nbackground = \"sky\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("painting.background") && err.contains("photo"),
        "{err}"
    );
    let err = load_str("[matting]\nside = 64\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("matting.side"), "{err}");
    assert_eq!(
        load_str("[matting]\nenabled = false\n", &[])
            .unwrap()
            .matting
            .model_path(),
        None
    );
}

#[test]
fn tls_is_read_from_the_file_and_the_environment_and_checked() {
    let c = load_str(
        "[server]\nbind = \"0.0.0.0:443\"\n[server.tls]\nmode = \"acme\"\ndomains = [\"booth.example.org\"]\ncontact = \"ops@example.org\"\n",
        &[("ARTICKET__SERVER__TLS__DIRECTORY", LETS_ENCRYPT_STAGING)],
    )
    .unwrap();
    let tls = &c.server.tls;
    assert_eq!(tls.mode, TlsMode::Acme);
    assert_eq!(tls.directory, LETS_ENCRYPT_STAGING);
    assert_eq!(tls.challenge, Challenge::TlsAlpn01);
    assert_eq!(tls.redirect_addr(), Some("0.0.0.0:80".parse().unwrap()));
    // Off by default, and then no redirect listener either.
    assert_eq!(Config::default().server.tls.redirect_addr(), None);

    let err = |toml: &str| load_str(toml, &[]).unwrap_err().to_string();
    let acme = "[server]\nbind = \"0.0.0.0:443\"\n[server.tls]\nmode = \"acme\"\n";
    assert!(err(acme).contains("`server.tls.domains`"), "{}", err(acme));
    let url = format!("{acme}domains = [\"https://booth.example.org\"]\n");
    assert!(err(&url).contains("not a domain name"), "{}", err(&url));
    let http01 = format!(
        "{acme}domains = [\"booth.example.org\"]\nchallenge = \"http-01\"\nredirect_from = \"\"\n"
    );
    assert!(err(&http01).contains("`server.tls.redirect_from`"));
    let same_port =
        format!("{acme}domains = [\"b.example.org\"]\nredirect_from = \"0.0.0.0:443\"\n");
    assert!(
        err(&same_port).contains("server.bind's too"),
        "{}",
        err(&same_port)
    );
    let files = "[server.tls]\nmode = \"files\"\ncert = \"/etc/ssl/booth.pem\"\n";
    assert!(err(files).contains("`server.tls.key`"), "{}", err(files));
    let plain = "[server]\npublic_url = \"http://booth.example.org\"\n[server.tls]\nmode = \"files\"\ncert = \"a\"\nkey = \"b\"\n";
    assert!(err(plain).contains("`server.public_url`"), "{}", err(plain));
}
