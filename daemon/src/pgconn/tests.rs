use super::*;
use std::os::unix::fs::PermissionsExt;

const PW: &str = "Sup3r-s3cret";

/// Every libpq spelling of a password, with what the redactor must print.
fn spellings() -> Vec<(String, String)> {
    vec![
        // URL userinfo.
        (
            format!("postgres://app:{PW}@db:5432/stocks"),
            "postgres://app:***@db:5432/stocks".into(),
        ),
        (
            format!("postgresql://app:{PW}@db/stocks?sslmode=require"),
            "postgresql://app:***@db/stocks?sslmode=require".into(),
        ),
        // Percent-encoded password, and one holding an encoded '@' and ':'.
        (
            "postgres://app:Sup3r%2Ds3cret@db/stocks".into(),
            "postgres://app:***@db/stocks".into(),
        ),
        (
            "postgres://app:p%40ss%3Aw0rd@db/stocks".into(),
            "postgres://app:***@db/stocks".into(),
        ),
        // Characters a URL should have encoded, left raw.
        (
            "postgres://app:Sup3r/s3cret?x@db/stocks".into(),
            "postgres://app:***@db/stocks".into(),
        ),
        // Upper-case scheme.
        (
            format!("POSTGRES://app:{PW}@db/stocks"),
            "POSTGRES://app:***@db/stocks".into(),
        ),
        // Query parameter, first, among others, last, percent-encoded key.
        (
            format!("postgresql://app@db/stocks?password={PW}"),
            "postgresql://app@db/stocks?password=***".into(),
        ),
        (
            format!("postgresql://app@db/stocks?sslmode=require&password={PW}&application_name=x"),
            "postgresql://app@db/stocks?sslmode=require&password=***&application_name=x".into(),
        ),
        (
            format!("postgresql:///stocks?pass%77ord={PW}"),
            "postgresql:///stocks?pass%77ord=***".into(),
        ),
        (
            format!("postgresql://db/stocks?PASSWORD={PW}"),
            "postgresql://db/stocks?PASSWORD=***".into(),
        ),
        (
            format!("postgresql://db/stocks?sslpassword={PW}"),
            "postgresql://db/stocks?sslpassword=***".into(),
        ),
        // key=value, plain, quoted, escaped quote, spaces around '=', case.
        (
            format!("host=db user=app password={PW} dbname=stocks"),
            "host=db user=app password=*** dbname=stocks".into(),
        ),
        (
            format!("host=db password='{PW} with spaces' dbname=stocks"),
            "host=db password=*** dbname=stocks".into(),
        ),
        (
            format!("host=db password='it\\'s {PW}' dbname=stocks"),
            "host=db password=*** dbname=stocks".into(),
        ),
        (
            format!("host=db password = {PW} dbname=stocks"),
            "host=db password = *** dbname=stocks".into(),
        ),
        (
            format!("host=db Password={PW}"),
            "host=db Password=***".into(),
        ),
        (format!("password={PW}"), "password=***".into()),
        (
            format!("host=db password=a\\ {PW} dbname=x"),
            "host=db password=*** dbname=x".into(),
        ),
        // Inside a message, quoted by a log line.
        (
            format!("cannot connect (source.database_url \"postgres://u:{PW}@h/d\"): refused"),
            "cannot connect (source.database_url \"postgres://u:***@h/d\"): refused".into(),
        ),
        (
            format!("database_url = \"host=db password='{PW}'\""),
            "database_url = \"host=db password=***\"".into(),
        ),
    ]
}

#[test]
fn every_spelling_is_redacted() {
    for (input, want) in spellings() {
        let got = redact(&input);
        assert_eq!(got, want, "input: {input}");
        for piece in ["Sup3r", "s3cret", "p%40ss", "w0rd"] {
            assert!(!got.contains(piece), "{piece} left in {got}");
        }
    }
}

#[test]
fn text_without_a_password_is_unchanged() {
    for s in [
        "postgres://app@db:5432/stocks?sslmode=require",
        "postgres:///market",
        "host=/var/run/postgresql dbname=x passfile=/etc/pgpass",
        "the password file is missing",
        "passwordless=1",
        "",
    ] {
        assert_eq!(redact(s), s);
    }
}

#[test]
fn parses_urls_like_libpq() {
    let p =
        parse("postgresql://app:p%40ss@db1:5433,db2/stocks?sslmode=verify-full&ssl=true").unwrap();
    let get = |k: &str| {
        p.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("user"), Some("app"));
    assert_eq!(get("password"), Some("p@ss"));
    assert_eq!(get("host"), Some("db1,db2"));
    assert_eq!(get("port"), Some("5433,"));
    assert_eq!(get("dbname"), Some("stocks"));
    assert_eq!(
        get("sslmode"),
        Some("require"),
        "ssl=true maps to sslmode=require"
    );
    let p = parse("postgres:///market").unwrap();
    assert_eq!(p, vec![("dbname".to_string(), "market".to_string())]);
    let p = parse("postgresql://%2Ftmp%2Fsock/x").unwrap();
    assert_eq!(p[0], ("host".to_string(), "/tmp/sock".to_string()));
    let p = parse("postgresql://[::1]:6000/x").unwrap();
    assert_eq!(p[0], ("host".to_string(), "::1".to_string()));
    assert_eq!(p[1], ("port".to_string(), "6000".to_string()));
}

