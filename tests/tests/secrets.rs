//! Connecting like libpq, and never showing a secret (issue 15, items 1-3),
//! against a private PostgreSQL cluster with SCRAM passwords and `ssl = on`
//! (a certificate authority and server certificate made here with the
//! `openssl` command):
//!
//! - the daemon runs with the password in every libpq spelling; the
//!   password appears in no socket answer, log line, snapshot byte,
//!   `--print-config` or `--check-config` output;
//! - a password file, a systemd credential and `PGPASSFILE` each let the
//!   daemon log in; a group-readable password file is refused, naming it;
//! - `verify-full` connects with the right CA and host name and fails,
//!   naming why, with the wrong host name or CA; `verify-ca` ignores the
//!   name; the daemon's connections use TLS and show as `stockd` in
//!   `pg_stat_activity`;
//! - `postgres:///market` reaches the local socket: the cluster's through
//!   `PGHOST`, and the default `/var/run/postgresql` (loaded from when a
//!   server there lets the tests in, else named by `--check-config`).

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use stockd_tests::cluster::PgCluster;
use stockd_tests::daemon::stockd_bin;
use stockd_tests::{Daemon, PgTestDb, TempDir};

/// The role's password: a space, a quote and an `&` make every spelling
/// need its own escaping.
const PASSWORD: &str = "Tr0ub4dor&3 x'y";
/// What must never appear: the password, its distinctive part, and its
/// percent-encoded form.
const NEEDLES: &[&str] = &["Tr0ub4dor&3 x'y", "Tr0ub4dor", "Tr0ub4dor%263%20x%27y"];
const ROLE: &str = "stockd_reader";
const DB: &str = "market";

/// A private cluster: role [`ROLE`] with [`PASSWORD`] (SCRAM), database
/// [`DB`] holding a small reference table, TLS on with a server certificate
/// for `localhost` signed by a CA made here. `postgres` keeps trust auth.
struct Fixture {
    cluster: PgCluster,
    files: TempDir,
}

impl Fixture {
    async fn new() -> Result<Fixture> {
        let cluster = PgCluster::start_new()?;
        let files = TempDir::new("stockd-tls")?;
        make_certs(files.path())?;
        let data = cluster.dir().join("data");
        for (name, mode) in [("server.crt", 0o644), ("server.key", 0o600)] {
            let dest = data.join(name);
            std::fs::copy(files.path().join(name), &dest)?;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))?;
            chown_postgres(&dest)?;
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(
            "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             password_encryption = 'scram-sha-256'\n",
        );
        std::fs::write(&conf, text)?;
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all postgres trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             local all all scram-sha-256\n\
             host all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n",
        )?;
        // A reload, not a restart: a stopped cluster's port can be taken
        // by a parallel test's cluster before it starts again.
        cluster.reload()?;
        let admin = cluster.connect("postgres").await?;
        stockd_tests::wait_until(
            "ssl = on after the reload",
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async {
                let row = admin
                    .query_one("SHOW ssl", &[])
                    .await
                    .map_err(|e| e.to_string())?;
                let ssl: String = row.get(0);
                if ssl == "on" {
                    Ok(())
                } else {
                    Err(format!("ssl = {ssl}"))
                }
            },
        )
        .await?;
        admin
            .batch_execute(&format!(
                "CREATE ROLE {ROLE} LOGIN PASSWORD {}",
                stockd_tests::pg::quote_literal(PASSWORD)
            ))
            .await
            .context("creating the role")?;
        admin
            .batch_execute(&format!("CREATE DATABASE {DB} OWNER {ROLE}"))
            .await
            .context("creating the database")?;
        let market = cluster.connect(DB).await?;
        let ddl = std::fs::read_to_string(stockd_tests::FIXTURE_SQL)?;
        market.batch_execute(&ddl).await.context("fixture DDL")?;
        market
            .batch_execute(&format!(
                "INSERT INTO daily_stock_data (stock_code, stock_name, date, industry, close)
                 SELECT lpad((600000 + i)::text, 6, '0'), 'Stock ' || i, d::date, 'Banking', 10 + i
                 FROM generate_series(0, 19) i,
                      generate_series(DATE '2024-03-01', DATE '2024-03-05', '1 day') d;
                 ALTER TABLE daily_stock_data OWNER TO {ROLE}"
            ))
            .await
            .context("filling the fixture table")?;
        Ok(Fixture { cluster, files })
    }

    fn port(&self) -> u16 {
        self.cluster.port()
    }

    fn ca(&self) -> PathBuf {
        self.files.path().join("ca.crt")
    }

    fn other_ca(&self) -> PathBuf {
        self.files.path().join("other-ca.crt")
    }

    /// `[snapshot] dir` and a table setting, in a config file body.
    fn config(snapshot_dir: &Path) -> String {
        format!(
            "[snapshot]\ndir = {:?}\n",
            snapshot_dir.display().to_string()
        )
    }
}

