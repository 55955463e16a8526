//! The command table of each platform: turns one command line into an
//! [`Action`], with unique-prefix keywords (`sh run`, `term len 0`), output
//! pipes (`| include X`, `| exclude X`, `| begin X`, `| no-more`) and the
//! platform's own error texts (IOS caret marker, EOS `% Invalid input`,
//! Junos `unknown command.`).

use super::content;
use super::spec::{DeviceSpec, Platform};

/// What a command line asks the device to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to run: reprint the prompt.
    Nothing,
    /// Print this text (`\n` line ends; may be empty).
    Output(String),
    /// Print the configuration (the command the faults apply to).
    Config,
    /// Set the page length: `None` turns paging off. The text is printed.
    SetPaging(Option<usize>, String),
    /// Enter privileged mode (IOS/EOS).
    Enable,
    /// Leave privileged mode.
    Disable,
    /// Close the session.
    Exit,
    /// The command is not valid here: print this error.
    Error(String),
}

/// How the output is filtered before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Include(String),
    Exclude(String),
    Begin(String),
}

impl Filter {
    /// Applies the filter to text with `\n` line ends.
    pub fn apply(&self, text: &str) -> String {
        let mut out = String::new();
        let mut begun = false;
        for line in text.split_inclusive('\n') {
            let keep = match self {
                Filter::Include(p) => line.contains(p.as_str()),
                Filter::Exclude(p) => !line.contains(p.as_str()),
                Filter::Begin(p) => {
                    begun = begun || line.contains(p.as_str());
                    begun
                }
            };
            if keep {
                out.push_str(line);
            }
        }
        out
    }
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub action: Action,
    pub filter: Option<Filter>,
    /// `| no-more`: do not page this output.
    pub no_more: bool,
}

