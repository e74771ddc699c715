//! Which snapshot a command means: `restore`, `diff` and poll-teams' `/restore` name one by
//! a watched config's name (its last good version), a snapshot id or file name (optionally
//! `<name>/` first), or a unique sha256 prefix. A pure function of the config and the data.

use crate::config::{Config, FileConfig};
use crate::data::{Data, Snapshot};
use anyhow::Result;
use common::{Exit, coded, data_error};

/// Pick the file and snapshot named on the command line. `sel` may be a configured file's name
/// (→ its last good snapshot), a snapshot id or file name (optionally `<name>/` first), or a
/// unique prefix (≥ 4 hex digits) of a snapshot's sha256. Nothing → the last good snapshot of
/// `--file` or of the first configured file.
pub fn select<'c>(
    cfg: &'c Config,
    data: &Data,
    sel: Option<&str>,
    file: Option<&str>,
) -> Result<(&'c FileConfig, Snapshot)> {
    let names: Vec<String> = cfg.files.iter().map(FileConfig::name).collect();
    let by_name = |n: &str| cfg.files.iter().find(|f| f.name() == n);
    let scope: Option<&FileConfig> = match file {
        Some(f) => Some(by_name(f).ok_or_else(|| {
            coded(
                Exit::Usage,
                format!(
                    "no watched file is named `{f}` (watched: {})",
                    names.join(", ")
                ),
            )
        })?),
        None => None,
    };
    let last_good = |fc: &'c FileConfig| -> Result<(&'c FileConfig, Snapshot)> {
        let name = fc.name();
        data.files
            .get(&name)
            .and_then(|st| st.last_good_snapshot())
            .cloned()
            .map(|s| (fc, s))
            .ok_or_else(|| {
                data_error(format!(
                    "there is no good snapshot of {name} yet: nothing to restore (see `backup-config list {name}`)"
                ))
            })
    };
    let Some(sel) = sel else {
        let fc = match scope {
            Some(fc) => fc,
            None => cfg
                .files
                .first()
                .ok_or_else(|| data_error("no files are configured"))?,
        };
        return last_good(fc);
    };
    if let Some(fc) = by_name(sel) {
        return last_good(fc);
    }
    let trimmed = sel.trim_end_matches('/');
    let mut s = trimmed.rsplit('/').next().unwrap_or(trimmed);
    s = s
        .strip_suffix(".json")
        .or_else(|| s.strip_suffix(".set"))
        .unwrap_or(s);
    let mut hits = Vec::new();
    for fc in &cfg.files {
        if scope.is_some_and(|sc| sc.name() != fc.name()) {
            continue;
        }
        if let Some((prefix, _)) = sel.split_once('/')
            && !sel.starts_with('/')
            && prefix != fc.name()
        {
            continue;
        }
        let Some(st) = data.files.get(&fc.name()) else {
            continue;
        };
        for snap in &st.snapshots {
            let hash_hit = s.len() >= 4
                && s.bytes().all(|b| b.is_ascii_hexdigit())
                && snap.sha256.starts_with(&s.to_ascii_lowercase());
            if snap.id == s || hash_hit {
                hits.push((fc, snap.clone()));
            }
        }
    }
    one_hit(sel, hits)
}

/// Exactly one snapshot must match a selector.
fn one_hit<'c>(
    sel: &str,
    mut hits: Vec<(&'c FileConfig, Snapshot)>,
) -> Result<(&'c FileConfig, Snapshot)> {
    match hits.len() {
        0 => Err(coded(
            Exit::Usage,
            format!("no snapshot matches `{sel}`: run `backup-config list` to see them"),
        )),
        1 => Ok(hits.remove(0)),
        _ => Err(coded(
            Exit::Usage,
            format!(
                "`{sel}` matches {} snapshots ({}): give more of the id",
                hits.len(),
                hits.iter()
                    .map(|(f, s)| format!("{}/{}", f.name(), s.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::data::{FileState, Validity};
    use chrono::{TimeZone, Utc};

    fn snap(id_ts: &str, sha: &str) -> Snapshot {
        let at = Utc.with_ymd_and_hms(2026, 2, 20, 22, 7, 39).unwrap();
        Snapshot {
            id: format!("{id_ts}-{}", &sha[..12]),
            sha256: sha.to_string(),
            size: 10,
            taken_at: at,
            last_seen_at: at,
            validity: Validity::Good,
            accepted_at: None,
            members: vec![],
        }
    }

    fn setup() -> (Config, Data) {
        let mut cfg = Config::default();
        cfg.files.push(FileConfig {
            path: "/x/jobs.json".into(),
            required_keys: vec![],
            ..Default::default()
        });
        let mut data = Data::default();
        let a = "aaaa1111".repeat(8);
        let b = "aaaa2222".repeat(8);
        let c = "cccc3333".repeat(8);
        data.files.insert(
            "openclaw.json".into(),
            FileState {
                snapshots: vec![snap("20260101T000000Z", &a), snap("20260102T000000Z", &b)],
                last_good: Some(b.clone()),
                ..Default::default()
            },
        );
        data.files.insert(
            "jobs.json".into(),
            FileState {
                snapshots: vec![snap("20260103T000000Z", &c)],
                last_good: Some(c.clone()),
                ..Default::default()
            },
        );
        (cfg, data)
    }

    fn pick(
        cfg: &Config,
        data: &Data,
        sel: Option<&str>,
        file: Option<&str>,
    ) -> Result<(String, String)> {
        select(cfg, data, sel, file).map(|(f, s)| (f.name(), s.id))
    }

    #[test]
    fn selection_by_default_name_id_and_prefix() {
        let (cfg, data) = setup();
        let last_good = (
            "openclaw.json".to_string(),
            "20260102T000000Z-aaaa2222aaaa".to_string(),
        );
        assert_eq!(pick(&cfg, &data, None, None).unwrap(), last_good);
        assert_eq!(
            pick(&cfg, &data, Some("openclaw.json"), None).unwrap(),
            last_good
        );
        assert_eq!(
            pick(&cfg, &data, None, Some("jobs.json")).unwrap().1,
            "20260103T000000Z-cccc3333cccc"
        );
        assert_eq!(
            pick(
                &cfg,
                &data,
                Some("openclaw.json/20260101T000000Z-aaaa1111aaaa.json"),
                None
            )
            .unwrap()
            .1,
            "20260101T000000Z-aaaa1111aaaa"
        );
        assert_eq!(
            pick(&cfg, &data, Some("aaaa1"), None).unwrap().1,
            "20260101T000000Z-aaaa1111aaaa"
        );
        assert_eq!(
            pick(&cfg, &data, Some("cccc"), None).unwrap().0,
            "jobs.json"
        );
    }

    #[test]
    fn ambiguous_unknown_and_empty_are_errors() {
        let (cfg, mut data) = setup();
        let e = pick(&cfg, &data, Some("aaaa"), None).unwrap_err();
        assert!(e.to_string().contains("matches 2 snapshots"), "{e}");
        assert_eq!(common::exit::code_of(&e), Exit::Usage);
        let e = pick(&cfg, &data, Some("ffff"), None).unwrap_err();
        assert!(e.to_string().contains("no snapshot matches"), "{e}");
        // a prefix scoped to another file does not match
        assert!(pick(&cfg, &data, Some("aaaa1"), Some("jobs.json")).is_err());
        data.files.clear();
        let e = pick(&cfg, &data, None, None).unwrap_err();
        assert_eq!(common::exit::code_of(&e), Exit::DataErr);
        assert!(e.to_string().contains("no good snapshot"), "{e}");
    }
}
