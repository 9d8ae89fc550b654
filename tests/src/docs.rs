//! The package's generated documentation: manual pages stockd(8),
//! stockctl(1) and stockd.toml(5), and stockctl's shell completions.
//!
//! They are derived from the code's own definitions — the clap commands of
//! both binaries, and the example config `packaging/stockd.toml`, whose keys
//! and defaults a daemon test checks against the config code — and committed
//! under `packaging/`, so the .deb build needs no generator. The drift test
//! (`tests/tests/manpages.rs`) regenerates them and fails on any difference;
//! `STOCKD_UPDATE_DRIFT=1` rewrites them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use roff::{bold, italic, roman, Roff};

/// The repository's root (the workspace).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// One generated file: its path relative to the repository and its bytes.
pub struct Generated {
    pub path: &'static str,
    pub text: String,
}

/// Every generated file, freshly rendered.
pub fn generate_all() -> Result<Vec<Generated>> {
    let example = workspace_root().join("packaging/stockd.toml");
    let example_text = std::fs::read_to_string(&example)
        .with_context(|| format!("reading {}", example.display()))?;
    let mut out = vec![
        Generated {
            path: "packaging/man/stockd.8",
            text: stockd_page()?,
        },
        Generated {
            path: "packaging/man/stockctl.1",
            text: stockctl_page()?,
        },
        Generated {
            path: "packaging/man/stockd.toml.5",
            text: config_page(&example_text)?,
        },
    ];
    for (shell, path) in [
        (Shell::Bash, "packaging/completions/stockctl.bash"),
        (Shell::Zsh, "packaging/completions/_stockctl"),
        (Shell::Fish, "packaging/completions/stockctl.fish"),
    ] {
        out.push(Generated {
            path,
            text: completion(shell)?,
        });
    }
    Ok(out)
}

/// The title line's source and manual fields, shared by the three pages.
fn version_source() -> String {
    format!("stockd {}", env!("CARGO_PKG_VERSION"))
}
const MANUAL: &str = "stockd manual";

/// The pages' date: the newest entry of packaging/debian/changelog (so the
/// pages change with a release, not with the day they are generated).
fn release_date() -> Result<String> {
    let path = workspace_root().join("packaging/debian/changelog");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    // " -- Name <mail>  Sun, 06 Dec 2026 04:00:00 +0000"
    let trailer = text
        .lines()
        .find(|l| l.starts_with(" -- "))
        .with_context(|| format!("{}: no ' -- ' trailer line", path.display()))?;
    let date = trailer.rsplit("  ").next().unwrap_or_default();
    let parts: Vec<&str> = date.split_whitespace().collect();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match parts.as_slice() {
        [_, day, month, year, ..] => {
            let m = MONTHS
                .iter()
                .position(|x| x == month)
                .with_context(|| format!("{}: month {month:?} in {trailer:?}", path.display()))?;
            Ok(format!("{year}-{:02}-{day:0>2}", m + 1))
        }
        _ => bail!("{}: no RFC 2822 date in {trailer:?}", path.display()),
    }
}

