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
/// The config file: the ConfigMap `agent-jobs-config`'s key mounted (`subPath`) where the jobs
/// look for it, `<root>/config.json`, so that the commands jobs start for each other
/// (poll-teams' `/jobs restore`, watch-gateway's `backup-config restore`) find it too.
pub const CONFIG: &str = "/var/lib/agent-jobs/config.json";
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
                  mountPath: {config}
                  subPath: config.json
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
        let args: Vec<String> = p.args.iter().map(|a| q(a)).collect();
        let fields: [(&str, String); 15] = [
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
            ("config", CONFIG.into()),
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
                "command": [format!("/usr/local/bin/{job}")]}]
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

// ---------------------------------------------------------------------------------------------
// Checking the manifests without a cluster: render, validate, run each pod template in podman.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// The Kubernetes version the rendered objects are validated against (the kubectl CI installs).
pub const KUBERNETES_VERSION: &str = "1.32.0";

/// Whether `argv` runs and exits 0 (quietly).
pub fn runs(argv: &[&str]) -> bool {
    Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `true` when the tools `what` names are there; otherwise `false` after printing `SKIPPED`,
/// or a panic when `require_var` is set to 1 (CI sets it: nothing real is skipped there).
pub fn have(test: &str, what: &str, ok: bool, require_var: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var(require_var).as_deref() == Ok("1") {
        panic!("{test}: {what} is required ({require_var}=1) but not available");
    }
    eprintln!("SKIPPED {test}: {what} not available");
    false
}

/// kubectl (for `kubectl kustomize`), Python's YAML module and kubernetes-validate.
pub fn kubernetes_tools(test: &str) -> bool {
    have(
        test,
        "kubectl, python3 with PyYAML and kubernetes-validate",
        runs(&["kubectl", "version", "--client"])
            && runs(&["python3", "-c", "import yaml"])
            && runs(&["kubernetes-validate", "--version"]),
        "AGENT_JOBS_REQUIRE_KUBERNETES",
    )
}

/// `kubectl kustomize DIR` as text, panicking with kubectl's message.
pub fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kustomize output is UTF-8")
}

/// A multi-document YAML text as JSON values (YAML 1.1 as Kubernetes reads it, through PyYAML).
pub fn yaml_docs(text: &str) -> Vec<Value> {
    use std::io::Write;
    let mut c = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d is not None], sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write YAML");
    let out = c.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "YAML does not parse:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python3")
}

/// `kubernetes-validate --strict -k <version>` of a YAML file: (passed, its output).
pub fn validate(file: &Path) -> (bool, String) {
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--no-warn", "-k", KUBERNETES_VERSION])
        .arg(file)
        .output()
        .expect("run kubernetes-validate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Write a Secret volume as the kubelet lays it out: the files in `..<timestamp>/`, `..data`
/// pointing at it, each key a link to `..data/<key>`; files owned by root, group `gid` (the
/// pod's fsGroup) and mode `defaultMode | 0440`.
pub fn secret_volume(dir: &Path, files: &[(&str, &str)], default_mode: u32, gid: u32) {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let ts = "..2026_12_01_08_00_00.000000001";
    std::fs::create_dir_all(dir.join(ts)).expect("mkdir secret volume");
    for (k, v) in files {
        let p = dir.join(ts).join(k);
        std::fs::write(&p, v).expect("write secret file");
        std::os::unix::fs::lchown(&p, Some(0), Some(gid)).expect("chown secret file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(default_mode | 0o440))
            .expect("chmod secret file");
        symlink(format!("..data/{k}"), dir.join(k)).expect("link secret key");
    }
    symlink(ts, dir.join("..data")).expect("link ..data");
}

/// What stands behind a pod's volumes when it runs in podman.
#[derive(Debug, Default, Clone)]
pub struct Volumes {
    /// PersistentVolumeClaim name → host directory.
    pub claims: Vec<(String, PathBuf)>,
    /// ConfigMap name → host directory (its keys as files).
    pub config_maps: Vec<(String, PathBuf)>,
    /// Secret name → host directory ([`secret_volume`]).
    pub secrets: Vec<(String, PathBuf)>,
    /// The service account files (token, ca.crt, namespace) and the API server's address
    /// (`KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`), for pods that mount a token.
    pub service_account: Option<(PathBuf, String, u16)>,
}

fn lookup<'a>(list: &'a [(String, PathBuf)], name: &str, what: &str) -> Result<&'a Path, String> {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p.as_path())
        .ok_or_else(|| format!("no host directory for {what} {name}"))
}

fn only_keys(v: &Value, allowed: &[&str], what: &str) -> Result<(), String> {
    if let Some(m) = v.as_object() {
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(format!(
                    "{what} has `{k}`, which the podman translation does not carry over: teach it (tests/src/kube.rs) before using it"
                ));
            }
        }
    }
    Ok(())
}

