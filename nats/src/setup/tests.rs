//! The bundle's life on disk, without a server: idempotent re-runs, one
//! zone changed at a time, refusals that name the file.

use super::*;
use clap::Parser;
use std::fs;

fn spec(zones: &[&str], store: &Path) -> SetupSpec {
    SetupSpec::new(zones.iter().map(|z| z.to_string()).collect(), store)
}

fn read(path: PathBuf) -> Vec<u8> {
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn action_of(report: &Report, path: &Path) -> Option<FileAction> {
    report
        .files
        .iter()
        .find(|f| f.path == path)
        .map(|f| f.action)
}

fn zone_action(report: &Report, zone: &str) -> Option<ZoneAction> {
    report
        .zones
        .iter()
        .find(|z| z.zone == zone)
        .map(|z| z.action)
}

#[test]
fn first_run_writes_everything_and_a_rerun_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle");
    let s = spec(&["b", "a"], &dir.path().join("js"));
    let r = setup(&s, &out).unwrap();
    assert_eq!(r.server_step, ServerStep::Start);
    assert!(
        r.files.iter().all(|f| f.action == FileAction::Created),
        "{r:?}"
    );
    let paths = BundlePaths::new(out.canonicalize().unwrap());
    for p in [
        paths.ca(),
        paths.ca_key(),
        paths.server_cert(),
        paths.server_key(),
        paths.coordinator_creds(),
        paths.zone_creds("a"),
        paths.zone_creds("b"),
        paths.conf(),
        paths.state(),
    ] {
        assert!(p.is_file(), "{}", p.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(paths.ca_key()), 0o600);
        assert_eq!(mode(paths.server_key()), 0o600);
        assert_eq!(mode(paths.coordinator_creds()), 0o600);
        assert_eq!(mode(paths.zone_creds("a")), 0o600);
        assert_eq!(mode(paths.dir().to_path_buf()), 0o700);
    }
    let conf = String::from_utf8(read(paths.conf())).unwrap();
    assert!(conf.contains("\"$JS.API.CONSUMER.MSG.NEXT.OUTPOST_TASKS.a_diag-sleep\""));
    assert!(conf.contains(&format!("{:?}", paths.server_cert().to_str().unwrap())));
    assert!(conf.contains(&format!("{:?}", dir.path().join("js").to_str().unwrap())));
    assert!(!conf.contains("no_auth_user"));
    let text = render_report(&r);
    assert!(text.contains("nats-server -c"), "{text}");
    assert!(text.contains("zone-a.creds"), "{text}");

    let before: Vec<Vec<u8>> = fs::read_dir(paths.dir())
        .unwrap()
        .map(|e| read(e.unwrap().path()))
        .collect();
    let again = setup(&s, &out).unwrap();
    assert_eq!(again.server_step, ServerStep::Nothing, "{again:?}");
    assert!(!again.changed(), "{again:?}");
    assert_eq!(zone_action(&again, "a"), Some(ZoneAction::Kept));
    let after: Vec<Vec<u8>> = fs::read_dir(paths.dir())
        .unwrap()
        .map(|e| read(e.unwrap().path()))
        .collect();
    assert_eq!(before, after);
    assert!(render_report(&again).contains("Nothing changed"));
}

#[test]
fn new_zones_get_identities_old_ones_stay_unless_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    setup(&spec(&["a", "b"], dir.path()), &out).unwrap();
    let paths = BundlePaths::new(out.canonicalize().unwrap());
    let a = read(paths.zone_creds("a"));
    let b = read(paths.zone_creds("b"));

    let r = setup(&spec(&["a", "c"], dir.path()), &out).unwrap();
    assert_eq!(zone_action(&r, "c"), Some(ZoneAction::Added));
    assert_eq!(zone_action(&r, "b"), Some(ZoneAction::NotInSpec));
    assert_eq!(r.server_step, ServerStep::Reload);
    assert_eq!(read(paths.zone_creds("a")), a);
    assert_eq!(read(paths.zone_creds("b")), b);
    let conf = String::from_utf8(read(paths.conf())).unwrap();
    assert!(conf.contains("# zone b") && conf.contains("# zone c"));

    let mut pruning = spec(&["a", "c"], dir.path());
    pruning.prune = true;
    let r = setup(&pruning, &out).unwrap();
    assert_eq!(zone_action(&r, "b"), Some(ZoneAction::Pruned));
    assert_eq!(
        action_of(&r, &paths.zone_creds("b")),
        Some(FileAction::Removed)
    );
    assert!(!paths.zone_creds("b").exists());
    let conf = String::from_utf8(read(paths.conf())).unwrap();
    assert!(!conf.contains("# zone b"));
    assert_eq!(read(paths.zone_creds("a")), a);
}

