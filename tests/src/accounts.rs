//! System accounts made for one test: groups created with `groupadd` and
//! deleted on drop (the gate and socket-group tests need real groups).

use anyhow::{bail, Context, Result};

/// A system group made for one test (`groupadd`), deleted on drop.
pub struct TestGroup {
    pub name: String,
    pub gid: u32,
}

impl TestGroup {
    /// A new group named `prefix` and six random hex digits.
    pub fn create(prefix: &str) -> Result<TestGroup> {
        let name = format!(
            "{prefix}{:06x}",
            crate::util::random_u64() as u32 & 0xff_ffff
        );
        let out = std::process::Command::new("groupadd")
            .arg(&name)
            .output()
            .context("running groupadd")?;
        if !out.status.success() {
            bail!(
                "groupadd {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let gid = nix::unistd::Group::from_name(&name)?
            .with_context(|| format!("group {name} not found after groupadd"))?
            .gid
            .as_raw();
        Ok(TestGroup { name, gid })
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("groupdel")
            .arg(&self.name)
            .output();
    }
}
