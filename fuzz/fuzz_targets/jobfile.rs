//! VelocityCollector v2.0 job files (`outpost run-job`): the reader, then
//! what planning does with the result (output directory, file name
//! pattern, device filter).
#![no_main]
use outpost_coordinator::collect::filename::{
    FileVars, check_output_directory, relative_capture_path, render_filename,
};
use outpost_coordinator::collect::filter::wildcard_match;
use outpost_coordinator::collect::jobfile::parse_job_file;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(job) = parse_job_file(data) else {
        return;
    };
    let _ = check_output_directory(&job.output_directory);
    let vars = FileVars {
        device_name: "sw1.fra1".into(),
        device_id: "42".into(),
        timestamp: "20240101_120000".into(),
        capture_type: job.capture_type.clone(),
    };
    if let Ok(name) = render_filename(&job.filename_pattern, &vars) {
        let _ = relative_capture_path(&job.output_directory, &name);
    }
    if let Some(p) = &job.filter.name_pattern {
        let _ = wildcard_match(p, "core-sw01.fra1.example.net");
    }
});
