//! The systemd units and the .deb:
//! - `systemd-analyze security --offline=yes systemd/stockd.service`:
//!   overall exposure ≤ 1.5, with AF_UNIX and AF_INET/AF_INET6 still allowed;
//! - `systemd-analyze verify` prints nothing and succeeds, on a copy of the
//!   units whose ExecStart= names the freshly built binary (verify insists
//!   the binary exists; `--root` would need a whole OS tree);
//! - the units, sysusers.d, tmpfiles.d and default config agree on names
//!   and paths; sysusers.d/tmpfiles.d apply cleanly in a scratch root;
//! - `cargo deb -p stockd` builds a package (release binaries; installs
//!   cargo-deb first if missing) whose contents, conffiles and maintainer
//!   scripts are checked with dpkg-deb, and whose scripts run through
//!   install → remove → purge under DPKG_ROOT (never touching this system).
//!
//! Needs the `systemd` package (systemd-analyze, systemd-sysusers,
//! systemd-tmpfiles; it brings init-system-helpers) and dpkg-deb; installs
//! nothing itself except cargo-deb.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use stockd_tests::daemon::stockd_bin;
use stockd_tests::util::TempDir;
use stockd_tests::WORKSPACE_ROOT;

fn root() -> PathBuf {
    PathBuf::from(WORKSPACE_ROOT)
}

fn read(rel: &str) -> Result<String> {
    let p = root().join(rel);
    std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
}

fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    Ok(out)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn need(tool: &str) -> Result<()> {
    if Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
    {
        Ok(())
    } else {
        bail!("{tool} is not installed (apt-get install systemd dpkg)")
    }
}

/// `Key=Value` lines of a unit or config file, with their `[Section]`.
fn directives(unit: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn values<'a>(d: &'a [(String, String, String)], section: &str, key: &str) -> Vec<&'a str> {
    d.iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

fn one<'a>(d: &'a [(String, String, String)], section: &str, key: &str) -> Result<&'a str> {
    match values(d, section, key).as_slice() {
        [v] => Ok(v),
        [] => bail!("[{section}] {key}= is missing"),
        many => bail!("[{section}] {key}= is set {} times: {many:?}", many.len()),
    }
}

/// The exposure figure of `systemd-analyze security` ("→ Overall exposure
/// level for stockd.service: 1.2 OK 🙂").
fn overall_exposure(report: &str) -> Result<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .with_context(|| format!("no overall exposure line in:\n{report}"))?;
    let after = line
        .rsplit_once(": ")
        .context("exposure line has no ': '")?
        .1;
    let number = after.split_whitespace().next().unwrap_or_default();
    number
        .parse()
        .with_context(|| format!("exposure {number:?} in {line:?}"))
}

#[test]
fn exposure_parser() -> Result<()> {
    assert_eq!(
        overall_exposure("x\n→ Overall exposure level for stockd.service: 1.2 OK 🙂\n")?,
        1.2
    );
    assert!(overall_exposure("nothing").is_err());
    Ok(())
}

#[test]
fn service_is_hardened_to_exposure_at_most_1_5() -> Result<()> {
    need("systemd-analyze")?;
    let unit = root().join("systemd/stockd.service");
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit))?;
    let report = text(&out);
    let exposure = overall_exposure(&report)?;
    eprintln!("systemd-analyze security: exposure {exposure}\n{report}");
    ensure!(exposure <= 1.5, "exposure {exposure} > 1.5:\n{report}");
    // Hardened, but still able to reach PostgreSQL and its clients.
    for family in ["AF_UNIX", "AF_INET", "AF_INET6"] {
        let names_it = |l: &str| {
            l.contains(&format!("RestrictAddressFamilies=~{family}"))
                || (family != "AF_UNIX" && l.contains("RestrictAddressFamilies=~AF_(INET|INET6)"))
        };
        let allowed = report.lines().any(|l| names_it(l) && l.contains('✗'));
        ensure!(
            allowed,
            "{family} must stay allowed (a ✗ line in the report):\n{report}"
        );
    }
    Ok(())
}

