//! Command-line options (hand-rolled: a handful of flags, no extra crate).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::ops::Op;
use crate::scale::Scale;
use crate::target::Decode;

pub const USAGE: &str = "\
stockd-bench: stockd vs PostgreSQL on the same data, in one run

Usage: cargo run --release -p stockd-tests --bin stockd-bench -- [OPTIONS]

Options:
  --scale NAME        data set: seed (86,836 rows; the issue-2 workload) [default: seed]
                      (quarter and year are defined for the later benchmark)
  --clients N         concurrent clients per target [default: 8]
  --duration D        measured time per operation and target, e.g. 10s, 500ms [default: 10s]
  --warmup D          unmeasured warm-up before each measurement [default: 1s]
  --ops LIST          comma-separated operations [default: stock.get,stock.top]
  --out DIR           where report.md, results.json and daemon logs go [default: bench-out/]
  --pg-url URL        PostgreSQL server (local only); the database name is replaced by
                      stockd_bench [default: postgres://postgres@127.0.0.1:5432/postgres]
  --stockd PATH       stockd binary [default: <workspace>/target/release/stockd]
  --no-build          do not run `cargo build --release -p stockd` first
  --load-runs N       daemon loads and COPY drains timed (best of N) [default: 3]
  --regenerate        rebuild the data set even if its content hash matches
  --decode MODE       full: clients decode every answer (JSON into serde_json::Value, PostgreSQL
                      rows column by column), as the targets are defined; none: diagnostic,
                      answers read but not decoded, to see server capacity [default: full]
  --seed N            seed of the request sequences [default: 1]
  --max-requests N    cap per client and measurement (bounds memory) [default: 2000000]
  -h, --help          this text
";

#[derive(Debug, Clone)]
pub struct Args {
    pub scale: Scale,
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub ops: Vec<Op>,
    pub out: PathBuf,
    pub pg_url: String,
    pub stockd: Option<PathBuf>,
    pub build: bool,
    pub load_runs: usize,
    pub regenerate: bool,
    pub seed: u64,
    pub max_requests: u64,
    pub decode: Decode,
}

impl Default for Args {
    fn default() -> Args {
        Args {
            scale: Scale::Seed,
            clients: 8,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            ops: vec![Op::StockGet, Op::StockTop],
            out: PathBuf::from("bench-out"),
            pg_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
            stockd: None,
            build: true,
            load_runs: 3,
            regenerate: false,
            seed: 1,
            max_requests: 2_000_000,
            decode: Decode::Full,
        }
    }
}

/// `Ok(None)` when help was asked for.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Args>> {
    let mut a = Args::default();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (flag, None),
        };
        let mut value = |name: &str| -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().with_context(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--scale" => a.scale = value("--scale")?.parse()?,
            "--clients" => a.clients = parse_num(&value("--clients")?, "--clients")?,
            "--duration" => a.duration = parse_duration(&value("--duration")?)?,
            "--warmup" => a.warmup = parse_duration(&value("--warmup")?)?,
            "--ops" => {
                a.ops = value("--ops")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::parse)
                    .collect::<Result<_>>()?
            }
            "--out" => a.out = PathBuf::from(value("--out")?),
            "--pg-url" => a.pg_url = value("--pg-url")?,
            "--stockd" => a.stockd = Some(PathBuf::from(value("--stockd")?)),
            "--no-build" => a.build = false,
            "--load-runs" => a.load_runs = parse_num(&value("--load-runs")?, "--load-runs")?,
            "--regenerate" => a.regenerate = true,
            "--decode" => a.decode = value("--decode")?.parse()?,
            "--seed" => a.seed = parse_num(&value("--seed")?, "--seed")?,
            "--max-requests" => {
                a.max_requests = parse_num(&value("--max-requests")?, "--max-requests")?
            }
            other => bail!("unknown option '{other}' (see --help)"),
        }
    }
    if a.clients == 0 || a.clients > 256 {
        bail!("--clients must be 1..=256, not {}", a.clients);
    }
    if a.load_runs == 0 || a.load_runs > 20 {
        bail!("--load-runs must be 1..=20, not {}", a.load_runs);
    }
    if a.duration.is_zero() || a.duration > Duration::from_secs(600) {
        bail!("--duration must be > 0 and ≤ 10m");
    }
    if a.warmup > Duration::from_secs(60) {
        bail!("--warmup must be ≤ 60s");
    }
    if a.ops.is_empty() {
        bail!("--ops is empty");
    }
    Ok(Some(a))
}

fn parse_num<T: std::str::FromStr>(s: &str, name: &str) -> Result<T> {
    s.replace('_', "")
        .parse()
        .map_err(|_| anyhow::anyhow!("{name}: '{s}' is not a number"))
}

/// `10s`, `500ms`, `2m`, `1.5s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("'{s}' is not a duration (e.g. 10s, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => bail!("'{s}': unit must be ms, s or m"),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        bail!("'{s}' is not a duration");
    }
    Ok(Duration::from_secs_f64(secs))
}
