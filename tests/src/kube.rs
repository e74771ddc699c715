//! The suite on Kubernetes: the CronJobs of `deploy/kubernetes/cronjobs.yaml`, generated from
//! the registry (the repository's `crontab`, [`contracts::registry`]) by
//! `scripts/render-cronjobs` (the `render-cronjobs` binary of this crate), never written by
//! hand: `tests/tests/kubernetes.rs` fails when the file and the registry drift apart.
//!
//! Per registry line one CronJob `agent-jobs-<job>`: the line's schedule and arguments, the
//! image's `/usr/local/bin/<job>`, and the settings derived here from the schedule and the
//! job's run bound (docs/OPERATIONS.md, "Kubernetes"):
//!
//! | setting | value |
//! |---|---|
//! | `concurrencyPolicy` | `Forbid` (the job's lock still guards hand runs and the controller's "about once") |
//! | run bound | a `--watch` job: its watch plus the stop grace; otherwise `--max-runtime` of the period less a minute (at most 55 min), so the job stops cleanly, progress saved, before the next is due |
//! | `activeDeadlineSeconds` | the run bound plus [`START_MARGIN_SECS`] (scheduling, volume attach, start) |
//! | `startingDeadlineSeconds` | half the period, 30 s to 1 h: a run the controller missed is started late, not skipped |
//! | `timeZone` | [`TIME_ZONE`] (cron used the host's zone; patch it per cluster) |
//! | history | 1 succeeded, 3 failed Jobs kept |
//! | service account | publish-report and watch-jobs read the CronJobs ([`SCHEDULE_READERS`]); the others get no token |

/// Where the suite's root (state, logs, reports, metrics) is mounted: its own PVC.
pub const ROOT: &str = "/var/lib/agent-jobs";
/// The config file (the ConfigMap `agent-jobs-config`).
pub const CONFIG: &str = "/etc/agent-jobs/config/config.json";
/// The gateway's state directory (OpenClaw's PVC, where its own pod mounts it).
pub const GATEWAY_STATE: &str = "/home/node/.openclaw";
/// The CronJobs' zone unless patched.
pub const TIME_ZONE: &str = "Etc/UTC";
/// The image the manifests name (kustomize's `images:` sets the registry and tag).
pub const IMAGE: &str = "agent-jobs";
/// Jobs that read the CronJobs through the Kubernetes API (their schedules and `suspend`).
pub const SCHEDULE_READERS: &[&str] = &["publish-report", "watch-jobs"];
/// The runtime's default `stop_grace_secs`.
pub const STOP_GRACE_SECS: u64 = 10;
/// Time a pod needs before the job starts: scheduling, attaching the volumes, starting.
pub const START_MARGIN_SECS: u64 = 60;

/// What the generator decided for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub job: String,
    pub about: String,
    pub schedule: String,
    /// Shortest time between two runs, seconds.
    pub period_secs: u64,
    /// The container's arguments (the registry line's, plus `--max-runtime` when it has no `--watch`).
    pub args: Vec<String>,
    /// The longest the job itself runs.
    pub run_bound_secs: u64,
    pub active_deadline_secs: u64,
    pub starting_deadline_secs: u64,
    pub reads_schedules: bool,
    pub memory_limit: &'static str,
}

/// The shortest gap between two fire times of `schedule` over eight days (UTC).
pub fn period_secs(schedule: &str) -> Result<u64, String> {
    let cron = schedule::parse_schedule(schedule)?;
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .map_err(|e| e.to_string())?
        .with_timezone(&chrono::Utc);
    let end = start + chrono::Duration::days(8);
    let mut prev = schedule::next_due(&cron, chrono_tz::Tz::UTC, start)
        .ok_or_else(|| format!("`{schedule}` never fires"))?;
    let mut best = i64::MAX;
    while prev < end {
        let next = schedule::next_due(&cron, chrono_tz::Tz::UTC, prev)
            .ok_or_else(|| format!("`{schedule}` stops firing"))?;
        best = best.min((next - prev).num_seconds());
        prev = next;
    }
    u64::try_from(best).map_err(|_| format!("`{schedule}` fires less than twice in 8 days"))
}

/// The `--watch` duration of a registry line's arguments, seconds.
fn watch_secs(args: &[String]) -> Result<Option<u64>, String> {
    let Some(i) = args.iter().position(|a| a == "--watch") else {
        return Ok(None);
    };
    let v = args.get(i + 1).ok_or("`--watch` has no value")?;
    let n: u64 = v
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("`--watch {v}`: the generator reads seconds (`50s`)"))?;
    Ok(Some(n))
}