#[test]
fn parses_key_value_like_libpq() {
    let p = parse(r"host = db  password='a \'b\' c' dbname=x application_name=a\ b").unwrap();
    assert_eq!(
        p,
        vec![
            ("host".to_string(), "db".to_string()),
            ("password".to_string(), "a 'b' c".to_string()),
            ("dbname".to_string(), "x".to_string()),
            ("application_name".to_string(), "a b".to_string()),
        ]
    );
}

#[test]
fn errors_name_the_keyword_never_the_password() {
    let e = parse(&format!("host=db pasword={PW}")).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("\"pasword\""), "{text}");
    assert!(!text.contains(PW), "{text}");
    let e = parse("host=db sslmode=verify").unwrap_err().to_string();
    assert!(e.contains("verify") && e.contains("verify-full"), "{e}");
    let e = parse(&format!("host=db password='{PW}"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unterminated") && !e.contains(PW), "{e}");
    let e = parse(&format!("postgres://u:{PW}%zz@h/d"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("percent") && !e.contains(PW), "{e}");
    let e = parse("mysql://h/d").unwrap_err().to_string();
    assert!(e.contains("postgresql://"), "{e}");
    // A raw '/', '?' or '@' in the password would make the URL's host,
    // port or database hold a piece of it: refused, quoting nothing.
    for url in [
        "postgres://app:Sup3r/s3cret@db/stocks",
        "postgres://app:1234/s3cret@db/stocks",
        "postgres://app:Sup3r?s3cret@db/stocks",
    ] {
        let e = parse(url).unwrap_err().to_string();
        assert!(
            e.contains("percent-encode") && !e.contains("Sup3r") && !e.contains("s3cret"),
            "{url}: {e}"
        );
    }
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut e: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Never read the real ~/.pgpass.
    e.entry("HOME".into())
        .or_insert_with(|| "/nonexistent".into());
    e
}

#[test]
fn defaults_are_libpqs() {
    let t = Target::resolve("postgres:///market", &PasswordSources::default(), &env(&[])).unwrap();
    assert_eq!(t.hosts, vec![Host::Unix(PathBuf::from(DEFAULT_SOCKET_DIR))]);
    assert_eq!(t.ports, vec![5432]);
    assert_eq!(t.dbname, "market");
    let os = os_user().unwrap().0;
    assert_eq!(t.user, os);
    assert_eq!(t.sslmode, SslMode::Prefer);
    assert_eq!(t.application_name, "stockd");
    assert!(!t.has_password());
    // No database: the user's name.
    let t = Target::resolve("user=alice", &PasswordSources::default(), &env(&[])).unwrap();
    assert_eq!(t.dbname, "alice");
    // A Unix socket never negotiates TLS (libpq ignores sslmode there).
    let c = Target::resolve(
        "host=/tmp sslmode=require",
        &PasswordSources::default(),
        &env(&[]),
    )
    .unwrap()
    .pg_config();
    assert_eq!(c.get_ssl_mode(), tokio_postgres::config::SslMode::Disable);
}

#[test]
fn environment_fills_what_the_string_leaves_out() {
    let e = env(&[
        ("PGHOST", "pg.example"),
        ("PGPORT", "6432"),
        ("PGUSER", "etl"),
        ("PGDATABASE", "mkt"),
        ("PGSSLMODE", "verify-full"),
        ("PGAPPNAME", "reporting"),
        ("PGPASSWORD", PW),
    ]);
    let t = Target::resolve("", &PasswordSources::default(), &e).unwrap();
    assert_eq!(t.hosts, vec![Host::Tcp("pg.example".into())]);
    assert_eq!(t.ports, vec![6432]);
    assert_eq!((t.user.as_str(), t.dbname.as_str()), ("etl", "mkt"));
    assert_eq!(t.sslmode, SslMode::VerifyFull);
    assert_eq!(t.application_name, "reporting");
    assert_eq!(t.password_origin, "PGPASSWORD");
    assert_eq!(t.pg_config().get_password(), Some(PW.as_bytes()));
    // The string wins over the environment.
    let t = Target::resolve(
        "postgres://app@db:5432/x?sslmode=disable",
        &PasswordSources::default(),
        &e,
    )
    .unwrap();
    assert_eq!(t.hosts, vec![Host::Tcp("db".into())]);
    assert_eq!((t.user.as_str(), t.dbname.as_str()), ("app", "x"));
    assert_eq!(t.sslmode, SslMode::Disable);
    let e = env(&[("PGSSLMODE", "verify")]);
    let err = Target::resolve("", &PasswordSources::default(), &e)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sslmode") && err.contains("verify-ca"),
        "{err}"
    );
}

#[test]
fn describe_and_public_never_show_the_password() {
    let t = Target::resolve(
        &format!("postgres://app:{PW}@db:6000/stocks"),
        &PasswordSources::default(),
        &env(&[]),
    )
    .unwrap();
    assert_eq!(t.public(), "db:6000/stocks");
    assert!(
        !t.public().contains("app"),
        "data clients never see the user"
    );
    assert_eq!(
        t.describe(),
        "app@db:6000/stocks (sslmode=prefer, password: connection string)"
    );
    assert!(!format!("{t:?}").contains(PW));
}

#[test]
fn pgpass_follows_libpqs_rules() {
    let text = "# comment\n\
                other:5432:*:*:wrong\n\
                db:5432:stocks:app:first\\:part\\\\x\n\
                *:*:*:app:fallback\n";
    assert_eq!(
        pgpass_lookup(text, "db", 5432, "stocks", "app").as_deref(),
        Some("first:part\\x")
    );
    assert_eq!(
        pgpass_lookup(text, "db", 6000, "stocks", "app").as_deref(),
        Some("fallback")
    );
    assert_eq!(pgpass_lookup(text, "db", 5432, "stocks", "bob"), None);
    assert_eq!(
        pgpass_lookup("localhost:5432:*:*:sock", "localhost", 5432, "x", "y").as_deref(),
        Some("sock")
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stockd-pgconn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn passwords_from_outside_the_string() {
    let dir = temp_dir("pw");
    // source.password_file: only the owner may read it.
    let file = dir.join("db-password");
    std::fs::write(&file, format!("{PW}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let sources = PasswordSources {
        password_file: Some(file.clone()),
    };
    let err = Target::resolve("host=db user=app", &sources, &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&file.display().to_string())
            && err.contains("0640")
            && err.contains("chmod 0600"),
        "{err}"
    );
    assert!(!err.contains(PW), "{err}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let t = Target::resolve(
        "host=db user=app",
        &sources,
        &env(&[("PGPASSWORD", "other")]),
    )
    .unwrap();
    assert_eq!(t.pg_config().get_password(), Some(PW.as_bytes()));
    assert_eq!(t.password_origin, "source.password_file");
    // The string's own password wins.
    let t = Target::resolve("host=db user=app password=inline", &sources, &env(&[])).unwrap();
    assert_eq!(t.pg_config().get_password(), Some(&b"inline"[..]));

    // systemd credential.
    let creds = dir.join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join(CREDENTIAL_NAME), "from-credential").unwrap();
    let e = env(&[
        ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ("PGPASSWORD", "other"),
    ]);
    let t = Target::resolve("host=db user=app", &PasswordSources::default(), &e).unwrap();
    assert_eq!(t.pg_config().get_password(), Some(&b"from-credential"[..]));

    // PGPASSFILE, ignored while group-readable.
    let pgpass = dir.join("pgpass");
    std::fs::write(&pgpass, "db:5432:app:app:from-pgpass\n").unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = env(&[("PGPASSFILE", pgpass.to_str().unwrap())]);
    let t = Target::resolve("host=db user=app", &PasswordSources::default(), &e).unwrap();
    assert!(!t.has_password());
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let t = Target::resolve("host=db user=app", &PasswordSources::default(), &e).unwrap();
    assert_eq!(t.pg_config().get_password(), Some(&b"from-pgpass"[..]));
    assert_eq!(t.password_origin, "passfile");
    // ~/.pgpass through HOME.
    std::fs::rename(&pgpass, dir.join(".pgpass")).unwrap();
    let e = env(&[("HOME", dir.to_str().unwrap())]);
    let t = Target::resolve("host=db user=app", &PasswordSources::default(), &e).unwrap();
    assert_eq!(t.pg_config().get_password(), Some(&b"from-pgpass"[..]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_settings_are_checked_up_front() {
    let e = env(&[]);
    let t = Target::resolve(
        "host=db sslmode=verify-full sslrootcert=/nonexistent/ca.pem",
        &PasswordSources::default(),
        &e,
    )
    .unwrap();
    let err = t.tls().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    let t = Target::resolve("host=db sslmode=require", &PasswordSources::default(), &e).unwrap();
    assert!(t.tls().is_ok());
    let t = Target::resolve(
        "host=db sslcert=/nonexistent/c.pem",
        &PasswordSources::default(),
        &e,
    )
    .unwrap();
    let err = t.tls().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("sslkey") || err.contains("/nonexistent/c.pem"),
        "{err}"
    );
}
