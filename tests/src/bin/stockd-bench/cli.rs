//! Command-line options (hand-rolled: a handful of flags, no extra crate).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::ops::{Op, ALL_OPS};
use crate::resp::RedisAddr;
use crate::scale::Scale;
use crate::target::Decode;

pub const USAGE: &str = "\
stockd-bench: stockd vs PostgreSQL vs Redis on the same data, at several scales, in one run

Usage: cargo run --release -p stockd-tests --bin stockd-bench -- [OPTIONS]

Options:
  --scales LIST       data sets, comma-separated [default: seed,quarter,year,seed-vendor,year-vendor]
                      seed: 2,895 stocks x 30 days - 14 = 86,836 rows; quarter: 5,400 x 61;
                      year: 5,400 x 244 (about 1.3 M rows); seed-vendor, year-vendor: the rows of
                      seed and year with every double rounded to the decimals a vendor's table
                      holds (load and memory only). --scale NAME is the same.
  --concurrency LIST  concurrent clients per measurement [default: 1,8,32] (--clients N: one level)
  --duration D        measured time per operation x concurrency x target, e.g. 3s, 500ms [default: 3s]
  --warmup D          unmeasured warm-up before each measurement [default: 500ms]
  --ops LIST          comma-separated operations [default: all: stock.get, stock.get/8,
                      stock.many, stock.many/columns, stock.top, stock.top/columns,
                      stock.history, hotspots.ranking, industry.detail, stock.list]
  --out DIR           where report.md, results.json, the charts and daemon logs go [default: bench-out/]
  --pg-url URL        PostgreSQL server (local only); the database name is replaced by
                      stockd_bench [default: postgres://postgres@127.0.0.1:5432/postgres]
  --redis ADDR        Redis: host:port or unix:/path/to/socket [default: 127.0.0.1:6379]
  --redis-db N        Redis database number the benchmark uses; only keys starting with
                      sb: are written or deleted there [default: 9]
  --no-redis          leave Redis out
  --stockd PATH       stockd binary [default: <workspace>/target/release/stockd]
  --no-build          do not run `cargo build --release -p stockd` first
  --baseline PATH     a second stockd binary (e.g. built from the commit before a change): at every
                      scale it loads the same rows once, and is timed on the same operations in the
                      same run (rows layout only), between stockd and PostgreSQL; the report gives
                      stockd / baseline
  --load-runs N       daemon loads and COPY drains timed (best of N) [default: 3]
  --regenerate        rebuild the data sets even if their content hash matches
  --decode MODE       full: clients decode every answer (stockd JSON into serde_json::Value,
                      PostgreSQL rows column by column, Redis replies into owned strings);
                      none: diagnostic, stockd and PostgreSQL answers read but not decoded [default: full]
  --seed N            seed of the request sequences [default: 1]
  --max-requests N    cap per client and measurement (bounds memory) [default: 2000000]
  -h, --help          this text
";

#[derive(Debug, Clone)]
pub struct Args {
    pub scales: Vec<Scale>,
    pub concurrency: Vec<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    pub ops: Vec<Op>,
    pub out: PathBuf,
    pub pg_url: String,
    pub redis: Option<RedisAddr>,
    pub redis_db: u32,
    pub stockd: Option<PathBuf>,
    pub baseline: Option<PathBuf>,
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
            scales: crate::scale::ALL.to_vec(),
            concurrency: vec![1, 8, 32],
            duration: Duration::from_secs(3),
            warmup: Duration::from_millis(500),
            ops: ALL_OPS.to_vec(),
            out: PathBuf::from("bench-out"),
            pg_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
            redis: Some(RedisAddr::Tcp("127.0.0.1:6379".into())),
            redis_db: 9,
            stockd: None,
            baseline: None,
            build: true,
            load_runs: 3,
            regenerate: false,
            seed: 1,
            max_requests: 2_000_000,
            decode: Decode::Full,
        }
    }
}

fn list<T: std::str::FromStr<Err = anyhow::Error>>(v: &str) -> Result<Vec<T>> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
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
            "--scale" | "--scales" => a.scales = list(&value("--scales")?)?,
            "--clients" => a.concurrency = vec![parse_num(&value("--clients")?, "--clients")?],
            "--concurrency" => {
                a.concurrency = value("--concurrency")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| parse_num(s, "--concurrency"))
                    .collect::<Result<_>>()?
            }
            "--duration" => a.duration = parse_duration(&value("--duration")?)?,
            "--warmup" => a.warmup = parse_duration(&value("--warmup")?)?,
            "--ops" => a.ops = list(&value("--ops")?)?,
            "--out" => a.out = PathBuf::from(value("--out")?),
            "--pg-url" => a.pg_url = value("--pg-url")?,
            "--redis" => {
                let v = value("--redis")?;
                a.redis = Some(match v.strip_prefix("unix:") {
                    Some(p) => RedisAddr::Unix(PathBuf::from(p)),
                    None => {
                        let host = v.rsplit_once(':').map_or(v.as_str(), |(h, _)| h);
                        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
                            bail!("--redis '{v}': only a local Redis (127.0.0.1, localhost, [::1] or unix:PATH) is accepted");
                        }
                        RedisAddr::Tcp(v)
                    }
                })
            }
            "--redis-db" => a.redis_db = parse_num(&value("--redis-db")?, "--redis-db")?,
            "--no-redis" => a.redis = None,
            "--stockd" => a.stockd = Some(PathBuf::from(value("--stockd")?)),
            "--baseline" => a.baseline = Some(PathBuf::from(value("--baseline")?)),
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
    if let Some(&c) = a.concurrency.iter().find(|&&c| c == 0 || c > 256) {
        bail!("--concurrency: each level must be 1..=256, not {c}");
    }
    if a.concurrency.is_empty() {
        bail!("--concurrency is empty");
    }
    a.concurrency.sort_unstable();
    a.concurrency.dedup();
    if a.scales.is_empty() {
        bail!("--scales is empty");
    }
    a.scales.dedup();
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
    if a.redis_db > 15 {
        bail!(
            "--redis-db must be 0..=15 (Redis' default databases), not {}",
            a.redis_db
        );
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
