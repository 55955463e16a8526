//! One source of truth for a zone's retries: the coordinator creates the
//! zone consumers from its `[[zone]]` tables, a worker only binds to them
//! (and reads `ack_wait`/`max_deliver` back), and a worker of a zone the
//! coordinator does not know stops with an error that says what to add.

use anyhow::Result;
use async_nats::jetstream;
use outpost_proto::layout;
use outpost_tests::fleet::{Fleet, FleetOptions, START, two_zones_with};
use outpost_tests::fleet_bin;
use outpost_tests::procs::Proc;
use std::ffi::OsStr;
use std::time::Duration;

#[tokio::test]
async fn the_coordinator_creates_every_zone_consumer_from_its_config() -> Result<()> {
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(two_zones_with("ack_wait_secs = 4\nmax_deliver = 3")),
        ..FleetOptions::default()
    })
    .await?;
    let js = jetstream::new(fleet.nats.client().await?);
    let tasks = js.get_stream(layout::TASKS_STREAM).await?;
    for zone in ["alpha", "beta"] {
        for kind in outpost_kinds::Kind::ALL {
            let name = outpost_proto::layout::consumer_name(zone, kind.as_str())?;
            let info = tasks.consumer_info(&name).await?;
            assert_eq!(info.config.ack_wait, Duration::from_secs(4), "{name}");
            assert_eq!(info.config.max_deliver, 3, "{name}");
        }
    }
    // A worker started with the deprecated flags binds without changing them.
    fleet
        .worker(
            "alpha",
            "alpha-1",
            &["--ack-wait-secs", "60", "--max-deliver", "9"],
        )
        .await?;
    let info = tasks.consumer_info("alpha_diag-sleep").await?;
    assert_eq!(info.config.ack_wait, Duration::from_secs(4));
    assert_eq!(info.config.max_deliver, 3);
    assert!(
        fleet.workers[0]
            .stderr()
            .iter()
            .any(|l| l.contains("deprecated flag ignored")),
        "no warning for the deprecated flags"
    );
    Ok(())
}

#[tokio::test]
async fn a_worker_of_an_unknown_zone_stops_with_a_clear_error() -> Result<()> {
    // NATS knows zone gamma (it has an identity), the coordinator does not.
    let fleet = Fleet::start_with(outpost_tests::fleet::FleetOptions {
        extra_nats_zones: vec!["gamma".into()],
        ..Default::default()
    })
    .await?;
    let flags = [
        "--zone",
        "gamma",
        "--worker-id",
        "gamma-1",
        "--consumer-wait-secs",
        "2",
    ];
    let nats_args = fleet.nats.worker_args("gamma");
    let mut args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    args.extend(nats_args.iter().map(OsStr::new));
    let bin = fleet_bin("outpost-worker")?;
    let mut w = Proc::spawn("gamma-1", &bin, &args, &[])?;
    let status = w.wait_exit(START).await?;
    assert!(!status.success());
    // The output pump may still be catching up with the exit.
    let err = outpost_tests::wait_until("the error on stderr", START, async || {
        let err = w.stderr().join("\n");
        if err.contains("[[zone]] name = \"gamma\"") {
            Ok(err)
        } else {
            Err(err)
        }
    })
    .await?;
    assert!(err.contains("gamma_"), "{err}");
    Ok(())
}
