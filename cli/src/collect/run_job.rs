//! `outpost run-job --job FILE`: one job file, as the seed's `run_job`.

use super::super::client::Client;
use super::device::DeviceResult;
use super::execute::{self, Options};
use super::job;
use super::readiness;
use super::report::{Out, RULE, file_name, thousands};
use super::{EXIT_FAILED, EXIT_OK, RunJobArgs, confirm, vault_pass_note};

pub async fn run_job(client: &Client, args: RunJobArgs) -> u8 {
    let c = &args.common;
    let planned = match job::plan(client, &args.job, c).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {e}");
            return EXIT_FAILED;
        }
    };
    let spec = &planned.preview["job"]["params"]["job"];
    println!("Job: {} - {}", planned.job_id(), planned.capture_type());
    let filter = &spec["filter"];
    for (key, label) in [
        ("vendor", "Vendor filter"),
        ("site", "Site filter"),
        ("role", "Role filter"),
        ("name_pattern", "Name filter"),
    ] {
        if let Some(v) = filter[key].as_str() {
            println!("{label}: {v}");
        }
    }
    let commands: Vec<&str> = spec["commands"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
        .unwrap_or_default();
    println!("Command: {}", commands.join(","));
    match planned.output_dir() {
        Some(dir) => println!("Output dir: {}", dir.display()),
        None => println!("Output dir: none (--no-save)"),
    }
    let credential = planned.credential();
    if let (Some(name), Some(from)) = (&credential.name, &credential.from) {
        println!("Credential: {name} (from {from})");
    }
    for n in planned.notices() {
        println!("Note: {n}");
    }
    println!();
    let devices = planned.devices();
    let n = devices.len();
    if planned.matched() as usize > n {
        println!(
            "Found {} matching devices (limited to {n}):",
            planned.matched()
        );
    } else {
        println!("Found {n} matching devices:");
    }
    for d in devices {
        println!(
            "  - {} ({}) - {}",
            d["name"].as_str().unwrap_or_default(),
            d["address"].as_str().unwrap_or_default(),
            d["model"].as_str().unwrap_or("-")
        );
    }
    let ready = readiness::assess(client, &planned, c.wait_timeout).await;
    if !ready.warnings.is_empty() {
        println!();
    }
    for w in &ready.warnings {
        println!("Warning: {w}");
    }
    if c.dry_run {
        println!();
        println!("Dry run: nothing was executed.");
        return EXIT_OK;
    }
    println!();
    if !c.yes && !confirm(&format!("Run job against {n} devices?")) {
        println!("Aborted: nothing was run.");
        return EXIT_FAILED;
    }
    if let Some(dir) = planned.output_dir()
        && let Err(e) = std::fs::create_dir_all(&dir)
    {
        eprintln!(
            "Error: cannot create the output dir {}: {e}; nothing was run",
            dir.display()
        );
        return EXIT_FAILED;
    }
    vault_pass_note(c);
    println!();
    println!("Executing against {n} devices...");
    let out = Out::new(n as u64, false);
    let mut done = 0usize;
    let mut results: Vec<DeviceResult> = Vec::with_capacity(n);
    let mut told_credential = false;
    let opts = Options {
        debug: c.debug,
        wait_timeout: c.wait_timeout,
    };
    let r = execute::execute(
        client,
        &planned,
        opts,
        |d: DeviceResult| {
            done += 1;
            if !told_credential && let Some((name, user)) = &d.credential {
                out.line(&format!("Using credentials: {name} (user: {user})"));
                told_credential = true;
            }
            out.line(&device_line(done, n, &d));
            out.tick();
            results.push(d);
        },
        |notice: &str| out.line(&format!("  {notice}")),
    )
    .await;
    out.finish();
    let timed_out = match r {
        Ok(e) => e.timed_out,
        Err(e) => {
            eprintln!("Error: {e}");
            return EXIT_FAILED;
        }
    };
    let ok = results.iter().filter(|d| d.ok).count();
    let failed = results.len() - ok;
    println!();
    println!("{RULE}");
    println!("Results: {ok} success, {failed} failed");
    if timed_out {
        println!(
            "Gave up after --wait-timeout {}s: the job was cancelled.",
            c.wait_timeout.unwrap_or(0)
        );
    }
    if failed > 0 {
        println!();
        println!("Failed devices:");
        for d in results.iter().filter(|d| !d.ok) {
            println!("  - {}: {}", d.label(), d.error);
        }
    }
    if !c.no_save {
        let saved: Vec<&DeviceResult> = results
            .iter()
            .filter(|d| d.ok && d.file.is_some())
            .collect();
        println!();
        if saved.is_empty() {
            println!("No captures saved.");
        } else {
            println!("Saved {} captures:", saved.len());
        }
        for d in saved {
            println!(
                "  - {}: {} ({} bytes)",
                d.device,
                file_name(d.file.as_deref().unwrap_or_default()),
                thousands(d.bytes.unwrap_or(0))
            );
        }
    }
    if failed == 0 && results.len() == n && !timed_out {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// `  [3/9] ✓ eng-leaf-1 (172.16.11.41) - 5234ms` or
/// `  [4/9] ✗ eng-leaf-2 (172.16.11.42) - auth: ...`.
pub fn device_line(i: usize, n: usize, d: &DeviceResult) -> String {
    if d.ok {
        format!(
            "  [{i}/{n}] ✓ {} - {}ms",
            d.label(),
            d.elapsed_ms.unwrap_or(0)
        )
    } else {
        format!("  [{i}/{n}] ✗ {} - {}", d.label(), d.error)
    }
}