/// The plan of every registry line, in registry order.
pub fn plans() -> Result<Vec<Plan>, String> {
    contracts::registry::jobs()
        .iter()
        .map(|j| {
            let period = period_secs(&j.schedule).map_err(|e| format!("{}: {e}", j.name))?;
            let mut args: Vec<String> = j.args.split_whitespace().map(str::to_string).collect();
            let run_bound = match watch_secs(&args).map_err(|e| format!("{}: {e}", j.name))? {
                Some(w) => w + STOP_GRACE_SECS,
                None => {
                    let max = period.saturating_sub(60).clamp(60, 3300);
                    args.extend(["--max-runtime".to_string(), max.to_string()]);
                    max + STOP_GRACE_SECS
                }
            };
            Ok(Plan {
                job: j.name.clone(),
                about: j.about.clone(),
                schedule: j.schedule.clone(),
                period_secs: period,
                args,
                run_bound_secs: run_bound,
                active_deadline_secs: run_bound + START_MARGIN_SECS,
                starting_deadline_secs: (period / 2).clamp(30, 3600),
                reads_schedules: SCHEDULE_READERS.contains(&j.name.as_str()),
                memory_limit: if j.name == "compact-memory" || j.name == "publish-report" {
                    "256Mi"
                } else {
                    "128Mi"
                },
            })
        })
        .collect()
}

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// One CronJob; `{…}` are filled in by [`render_cronjobs`].
const TEMPLATE: &str = r#"---
# {job}: {about}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: agent-jobs-{job}
  labels:
    app.kubernetes.io/name: agent-jobs
    app.kubernetes.io/component: {job}
spec:
  schedule: {schedule}
  timeZone: {time_zone}
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {starting_deadline}
  successfulJobsHistoryLimit: 1
  failedJobsHistoryLimit: 3
  jobTemplate:
    metadata:
      labels:
        app.kubernetes.io/name: agent-jobs
        app.kubernetes.io/component: {job}
    spec:
      backoffLimit: 0
      activeDeadlineSeconds: {active_deadline}
      template:
        metadata:
          labels:
            app.kubernetes.io/name: agent-jobs
            app.kubernetes.io/component: {job}
        spec:
          restartPolicy: Never
          serviceAccountName: {service_account}
          automountServiceAccountToken: {token}
          securityContext:
            runAsNonRoot: true
            runAsUser: 1000
            runAsGroup: 1000
            fsGroup: 1000
            fsGroupChangePolicy: OnRootMismatch
            seccompProfile:
              type: RuntimeDefault
          affinity:
            podAffinity:
              requiredDuringSchedulingIgnoredDuringExecution:
                - labelSelector:
                    matchLabels:
                      app: openclaw
                  topologyKey: kubernetes.io/hostname
          containers:
            - name: job
              image: {image}
              imagePullPolicy: IfNotPresent
              command: [{command}]
              args: [{args}]
              env:
                - name: AGENT_JOBS_ROOT
                  value: {root}
                - name: HOME
                  value: /home/node
              resources:
                requests:
                  cpu: 10m
                  memory: 32Mi
                limits:
                  cpu: 500m
                  memory: {memory}
              securityContext:
                allowPrivilegeEscalation: false
                readOnlyRootFilesystem: true
                capabilities:
                  drop: [ALL]
              volumeMounts:
                - name: state
                  mountPath: {root}
                - name: openclaw-home
                  mountPath: {gateway_state}
                - name: config
                  mountPath: /etc/agent-jobs/config
                  readOnly: true
                - name: secrets
                  mountPath: /etc/agent-jobs/secrets
                  readOnly: true
                - name: tmp
                  mountPath: /tmp
          volumes:
            - name: state
              persistentVolumeClaim:
                claimName: agent-jobs-state
            - name: openclaw-home
              persistentVolumeClaim:
                claimName: openclaw-home-pvc
            - name: config
              configMap:
                name: agent-jobs-config
            - name: secrets
              secret:
                secretName: agent-jobs-secrets
                defaultMode: 0400
                optional: true
            - name: tmp
              emptyDir:
                sizeLimit: 64Mi
"#;