/// The apostrophe preamble roff writes before every rendered piece; kept
/// once, at the top.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// A page from clap's definition: clap_mangen's sections, then the
/// command's after-help text as written (a preformatted block: its
/// aligned columns would be filled into nonsense otherwise).
fn render_man(cmd: clap::Command, section: &str) -> Result<String> {
    let after_help = cmd.get_after_help().map(|h| h.to_string());
    let has_subcommands = cmd.get_subcommands().next().is_some();
    let man = clap_mangen::Man::new(cmd)
        .section(section)
        .date(release_date()?)
        .source(version_source())
        .manual(MANUAL);
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;
    if has_subcommands {
        man.render_subcommands_section(&mut buf)?;
    }
    let text = String::from_utf8(buf).context("the manual page is not UTF-8")?;
    let mut page = format!("{PREAMBLE}{}", text.replace(PREAMBLE, ""));
    if let Some(help) = after_help {
        let mut roff = Roff::new();
        roff.control("SH", ["NOTES"]);
        roff.control("nf", []);
        for line in help.lines() {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
        page.push_str(&roff.render().replace(PREAMBLE, ""));
    }
    Ok(page)
}

/// Sections written here, after clap's: FILES, SEE ALSO and the like.
fn extra_sections(sections: &[(&str, &[(&str, &str)])], see_also: &str) -> String {
    let mut roff = Roff::new();
    for (heading, items) in sections {
        roff.control("SH", [*heading]);
        for (term, text) in *items {
            if term.is_empty() {
                roff.control("PP", []);
            } else {
                roff.control("TP", []);
                roff.text([bold(*term)]);
            }
            roff.text([roman(*text)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(see_also)]);
    roff.render().replace(PREAMBLE, "")
}

/// stockd(8), from `stockd --help`'s definition.
pub fn stockd_page() -> Result<String> {
    let mut page = render_man(stockd::config::Cli::command(), "8")?;
    page.push_str(&extra_sections(
        &[
            (
                "SYSTEMD",
                &[
                    (
                        "",
                        "The Debian package runs stockd as the service stockd.service, \
                         started by the socket stockd.socket on /run/stockd/stockd.sock. \
                         It is a Type=notify service: READY once the store is loaded (or \
                         restored from the snapshot) and the socket answers, STATUS every \
                         few seconds, watchdog pings from a health check. \
                         systemctl reload stockd sends SIGHUP, which re-reads the config \
                         and reloads the data.",
                    ),
                    (
                        "",
                        "Members of the group stockd may connect to the socket and call the \
                         data methods; members of stockd-admin (and root) may also call the \
                         admin methods. An admin is in both groups: \
                         usermod -aG stockd,stockd-admin NAME. A group change applies on the \
                         next connection.",
                    ),
                ],
            ),
            (
                "FILES",
                &[
                    (
                        "/etc/stockd/stockd.toml",
                        "The configuration file, read when --config is not given; see stockd.toml(5).",
                    ),
                    ("/run/stockd/stockd.sock", "The packaged service's socket."),
                    (
                        "/var/lib/stockd",
                        "The store snapshot for warm restarts ($STATE_DIRECTORY).",
                    ),
                    (
                        "/usr/share/doc/stockd/README.md",
                        "The full documentation: methods, configuration, operations.",
                    ),
                ],
            ),
        ],
        "stockctl(1), stockd.toml(5), systemctl(1), journalctl(1)",
    ));
    Ok(page)
}

/// stockctl(1), from `stockctl --help`'s definition.
pub fn stockctl_page() -> Result<String> {
    let mut page = render_man(stockctl::cli::Cli::command(), "1")?;
    page.push_str(&extra_sections(
        &[(
            "FILES",
            &[(
                "/run/stockd/stockd.sock",
                "The packaged daemon's socket, used when it exists and neither --socket, \
                 $STOCKD_SOCKET nor $RUNTIME_DIRECTORY says otherwise. Opening it needs \
                 membership in the group stockd; admin commands (status, the console's \
                 cache actions) need stockd-admin too.",
            )],
        )],
        "stockd(8), stockd.toml(5)",
    ));
    Ok(page)
}

/// The bash, zsh or fish completion script of stockctl.
pub fn completion(shell: Shell) -> Result<String> {
    let mut cmd = stockctl::cli::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "stockctl", &mut buf);
    String::from_utf8(buf).with_context(|| format!("the {shell} completion is not UTF-8"))
}

/// One `key = value` of the example with the comment above it.
struct Key {
    line: String,
    doc: Vec<String>,
}

/// One `[section]` of the example: the comment paragraph before it (if
/// separated from the section's first key) and its keys.
struct Section {
    name: String,
    intro: Vec<String>,
    keys: Vec<Key>,
}

/// Reads the example config: a header comment, then sections of commented
/// keys. Anything else is an error naming the line, so a new shape in the
/// example cannot be silently dropped from the manual page.
fn parse_example(text: &str) -> Result<(Vec<Vec<String>>, Vec<Section>)> {
    let mut header: Vec<Vec<String>> = vec![Vec::new()];
    let mut sections: Vec<Section> = Vec::new();
    // Comment lines not yet attached to a key or a section.
    let mut pending: Vec<String> = Vec::new();
    // Comment paragraphs seen before the next section header.
    let mut intro: Vec<String> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(comment) = line.strip_prefix('#') {
            pending.push(comment.strip_prefix(' ').unwrap_or(comment).to_string());
        } else if line.is_empty() {
            if sections.is_empty() {
                // The header: paragraphs separated by blank comment lines.
                for p in pending.drain(..) {
                    if p.is_empty() {
                        header.push(Vec::new());
                    } else if let Some(last) = header.last_mut() {
                        last.push(p);
                    }
                }
                header.push(Vec::new());
            } else {
                intro.append(&mut pending);
            }
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            intro.append(&mut pending);
            sections.push(Section {
                name: name.to_string(),
                intro: std::mem::take(&mut intro),
                keys: Vec::new(),
            });
        } else if line.contains(" = ") {
            let Some(section) = sections.last_mut() else {
                bail!("line {}: key {line:?} before any [section]", n + 1);
            };
            if pending.is_empty() {
                bail!("line {}: key {line:?} has no comment above it", n + 1);
            }
            section.keys.push(Key {
                line: line.to_string(),
                doc: std::mem::take(&mut pending),
            });
        } else {
            bail!(
                "line {}: {line:?} is neither a comment, a [section] nor a key = value",
                n + 1
            );
        }
    }
    header.retain(|p| !p.is_empty());
    Ok((header, sections))
}

/// Comment lines as one text: a line ending in `|` (a list of choices)
/// continues without a space.
fn join_comment(lines: &[String]) -> String {
    let mut text = String::new();
    for line in lines {
        if !text.is_empty() && !text.ends_with('|') {
            text.push(' ');
        }
        text.push_str(line);
    }
    text
}

/// stockd.toml(5), from the example config's keys, defaults and comments.
pub fn config_page(example: &str) -> Result<String> {
    let (header, sections) = parse_example(example)?;
    let mut roff = Roff::new();
    let source = version_source();
    let date = release_date()?;
    roff.control(
        "TH",
        ["stockd.toml", "5", date.as_str(), source.as_str(), MANUAL],
    );
    // Key names, paths and values read badly justified: ragged right.
    roff.control("ad", ["l"]);
    roff.control("SH", ["NAME"]);
    roff.text([roman("stockd.toml - configuration of the stockd daemon")]);
    roff.control("SH", ["SYNOPSIS"]);
    roff.text([bold("/etc/stockd/stockd.toml")]);
    roff.control("SH", ["DESCRIPTION"]);
    for paragraph in &header {
        roff.control("PP", []);
        roff.text([roman(paragraph.join(" "))]);
    }
    roff.control("PP", []);
    roff.text([roman(
        "The Debian package installs this file with every key set to its default, \
         each with the comment below; dpkg keeps your edits on upgrades. \
         The file may hold the database password, so it is readable by root and \
         the daemon's group only.",
    )]);
    roff.control("SH", ["KEYS"]);
    for section in &sections {
        roff.control("SS", [format!("[{}]", section.name).as_str()]);
        if !section.intro.is_empty() {
            roff.text([roman(join_comment(&section.intro))]);
        }
        for key in &section.keys {
            let (name, value) = key.line.split_once(" = ").unwrap_or((&key.line, ""));
            roff.control("TP", []);
            roff.text([bold(name), roman(" = "), italic(value)]);
            // An example (a long URL) on a line of its own: filled into the
            // text it could not be broken or adjusted.
            let text = join_comment(&key.doc);
            match text.split_once(" Example: ") {
                Some((doc, example)) => {
                    roff.text([roman(doc)]);
                    roff.control("br", []);
                    roff.text([roman(format!("Example: {example}"))]);
                }
                None => {
                    roff.text([roman(text)]);
                }
            }
        }
    }
    roff.control("SH", ["FILES"]);
    roff.control("TP", []);
    roff.text([bold("/etc/stockd/stockd.toml")]);
    roff.text([roman("Read by stockd when --config is not given.")]);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman("stockd(8), stockctl(1)")]);
    Ok(roff.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_shapes() {
        let (header, sections) = parse_example(
            "# Title.\n#\n# Second\n# paragraph.\n\n[a]\n# Doc of x.\nx = 1\n\n# About b.\n\n[b]\n# y\n# more.\ny = \"s\"\n",
        )
        .expect("parses");
        assert_eq!(
            header,
            vec![
                vec!["Title.".to_string()],
                vec!["Second".into(), "paragraph.".into()]
            ]
        );
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[1].intro, vec!["About b.".to_string()]);
        assert_eq!(
            sections[1].keys[0].doc,
            vec!["y".to_string(), "more.".into()]
        );
        assert!(
            parse_example("[a]\nx = 1\n").is_err(),
            "a key without comment"
        );
        assert!(parse_example("[a]\n# d\nnonsense\n").is_err());
    }
}