/// Copies of both units into `dir`, ExecStart= pointing at `bin`.
fn units_for_verify(dir: &Path, bin: &Path, service: &str, socket: &str) -> Result<PathBuf> {
    let units = dir.join("units");
    std::fs::create_dir_all(&units)?;
    let exec = one(&directives(service), "Service", "ExecStart")?.to_string();
    let rest = exec
        .strip_prefix("/usr/bin/stockd")
        .context("ExecStart= runs /usr/bin/stockd")?;
    let patched = service.replace(
        &format!("ExecStart={exec}"),
        &format!("ExecStart={}{rest}", bin.display()),
    );
    ensure!(patched != service, "ExecStart= was not replaced");
    std::fs::write(units.join("stockd.service"), patched)?;
    std::fs::write(units.join("stockd.socket"), socket)?;
    Ok(units)
}

fn verify(units: &Path) -> Result<()> {
    // Both files at once, from their own directory: verify resolves
    // Requires=/Also=/Service= between them.
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--no-pager", "stockd.service", "stockd.socket"])
        .current_dir(units)
        .env("SYSTEMD_LOG_COLOR", "0"))?;
    let said = text(&out);
    ensure!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify ({}) said:\n{said}",
        out.status
    );
    Ok(())
}

#[test]
fn units_verify_clean() -> Result<()> {
    need("systemd-analyze")?;
    let dir = TempDir::new("stockd-verify")?;
    let bin = stockd_bin()?;
    let units = units_for_verify(
        dir.path(),
        &bin,
        &read("systemd/stockd.service")?,
        &read("systemd/stockd.socket")?,
    )?;
    verify(&units)?;

    // The check has teeth: a misspelt directive is reported.
    let mut bad = std::fs::read_to_string(units.join("stockd.service"))?;
    bad = bad.replace("[Install]", "ProtectSytem=strict\n\n[Install]");
    std::fs::write(units.join("stockd.service"), bad)?;
    ensure!(
        verify(&units).is_err(),
        "verify accepted a misspelt directive"
    );
    Ok(())
}

