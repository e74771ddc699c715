//! Secrets: values that must never reach a log, state file, report or alert.
//!
//! A config key `x_env` names an environment variable and `x_file` a file holding the secret;
//! [`resolve_secret`] reads it. Every resolved [`Secret`] is registered with [`crate::redact`],
//! so the log writer and every text that leaves the process can scrub it.

use crate::exit::config_error;
use anyhow::Result;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A secret value: its `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        crate::redact::register(&value);
        crate::redact::register_url_parts(&value);
        Secret(value)
    }
    /// The secret itself; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Resolve a secret given as `<key>_env` (an environment variable name) or `<key>_file`
/// (a file path, relative to the root). `key` is the key path without suffix, for messages,
/// e.g. `poll-teams.client_secret`. Returns `None` if neither is set.
pub fn resolve_secret(
    key: &str,
    env: Option<&str>,
    file: Option<&Path>,
    root: &Path,
) -> Result<Option<Secret>> {
    match (env, file) {
        (Some(_), Some(_)) => Err(config_error(format!(
            "`{key}_env` and `{key}_file` are both set: keep one"
        ))),
        (Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim().to_string()))),
            _ => Err(config_error(format!(
                "`{key}_env` names the environment variable {var}, which is not set or empty \
                 (cron runs jobs with a bare environment: export it in the crontab, or use `{key}_file`)"
            ))),
        },
        (None, Some(f)) => {
            let path = resolve_path(root, f);
            let meta = std::fs::metadata(&path).map_err(|e| {
                config_error(format!(
                    "`{key}_file`: cannot read secret file {}: {e}",
                    path.display()
                ))
            })?;
            if meta.permissions().mode() & 0o077 != 0 && !kubelet_secret_volume(&path, &meta) {
                log::warn!(
                    "secret file {} (`{key}_file`) is readable by group or others: run chmod 600 {}",
                    path.display(),
                    path.display()
                );
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                config_error(format!(
                    "`{key}_file`: cannot read secret file {}: {e}",
                    path.display()
                ))
            })?;
            let v = text.trim_end_matches(['\n', '\r']).to_string();
            if v.trim().is_empty() {
                return Err(config_error(format!(
                    "`{key}_file`: secret file {} is empty",
                    path.display()
                )));
            }
            Ok(Some(Secret::new(v)))
        }
        (None, None) => Ok(None),
    }
}

/// A file of a Kubernetes Secret volume (`<key>` → `..data/<key>`, on the pod's own tmpfs),
/// readable by no one but its owner (root) and the pod's `fsGroup`: the kubelet gives a
/// Secret's files mode `defaultMode | 0440` when the pod has an `fsGroup` (the only way a
/// non-root container reads them), so group-readable is the safe shape there, not a leak.
/// World-readable is still warned about (the volume's `defaultMode` should be 0400).
fn kubelet_secret_volume(path: &Path, meta: &std::fs::Metadata) -> bool {
    let is_link = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    meta.permissions().mode() & 0o007 == 0
        && is_link(path)
        && path.parent().is_some_and(|d| is_link(&d.join("..data")))
}

/// Resolve a configured path: `~/x` against `$HOME`, relative paths against the root.
pub fn resolve_path(root: &Path, p: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Exit, code_of};

    #[test]
    fn secret_from_env_and_file() {
        let d = tempfile::tempdir().unwrap();
        let err = resolve_secret(
            "x.password",
            Some("AGENT_JOBS_TEST_UNSET_VAR"),
            None,
            d.path(),
        )
        .unwrap_err();
        assert_eq!(code_of(&err), Exit::Config);
        assert!(err.to_string().contains("AGENT_JOBS_TEST_UNSET_VAR"));
        let err =
            resolve_secret("x.password", None, Some(Path::new("nope.txt")), d.path()).unwrap_err();
        assert!(err.to_string().contains("x.password_file"), "{err}");
        std::fs::write(d.path().join("s.txt"), "pa55word-xyz\n").unwrap();
        let s = resolve_secret("x.password", None, Some(Path::new("s.txt")), d.path())
            .unwrap()
            .unwrap();
        assert_eq!(s.expose(), "pa55word-xyz");
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
    }

    #[test]
    fn a_kubelet_secret_volume_is_group_readable_by_design() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        // the kubelet's atomic writer: ..<timestamp>/<key>, ..data -> ..<timestamp>, <key> -> ..data/<key>
        let ts = d.path().join("..2026_12_01_08_00_00.000000001");
        std::fs::create_dir(&ts).unwrap();
        std::fs::write(ts.join("pw"), "s3cret-from-a-secret").unwrap();
        symlink("..2026_12_01_08_00_00.000000001", d.path().join("..data")).unwrap();
        symlink("..data/pw", d.path().join("pw")).unwrap();
        let pw = d.path().join("pw");
        let mode = |m: u32| {
            std::fs::set_permissions(ts.join("pw"), std::fs::Permissions::from_mode(m)).unwrap()
        };
        let meta = |p: &Path| std::fs::metadata(p).unwrap();
        mode(0o440);
        assert!(kubelet_secret_volume(&pw, &meta(&pw)));
        mode(0o644);
        assert!(
            !kubelet_secret_volume(&pw, &meta(&pw)),
            "world-readable is still a finding"
        );
        mode(0o440);
        let plain = d.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(
            !kubelet_secret_volume(&plain, &meta(&plain)),
            "a plain file on a host"
        );
    }
}