#[test]
fn reissue_changes_one_zone_and_revoke_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    setup(&spec(&["a", "b"], dir.path()), &out).unwrap();
    let paths = BundlePaths::new(out.canonicalize().unwrap());
    let keep = [
        paths.ca(),
        paths.ca_key(),
        paths.server_cert(),
        paths.server_key(),
        paths.coordinator_creds(),
        paths.zone_creds("a"),
    ];
    let kept: Vec<Vec<u8>> = keep.iter().map(|p| read(p.clone())).collect();
    let old_b = identity::read_public_key(&paths.zone_creds("b")).unwrap();

    let r = reissue_zone(&out, "b").unwrap();
    assert_eq!(r.server_step, ServerStep::Reload);
    assert!(r.server_line().unwrap().contains("--signal reload=<pid>"));
    let new_b = identity::read_public_key(&paths.zone_creds("b")).unwrap();
    assert_ne!(old_b, new_b);
    let conf = String::from_utf8(read(paths.conf())).unwrap();
    assert!(conf.contains(&new_b) && !conf.contains(&old_b));
    assert_eq!(
        kept,
        keep.iter().map(|p| read(p.clone())).collect::<Vec<_>>()
    );
    // A re-run accepts the reissued identity as it is.
    let again = setup(&spec(&["a", "b"], dir.path()), &out).unwrap();
    assert!(!again.changed(), "{again:?}");

    let r = revoke_zone(&out, "b").unwrap();
    assert_eq!(zone_action(&r, "b"), Some(ZoneAction::Revoked));
    assert!(!paths.zone_creds("b").exists());
    let conf = String::from_utf8(read(paths.conf())).unwrap();
    assert!(!conf.contains(&new_b) && !conf.contains("# zone b"));
    assert_eq!(
        kept,
        keep.iter().map(|p| read(p.clone())).collect::<Vec<_>>()
    );
    assert!(matches!(
        revoke_zone(&out, "b"),
        Err(SetupError::UnknownZone { .. })
    ));
    assert!(matches!(
        reissue_zone(&out, "b"),
        Err(SetupError::UnknownZone { .. })
    ));
    // Back in the spec: a new identity, and a note that it had been revoked.
    let r = setup(&spec(&["a", "b"], dir.path()), &out).unwrap();
    assert_eq!(zone_action(&r, "b"), Some(ZoneAction::Added));
    assert!(r.notes.iter().any(|n| n.contains("revoked")), "{r:?}");
}

#[test]
fn server_certificate_follows_its_names_and_settings_ask_for_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    let mut s = spec(&["a"], dir.path());
    setup(&s, &out).unwrap();
    let paths = BundlePaths::new(out.canonicalize().unwrap());
    let ca = read(paths.ca());
    let cert = read(paths.server_cert());

    s.server_names.push("nats.example.com".into());
    let r = setup(&s, &out).unwrap();
    assert!(
        r.server_cert_issued
            .as_deref()
            .unwrap()
            .contains("nats.example.com")
    );
    assert_eq!(r.server_step, ServerStep::Reload);
    assert_ne!(read(paths.server_cert()), cert);
    assert_eq!(read(paths.ca()), ca);

    fs::remove_file(paths.server_key()).unwrap();
    let r = setup(&s, &out).unwrap();
    assert!(r.server_cert_issued.is_some());

    s.listen = "127.0.0.1:4333".into();
    s.monitor = Some("0.0.0.0:8222".into());
    let r = setup(&s, &out).unwrap();
    assert_eq!(r.server_step, ServerStep::Restart);
    assert!(r.notes.iter().any(|n| n.contains("monitoring")), "{r:?}");
    let conf = String::from_utf8(read(paths.conf())).unwrap();
    assert!(conf.contains("listen: \"127.0.0.1:4333\"") && conf.contains("http: \"0.0.0.0:8222\""));
}