#[test]
fn units_sysusers_tmpfiles_and_config_agree() -> Result<()> {
    let service = directives(&read("systemd/stockd.service")?);
    let socket = directives(&read("systemd/stockd.socket")?);
    let s = |k| one(&service, "Service", k);
    ensure!(s("Type")? == "notify");
    ensure!(s("NotifyAccess")? == "main");
    ensure!(s("ExecStart")? == "/usr/bin/stockd --config /etc/stockd/stockd.toml");
    ensure!(s("ExecReload")? == "/bin/kill -HUP $MAINPID");
    ensure!(s("WatchdogSec")? == "30");
    ensure!(s("Restart")? == "on-failure");
    s("TimeoutStartSec")?;
    ensure!(s("MemoryHigh")? == "1G" && s("MemoryMax")? == "1280M");
    ensure!(s("User")? == "stockd" && s("Group")? == "stockd");
    ensure!(values(&service, "Service", "DynamicUser")
        .iter()
        .all(|v| *v == "no"));
    ensure!(s("RuntimeDirectory")? == "stockd" && s("RuntimeDirectoryPreserve")? == "yes");
    ensure!(s("StateDirectory")? == "stockd" && s("ConfigurationDirectory")? == "stockd");
    let families = s("RestrictAddressFamilies")?;
    for f in ["AF_UNIX", "AF_INET", "AF_INET6"] {
        ensure!(
            families.split_whitespace().any(|x| x == f),
            "{f} not in {families}"
        );
    }
    ensure!(
        values(&service, "Service", "PrivateNetwork")
            .iter()
            .all(|v| *v == "no"),
        "PrivateNetwork= would cut PostgreSQL over TCP"
    );
    ensure!(
        values(&service, "Service", "PrivateUsers")
            .iter()
            .all(|v| *v == "no"),
        "PrivateUsers= would map every client to nobody and break the SO_PEERCRED admin gate"
    );

    let k = |key| one(&socket, "Socket", key);
    let listen = k("ListenStream")?;
    ensure!(listen == "/run/stockd/stockd.sock");
    ensure!(k("SocketMode")? == "0660");
    // Group stockd: the data clients; admins are in stockd-admin too.
    ensure!(k("SocketUser")? == "stockd" && k("SocketGroup")? == "stockd");
    ensure!(k("Service")? == "stockd.service");

    // The default config listens where the socket unit does, and admits
    // the admin group (not the socket's: data clients are not admins).
    let config: toml_like::Doc = toml_like::parse(&read("packaging/stockd.toml")?);
    ensure!(
        config.get("server", "socket") == Some(format!("\"{listen}\"")),
        "packaging/stockd.toml server.socket {:?} vs ListenStream={listen}",
        config.get("server", "socket")
    );
    ensure!(
        config
            .get("server", "admin_groups")
            .is_some_and(|v| v.contains("\"stockd-admin\"")),
        "server.admin_groups should name stockd-admin"
    );

    let sysusers = read("packaging/sysusers.d/stockd.conf")?;
    let entries: Vec<Vec<&str>> = sysusers
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    ensure!(
        entries.iter().any(|e| e[..2] == ["u", "stockd"]),
        "sysusers: no user stockd"
    );
    ensure!(
        entries.iter().any(|e| e[..2] == ["g", "stockd-admin"]),
        "sysusers: no group stockd-admin"
    );
    let tmpfiles = read("packaging/tmpfiles.d/stockd.conf")?;
    ensure!(
        tmpfiles
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["d", "/var/lib/stockd", "0750", "stockd", "stockd", "-"]),
        "tmpfiles: /var/lib/stockd 0750 stockd stockd"
    );
    Ok(())
}

/// Just enough TOML reading for `[section] key = value` lines.
mod toml_like {
    pub struct Doc(Vec<(String, String, String)>);

    impl Doc {
        pub fn get(&self, section: &str, key: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(s, k, _)| s == section && k == key)
                .map(|(_, _, v)| v.clone())
        }
    }

    pub fn parse(text: &str) -> Doc {
        let mut section = String::new();
        let mut out = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_string();
            } else if let Some((k, v)) = line.split_once('=') {
                let v = v.split(" #").next().unwrap_or(v).trim().to_string();
                out.push((section.clone(), k.trim().to_string(), v));
            }
        }
        Doc(out)
    }
}

/// A scratch root with the package's sysusers.d/tmpfiles.d files applied as
/// the postinst applies them (`--root`, so this system is untouched).
#[test]
fn sysusers_and_tmpfiles_apply_in_a_scratch_root() -> Result<()> {
    need("systemd-sysusers")?;
    need("systemd-tmpfiles")?;
    let dir = TempDir::new("stockd-sysusers")?;
    let r = dir.path();
    for (src, dst) in [
        (
            "packaging/sysusers.d/stockd.conf",
            "usr/lib/sysusers.d/stockd.conf",
        ),
        (
            "packaging/tmpfiles.d/stockd.conf",
            "usr/lib/tmpfiles.d/stockd.conf",
        ),
        ("packaging/stockd.toml", "etc/stockd/stockd.toml"),
    ] {
        std::fs::create_dir_all(r.join(dst).parent().unwrap())?;
        std::fs::copy(root().join(src), r.join(dst))?;
    }
    let out = run(Command::new("systemd-sysusers")
        .arg(format!("--root={}", r.display()))
        .arg("stockd.conf"))?;
    ensure!(out.status.success(), "systemd-sysusers: {}", text(&out));
    let out = run(Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", r.display()))
        .args(["--create", "stockd.conf"]))?;
    ensure!(out.status.success(), "systemd-tmpfiles: {}", text(&out));
    check_installed_root(r)
}