/// The `podman run` arguments (after `podman <global flags>`) that run this CronJob's pod
/// template as the kubelet would: the container's image, command, args and env; the pod's user,
/// group and fsGroup; the container's read-only root, dropped capabilities, no privilege
/// escalation and memory/CPU limits; every volume mount with its volume (PVCs, ConfigMap and
/// Secret from `volumes`, emptyDir as a tmpfs of its size limit); the service account token
/// where the pod mounts one. A field of the pod or container that this does not translate is an
/// error, so a manifest cannot gain a setting that the test silently drops.
///
/// What is the test's, not the manifest's: `--network host` (the fake services and the real
/// gateway listen on the host's loopback), `--rm`, the container's name, and the ulimits podman
/// needs on these machines (see [`podman`]).
pub fn pod_run_args(cronjob: &Value, volumes: &Volumes, name: &str) -> Result<Vec<String>, String> {
    let pod = cronjob
        .pointer("/spec/jobTemplate/spec/template/spec")
        .ok_or("no spec.jobTemplate.spec.template.spec")?;
    only_keys(
        pod,
        &[
            "restartPolicy",
            "serviceAccountName",
            "automountServiceAccountToken",
            "securityContext",
            "affinity",
            "containers",
            "volumes",
        ],
        "the pod spec",
    )?;
    let containers = pod["containers"].as_array().ok_or("no containers")?;
    let [c] = containers.as_slice() else {
        return Err(format!(
            "{} containers: the translation runs one",
            containers.len()
        ));
    };
    only_keys(
        c,
        &[
            "name",
            "image",
            "imagePullPolicy",
            "command",
            "args",
            "env",
            "resources",
            "securityContext",
            "volumeMounts",
        ],
        "the container",
    )?;
    let mut a: Vec<String> = vec!["run".into(), "--rm".into(), "--name".into(), name.into()];
    a.extend(["--network", "host"].map(String::from));
    a.extend(
        [
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ]
        .map(String::from),
    );
    // The pod's security context.
    let psc = &pod["securityContext"];
    only_keys(
        psc,
        &[
            "runAsNonRoot",
            "runAsUser",
            "runAsGroup",
            "fsGroup",
            "fsGroupChangePolicy",
            "seccompProfile",
        ],
        "the pod's securityContext",
    )?;
    let uid = psc["runAsUser"].as_u64().ok_or("no runAsUser")?;
    let gid = psc["runAsGroup"].as_u64().ok_or("no runAsGroup")?;
    if psc["runAsNonRoot"] == Value::Bool(true) && uid == 0 {
        return Err("runAsNonRoot with runAsUser 0".into());
    }
    a.push(format!("--user={uid}:{gid}"));
    if let Some(fs) = psc["fsGroup"].as_u64() {
        a.push(format!("--group-add={fs}"));
    }
    match psc.pointer("/seccompProfile/type").and_then(Value::as_str) {
        None | Some("RuntimeDefault") => {} // podman's default profile
        Some(other) => return Err(format!("seccompProfile {other} is not translated")),
    }
    // The container's security context.
    let csc = &c["securityContext"];
    only_keys(
        csc,
        &[
            "allowPrivilegeEscalation",
            "readOnlyRootFilesystem",
            "capabilities",
        ],
        "the container's securityContext",
    )?;
    if csc["readOnlyRootFilesystem"] == Value::Bool(true) {
        // Only what the pod mounts is writable: no tmpfs on /tmp, /var/tmp, /run unless mounted.
        a.extend(["--read-only", "--read-only-tmpfs=false"].map(String::from));
    }
    if csc["allowPrivilegeEscalation"] == Value::Bool(false) {
        a.push("--security-opt=no-new-privileges".into());
    }
    if let Some(drop) = csc.pointer("/capabilities/drop").and_then(Value::as_array) {
        for d in drop {
            a.push(format!(
                "--cap-drop={}",
                d.as_str().unwrap_or("").to_ascii_lowercase()
            ));
        }
    }
    if let Some(mem) = c
        .pointer("/resources/limits/memory")
        .and_then(Value::as_str)
    {
        a.push(format!(
            "--memory={}",
            mem.replace("Mi", "m").replace("Gi", "g")
        ));
    }
    if let Some(cpu) = c.pointer("/resources/limits/cpu").and_then(Value::as_str) {
        let cpus = match cpu.strip_suffix('m') {
            Some(milli) => milli.parse::<f64>().map_err(|e| e.to_string())? / 1000.0,
            None => cpu.parse::<f64>().map_err(|e| e.to_string())?,
        };
        a.push(format!("--cpus={cpus}"));
    }
    // Environment: the container's, plus what the kubelet adds for a pod with a token.
    for e in c["env"].as_array().into_iter().flatten() {
        only_keys(e, &["name", "value"], "an env entry")?;
        a.push(format!(
            "--env={}={}",
            e["name"].as_str().ok_or("env without name")?,
            e["value"].as_str().ok_or("env without value")?
        ));
    }
    // Volumes.
    let vols = pod["volumes"].as_array().cloned().unwrap_or_default();
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        only_keys(
            m,
            &["name", "mountPath", "subPath", "readOnly"],
            "a volumeMount",
        )?;
        let vname = m["name"].as_str().ok_or("mount without name")?;
        let path = m["mountPath"].as_str().ok_or("mount without path")?;
        let ro = m["readOnly"] == Value::Bool(true);
        let v = vols
            .iter()
            .find(|v| v["name"] == vname)
            .ok_or_else(|| format!("mount {vname} has no volume"))?;
        let host = if let Some(claim) = v.pointer("/persistentVolumeClaim/claimName") {
            lookup(&volumes.claims, claim.as_str().unwrap_or(""), "claim")?
        } else if let Some(cm) = v.pointer("/configMap/name") {
            lookup(&volumes.config_maps, cm.as_str().unwrap_or(""), "ConfigMap")?
        } else if let Some(s) = v.pointer("/secret/secretName") {
            lookup(&volumes.secrets, s.as_str().unwrap_or(""), "Secret")?
        } else if let Some(ed) = v.get("emptyDir") {
            let size = ed["sizeLimit"]
                .as_str()
                .unwrap_or("64Mi")
                .replace("Mi", "m");
            a.push(format!("--tmpfs={path}:rw,size={size},mode=1777"));
            continue;
        } else {
            return Err(format!(
                "volume {vname}: only PVCs, ConfigMaps, Secrets and emptyDirs are translated"
            ));
        };
        let host = match m["subPath"].as_str() {
            Some(sub) => host.join(sub),
            None => host.to_path_buf(),
        };
        a.push(format!(
            "--volume={}:{path}{}",
            host.display(),
            if ro { ":ro" } else { "" }
        ));
    }
    if pod["automountServiceAccountToken"] == Value::Bool(true) {
        let (dir, host, port) = volumes
            .service_account
            .as_ref()
            .ok_or("the pod mounts a service account token: give Volumes.service_account")?;
        a.push(format!(
            "--volume={}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
            dir.display()
        ));
        a.push(format!("--env=KUBERNETES_SERVICE_HOST={host}"));
        a.push(format!("--env=KUBERNETES_SERVICE_PORT={port}"));
    }
    // The image and its command.
    let command: Vec<&str> = c["command"]
        .as_array()
        .ok_or("no command")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    a.push(format!(
        "--entrypoint={}",
        serde_json::to_string(&command).map_err(|e| e.to_string())?
    ));
    a.push(c["image"].as_str().ok_or("no image")?.into());
    a.extend(
        c["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from),
    );
    Ok(a)
}

/// `podman` with the global flags these machines need: runc (crun fails on the hybrid cgroup
/// layout) and the cgroupfs manager (no systemd).
pub fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    c
}

/// Whether podman can run a container here (and we are root, who can give the volumes the
/// pod's owners).
pub fn podman_works() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && runs(&["podman", "--version"]) && runs(&["runc", "--version"])
}
