//! A process-wide Prometheus registry: counters, gauges and histograms
//! with labels, named as Prometheus names them (`_total`, `_seconds`,
//! base units), rendered in the text exposition format. Small on purpose:
//! a family is created by its first use, a series by its first label set,
//! and the number of series per family is bounded so a label fed from
//! outside (a device's status code, a SOAP method) cannot grow it without
//! end.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

/// Seconds: from a fast HTTP exchange to a firmware job.
pub const SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Most series one family keeps; later label sets are folded into one
/// series labelled `overflow="true"`.
pub const MAX_SERIES: usize = 2000;

type Labels = Vec<(String, String)>;

/// A metric's name, help and type (`counter`, `gauge`, `histogram`), as a
/// binary lists what it reports.
pub type Metric = (&'static str, &'static str, &'static str);

enum Series {
    Counter(f64),
    Gauge(f64),
    Histogram {
        buckets: &'static [f64],
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

struct Family {
    help: &'static str,
    kind: &'static str,
    /// By the label set's key ([`key_into`]), with its labels.
    series: BTreeMap<String, (Labels, Series)>,
}

#[derive(Default)]
pub struct Registry {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

/// The process's registry.
pub fn global() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

/// Longest label value kept, in characters.
const MAX_VALUE: usize = 128;

fn labels(l: &[(&str, &str)]) -> Labels {
    l.iter()
        .map(|(k, v)| (k.to_string(), v.chars().take(MAX_VALUE).collect()))
        .collect()
}

/// Writes the key of label set `l` into `buf`: names and values, with
/// separators no name or value holds.
fn key_into(buf: &mut String, l: &[(&str, &str)]) {
    buf.clear();
    for (k, v) in l {
        buf.push_str(k);
        buf.push('\u{1}');
        buf.extend(v.chars().take(MAX_VALUE).filter(|c| *c != '\u{0}'));
        buf.push('\u{0}');
    }
}

thread_local! {
    /// The key being looked up: an observation of a series that exists
    /// allocates nothing.
    static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Registry {
    fn with(
        &self,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        l: &[(&str, &str)],
        make: impl FnOnce() -> Series,
        f: impl FnOnce(&mut Series),
    ) {
        let mut fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let fam = fams.entry(name).or_insert_with(|| Family {
            help,
            kind,
            series: BTreeMap::new(),
        });
        KEY.with_borrow_mut(|key| {
            key_into(key, l);
            if let Some((_, series)) = fam.series.get_mut(key.as_str()) {
                return f(series);
            }
            let (key, labels) = if fam.series.len() >= MAX_SERIES {
                let overflow = [("overflow", "true")];
                key_into(key, &overflow);
                (key.clone(), labels(&overflow))
            } else {
                (key.clone(), labels(l))
            };
            f(&mut fam.series.entry(key).or_insert_with(|| (labels, make())).1);
        });
    }

    /// Declares a family before its first sample (`kind`: counter, gauge
    /// or histogram), so the page names every metric this process may
    /// report, as dashboards and alerts expect, even before it happened.
    pub fn describe(&self, name: &'static str, help: &'static str, kind: &'static str) {
        let mut fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        fams.entry(name).or_insert_with(|| Family {
            help,
            kind,
            series: BTreeMap::new(),
        });
    }

    /// Adds `n` to a counter.
    pub fn add(&self, name: &'static str, help: &'static str, l: &[(&str, &str)], n: f64) {
        self.with(
            name,
            help,
            "counter",
            l,
            || Series::Counter(0.0),
            |s| {
                if let Series::Counter(v) = s {
                    *v += n;
                }
            },
        );
    }

    /// Adds one to a counter.
    pub fn inc(&self, name: &'static str, help: &'static str, l: &[(&str, &str)]) {
        self.add(name, help, l, 1.0);
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, help: &'static str, l: &[(&str, &str)], v: f64) {
        self.with(
            name,
            help,
            "gauge",
            l,
            || Series::Gauge(0.0),
            |s| {
                if let Series::Gauge(g) = s {
                    *g = v;
                }
            },
        );
    }

    /// Records one observation of a histogram with `buckets` (upper bounds).
    pub fn observe(
        &self,
        name: &'static str,
        help: &'static str,
        buckets: &'static [f64],
        l: &[(&str, &str)],
        v: f64,
    ) {
        let make = || Series::Histogram {
            buckets,
            counts: vec![0; buckets.len()],
            sum: 0.0,
            count: 0,
        };
        self.with(name, help, "histogram", l, make, |s| {
            if let Series::Histogram {
                buckets,
                counts,
                sum,
                count,
            } = s
            {
                if let Some(i) = buckets.iter().position(|b| v <= *b) {
                    counts[i] += 1;
                }
                *sum += v;
                *count += 1;
            }
        });
    }

    /// Every family in the text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, f) in fams.iter() {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {}", f.help, f.kind);
            for (l, s) in f.series.values() {
                let lbl = |extra: Option<(&str, String)>| {
                    let mut parts: Vec<String> = l
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                        .collect();
                    if let Some((k, v)) = extra {
                        parts.push(format!("{k}=\"{v}\""));
                    }
                    if parts.is_empty() {
                        String::new()
                    } else {
                        format!("{{{}}}", parts.join(","))
                    }
                };
                match s {
                    Series::Counter(v) | Series::Gauge(v) => {
                        let _ = writeln!(out, "{name}{} {v}", lbl(None));
                    }
                    Series::Histogram {
                        buckets,
                        counts,
                        sum,
                        count,
                    } => {
                        let mut acc = 0;
                        for (b, c) in buckets.iter().zip(counts) {
                            acc += c;
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {acc}",
                                lbl(Some(("le", b.to_string())))
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {count}",
                            lbl(Some(("le", "+Inf".into())))
                        );
                        let _ = writeln!(out, "{name}_sum{} {sum}", lbl(None));
                        let _ = writeln!(out, "{name}_count{} {count}", lbl(None));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_in_the_text_format() {
        let r = Registry::default();
        r.inc("a_total", "As.", &[("zone", "z\"1")]);
        r.add("a_total", "As.", &[("zone", "z\"1")], 2.0);
        r.set("g", "G.", &[], 4.5);
        r.observe("d_seconds", "D.", &[0.1, 1.0], &[("k", "x")], 0.5);
        r.observe("d_seconds", "D.", &[0.1, 1.0], &[("k", "x")], 5.0);
        let t = r.render();
        assert!(
            t.contains("# TYPE a_total counter\na_total{zone=\"z\\\"1\"} 3\n"),
            "{t}"
        );
        assert!(t.contains("g 4.5\n"), "{t}");
        assert!(
            t.contains("d_seconds_bucket{k=\"x\",le=\"0.1\"} 0\n"),
            "{t}"
        );
        assert!(t.contains("d_seconds_bucket{k=\"x\",le=\"1\"} 1\n"), "{t}");
        assert!(
            t.contains("d_seconds_bucket{k=\"x\",le=\"+Inf\"} 2\n"),
            "{t}"
        );
        assert!(t.contains("d_seconds_sum{k=\"x\"} 5.5\n"), "{t}");
        assert!(t.contains("d_seconds_count{k=\"x\"} 2\n"), "{t}");
    }

    #[test]
    fn series_are_bounded() {
        let r = Registry::default();
        for i in 0..MAX_SERIES + 10 {
            r.inc("c_total", "C.", &[("status", &i.to_string())]);
        }
        let t = r.render();
        assert_eq!(
            t.lines().filter(|l| l.starts_with("c_total{")).count(),
            MAX_SERIES + 1
        );
        assert!(t.contains("c_total{overflow=\"true\"} 10\n"), "{t}");
    }
}
