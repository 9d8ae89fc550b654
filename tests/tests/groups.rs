//! Data clients and admins, kept apart by the operating system, with the
//! README's steps: a data group (the socket's group, as `stockd` is under
//! systemd) and an admin group (`server.admin_groups`, as `stockd-admin`).
//!
//! Two users are made with `useradd`, the daemon is started, and only THEN
//! are the users added to the groups (`usermod -aG`), as an admin does on a
//! running server. Each user then calls the daemon from a fresh login
//! (`runuser -u NAME`, which sets the user's groups from the group
//! database like a login does): before joining, neither can open the
//! socket; after, the data user reads data and gets 1007 "forbidden" on
//! every admin method, naming its groups and the rule; the admin user gets
//! `admin.status` and `memory.trim` with no reload or restart.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use stockd_tests::accounts::TestGroup;
use stockd_tests::{Daemon, RpcError};

/// A user made for one test (`useradd`, own primary group, no home),
/// removed on drop with its group.
struct User {
    name: String,
    uid: u32,
}

impl User {
    fn create(prefix: &str) -> Result<User> {
        let name = format!(
            "{prefix}{:06x}",
            stockd_tests::util::random_u64() as u32 & 0xff_ffff
        );
        run(
            "useradd",
            &[
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                &name,
            ],
        )?;
        let uid = nix::unistd::User::from_name(&name)?
            .with_context(|| format!("user {name} not found after useradd"))?
            .uid
            .as_raw();
        Ok(User { name, uid })
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// What a call from `user` (a fresh `runuser -u` login) got: the answer,
/// or curl's failure to connect.
enum Answer {
    Result(Value),
    Error(RpcError),
    NoConnection(String),
}

async fn call_as(user: &str, socket: &Path, method: &str, params: Value) -> Result<Answer> {
    let body = Daemon::request(method, &params, 1).to_string();
    let socket = socket.to_str().context("socket path is not UTF-8")?;
    let mut cmd = tokio::process::Command::new("runuser");
    cmd.args(["-u", user, "--", "curl", "-q", "-sS", "--max-time", "20"])
        .args([
            "--unix-socket",
            socket,
            "-H",
            "Content-Type: application/json",
        ])
        .args(["--data-binary", &body, "http://localhost/"])
        .env("HOME", "/")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .context("runuser … curl did not finish within 30 s")??;
    if !out.status.success() {
        return Ok(Answer::NoConnection(format!(
            "curl exit {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let doc: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{method} as {user}: not JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    if let Some(e) = RpcError::from_response(&doc) {
        return Ok(Answer::Error(e));
    }
    Ok(Answer::Result(doc.get("result").cloned().with_context(
        || format!("{method} as {user}: no result: {doc}"),
    )?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_joined_after_start_count_on_the_next_connection() -> Result<()> {
    let data = TestGroup::create("sdata")?;
    let admins = TestGroup::create("sadm")?;
    let reader = User::create("sread")?;
    let admin = User::create("sboss")?;

    // The packaged layout: socket 0660 owned by the data group, admin
    // methods for the admin group.
    let d = Daemon::builder()
        .config(&format!(
            "[server]\nsocket_mode = \"0660\"\nsocket_group = \"{}\"\nadmin_groups = [\"{}\"]\n",
            data.name, admins.name
        ))
        .start()
        .await?;
    std::fs::set_permissions(d.dir(), std::fs::Permissions::from_mode(0o755))?;

    // Not in any group yet: the socket itself is closed to them.
    for user in [&reader.name, &admin.name] {
        match call_as(user, d.socket(), "market.info", json!({})).await? {
            Answer::NoConnection(why) => println!("before joining, {user}: {why}"),
            Answer::Result(_) | Answer::Error(_) => {
                bail!("{user} reached the daemon before joining its group")
            }
        }
    }

    // Now, with the daemon running, the README's steps.
    let joined = Instant::now();
    run("usermod", &["-aG", &data.name, &reader.name])?;
    run(
        "usermod",
        &[
            "-aG",
            &format!("{},{}", data.name, admins.name),
            &admin.name,
        ],
    )?;

    // The data user: data yes, admin no.
    let info = match call_as(&reader.name, d.socket(), "market.info", json!({})).await? {
        Answer::Result(v) => v,
        Answer::Error(e) => bail!("market.info as the data user: {e}"),
        Answer::NoConnection(why) => bail!("the data user cannot connect after joining: {why}"),
    };
    ensure!(info["rows"].as_u64().unwrap_or(0) > 0, "{info}");
    for (method, params) in [
        ("admin.status", json!({})),
        ("cache.clear", json!({})),
        ("store.reload", json!({})),
        ("memory.trim", json!({})),
    ] {
        let e = match call_as(&reader.name, d.socket(), method, params).await? {
            Answer::Error(e) => e,
            Answer::Result(v) => bail!("{method} was served to the data user: {v}"),
            Answer::NoConnection(why) => bail!("{method}: {why}"),
        };
        ensure!(e.code == 1007, "{method}: expected 1007, got {e}");
        for needle in [
            method.to_string(),
            format!("uid {}", reader.uid),
            "groups [".to_string(),
            data.gid.to_string(),
            format!("\"{}\" (gid {})", admins.name, admins.gid),
        ] {
            ensure!(
                e.message.contains(&needle),
                "{method}: the refusal does not mention {needle:?}: {e}"
            );
        }
        if method == "admin.status" {
            println!("data user, {method}: {e}");
        }
    }

    // The admin user: admin.status and stockctl status, no restart.
    let status = match call_as(&admin.name, d.socket(), "admin.status", json!({})).await? {
        Answer::Result(v) => v,
        Answer::Error(e) => bail!("admin.status as the admin user: {e}"),
        Answer::NoConnection(why) => bail!("the admin user cannot connect: {why}"),
    };
    ensure!(status["store"]["loaded"] == json!(true), "{status}");
    let pid_before = d.pid();
    match call_as(&admin.name, d.socket(), "memory.trim", json!({})).await? {
        Answer::Result(_) => {}
        Answer::Error(e) => bail!("memory.trim as the admin user: {e}"),
        Answer::NoConnection(why) => bail!("the admin user cannot connect: {why}"),
    }
    ensure!(d.pid() == pid_before, "the daemon was restarted");
    println!(
        "admin user ({}, uid {}): admin.status and memory.trim served {:.1} s after usermod, same daemon (pid {:?})",
        admin.name,
        admin.uid,
        joined.elapsed().as_secs_f64(),
        d.pid()
    );
    Ok(())
}