/// Users, groups, directories and the config's mode in an installed root.
fn check_installed_root(r: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let passwd = std::fs::read_to_string(r.join("etc/passwd"))?;
    let group = std::fs::read_to_string(r.join("etc/group"))?;
    let user = passwd
        .lines()
        .find(|l| l.starts_with("stockd:"))
        .context("no user stockd")?;
    let fields: Vec<&str> = user.split(':').collect();
    let (uid, gid): (u32, u32) = (fields[2].parse()?, fields[3].parse()?);
    ensure!(uid > 0 && uid < 1000, "stockd is a system user: {user}");
    ensure!(fields[5] == "/var/lib/stockd", "{user}");
    ensure!(fields[6].ends_with("nologin"), "{user}");
    ensure!(
        group.lines().any(|l| l.starts_with("stockd-admin:")),
        "no group stockd-admin"
    );
    let stockd_gid: u32 = group
        .lines()
        .find(|l| l.starts_with("stockd:"))
        .and_then(|l| l.split(':').nth(2))
        .context("no group stockd")?
        .parse()?;
    ensure!(stockd_gid == gid);

    let state = std::fs::metadata(r.join("var/lib/stockd"))?;
    ensure!(state.is_dir() && state.permissions().mode() & 0o7777 == 0o750);
    ensure!(
        state.uid() == uid && state.gid() == gid,
        "/var/lib/stockd owner"
    );
    let run_dir = std::fs::metadata(r.join("run/stockd"))?;
    ensure!(run_dir.permissions().mode() & 0o7777 == 0o755 && run_dir.uid() == uid);
    let conf = std::fs::metadata(r.join("etc/stockd/stockd.toml"))?;
    // Readable by the daemon only: group stockd is every data client's.
    ensure!(
        conf.permissions().mode() & 0o7777 == 0o600 && conf.uid() == uid && conf.gid() == gid,
        "stockd.toml should be stockd:stockd 0600, is {}:{} {:o}",
        conf.uid(),
        conf.gid(),
        conf.permissions().mode() & 0o7777
    );
    Ok(())
}