#[derive(Clone, Copy)]
enum Word {
    Kw(&'static str),
    Num,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Enable,
    Disable,
    Exit,
    TermLength,
    TermWidth,
    ShowVersion,
    ShowIfBrief,
    ShowRunning,
    ShowStartup,
    ShowPrivilege,
    ScreenLength,
    ScreenWidth,
    ShowConfiguration,
}

use Word::{Kw, Num};

const IOS_EOS: &[(&[Word], Cmd, bool)] = &[
    // (words, command, needs privileged mode)
    (&[Kw("enable")], Cmd::Enable, false),
    (&[Kw("disable")], Cmd::Disable, false),
    (&[Kw("exit")], Cmd::Exit, false),
    (&[Kw("logout")], Cmd::Exit, false),
    (&[Kw("quit")], Cmd::Exit, false),
    (&[Kw("terminal"), Kw("length"), Num], Cmd::TermLength, false),
    (&[Kw("terminal"), Kw("width"), Num], Cmd::TermWidth, false),
    (&[Kw("show"), Kw("version")], Cmd::ShowVersion, false),
    (
        &[Kw("show"), Kw("ip"), Kw("interface"), Kw("brief")],
        Cmd::ShowIfBrief,
        false,
    ),
    (&[Kw("show"), Kw("running-config")], Cmd::ShowRunning, true),
    (&[Kw("show"), Kw("startup-config")], Cmd::ShowStartup, true),
    (&[Kw("show"), Kw("privilege")], Cmd::ShowPrivilege, false),
];

const JUNOS: &[(&[Word], Cmd, bool)] = &[
    (&[Kw("exit")], Cmd::Exit, false),
    (&[Kw("quit")], Cmd::Exit, false),
    (&[Kw("logout")], Cmd::Exit, false),
    (
        &[Kw("set"), Kw("cli"), Kw("screen-length"), Num],
        Cmd::ScreenLength,
        false,
    ),
    (
        &[Kw("set"), Kw("cli"), Kw("screen-width"), Num],
        Cmd::ScreenWidth,
        false,
    ),
    (
        &[Kw("show"), Kw("configuration")],
        Cmd::ShowConfiguration,
        false,
    ),
    (&[Kw("show"), Kw("version")], Cmd::ShowVersion, false),
    (
        &[Kw("show"), Kw("interfaces"), Kw("terse")],
        Cmd::ShowIfBrief,
        false,
    ),
];

fn word_matches(pattern: Word, word: &str) -> bool {
    match pattern {
        Kw(k) => !word.is_empty() && k.starts_with(&word.to_ascii_lowercase()),
        Num => word.parse::<u32>().is_ok(),
    }
}

/// Splits a line into words with their byte offsets.
fn words(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push((s, &line[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

enum Lookup {
    Found(Cmd, Vec<u32>, bool),
    /// Words up to this index matched something; the caret goes here.
    Invalid(usize),
    Incomplete,
}

fn lookup(table: &[(&[Word], Cmd, bool)], ws: &[(usize, &str)]) -> Lookup {
    let mut best = 0;
    let mut incomplete = false;
    for (pattern, cmd, privileged) in table {
        let mut k = 0;
        while k < ws.len() && k < pattern.len() && word_matches(pattern[k], ws[k].1) {
            k += 1;
        }
        if k == ws.len() && k == pattern.len() {
            let nums = ws
                .iter()
                .zip(pattern.iter())
                .filter(|(_, p)| matches!(p, Num))
                .filter_map(|((_, w), _)| w.parse().ok())
                .collect();
            return Lookup::Found(*cmd, nums, *privileged);
        }
        if k == ws.len() && k < pattern.len() {
            incomplete = true;
        }
        best = best.max(k);
    }
    if incomplete && best == ws.len() {
        Lookup::Incomplete
    } else {
        Lookup::Invalid(best)
    }
}

/// Parses one command line typed at `prompt` (whose width places the IOS
/// and Junos caret marker).
pub fn parse(spec: &DeviceSpec, privileged: bool, prompt: &str, line: &str) -> Parsed {
    let (cmd_part, pipe) = match line.split_once('|') {
        Some((c, p)) => (c, Some(p)),
        None => (line, None),
    };
    let mut parsed = Parsed {
        action: Action::Nothing,
        filter: None,
        no_more: false,
    };
    if let Some(pipe) = pipe {
        let pw = words(pipe);
        let arg = || {
            pipe.trim_start()
                .split_once(char::is_whitespace)
                .map(|(_, rest)| rest.trim().to_string())
                .unwrap_or_default()
        };
        let first = pw
            .first()
            .map(|w| w.1.to_ascii_lowercase())
            .unwrap_or_default();
        match first.as_str() {
            f if !f.is_empty() && "include".starts_with(f) && pw.len() > 1 => {
                parsed.filter = Some(Filter::Include(arg()))
            }
            f if !f.is_empty() && "exclude".starts_with(f) && pw.len() > 1 => {
                parsed.filter = Some(Filter::Exclude(arg()))
            }
            f if !f.is_empty() && "begin".starts_with(f) && pw.len() > 1 => {
                parsed.filter = Some(Filter::Begin(arg()))
            }
            "no-more" if pw.len() == 1 => parsed.no_more = true,
            _ => {
                parsed.action = Action::Error(invalid(spec.platform, prompt, line.len()));
                return parsed;
            }
        }
    }
    let ws = words(cmd_part);
    if ws.is_empty() {
        if pipe.is_some() {
            parsed.action = Action::Error(invalid(spec.platform, prompt, 0));
        }
        return parsed;
    }
    let table = match spec.platform {
        Platform::Ios | Platform::Eos => IOS_EOS,
        Platform::Junos => JUNOS,
    };
    // IOS hides privileged commands from user exec (the caret points at
    // them); EOS knows them but refuses.
    let visible: Vec<_> = table
        .iter()
        .filter(|(_, _, p)| !(*p && !privileged && spec.platform == Platform::Ios))
        .copied()
        .collect();
    parsed.action = match lookup(&visible, &ws) {
        Lookup::Found(_, _, true) if !privileged => {
            Action::Error("% Invalid input (privileged mode required)\n".into())
        }
        Lookup::Found(cmd, nums, _) => run(spec, privileged, cmd, &nums),
        Lookup::Incomplete => Action::Error(match spec.platform {
            Platform::Ios => "% Incomplete command.\n\n".into(),
            Platform::Eos => "% Incomplete command\n".into(),
            Platform::Junos => "syntax error, expecting <command>.\n".into(),
        }),
        Lookup::Invalid(k) => {
            let offset = ws.get(k).map(|w| w.0).unwrap_or(cmd_part.len());
            if spec.platform == Platform::Junos && k == 0 {
                Action::Error(format!(
                    "{}^\nunknown command.\n",
                    " ".repeat(prompt.len() + offset)
                ))
            } else {
                Action::Error(invalid(spec.platform, prompt, offset))
            }
        }
    };
    parsed
}

fn invalid(platform: Platform, prompt: &str, offset: usize) -> String {
    let caret = " ".repeat(prompt.len() + offset);
    match platform {
        Platform::Ios => format!("{caret}^\n% Invalid input detected at '^' marker.\n\n"),
        Platform::Eos => "% Invalid input\n".into(),
        Platform::Junos => format!("{caret}^\nsyntax error.\n"),
    }
}

fn run(spec: &DeviceSpec, privileged: bool, cmd: Cmd, nums: &[u32]) -> Action {
    let n = nums.first().copied().unwrap_or(0) as usize;
    let page = if n == 0 { None } else { Some(n) };
    match cmd {
        Cmd::Enable => Action::Enable,
        Cmd::Disable => Action::Disable,
        Cmd::Exit => Action::Exit,
        Cmd::TermLength => Action::SetPaging(page, String::new()),
        Cmd::TermWidth => Action::Output(String::new()),
        Cmd::ScreenLength => Action::SetPaging(page, format!("Screen length set to {n}\n")),
        Cmd::ScreenWidth => Action::Output(format!("Screen width set to {n}\n")),
        Cmd::ShowVersion => Action::Output(content::show_version(spec)),
        Cmd::ShowIfBrief => Action::Output(content::interfaces_brief(spec)),
        Cmd::ShowRunning | Cmd::ShowConfiguration => Action::Config,
        Cmd::ShowStartup => Action::Config,
        Cmd::ShowPrivilege => Action::Output(format!(
            "Current privilege level is {}\n",
            if privileged { 15 } else { 1 }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p: Platform) -> DeviceSpec {
        DeviceSpec::new("sw1", "127.0.0.1:0".parse().unwrap(), p, "admin", "pw")
    }

    #[test]
    fn abbreviations_and_privilege() {
        let ios = spec(Platform::Ios);
        assert_eq!(parse(&ios, true, "sw1#", "sh run").action, Action::Config);
        assert_eq!(
            parse(&ios, false, "sw1>", "term len 0").action,
            Action::SetPaging(None, String::new())
        );
        let Action::Error(e) = parse(&ios, false, "sw1>", "show running-config").action else {
            panic!()
        };
        assert!(e.contains("% Invalid input detected at '^' marker."), "{e}");
        assert!(e.starts_with(&format!("{}^", " ".repeat(4 + 5))), "{e:?}");
        let eos = spec(Platform::Eos);
        let Action::Error(e) = parse(&eos, false, "sw1>", "show running-config").action else {
            panic!()
        };
        assert!(e.contains("privileged"));
        let junos = spec(Platform::Junos);
        assert!(parse(&junos, false, "admin@sw1> ", "show configuration | no-more").no_more);
        let Action::Error(e) = parse(&junos, false, "admin@sw1> ", "bogus").action else {
            panic!()
        };
        assert!(e.contains("unknown command."));
    }

    #[test]
    fn include_filter() {
        let ios = spec(Platform::Ios);
        let p = parse(&ios, true, "sw1#", "show run | include hostname");
        assert_eq!(p.filter, Some(Filter::Include("hostname".into())));
        assert_eq!(
            p.filter.unwrap().apply("a\nhostname x\nb\n"),
            "hostname x\n"
        );
    }
}
