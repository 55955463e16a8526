//! `outpost run-jobs --jobs FILES... | --jobs-dir DIR`: several job files
//! at once, at most `--max-concurrent-jobs` in flight, as the seed's
//! `run_jobs_concurrent`.

use super::super::client::Client;
use super::device::DeviceResult;
use super::execute::{self, Options};
use super::job::{self, Planned};
use super::readiness;
use super::report::{Out, RULE};
use super::{EXIT_FAILED, EXIT_OK, RunJobsArgs, confirm, vault_pass_note};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// The job files named by `--jobs` (quoted globs expanded) or `--jobs-dir`.
fn job_files(args: &RunJobsArgs) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    if let Some(dir) = &args.jobs_dir {
        let rd =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") && p.is_file() {
                files.push(p);
            }
        }
        if files.is_empty() {
            return Err(format!("no *.json job files in {}", dir.display()));
        }
    }
    for j in &args.jobs {
        let name = j
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains('*') || name.contains('?') {
            let dir = j
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let rd = std::fs::read_dir(dir)
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            let mut matched: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| wildcard(&name, &n.to_string_lossy()))
                })
                .collect();
            if matched.is_empty() {
                return Err(format!("no job file matches {}", j.display()));
            }
            files.append(&mut matched);
        } else {
            files.push(j.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// `*` any run, `?` one character.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

struct JobOutcome {
    label: String,
    ok: usize,
    total: usize,
    saved: usize,
    ms: u128,
    error: Option<String>,
}

pub async fn run_jobs(client: &Client, args: RunJobsArgs) -> u8 {
    let files = match job_files(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Error: {e}");
            return EXIT_FAILED;
        }
    };
    let c = args.common.clone();
    let mut plans: Vec<(PathBuf, Result<Planned, String>)> = Vec::new();
    let mut warnings: Vec<Vec<String>> = Vec::new();
    for f in &files {
        let p = job::plan(client, f, &c).await.map_err(|e| e.to_string());
        let mut said = Vec::new();
        if let Ok(planned) = &p {
            let ready = readiness::assess(client, planned, c.wait_timeout).await;
            said = ready.warnings;
        }
        plans.push((f.clone(), p));
        warnings.push(said);
    }
    println!("Jobs to run ({}):", plans.len());
    let mut executions = 0;
    for ((f, p), said) in plans.iter().zip(&warnings) {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match p {
            Ok(p) => {
                executions += p.devices().len();
                println!("  - {name}: {} ({} devices)", p.job_id(), p.devices().len());
                if let Some(dir) = p.output_dir() {
                    println!("      Output dir: {}", dir.display());
                }
                for n in p.notices() {
                    println!("      Note: {n}");
                }
                for w in said {
                    println!("      Warning: {w}");
                }
            }
            Err(e) => println!("  - {name}: error: {e}"),
        }
    }
    println!();
    println!(
        "Total: {} jobs, {executions} device executions",
        plans.len()
    );
    println!("Max concurrent jobs: {}", args.max_concurrent_jobs);
    if c.dry_run {
        println!();
        println!("Dry run: nothing was executed.");
        return if plans.iter().all(|(_, p)| p.is_ok()) {
            EXIT_OK
        } else {
            EXIT_FAILED
        };
    }
    println!();
    if !c.yes && !confirm(&format!("Run {} jobs?", plans.len())) {
        println!("Aborted: nothing was run.");
        return EXIT_FAILED;
    }
    vault_pass_note(&c);
    println!("{RULE}");
    let started = Instant::now();
    let out = Arc::new(Out::new(executions as u64, args.quiet));
    let limit = Arc::new(Semaphore::new(args.max_concurrent_jobs as usize));
    let mut handles = Vec::new();
    for (f, p) in plans {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let planned = match p {
            Ok(p) => p,
            Err(e) => {
                handles.push(tokio::spawn(async move {
                    JobOutcome {
                        label: name,
                        ok: 0,
                        total: 0,
                        saved: 0,
                        ms: 0,
                        error: Some(e),
                    }
                }));
                continue;
            }
        };
        let client = client.clone();
        let out = out.clone();
        let limit = limit.clone();
        let opts = Options {
            debug: c.debug,
            wait_timeout: c.wait_timeout,
        };
        handles.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let id = planned.job_id();
            let t0 = Instant::now();
            out.line(&format!("[{id}] Starting - {}", planned.capture_type()));
            out.line(&format!("[{id}] Found {} devices", planned.devices().len()));
            if let Some(dir) = planned.output_dir()
                && let Err(e) = std::fs::create_dir_all(&dir)
            {
                let e = format!("cannot create the output dir {}: {e}", dir.display());
                out.always(&format!("[{id}] ✗ Error: {e}"));
                return JobOutcome {
                    label: id,
                    ok: 0,
                    total: planned.devices().len(),
                    saved: 0,
                    ms: 0,
                    error: Some(e),
                };
            }
            let mut results: Vec<DeviceResult> = Vec::new();
            let r = execute::execute(
                &client,
                &planned,
                opts,
                |d| {
                    out.tick();
                    if !d.ok {
                        out.line(&format!("[{id}] ✗ {} - {}", d.label(), d.error));
                    }
                    results.push(d);
                },
                |notice: &str| out.always(&format!("[{id}] {notice}")),
            )
            .await;
            let ms = t0.elapsed().as_millis();
            let total = planned.devices().len();
            let ok = results.iter().filter(|d| d.ok).count();
            let saved = results.iter().filter(|d| d.ok && d.file.is_some()).count();
            let error = match r {
                Ok(e) if e.timed_out => Some(format!(
                    "gave up after --wait-timeout {}s ({} not collected)",
                    opts.wait_timeout.unwrap_or(0),
                    total - ok
                )),
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            };
            match &error {
                None if ok == total => out.always(&format!(
                    "[{id}] ✓ Complete: {ok}/{total} success in {ms}ms"
                )),
                None => out.always(&format!(
                    "[{id}] ✗ Complete: {ok}/{total} success in {ms}ms"
                )),
                Some(e) => out.always(&format!("[{id}] ✗ Error: {e}")),
            }
            JobOutcome {
                label: id,
                ok,
                total,
                saved,
                ms,
                error,
            }
        }));
    }
    let mut outcomes = Vec::new();
    for h in handles {
        if let Ok(o) = h.await {
            outcomes.push(o);
        }
    }
    out.finish();
    let jobs_ok = outcomes
        .iter()
        .filter(|o| o.error.is_none() && o.ok == o.total)
        .count();
    let dev_ok: usize = outcomes.iter().map(|o| o.ok).sum();
    let dev_failed: usize = outcomes.iter().map(|o| o.total - o.ok).sum();
    let saved: usize = outcomes.iter().map(|o| o.saved).sum();
    println!();
    println!("{RULE}");
    println!("SUMMARY");
    println!("{RULE}");
    println!("Jobs: {jobs_ok}/{} successful", outcomes.len());
    println!("Devices: {dev_ok} success, {dev_failed} failed");
    if !c.no_save {
        println!("Captures saved: {saved}");
    }
    println!("Total time: {:.1}s", started.elapsed().as_secs_f64());
    println!();
    println!("Per-job results:");
    for o in &outcomes {
        let mark = if o.error.is_none() && o.ok == o.total {
            "✓"
        } else {
            "✗"
        };
        match &o.error {
            Some(e) => println!("  {mark} {}: error: {e}", o.label),
            None => println!(
                "  {mark} {}: {}/{} devices, {}ms",
                o.label, o.ok, o.total, o.ms
            ),
        }
    }
    if jobs_ok == outcomes.len() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard("job_*.json", "job_329_cisco.json"));
        assert!(!wildcard("job_*.json", "job_329_cisco.txt"));
        assert!(wildcard("job_3?9.json", "job_329.json"));
    }
}