#[test]
fn refusals_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    let err = setup(&spec(&["a.b"], dir.path()), &out).unwrap_err();
    assert!(
        matches!(&err, SetupError::InvalidZone { zone, .. } if zone == "a.b"),
        "{err}"
    );
    let mut s = spec(&["a"], dir.path());
    s.server_names = vec!["bad name".into()];
    assert!(matches!(
        setup(&s, &out),
        Err(SetupError::InvalidServerName { .. })
    ));
    s.server_names = vec![];
    assert!(matches!(setup(&s, &out), Err(SetupError::NoServerNames)));
    let mut s = spec(&["a"], dir.path());
    for listen in [
        "4222", "host:", ":4222", "a b:1", "::1:4222", "[zz]:1", "h:0",
    ] {
        s.listen = listen.into();
        assert!(
            matches!(setup(&s, &out), Err(SetupError::InvalidAddress { .. })),
            "{listen}"
        );
    }
    assert!(matches!(
        reissue_zone(&dir.path().join("none"), "a"),
        Err(SetupError::NoBundle { .. })
    ));

    // Files the setup did not write are not overwritten.
    let foreign = dir.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("zone-x.creds"), "x").unwrap();
    let err = setup(&spec(&["a"], dir.path()), &foreign).unwrap_err();
    assert!(
        matches!(&err, SetupError::Unmanaged { path } if path.ends_with("zone-x.creds")),
        "{err}"
    );

    // A creds file swapped behind the bundle's back is named.
    let s = spec(&["a", "b"], dir.path());
    setup(&s, &out).unwrap();
    let paths = BundlePaths::new(out.canonicalize().unwrap());
    fs::copy(paths.zone_creds("b"), paths.zone_creds("a")).unwrap();
    let err = setup(&s, &out).unwrap_err();
    assert!(
        matches!(&err, SetupError::KeyMismatch { path, .. } if path.ends_with("zone-a.creds")),
        "{err}"
    );
    fs::write(paths.zone_creds("a"), "garbage SUAAAA").unwrap();
    let err = setup(&s, &out).unwrap_err();
    assert!(matches!(&err, SetupError::MalformedCreds { .. }), "{err}");
    fs::remove_file(paths.zone_creds("a")).unwrap();
    let err = setup(&s, &out).unwrap_err();
    assert!(matches!(&err, SetupError::Missing { .. }), "{err}");
    fs::write(paths.state(), "{").unwrap();
    let err = setup(&s, &out).unwrap_err();
    assert!(
        matches!(&err, SetupError::BadBundle { path, .. } if path.ends_with("bundle.json")),
        "{err}"
    );
}

#[test]
fn errors_never_show_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    let s = spec(&["a", "b"], dir.path());
    setup(&s, &out).unwrap();
    let paths = BundlePaths::new(out.canonicalize().unwrap());
    let seed_b = String::from_utf8(read(paths.zone_creds("b"))).unwrap();
    fs::copy(paths.zone_creds("b"), paths.zone_creds("a")).unwrap();
    let err = setup(&s, &out).unwrap_err();
    let text = format!("{err} {err:?}");
    for line in seed_b.lines().filter(|l| l.starts_with("SU")) {
        assert!(!text.contains(line), "{text}");
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SetupArgs,
}

#[test]
fn flags_left_out_keep_the_previous_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    let out_s = out.to_str().unwrap();
    let first = Cli::parse_from([
        "x",
        "--out",
        out_s,
        "--listen",
        "127.0.0.1:4999",
        "--server-name",
        "nats.local",
        "--server-name",
        "127.0.0.1",
        "--monitor",
        "127.0.0.1:8222",
    ]);
    let r = first.args.run(vec!["a".into()]).unwrap();
    assert_eq!(r.server_step, ServerStep::Start);
    let again = Cli::parse_from(["x", "--out", out_s]);
    match again.args.action(vec!["a".into()]).unwrap() {
        SetupAction::Setup { spec, .. } => {
            assert_eq!(spec.listen, "127.0.0.1:4999");
            assert_eq!(spec.server_names, ["nats.local", "127.0.0.1"]);
            assert_eq!(spec.monitor.as_deref(), Some("127.0.0.1:8222"));
            assert!(spec.store_dir.ends_with("jetstream"));
        }
        other => panic!("{other:?}"),
    }
    let r = again.args.run(vec!["a".into()]).unwrap();
    assert!(!r.changed(), "{r:?}");
    let off = Cli::parse_from(["x", "--out", out_s, "--no-monitor"]);
    match off.args.action(vec![]).unwrap() {
        SetupAction::Setup { spec, .. } => assert_eq!(spec.monitor, None),
        other => panic!("{other:?}"),
    }
    let reissue = Cli::parse_from(["x", "--out", out_s, "--reissue-zone", "a"]);
    assert!(matches!(
        reissue.args.action(vec![]).unwrap(),
        SetupAction::Reissue { zone, .. } if zone == "a"
    ));
    assert!(
        Cli::try_parse_from([
            "x",
            "--out",
            out_s,
            "--reissue-zone",
            "a",
            "--listen",
            "h:1"
        ])
        .is_err()
    );
    assert!(Cli::try_parse_from(["x", "--out", out_s, "--revoke-zone", "a", "--prune"]).is_err());
}

#[test]
fn a_failed_first_run_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    // A directory where zone a's temporary file goes: writing it fails
    // after the CA and the coordinator's identity were written.
    fs::create_dir_all(out.join(".zone-a.creds.tmp/x")).unwrap();
    let err = setup(&spec(&["a"], dir.path()), &out).unwrap_err();
    assert!(matches!(err, SetupError::Io { .. }), "{err}");
    assert!(!out.join("ca.pem").exists() && !out.join("coordinator.creds").exists());
    fs::remove_dir_all(out.join(".zone-a.creds.tmp")).unwrap();
    setup(&spec(&["a"], dir.path()), &out).unwrap();
}