/// `deploy/kubernetes/cronjobs.yaml`.
pub fn render_cronjobs() -> Result<String, String> {
    let mut y = String::from(
        "# The suite's CronJobs: one per line of the registry (the repository's `crontab`).\n\
         # GENERATED by scripts/render-cronjobs: do not edit. Change the crontab line, or the\n\
         # generator (tests/src/kube.rs), or patch these in your own overlay.\n",
    );
    for p in plans()? {
        let args: Vec<String> = ["--config", CONFIG]
            .iter()
            .map(|s| s.to_string())
            .chain(p.args.iter().cloned())
            .map(|a| q(&a))
            .collect();
        let fields: [(&str, String); 14] = [
            ("job", p.job.clone()),
            ("about", p.about.clone()),
            ("schedule", q(&p.schedule)),
            ("time_zone", TIME_ZONE.into()),
            ("starting_deadline", p.starting_deadline_secs.to_string()),
            ("active_deadline", p.active_deadline_secs.to_string()),
            (
                "service_account",
                if p.reads_schedules {
                    "agent-jobs-schedules"
                } else {
                    "agent-jobs"
                }
                .into(),
            ),
            ("token", p.reads_schedules.to_string()),
            ("image", IMAGE.into()),
            ("command", q(&format!("/usr/local/bin/{}", p.job))),
            ("args", args.join(", ")),
            ("root", ROOT.into()),
            ("memory", p.memory_limit.into()),
            ("gateway_state", GATEWAY_STATE.into()),
        ];
        let mut doc = TEMPLATE.to_string();
        for (k, v) in &fields {
            doc = doc.replace(&format!("{{{k}}}"), v);
        }
        if let Some(i) = doc
            .find("{")
            .filter(|i| doc[i + 1..].starts_with(char::is_lowercase))
        {
            return Err(format!(
                "template field left unfilled: {}",
                &doc[i..(i + 20).min(doc.len())]
            ));
        }
        y.push_str(&doc);
    }
    Ok(y)
}

/// A CronJob object of the suite as applied (the shape of `cronjobs.yaml`, only what a
/// schedule reader looks at), for the fake API server in tests.
pub fn cronjob_object(
    job: &str,
    schedule: &str,
    time_zone: Option<&str>,
    suspend: bool,
) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "schedule": schedule,
        "concurrencyPolicy": "Forbid",
        "suspend": suspend,
        "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "job", "image": IMAGE,
                "command": [format!("/usr/local/bin/{job}")], "args": ["--config", CONFIG]}]
        }}}}
    });
    if let Some(z) = time_zone {
        spec["timeZone"] = serde_json::Value::String(z.into());
    }
    serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": format!("agent-jobs-{job}"), "labels": {
            "app.kubernetes.io/name": "agent-jobs",
            "app.kubernetes.io/component": job,
            "app.kubernetes.io/part-of": "agent-jobs"}},
        "spec": spec
    })
}

/// What the kubelet mounts at `/var/run/secrets/kubernetes.io/serviceaccount`: `token`,
/// `ca.crt` (here the fake API server's CA) and `namespace`, written into `dir`.
pub fn service_account_files(dir: &std::path::Path, token: &str, namespace: &str) {
    std::fs::create_dir_all(dir).expect("mkdir service account dir");
    for (name, text) in [
        ("token", token),
        ("ca.crt", fakes::kubernetes::CA_PEM),
        ("namespace", namespace),
    ] {
        std::fs::write(dir.join(name), text).expect("write service account file");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn periods_come_from_the_schedule() {
        assert_eq!(period_secs("* * * * *").unwrap(), 60);
        assert_eq!(period_secs("*/5 * * * *").unwrap(), 300);
        assert_eq!(period_secs("17 * * * *").unwrap(), 3600);
        assert_eq!(period_secs("40 3 * * *").unwrap(), 86_400);
        assert_eq!(period_secs("0 9 * * 1").unwrap(), 7 * 86_400);
        assert_eq!(period_secs("0 9,17 * * *").unwrap(), 8 * 3600);
    }

    #[test]
    fn run_bounds_follow_the_watch_or_the_period() {
        let p = plans().unwrap();
        let by = |j: &str| p.iter().find(|x| x.job == j).unwrap().clone();
        let poll = by("poll-teams");
        assert_eq!(poll.run_bound_secs, 50 + STOP_GRACE_SECS, "{poll:?}");
        assert!(
            !poll.args.contains(&"--max-runtime".to_string()),
            "{poll:?}"
        );
        let check = by("check-ratelimit");
        assert_eq!(check.args, ["--max-runtime", "240"], "{check:?}");
        assert_eq!(
            check.active_deadline_secs,
            240 + STOP_GRACE_SECS + START_MARGIN_SECS
        );
        assert_eq!(check.starting_deadline_secs, 150);
        assert!(by("watch-jobs").reads_schedules && !check.reads_schedules);
    }
}
