//! A private PostgreSQL cluster for fault tests: `initdb` into a temporary
//! directory, its own port on 127.0.0.1 and its own Unix socket directory,
//! started and stopped with `pg_ctl`. A test can stop it (`-m fast` or
//! `-m immediate`) and start it again without touching the shared
//! PostgreSQL that other tests and engineers use. The cluster is stopped
//! (immediate) and its directory removed on drop.
//!
//! PostgreSQL refuses to run as root, so when the test runs as root every
//! command runs as the `postgres` user through `runuser`.

use crate::util::TempDir;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tokio_postgres::{Client, NoTls};

/// Where the PostgreSQL server binaries are: `pg_config --bindir` if it
/// holds `initdb`, else the newest Debian `/usr/lib/postgresql/<v>/bin`.
pub fn bindir() -> PathBuf {
    let has_tools = |p: &Path| p.join("initdb").exists() && p.join("pg_ctl").exists();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| has_tools(p));
    if let Some(p) = from_pg_config {
        return p;
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, p)| has_tools(p))
        .collect();
    debian.sort();
    debian
        .pop()
        .map(|(_, p)| p)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

/// A port nobody listens on right now (bound, read, released).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// One private cluster.
pub struct PgCluster {
    dir: TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Whether the commands run through `runuser -u postgres`.
    as_postgres: bool,
    running: bool,
}

impl PgCluster {
    /// `initdb`s a cluster (trust auth, user `postgres`, fsync off) and
    /// starts it on a free port.
    pub fn start_new() -> Result<PgCluster> {
        PgCluster::start_with(30)
    }

    /// [`PgCluster::start_new`] accepting `max_connections` clients.
    pub fn start_with(max_connections: u32) -> Result<PgCluster> {
        let bin = bindir();
        let dir = TempDir::new("stockd-pg")?;
        let as_postgres = nix::unistd::geteuid().is_root();
        if as_postgres {
            let pg = nix::unistd::User::from_name("postgres")
                .context("looking up the postgres user")?
                .context("there is no postgres user to run the private cluster as")?;
            nix::unistd::chown(dir.path(), Some(pg.uid), Some(pg.gid))
                .with_context(|| format!("chown postgres {}", dir.path().display()))?;
        }
        let data = dir.path().join("data");
        let port = free_port()?;
        let mut c = PgCluster {
            dir,
            data,
            bin,
            port,
            as_postgres,
            running: false,
        };
        let data_arg = c.data.display().to_string();
        c.run(
            "initdb",
            &[
                "-D",
                &data_arg,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        let conf = format!(
            "\n# stockd fault tests\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nshared_buffers = 16MB\nmax_connections = {max_connections}\n",
            c.dir.path().display()
        );
        let conf_path = c.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path)
            .with_context(|| format!("reading {}", conf_path.display()))?;
        text.push_str(&conf);
        std::fs::write(&conf_path, text)?;
        c.start()?;
        Ok(c)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<Output> {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(&program);
            cmd
        } else {
            Command::new(&program)
        };
        cmd.args(args).current_dir(self.dir.path());
        let out = cmd
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        if !out.status.success() {
            bail!(
                "{tool} {} failed ({}):\n{}{}\nserver log:\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                crate::util::tail(&self.log(), 20)
            );
        }
        Ok(out)
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start(&mut self) -> Result<()> {
        let data = self.data.display().to_string();
        let log = self.log_path().display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-t", "60", "start"],
        )?;
        self.running = true;
        Ok(())
    }

    /// `pg_ctl reload`: the server re-reads `postgresql.conf` and
    /// `pg_hba.conf` (SSL settings included) without giving up its port,
    /// which a parallel test could take during a restart.
    pub fn reload(&self) -> Result<()> {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["-D", &data, "reload"])?;
        Ok(())
    }

    /// `pg_ctl stop -m <mode>` (`fast`: disconnect clients and shut down
    /// cleanly; `immediate`: abort, as a crash would).
    pub fn stop(&mut self, mode: &str) -> Result<()> {
        let data = self.data.display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &data, "-m", mode, "-w", "-t", "60", "stop"],
        )?;
        self.running = false;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data directory and socket inside).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of database `db` over TCP.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A connection to database `db`.
    pub async fn connect(&self, db: &str) -> Result<Client> {
        connect(&self.url(db)).await
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            if let Err(e) = self.stop("immediate") {
                eprintln!("warning: could not stop the private cluster: {e:#}");
            }
        }
    }
}

/// Connects with tokio-postgres; the connection task runs on the current
/// runtime and ends when the client is dropped.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// A private cluster whose `postgres` database holds the reference table
/// (`daily_stock_data`, from [`crate::FIXTURE_SQL`]) filled with `stocks`
/// × `days` of demo data and no suspensions: a small real source for the
/// outage and fault tests.
pub async fn small_demo_cluster(stocks: u32, days: u32) -> Result<PgCluster> {
    let cluster = tokio::task::spawn_blocking(PgCluster::start_new).await??;
    let client = cluster.connect("postgres").await?;
    client
        .batch_execute(&std::fs::read_to_string(crate::FIXTURE_SQL)?)
        .await?;
    let params = stockd::demo::DemoParams {
        stocks,
        days,
        suspended: 0,
        ..stockd::demo::DemoParams::embedded()
    };
    stockd::demo::fill_table(&client, "daily_stock_data", &params).await?;
    Ok(cluster)
}
