//! The iDRAC simulator checked by an independent implementation of the
//! standard: the DMTF Redfish Service Validator walks every resource the
//! simulator links from its service root (with session authentication) and
//! checks each property against the DMTF CSDL schemas. A simulated iDRAC
//! with Dell jobs in its queue must pass with no failure; the generic BMC,
//! too.
//!
//! `.ci/run` installs the validator and the schemas
//! (`deploy/ensure-redfish-validator.sh`) and passes their paths in
//! `OUTPOST_RF_VALIDATOR` and `OUTPOST_REDFISH_SCHEMAS`.

use outpost_sim::redfish::{Faults, IdracSpec, RedfishSim, Vendor};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

const USER: &str = "root";
const PASS: &str = "validator-sim-pass";
/// The validator walks a few hundred resources; a loaded 2-core machine
/// is slow at it.
const DEADLINE: Duration = Duration::from_secs(600);

fn tool(var: &str, what: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "{var} is not set: it names {what}; `bash deploy/ensure-redfish-validator.sh VENV` \
             installs it and prints the path (.ci/run does this)"
        ),
    }
}

/// Counts from the validator's summary, and the lines of the failures.
struct Verdict {
    exit: Option<i32>,
    pass: u64,
    fail: u64,
    failures: Vec<String>,
    output: String,
}

/// The figures of the summary table the validator prints last:
/// `| PASS | WARN | FAIL | NOT TESTED |` and a row of numbers under it.
fn summary(text: &str) -> Option<(u64, u64)> {
    let lines: Vec<&str> = text.lines().collect();
    let head = lines
        .iter()
        .rposition(|l| l.contains("PASS") && l.contains("FAIL"))?;
    let row = lines[head + 1..].iter().find(|l| l.contains('|'))?;
    let n: Vec<u64> = row
        .split('|')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    Some((*n.first()?, *n.get(2)?))
}

/// Every file under `dir`, however deep (the validator logs into a
/// timestamped subfolder).
fn files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

async fn validate(spec: IdracSpec) -> Verdict {
    let validator = tool("OUTPOST_RF_VALIDATOR", "the rf_service_validator program");
    let schemas = tool("OUTPOST_REDFISH_SCHEMAS", "the Redfish CSDL schema folder");
    let sim = RedfishSim::start(vec![spec]).await.expect("simulator");
    let addr = sim.addrs()[0];
    let logs = tempfile::tempdir().expect("temp dir");
    let mut cmd = tokio::process::Command::new(&validator);
    cmd.args(["--ip", &format!("https://{addr}")])
        .args(["-u", USER, "-p", PASS, "--authtype", "Session"])
        .arg("--schema_directory")
        .arg(&schemas)
        .arg("--skipschema")
        .arg("--logdir")
        .arg(logs.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(DEADLINE, cmd.output())
        .await
        .expect("the validator did not finish in time")
        .expect("starting the validator");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    let mut failures = Vec::new();
    let mut logged = Vec::new();
    files(logs.path(), &mut logged);
    for path in logged
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
    {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        failures.extend(
            text.lines()
                .filter(|l| l.contains(" - FAIL - ") || l.contains(" - ERROR - "))
                .map(str::to_string),
        );
    }
    let (pass, fail) = summary(&output).unwrap_or_else(|| panic!("no summary in:\n{output}"));
    let v = Verdict {
        exit: out.status.code(),
        pass,
        fail,
        failures,
        output,
    };
    sim.stop().await;
    v
}

fn assert_clean(v: &Verdict, what: &str, min_pass: u64) {
    assert_eq!(
        v.exit,
        Some(0),
        "the validator failed {what}:\n{}\n{}",
        v.failures.join("\n"),
        v.output
    );
    assert_eq!(v.fail, 0, "{what}: {}\n{}", v.failures.join("\n"), v.output);
    assert!(v.failures.is_empty(), "{what}: {}", v.failures.join("\n"));
    assert!(
        v.pass >= min_pass,
        "{what}: the validator checked too little ({} passes):\n{}",
        v.pass,
        v.output
    );
}

#[tokio::test]
async fn a_simulated_idrac_passes_the_dmtf_validator() {
    let mut spec = IdracSpec::new("127.7.0.1:0".parse().unwrap(), USER, PASS, 1);
    // Dell jobs in the queue, so the validator walks job resources too.
    spec.faults = Faults {
        stale_jobs: true,
        ..Faults::default()
    };
    let v = validate(spec).await;
    assert_clean(&v, "on the simulated iDRAC", 200);
}

#[tokio::test]
async fn the_simulated_generic_bmc_passes_the_dmtf_validator() {
    let mut spec = IdracSpec::new("127.7.0.2:0".parse().unwrap(), USER, PASS, 2);
    spec.vendor = Vendor::Other;
    let v = validate(spec).await;
    assert_clean(&v, "on the generic BMC", 60);
}