fn run(cmd: &mut Command) -> Result<std::process::Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

/// A CA, a server certificate for `localhost` signed by it, and a second,
/// unrelated CA.
fn make_certs(dir: &Path) -> Result<()> {
    let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (ca, cn) in [("ca", "stockd test CA"), ("other-ca", "someone else's CA")] {
        let key = format!("{ca}.key");
        let crt = format!("{ca}.crt");
        let subj = format!("/CN={cn}");
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend([
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "3",
            "-subj",
            &subj,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&args)
            .context("the openssl command must be installed to make test certificates")?;
    }
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&args)?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "3",
        "-extfile",
        "server.ext",
    ])?;
    Ok(())
}

fn chown_postgres(path: &Path) -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        let pg = nix::unistd::User::from_name("postgres")?.context("no postgres user")?;
        nix::unistd::chown(path, Some(pg.uid), Some(pg.gid))?;
    }
    Ok(())
}

/// `stockd <args>` with `env` (inherited `STOCKD_*` and `PG*` removed) and
/// an empty config file unless `args` name one; stdout and stderr together.
fn stockd_once(args: &[&str], env: &[(&str, &str)]) -> Result<(bool, String)> {
    let dir = TempDir::new("stockd-once")?;
    let config = dir.path().join("stockd.toml");
    std::fs::write(&config, "")?;
    let mut cmd = Command::new(stockd_bin()?);
    if !args.contains(&"--config") {
        cmd.arg("--config").arg(&config);
    }
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("STOCKD_") || k.starts_with("PG") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("HOME", dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().context("running stockd")?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

fn assert_no_password(what: &str, text: &str) -> Result<()> {
    for needle in NEEDLES {
        if let Some(at) = text.find(needle) {
            let from = at.saturating_sub(80);
            bail!(
                "{what} shows the password ({needle:?}) at byte {at}: …{}…",
                &text[from..(at + needle.len() + 40).min(text.len())]
            );
        }
    }
    Ok(())
}

/// Starts a daemon with `env` (the connection string in
/// `STOCKD_DATABASE_URL`, as under systemd) and waits for the table's rows.
async fn start_loaded(env: &[(&str, &str)], config: &str) -> Result<Daemon> {
    let mut b = Daemon::builder().config(config);
    for (k, v) in env {
        b = b.env(k, v);
    }
    let d = b.start().await?;
    d.wait_info("the table loaded", Duration::from_secs(60), |i| {
        i["rows"].as_u64() == Some(100)
    })
    .await?;
    Ok(d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_appears_nowhere_in_any_spelling() -> Result<()> {
    let fx = Fixture::new().await?;
    let port = fx.port();
    let enc = "Tr0ub4dor%263%20x%27y";
    let spellings = [
        format!("postgresql://{ROLE}:{enc}@127.0.0.1:{port}/{DB}"),
        format!("postgres://{ROLE}:{enc}@localhost:{port}/{DB}?sslmode=require"),
        format!("postgresql://{ROLE}@127.0.0.1:{port}/{DB}?password={enc}&application_name=stockd"),
        format!("postgresql://{ROLE}@127.0.0.1:{port}/{DB}?sslmode=prefer&password={enc}"),
        format!(
            "host=127.0.0.1 port={port} user={ROLE} dbname={DB} password='Tr0ub4dor&3 x\\'y'"
        ),
        format!(
            "host=localhost port={port} password = 'Tr0ub4dor&3 x\\'y' user={ROLE} dbname={DB} sslmode=verify-full sslrootcert={}",
            fx.ca().display()
        ),
    ];
    for url in &spellings {
        let snap = TempDir::new("stockd-secret-snap")?;
        let config = Fixture::config(snap.path());
        let env = [("STOCKD_DATABASE_URL", url.as_str())];
        let d = start_loaded(&env, &config)
            .await
            .with_context(|| format!("spelling {}", stockd::pgconn::redact(url)))?;
        // Every answer a client can get.
        let info = d.call_raw("market.info", Value::Null).await?;
        assert_no_password("market.info", &info)?;
        let doc: Value = serde_json::from_str(&info)?;
        let detail = doc["result"]["source"]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure!(
            detail.contains(DB) && detail.contains("daily_stock_data") && !detail.contains(ROLE),
            "data clients see host, database and table, never the user: {detail:?}"
        );
        let status = d.call_raw("admin.status", Value::Null).await?;
        assert_no_password("admin.status", &status)?;
        let reload = d.call_raw("store.reload", Value::Null).await?;
        assert_no_password("store.reload", &reload)?;
        let bad = d.http(b"{").await.map(|r| r.body).unwrap_or_default();
        assert_no_password("a malformed request's answer", &bad)?;
        // The snapshot file, byte for byte.
        let snapshot = snap.path().join("store.snapshot");
        stockd_tests::wait_until(
            "the snapshot written",
            Duration::from_secs(30),
            Duration::from_millis(50),
            || {
                let done = d.stderr().contains("snapshot written");
                async move { done.then_some(()).ok_or_else(|| "not yet".to_string()) }
            },
        )
        .await?;
        let bytes = std::fs::read(&snapshot)?;
        assert_no_password("the snapshot", &String::from_utf8_lossy(&bytes))?;
        ensure!(
            !String::from_utf8_lossy(&bytes).contains(ROLE),
            "the snapshot names the user"
        );
        // The log, including the load and reload lines.
        let log = d.stderr();
        ensure!(log.contains("store loaded"), "{log}");
        assert_no_password("the log", &log)?;
        drop(d);

        // --print-config and --check-config, with the same environment.
        let (ok, printed) = stockd_once(&["--print-config"], &env)?;
        ensure!(ok, "{printed}");
        ensure!(printed.contains("***"), "{printed}");
        assert_no_password("--print-config", &printed)?;
        let (ok, checked) = stockd_once(&["--check-config"], &env)?;
        ensure!(ok, "--check-config failed: {checked}");
        assert_no_password("--check-config", &checked)?;
    }

    // A refused login says so without the password (a wrong password in
    // the URL, and the right one in a misspelt keyword).
    let wrong = format!("postgresql://{ROLE}:Tr0ub4dor-wrong@127.0.0.1:{port}/{DB}");
    let (ok, out) = stockd_once(&["--check-config"], &[("STOCKD_DATABASE_URL", &wrong)])?;
    ensure!(
        !ok && out.contains("password authentication failed"),
        "{out}"
    );
    assert_no_password("--check-config with a wrong password", &out)?;
    let typo = format!(
        "host=127.0.0.1 user={ROLE} pasword='{}'",
        "Tr0ub4dor&3 x\\'y"
    );
    let (ok, out) = stockd_once(&["--check-config"], &[("STOCKD_DATABASE_URL", &typo)])?;
    ensure!(!ok && out.contains("\"pasword\""), "{out}");
    assert_no_password("--check-config with a misspelt keyword", &out)?;
    // The config file: a password in it, world-readable, is warned about.
    let dir = TempDir::new("stockd-conf")?;
    let conf = dir.path().join("stockd.toml");
    std::fs::write(
        &conf,
        format!("[source]\ndatabase_url = \"postgresql://{ROLE}:{enc}@127.0.0.1:{port}/{DB}\"\n"),
    )?;
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644))?;
    let conf_arg = conf.display().to_string();
    let (ok, out) = stockd_once(&["--config", &conf_arg, "--check-config"], &[])?;
    ensure!(ok, "{out}");
    ensure!(
        out.contains(&conf_arg) && out.contains("world-readable") && out.contains("chmod 0600"),
        "no warning about the world-readable config file: {out}"
    );
    assert_no_password("--check-config with the password in the file", &out)?;
    let (_, printed) = stockd_once(&["--config", &conf_arg, "--print-config"], &[])?;
    assert_no_password("--print-config with the password in the file", &printed)?;
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o640))?;
    let (ok, out) = stockd_once(&["--config", &conf_arg, "--check-config"], &[])?;
    ensure!(ok && !out.contains("world-readable"), "{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_from_outside_the_url() -> Result<()> {
    let fx = Fixture::new().await?;
    let url = format!("postgresql://{ROLE}@127.0.0.1:{}/{DB}", fx.port());
    let dir = TempDir::new("stockd-pw")?;

    // source.password_file: refused while others may read it.
    let pw_file = dir.path().join("db-password");
    std::fs::write(&pw_file, format!("{PASSWORD}\n"))?;
    std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o644))?;
    let pw_env = pw_file.display().to_string();
    let env = [
        ("STOCKD_DATABASE_URL", url.as_str()),
        ("STOCKD_SOURCE_PASSWORD_FILE", pw_env.as_str()),
    ];
    let (ok, out) = stockd_once(&["--check-config"], &env)?;
    ensure!(
        !ok && out.contains(&pw_env) && out.contains("0644") && out.contains("chmod 0600"),
        "a world-readable password file must be refused, naming it: {out}"
    );
    assert_no_password("the refusal", &out)?;
    std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o600))?;
    let (ok, out) = stockd_once(&["--check-config"], &env)?;
    ensure!(ok, "{out}");
    let d = start_loaded(&env, "").await.context("password file")?;
    ensure!(
        d.stderr().contains("source.password_file"),
        "{}",
        d.stderr()
    );
    assert_no_password("the log", &d.stderr())?;
    drop(d);

    // A systemd credential ($CREDENTIALS_DIRECTORY/stockd-db-password).
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds)?;
    std::fs::write(creds.join("stockd-db-password"), PASSWORD)?;
    let creds_env = creds.display().to_string();
    let env = [
        ("STOCKD_DATABASE_URL", url.as_str()),
        ("CREDENTIALS_DIRECTORY", creds_env.as_str()),
    ];
    let d = start_loaded(&env, "").await.context("systemd credential")?;
    assert_no_password("the log", &d.stderr())?;
    drop(d);

    // PGPASSFILE, libpq's format; the host matched as written.
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "# stockd test\n127.0.0.1:{}:{DB}:{ROLE}:{}\n",
            fx.port(),
            PASSWORD.replace('\\', "\\\\").replace(':', "\\:")
        ),
    )?;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600))?;
    let pgpass_env = pgpass.display().to_string();
    let env = [
        ("STOCKD_DATABASE_URL", url.as_str()),
        ("PGPASSFILE", pgpass_env.as_str()),
    ];
    let d = start_loaded(&env, "").await.context("PGPASSFILE")?;
    drop(d);
    let (ok, out) = stockd_once(&["--check-config"], &env)?;
    ensure!(ok, "{out}");

    // Without any of them the login is refused, and says so.
    let (ok, out) = stockd_once(&["--check-config"], &[("STOCKD_DATABASE_URL", &url)])?;
    ensure!(!ok && out.contains("password"), "{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_as_sslmode_says() -> Result<()> {
    let fx = Fixture::new().await?;
    let port = fx.port();
    let ca = fx.ca().display().to_string();
    let other = fx.other_ca().display().to_string();
    let check = |url: String| {
        let env = [
            ("STOCKD_DATABASE_URL", url.as_str()),
            ("PGPASSWORD", PASSWORD),
        ];
        stockd_once(&["--check-config"], &env)
    };
    let base = |host: &str| format!("postgresql://{ROLE}@{host}:{port}/{DB}");

    // verify-full: the right CA and the name in the certificate.
    let (ok, out) = check(format!(
        "{}?sslmode=verify-full&sslrootcert={ca}",
        base("localhost")
    ))?;
    ensure!(ok, "verify-full with the right CA and host name: {out}");
    // The certificate names localhost, not 127.0.0.1.
    let (ok, out) = check(format!(
        "{}?sslmode=verify-full&sslrootcert={ca}",
        base("127.0.0.1")
    ))?;
    ensure!(
        !ok && out.contains("TLS") && out.to_lowercase().contains("name"),
        "verify-full must refuse a certificate for another name, saying so: {out}"
    );
    // Another CA.
    let (ok, out) = check(format!(
        "{}?sslmode=verify-full&sslrootcert={other}",
        base("localhost")
    ))?;
    ensure!(
        !ok && out.contains("UnknownIssuer"),
        "verify-full must refuse a certificate of an unknown CA, saying so: {out}"
    );
    let (ok, out) = check(format!(
        "{}?sslmode=verify-ca&sslrootcert={other}",
        base("localhost")
    ))?;
    ensure!(!ok && out.contains("UnknownIssuer"), "{out}");
    // verify-ca checks the chain only.
    let (ok, out) = check(format!(
        "{}?sslmode=verify-ca&sslrootcert={ca}",
        base("127.0.0.1")
    ))?;
    ensure!(ok, "verify-ca ignores the host name: {out}");
    // require: encrypted, certificate not checked (libpq's meaning).
    let (ok, out) = check(format!("{}?sslmode=require", base("127.0.0.1")))?;
    ensure!(ok, "require: {out}");
    // PGSSLMODE and PGSSLROOTCERT fill what the URL leaves out.
    let env = [
        ("STOCKD_DATABASE_URL", base("127.0.0.1")),
        ("PGPASSWORD", PASSWORD.to_string()),
        ("PGSSLMODE", "verify-full".to_string()),
        ("PGSSLROOTCERT", ca.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (ok, out) = stockd_once(&["--check-config"], &env)?;
    ensure!(
        !ok && out.to_lowercase().contains("name"),
        "PGSSLMODE=verify-full applies: {out}"
    );

    // The daemon's own connections: TLS, application_name stockd.
    let url = format!("{}?sslmode=verify-full&sslrootcert={ca}", base("localhost"));
    let env = [
        ("STOCKD_DATABASE_URL", url.as_str()),
        ("PGPASSWORD", PASSWORD),
    ];
    let d = start_loaded(&env, "").await?;
    let admin = fx.cluster.connect("postgres").await?;
    let rows = admin
        .query(
            "SELECT a.application_name, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.usename = $1",
            &[&ROLE],
        )
        .await?;
    ensure!(
        !rows.is_empty(),
        "no connection of the daemon in pg_stat_activity"
    );
    for r in &rows {
        let app: String = r.get(0);
        let ssl: bool = r.get(1);
        ensure!(app == "stockd" && ssl, "connection {app:?} ssl={ssl}");
    }
    drop(d);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_without_host_reaches_the_local_socket() -> Result<()> {
    // The private cluster's socket directory, through PGHOST/PGPORT/PGUSER.
    let fx = Fixture::new().await?;
    let sock_dir = fx.cluster.dir().display().to_string();
    let port = fx.port().to_string();
    let env = [
        ("STOCKD_DATABASE_URL", "postgres:///market"),
        ("PGHOST", sock_dir.as_str()),
        ("PGPORT", port.as_str()),
        ("PGUSER", ROLE),
        ("PGPASSWORD", PASSWORD),
    ];
    let d = start_loaded(&env, "")
        .await
        .context("postgres:///market over PGHOST")?;
    let info = d.call("market.info", Value::Null).await?;
    let detail = info["source"]["detail"].as_str().unwrap_or_default();
    ensure!(
        detail.contains(&format!("{sock_dir}/.s.PGSQL.{port}/market")),
        "{detail}"
    );
    drop(d);

    // No host at all: libpq's default socket, /var/run/postgresql.
    const DEFAULT_SOCKET_URL: &str = "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres";
    let reachable = Path::new("/var/run/postgresql/.s.PGSQL.5432").exists()
        && stockd_tests::pg::connect(DEFAULT_SOCKET_URL).await.is_ok();
    if !reachable {
        // Nobody we may use listens there (the tests run their own
        // cluster): the daemon must still say that is where it went.
        let (ok, out) = stockd_once(
            &["--check-config"],
            &[
                ("STOCKD_DATABASE_URL", "postgres:///market"),
                ("PGUSER", "postgres"),
            ],
        )?;
        ensure!(
            !ok && out.contains("/var/run/postgresql"),
            "--check-config with postgres:///market and no server on the default socket should fail naming /var/run/postgresql:\n{out}"
        );
        return Ok(());
    }
    let db = PgTestDb::on(DEFAULT_SOCKET_URL).await?;
    db.create_fixture_table().await?;
    db.fill_small("daily_stock_data", 20, &["2024-03-01", "2024-03-04"])
        .await?;
    let url = format!("postgres:///{}", db.name());
    let env = [
        ("STOCKD_DATABASE_URL", url.as_str()),
        ("PGUSER", "postgres"),
    ];
    let mut b = Daemon::builder();
    for (k, v) in env {
        b = b.env(k, v);
    }
    let d = b.start().await?;
    let info = d
        .wait_info(
            "loaded over the default socket",
            Duration::from_secs(60),
            |i| i["rows"].as_u64() == Some(40),
        )
        .await?;
    let detail = info["source"]["detail"].as_str().unwrap_or_default();
    ensure!(
        detail.contains("/var/run/postgresql/.s.PGSQL.5432/"),
        "{detail}"
    );
    Ok(())
}
