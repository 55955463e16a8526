//! How the runners print: the seed's lines (`[i/N] ✓ 172.16.11.41 -
//! 5234ms`, the summary blocks), above a live progress bar on a terminal
//! and as plain lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

pub const RULE: &str = "============================================================";

/// Where lines go.
pub enum Out {
    Bar(ProgressBar),
    Plain,
    Quiet,
}

impl Out {
    pub fn new(total: u64, quiet: bool) -> Out {
        if quiet {
            return Out::Quiet;
        }
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Out::Bar(bar)
        } else {
            Out::Plain
        }
    }

    pub fn line(&self, s: &str) {
        match self {
            Out::Bar(b) => b.println(s),
            Out::Plain => println!("{s}"),
            Out::Quiet => {}
        }
    }

    /// A line shown even in quiet mode.
    pub fn always(&self, s: &str) {
        match self {
            Out::Bar(b) => b.println(s),
            _ => println!("{s}"),
        }
    }

    pub fn tick(&self) {
        if let Out::Bar(b) = self {
            b.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Out::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

/// `3987` → `3,987`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The file name part of a capture path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(3987), "3,987");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