/// `cargo deb`, installing cargo-deb first when it is missing.
fn build_deb(out_dir: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let have = Command::new(&cargo)
        .args(["deb", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have {
        eprintln!("cargo-deb is missing: cargo install cargo-deb --locked (about a minute)");
        let out = run(Command::new(&cargo).args(["install", "cargo-deb", "--locked"]))?;
        ensure!(
            out.status.success(),
            "cargo install cargo-deb failed:\n{}",
            text(&out)
        );
    }
    let started = std::time::Instant::now();
    let out = run(Command::new(&cargo)
        .args(["deb", "-p", "stockd", "--output"])
        .arg(out_dir)
        .current_dir(root()))?;
    ensure!(
        out.status.success(),
        "cargo deb -p stockd failed:\n{}",
        text(&out)
    );
    eprintln!("cargo deb -p stockd took {:?}", started.elapsed());
    let deb = std::fs::read_dir(out_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("no .deb in {}:\n{}", out_dir.display(), text(&out)))?;
    Ok(deb)
}

fn dpkg_deb(args: &[&str], deb: &Path) -> Result<String> {
    let out = run(Command::new("dpkg-deb").args(args).arg(deb))?;
    ensure!(out.status.success(), "dpkg-deb {args:?}: {}", text(&out));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a maintainer script of the extracted package under DPKG_ROOT, as
/// dpkg would (deb-systemd-helper insists on dpkg's variables).
fn maintscript(control: &Path, r: &Path, name: &str, args: &[&str]) -> Result<String> {
    let out = run(Command::new("sh")
        .arg(control.join(name))
        .args(args)
        .env("DPKG_ROOT", r)
        .env("DPKG_MAINTSCRIPT_PACKAGE", "stockd")
        .env("DPKG_MAINTSCRIPT_NAME", name))?;
    ensure!(
        out.status.success(),
        "{name} {args:?} failed ({}): {}",
        out.status,
        text(&out)
    );
    Ok(text(&out))
}

#[test]
fn deb_package_contents_and_maintainer_scripts() -> Result<()> {
    need("dpkg-deb")?;
    let dir = TempDir::new("stockd-deb")?;
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir)?;
    let deb = build_deb(&out_dir)?;

    let info = dpkg_deb(&["-I"], &deb)?;
    ensure!(info.contains("Package: stockd"), "{info}");
    ensure!(
        info.contains("Depends:") && info.contains("libc6"),
        "{info}"
    );
    for script in ["postinst", "prerm", "postrm", "conffiles"] {
        ensure!(
            info.contains(script),
            "no {script} in the control archive:\n{info}"
        );
    }

    let list = dpkg_deb(&["-c"], &deb)?;
    let has = |path: &str, mode: &str| {
        list.lines()
            .any(|l| l.starts_with(mode) && l.ends_with(&format!(" .{path}")))
    };
    for (path, mode) in [
        ("/usr/bin/stockd", "-rwxr-xr-x"),
        ("/usr/bin/stockctl", "-rwxr-xr-x"),
        ("/usr/lib/systemd/system/stockd.service", "-rw-r--r--"),
        ("/usr/lib/systemd/system/stockd.socket", "-rw-r--r--"),
        ("/usr/lib/sysusers.d/stockd.conf", "-rw-r--r--"),
        ("/usr/lib/tmpfiles.d/stockd.conf", "-rw-r--r--"),
        ("/etc/stockd/stockd.toml", "-rw-r-----"),
        ("/usr/share/doc/stockd/README.md", "-rw-r--r--"),
        ("/usr/share/doc/stockd/changelog.Debian.gz", "-rw-r--r--"),
        ("/usr/share/doc/stockd/copyright", "-rw-r--r--"),
        ("/usr/share/man/man8/stockd.8.gz", "-rw-r--r--"),
        ("/usr/share/man/man1/stockctl.1.gz", "-rw-r--r--"),
        ("/usr/share/man/man5/stockd.toml.5.gz", "-rw-r--r--"),
        (
            "/usr/share/bash-completion/completions/stockctl",
            "-rw-r--r--",
        ),
        ("/usr/share/zsh/vendor-completions/_stockctl", "-rw-r--r--"),
        (
            "/usr/share/fish/vendor_completions.d/stockctl.fish",
            "-rw-r--r--",
        ),
        ("/usr/share/lintian/overrides/stockd", "-rw-r--r--"),
    ] {
        ensure!(
            has(path, mode),
            "{path} ({mode}) missing from the package:\n{list}"
        );
    }

    // Debug symbols live in the separate stockd-dbgsym package, not here.
    ensure!(
        !list.contains("/usr/lib/debug/"),
        "debug symbols inside the main package:\n{list}"
    );
    let dbgsym = std::fs::read_dir(&out_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("stockd-dbgsym_"))
        })
        .with_context(|| format!("no stockd-dbgsym package in {}", out_dir.display()))?;
    let dbg_list = dpkg_deb(&["-c"], &dbgsym)?;
    ensure!(
        dbg_list.contains("./usr/lib/debug/.build-id/"),
        "{} holds no build-id debug files:\n{dbg_list}",
        dbgsym.display()
    );

    // Control archive: conffiles and maintainer scripts.
    let control = dir.path().join("control");
    let out = run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(&deb)
        .arg(&control))?;
    ensure!(out.status.success(), "dpkg-deb --control: {}", text(&out));
    let ctrl_list = run(Command::new("sh").arg("-c").arg(format!(
        "dpkg-deb --ctrl-tarfile '{}' | tar -tvf -",
        deb.display()
    )))?;
    let ctrl_list = String::from_utf8_lossy(&ctrl_list.stdout).into_owned();
    for script in ["postinst", "prerm", "postrm"] {
        ensure!(
            ctrl_list
                .lines()
                .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with(&format!("./{script}"))),
            "{script} missing or not executable:\n{ctrl_list}"
        );
    }
    let conffiles = std::fs::read_to_string(control.join("conffiles"))?;
    ensure!(
        conffiles
            .lines()
            .any(|l| l.trim() == "/etc/stockd/stockd.toml"),
        "conffiles: {conffiles}"
    );
    let postinst = std::fs::read_to_string(control.join("postinst"))?;
    for needle in [
        "systemd-sysusers",
        "systemd-tmpfiles",
        "daemon-reload",
        "stockd.socket",
        "/run/systemd/system",
    ] {
        ensure!(
            postinst.contains(needle),
            "postinst does not mention {needle}:\n{postinst}"
        );
    }

    // The files as installed: units as in the repository, the default
    // config valid for the packaged binary, the units verify.
    let fs = dir.path().join("root");
    let out = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&fs))?;
    ensure!(out.status.success(), "dpkg-deb -x: {}", text(&out));
    for (repo, installed) in [
        (
            "systemd/stockd.service",
            "usr/lib/systemd/system/stockd.service",
        ),
        (
            "systemd/stockd.socket",
            "usr/lib/systemd/system/stockd.socket",
        ),
        ("packaging/stockd.toml", "etc/stockd/stockd.toml"),
    ] {
        ensure!(
            read(repo)? == std::fs::read_to_string(fs.join(installed))?,
            "{installed} differs from {repo}"
        );
    }
    let bin = fs.join("usr/bin/stockd");
    let out = run(Command::new(&bin)
        .arg("--check-config")
        .arg("--config")
        .arg(fs.join("etc/stockd/stockd.toml"))
        .env_remove("STOCKD_DATABASE_URL")
        .env_remove("STOCKD_SOCKET"))?;
    ensure!(
        out.status.success(),
        "packaged stockd rejects the packaged config: {}",
        text(&out)
    );
    let out = run(Command::new(fs.join("usr/bin/stockctl")).arg("--help"))?;
    ensure!(out.status.success(), "stockctl --help: {}", text(&out));
    if need("systemd-analyze").is_ok() {
        let units = units_for_verify(
            dir.path(),
            &bin,
            &std::fs::read_to_string(fs.join("usr/lib/systemd/system/stockd.service"))?,
            &std::fs::read_to_string(fs.join("usr/lib/systemd/system/stockd.socket"))?,
        )?;
        verify(&units)?;
    }

    // Maintainer scripts, install → remove → purge, under DPKG_ROOT.
    need("systemd-sysusers")?;
    need("deb-systemd-helper")?;
    maintscript(&control, &fs, "postinst", &["configure", ""])?;
    check_installed_root(&fs)?;
    for link in [
        "etc/systemd/system/sockets.target.wants/stockd.socket",
        "etc/systemd/system/multi-user.target.wants/stockd.service",
    ] {
        ensure!(
            std::fs::symlink_metadata(fs.join(link)).is_ok_and(|m| m.file_type().is_symlink()),
            "postinst did not enable {link}"
        );
    }
    maintscript(&control, &fs, "prerm", &["remove"])?;
    maintscript(&control, &fs, "postrm", &["remove"])?;
    maintscript(&control, &fs, "postrm", &["purge"])?;
    ensure!(
        !fs.join("var/lib/stockd").exists(),
        "purge leaves /var/lib/stockd"
    );
    ensure!(
        !fs.join("etc/systemd/system/sockets.target.wants/stockd.socket")
            .exists()
            && !fs.join("etc/systemd/system/stockd.socket").exists(),
        "purge leaves unit symlinks"
    );
    Ok(())
}
