//! The suite on Kubernetes, checked without a cluster (docs/OPERATIONS.md, "Kubernetes"):
//!
//! - `deploy/kubernetes/cronjobs.yaml` is what the generator makes of the registry;
//! - `kubectl kustomize` renders the overlay, alone and on a stand-in of OpenClaw's own manifests
//!   (their names, labels and mount, not their text), and every rendered object validates
//!   strictly against the Kubernetes 1.32 schemas (kubernetes-validate, offline);
//! - every CronJob's pod template runs in real podman with exactly its image (built by
//!   scripts/build-image from the binaries under test), command, args, env, user, fsGroup,
//!   read-only root, dropped capabilities and volumes: the gateway's PVC is the state directory of
//!   a real gateway that ran, the suite's PVC an empty directory, the ConfigMap the rendered one
//!   (with the tenant's and services' addresses filled in), the Secret laid out as the kubelet
//!   does, the service account token where the pod mounts one, against a fake API server that
//!   serves the rendered CronJobs; each exits 0 with its state written on the volume, two pods of
//!   one job at once give one run and one exit 75, and a suspended CronJob is *paused* in the
//!   report.
//!
//! Tools: kubectl, python3 with PyYAML, kubernetes-validate (`AGENT_JOBS_REQUIRE_KUBERNETES=1`),
//! podman and runc as root (`AGENT_JOBS_REQUIRE_PODMAN=1`), the pinned gateway
//! (`AGENT_JOBS_REQUIRE_GATEWAY=1`). CI installs and requires all of them.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::fakes::graph::{
    AGENT_PASSWORD, AGENT_USER, AGENT_USER_ID, CLIENT_ID, FakeGraph, TENANT,
};
use testkit::fakes::kubernetes::FakeKube;
use testkit::gateway;
use testkit::kube::{self, Volumes};
use testkit::suite::{CHAT, OPERATOR};

fn jobs() -> Vec<&'static str> {
    contracts::registry::names().collect()
}

#[test]
fn cronjobs_yaml_is_generated_from_the_registry() {
    let want = kube::render_cronjobs().unwrap();
    let have = std::fs::read_to_string(kube::repo().join("deploy/kubernetes/cronjobs.yaml"))
        .unwrap_or_default();
    assert!(
        have == want,
        "deploy/kubernetes/cronjobs.yaml is out of date with the crontab: run scripts/render-cronjobs"
    );
    for j in jobs() {
        assert!(
            have.contains(&format!("name: agent-jobs-{j}\n")),
            "no CronJob for {j}"
        );
    }
}

/// A stand-in of OpenClaw's own Kustomize set (install/kubernetes): the names, labels, port and
/// mount the overlay relies on, written here; the real one is fetched by
/// deploy/kubernetes/with-openclaw.
fn openclaw_shape(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let files = [
        (
            "kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [pvc.yaml, deployment.yaml, service.yaml]\n",
        ),
        (
            "pvc.yaml",
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: openclaw-home-pvc, labels: {app: openclaw}}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}\n",
        ),
        (
            "service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: openclaw, labels: {app: openclaw}}\nspec: {selector: {app: openclaw}, ports: [{name: gateway, port: 18789, targetPort: 18789}]}\n",
        ),
        (
            "deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: openclaw, labels: {app: openclaw}}\nspec:\n  replicas: 1\n  strategy: {type: Recreate}\n  selector: {matchLabels: {app: openclaw}}\n  template:\n    metadata: {labels: {app: openclaw}}\n    spec:\n      securityContext: {fsGroup: 1000}\n      containers:\n        - name: gateway\n          image: ghcr.io/openclaw/openclaw:2026.9.6\n          ports: [{name: gateway, containerPort: 18789}]\n          securityContext: {runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: true}\n          volumeMounts: [{name: openclaw-home, mountPath: /home/node/.openclaw}]\n      volumes: [{name: openclaw-home, persistentVolumeClaim: {claimName: openclaw-home-pvc}}]\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// `<tmp>/agent-jobs`: a link to deploy/kubernetes (kustomize takes only relative bases).
fn link_overlay(tmp: &Path) {
    std::os::unix::fs::symlink(
        kube::repo().join("deploy/kubernetes"),
        tmp.join("agent-jobs"),
    )
    .unwrap();
}

/// `<tmp>/both`: `with-openclaw/kustomization.yaml` with OpenClaw's remote base replaced by the
/// stand-in `<tmp>/openclaw` and `..` by `<tmp>/agent-jobs`.
fn with_openclaw(tmp: &Path) {
    let repo = kube::repo().join("deploy/kubernetes");
    let text = std::fs::read_to_string(repo.join("with-openclaw/kustomization.yaml")).unwrap();
    let remote = text
        .lines()
        .find(|l| l.contains("github.com/openclaw/openclaw//scripts/k8s/manifests"))
        .expect("with-openclaw names OpenClaw's manifests");
    let text = text
        .replace(remote, "  - ../openclaw")
        .replace("  - ..\n", "  - ../agent-jobs\n");
    std::fs::create_dir_all(tmp.join("both")).unwrap();
    std::fs::write(tmp.join("both/kustomization.yaml"), text).unwrap();
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn name(d: &Value) -> &str {
    d["metadata"]["name"].as_str().unwrap_or("")
}

#[test]
fn the_overlay_renders_and_every_object_validates() {
    if !kube::kubernetes_tools("the_overlay_renders_and_every_object_validates") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let alone = kube::kustomize(&kube::repo().join("deploy/kubernetes"));
    openclaw_shape(&tmp.path().join("openclaw"));
    link_overlay(tmp.path());
    with_openclaw(tmp.path());
    let both_text = kube::kustomize(&tmp.path().join("both"));
    let both = kube::yaml_docs(&both_text);
    let docs = kube::yaml_docs(&alone);

    // One CronJob per registry line, named after it, with the settings every one must have.
    let cronjobs = by_kind(&docs, "CronJob");
    let mut names: Vec<&str> = cronjobs.iter().map(|c| name(c)).collect();
    names.sort();
    let mut want: Vec<String> = jobs().iter().map(|j| format!("agent-jobs-{j}")).collect();
    want.sort();
    assert_eq!(names, want);
    for c in &cronjobs {
        let s = &c["spec"];
        assert_eq!(s["concurrencyPolicy"], "Forbid", "{}", name(c));
        assert!(
            s["startingDeadlineSeconds"].as_u64().unwrap() >= 30,
            "{}",
            name(c)
        );
        assert!(s["timeZone"].is_string(), "{}", name(c));
        assert!(s["successfulJobsHistoryLimit"].is_u64() && s["failedJobsHistoryLimit"].is_u64());
        assert!(
            s.pointer("/jobTemplate/spec/activeDeadlineSeconds")
                .unwrap()
                .as_u64()
                .unwrap()
                > 60
        );
        let pod = s.pointer("/jobTemplate/spec/template/spec").unwrap();
        assert_eq!(
            pod.pointer("/securityContext/runAsNonRoot"),
            Some(&json!(true))
        );
        let ctr = &pod["containers"][0];
        assert_eq!(
            ctr.pointer("/securityContext/readOnlyRootFilesystem"),
            Some(&json!(true))
        );
        assert_eq!(
            ctr.pointer("/securityContext/allowPrivilegeEscalation"),
            Some(&json!(false))
        );
        assert_eq!(
            ctr.pointer("/securityContext/capabilities/drop"),
            Some(&json!(["ALL"]))
        );
        assert!(
            ctr.pointer("/resources/limits/memory").is_some(),
            "{}",
            name(c)
        );
        assert_eq!(c["metadata"]["namespace"], "openclaw");
    }

    // Layered on OpenClaw's shape: the CronJobs' pod affinity selects the gateway's pod, the
    // gateway's claim is OpenClaw's PVC, the config's gateway URL is OpenClaw's Service.
    let gw = by_kind(&both, "Deployment")
        .into_iter()
        .find(|d| name(d) == "openclaw")
        .expect("the gateway's Deployment");
    let gw_labels = &gw.pointer("/spec/template/metadata/labels").unwrap();
    let pvcs: Vec<&str> = by_kind(&both, "PersistentVolumeClaim")
        .into_iter()
        .map(name)
        .collect();
    for c in by_kind(&both, "CronJob") {
        let pod = c.pointer("/spec/jobTemplate/spec/template/spec").unwrap();
        let term = pod
            .pointer("/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/0")
            .unwrap();
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
        for (k, v) in term
            .pointer("/labelSelector/matchLabels")
            .unwrap()
            .as_object()
            .unwrap()
        {
            assert_eq!(
                &gw_labels[k],
                v,
                "{}: the affinity must select the gateway's pod",
                name(c)
            );
        }
        for v in pod["volumes"].as_array().unwrap() {
            if let Some(claim) = v.pointer("/persistentVolumeClaim/claimName") {
                assert!(
                    pvcs.contains(&claim.as_str().unwrap()),
                    "{} mounts a claim that does not exist: {claim}",
                    name(c)
                );
            }
        }
        let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["mountPath"] == "/home/node/.openclaw" && m["name"] == "openclaw-home"),
            "{}: the gateway's state where its own pod has it",
            name(c)
        );
    }
    let cm = by_kind(&both, "ConfigMap")
        .into_iter()
        .find(|c| name(c).starts_with("agent-jobs-config"))
        .unwrap();
    let config: Value = serde_json::from_str(cm["data"]["config.json"].as_str().unwrap()).unwrap();
    let svc = by_kind(&both, "Service")
        .into_iter()
        .find(|s| name(s) == "openclaw")
        .unwrap();
    assert_eq!(
        config["gateway"]["url"],
        format!("http://openclaw:{}", svc["spec"]["ports"][0]["port"])
    );
    assert_eq!(
        config["watch-gateway"]["restart_command"],
        json!([]),
        "the kubelet restarts the gateway"
    );

    // Every object validates against the named Kubernetes version's schemas, strictly.
    for (label, text) in [("alone", &alone), ("with OpenClaw's shape", &both_text)] {
        let f = tmp.path().join(format!("{}.yaml", label.replace(' ', "-")));
        std::fs::write(&f, text).unwrap();
        let (ok, out) = kube::validate(&f);
        assert!(
            ok,
            "kubernetes-validate rejected the overlay ({label}):\n{out}"
        );
    }
    // ...and the validator is strict enough to fail: a misspelt field and a bad enum value.
    let broken = alone
        .replacen(
            "concurrencyPolicy: Forbid",
            "concurrencyPolicy: Sometimes",
            1,
        )
        .replacen("backoffLimit: 0", "backofLimit: 0", 1);
    let f = tmp.path().join("broken.yaml");
    std::fs::write(&f, broken).unwrap();
    let (ok, out) = kube::validate(&f);
    assert!(!ok, "a broken CronJob passed validation:\n{out}");
}

/// A started container: waited for with a timeout, its output kept.
struct Pod {
    job: String,
    child: Child,
    started: Instant,
}

struct Done {
    job: String,
    code: i32,
    stdout: String,
    stderr: String,
    secs: f64,
}

fn start(args: &[String], job: &str) -> Pod {
    let child = kube::podman()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("podman run for {job}: {e}"));
    Pod {
        job: job.into(),
        child,
        started: Instant::now(),
    }
}

/// Wait for every pod (each at most 4 minutes, then killed), noting when each one ended.
fn wait_all(pods: Vec<(Pod, String)>) -> Vec<Done> {
    let limit = Duration::from_secs(240);
    let mut ended: Vec<Option<f64>> = vec![None; pods.len()];
    let mut pods = pods;
    while ended.iter().any(Option::is_none) {
        for (i, (p, name)) in pods.iter_mut().enumerate() {
            if ended[i].is_some() {
                continue;
            }
            if let Ok(Some(_)) = p.child.try_wait() {
                ended[i] = Some(p.started.elapsed().as_secs_f64());
            } else if p.started.elapsed() > limit {
                let _ = kube::podman().args(["kill", name.as_str()]).status();
                let _ = p.child.wait();
                ended[i] = Some(p.started.elapsed().as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    pods.into_iter()
        .zip(ended)
        .map(|((p, _), secs)| {
            let out = p.child.wait_with_output().unwrap();
            Done {
                job: p.job,
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                secs: secs.unwrap_or_default(),
            }
        })
        .collect()
}

fn wait(p: Pod, name: &str) -> Done {
    wait_all(vec![(p, name.to_string())]).remove(0)
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).unwrap();
    if dir.is_dir() && !dir.is_symlink() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

/// Removes the test image when the test ends, passed or not.
struct Image(String);
impl Drop for Image {
    fn drop(&mut self) {
        let _ = kube::podman()
            .args(["image", "rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn every_cronjob_runs_in_podman_against_a_real_gateway() {
    let test = "every_cronjob_runs_in_podman_against_a_real_gateway";
    if !kube::have(
        test,
        "podman and runc, as root",
        kube::podman_works(),
        "AGENT_JOBS_REQUIRE_PODMAN",
    ) || !kube::kubernetes_tools(test)
    {
        return;
    }
    let Some(install) = gateway::require(test) else {
        return;
    };
    let t0 = Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("agent-jobs-kube-")
        .tempdir()
        .unwrap();
    let tag = format!("localhost/agent-jobs:test-{}", std::process::id());

    // The manifests as an operator renders them, with the image set the kustomize way.
    link_overlay(tmp.path());
    let overlay = tmp.path().join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    let (image_name, image_tag) = tag.rsplit_once(':').unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../agent-jobs]\nimages: [{{name: agent-jobs, newName: {image_name}, newTag: {image_tag}}}]\n",
        ),
    )
    .unwrap();
    let docs = kube::yaml_docs(&kube::kustomize(&overlay));
    let cronjobs: Vec<Value> = by_kind(&docs, "CronJob").into_iter().cloned().collect();
    let cm = by_kind(&docs, "ConfigMap")
        .into_iter()
        .find(|c| name(c).starts_with("agent-jobs-config"))
        .unwrap()
        .clone();

    // A real gateway, with its state dir as OpenClaw's PVC holds it: the log file and the
    // workspace inside it (`~` is /home/node in both pods).
    let model = testkit::fakes::model::FakeModel::start().unwrap();
    let home = gateway::Home::new(&install, gateway::Provider::anthropic(&model.url()));
    let mut gcfg = home.base_config();
    gcfg["logging"]["file"] = json!("~/.openclaw/logs/openclaw.log");
    gcfg["agents"]["defaults"]
        .as_object_mut()
        .unwrap()
        .remove("workspace");
    home.write_config(&gcfg);
    let state_dir = home.state_dir();
    let memory = state_dir.join("workspace/memory");
    std::fs::create_dir_all(&memory).unwrap();
    for back in 20..30 {
        let day = (chrono::Utc::now() - chrono::Duration::days(back))
            .format("%Y-%m-%d")
            .to_string();
        std::fs::write(
            memory.join(format!("{day}.md")),
            format!("# {day}\n\n## 09:14 Teams: the operator asked for the numbers of day {back}\n- pulled figures, saved to reports/q{back}.md\n- decision: the weekly summary goes out Mondays 08:00\n- TODO: follow up with Robin about item {back}\n"),
        )
        .unwrap();
    }
    // The gateway starts (about 30 s on 2 cores) while the image is built.
    let port = gateway::free_port();
    let server = home
        .spawn_server(port, &home.home().join("logs/gateway.console"))
        .unwrap();
    // The image, from the binaries under test.
    let bin_dir = testkit::bin(jobs()[0]).parent().unwrap().to_path_buf();
    let out = Command::new(kube::repo().join("scripts/build-image"))
        .args(["--tag", &tag, "--bin-dir"])
        .arg(&bin_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/build-image failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _image = Image(tag.clone());
    let built = t0.elapsed().as_secs_f64();
    assert!(
        server.wait_healthy(Duration::from_secs(180)),
        "the gateway did not start:\n{}",
        server.console()
    );
    let gw_log = state_dir.join("logs/openclaw.log");
    assert!(
        gw_log.is_file(),
        "the gateway expands `~` in logging.file: {} missing",
        gw_log.display()
    );
    // The gateway runs as uid 1000 in its pod, so its files are 1000's there.
    chown_tree(&state_dir, 1000, 1000);

    // The fakes behind the ConfigMap's addresses, the suite's empty PVC, the Secret, the token.
    let graph = FakeGraph::start();
    graph.add_chat(CHAT);
    graph.add_message(CHAT, OPERATOR, "Dana", "<p>please look at the gateway</p>");
    let hook = testkit::fakes::webhook::Webhook::start().unwrap();
    let api = FakeKube::start("openclaw", "sa-token-0c9d8e7f6a5b4c3d");
    api.set_cronjobs(&cronjobs);
    let suite_pvc = tmp.path().join("agent-jobs-state");
    std::fs::create_dir_all(&suite_pvc).unwrap();
    chown_tree(&suite_pvc, 0, 1000); // a fresh volume: root-owned, group fsGroup (the kubelet's)
    std::fs::set_permissions(
        &suite_pvc,
        std::os::unix::fs::PermissionsExt::from_mode(0o2775),
    )
    .unwrap();
    let mut config: Value =
        serde_json::from_str(cm["data"]["config.json"].as_str().unwrap()).unwrap();
    // What an operator fills in for their tenant and cluster; nothing else changes.
    config["graph"]["tenant"] = json!(TENANT);
    config["graph"]["client_id"] = json!(CLIENT_ID);
    config["graph"]["username"] = json!(AGENT_USER);
    config["graph"]["token_url"] = json!(graph.token_url());
    config["graph"]["graph_url"] = json!(graph.graph_url());
    config["poll-teams"]["chats"] = json!([CHAT]);
    config["poll-teams"]["self_user_id"] = json!(AGENT_USER_ID);
    config["poll-teams"]["operators"] = json!([OPERATOR]);
    config["gateway"]["url"] = json!(server.url());
    let cm_dir = tmp.path().join("configmap");
    std::fs::create_dir_all(&cm_dir).unwrap();
    std::fs::write(
        cm_dir.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let secret_dir = tmp.path().join("secret");
    kube::secret_volume(
        &secret_dir,
        &[
            ("teams-agent-password", AGENT_PASSWORD),
            ("alert-webhook-url", &hook.url()),
        ],
        0o400,
        1000,
    );
    let sa = tmp.path().join("serviceaccount");
    kube::service_account_files(&sa, "sa-token-0c9d8e7f6a5b4c3d", "openclaw");
    let port: u16 = api.url().rsplit(':').next().unwrap().parse().unwrap();
    let volumes = Volumes {
        claims: vec![
            ("openclaw-home-pvc".into(), state_dir.clone()),
            ("agent-jobs-state".into(), suite_pvc.clone()),
        ],
        config_maps: vec![(name(&cm).to_string(), cm_dir)],
        secrets: vec![("agent-jobs-secrets".into(), secret_dir)],
        service_account: Some((sa, "127.0.0.1".into(), port)),
    };
    let cj = |job: &str| {
        cronjobs
            .iter()
            .find(|c| name(c) == format!("agent-jobs-{job}"))
            .unwrap_or_else(|| panic!("no CronJob for {job}"))
    };
    let args = |job: &str, n: u32| {
        let args = kube::pod_run_args(
            cj(job),
            &volumes,
            &format!("aj-test-{}-{job}-{n}", std::process::id()),
        )
        .unwrap();
        assert!(
            args.contains(&tag),
            "{job}: the pod runs the image under test: {args:?}"
        );
        args
    };

    // The jobs, as their CronJobs would start them; the long-running ones together, with a
    // second watch-gateway pod at the same moment (the controller's "about once").
    let mut done: Vec<Done> = Vec::new();
    for job in ["check-ratelimit", "backup-config", "compact-memory"] {
        done.push(wait(
            start(&args(job, 1), job),
            &format!("aj-test-{}-{job}-1", std::process::id()),
        ));
    }
    let long: Vec<(Pod, String)> = [
        ("poll-teams", 1),
        ("watch-gateway", 1),
        ("watch-gateway", 2),
    ]
    .into_iter()
    .map(|(job, n)| {
        (
            start(&args(job, n), job),
            format!("aj-test-{}-{job}-{n}", std::process::id()),
        )
    })
    .collect();
    let long = wait_all(long);
    // compact-memory's CronJob is suspended now: the report and the dead-man check say paused.
    assert!(api.set_suspend("agent-jobs-compact-memory", true));
    for job in ["watch-jobs", "publish-report"] {
        done.push(wait(
            start(&args(job, 1), job),
            &format!("aj-test-{}-{job}-1", std::process::id()),
        ));
    }
    drop(server);

    let dump = |d: &Done| {
        format!(
            "{}: exit {} after {:.1} s\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- log ---\n{}",
            d.job,
            d.code,
            d.secs,
            d.stdout,
            d.stderr,
            std::fs::read_to_string(suite_pvc.join(format!("logs/{}.log", d.job)))
                .unwrap_or_default()
        )
    };
    let (watch_ok, watch_skipped): (Vec<&Done>, Vec<&Done>) = long
        .iter()
        .filter(|d| d.job == "watch-gateway")
        .partition(|d| d.code == 0);
    assert_eq!(
        watch_ok.len(),
        1,
        "one of two watch-gateway pods runs:\n{}",
        long.iter().map(dump).collect::<String>()
    );
    assert_eq!(watch_skipped.len(), 1);
    assert_eq!(
        watch_skipped[0].code,
        75,
        "the other exits 75:\n{}",
        dump(watch_skipped[0])
    );
    let all: Vec<&Done> = done
        .iter()
        .chain(
            long.iter()
                .filter(|d| d.job != "watch-gateway" || d.code == 0),
        )
        .collect();
    for d in &all {
        assert_eq!(d.code, 0, "{}", dump(d));
        assert!(
            d.stdout.is_empty() && d.stderr.is_empty(),
            "a successful run prints nothing:\n{}",
            dump(d)
        );
    }
    assert_eq!(all.len(), jobs().len());

    // State on the volume, owned by the pod's user; metrics beside it.
    for j in jobs() {
        let p = suite_pvc.join(format!("state/{j}.json"));
        let st: Value = serde_json::from_str(
            &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap();
        assert_eq!(st["last_run"]["exit_code"], 0, "{j}: {st}");
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            1000,
            "{j}'s state is the pod user's"
        );
        assert!(
            suite_pvc
                .join(format!("metrics/agent_jobs_{}.prom", j.replace('-', "_")))
                .is_file(),
            "{j}: no textfile metrics"
        );
    }
    let watch: Value = serde_json::from_str(
        &std::fs::read_to_string(suite_pvc.join("state/watch-gateway.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        watch["facts"]["health"], "healthy",
        "watch-gateway probed the real gateway: {}",
        watch["facts"]
    );
    assert!(
        std::fs::read_dir(suite_pvc.join("backups"))
            .map(|d| d.count())
            .unwrap_or(0)
            > 0,
        "backup-config snapshotted the gateway's config from its PVC"
    );
    assert!(
        std::fs::read_dir(state_dir.join("workspace/memory/digests"))
            .map(|d| d.count())
            .unwrap_or(0)
            > 0,
        "compact-memory wrote its digests into the gateway's workspace"
    );
    assert!(
        std::fs::read_dir(suite_pvc.join("state/inbox/teams/new"))
            .map(|d| d.count())
            .unwrap_or(0)
            > 0,
        "poll-teams took the operator's message into the inbox"
    );
    // The suspended CronJob is paused, in the report and in the dead-man check.
    let report = std::fs::read_dir(suite_pvc.join("reports"))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("publish-report wrote its report");
    let line = report
        .lines()
        .find(|l| l.contains("compact-memory") && l.contains('|'))
        .unwrap_or("");
    assert!(
        line.contains("paused"),
        "the suspended CronJob shows as paused:\n{report}"
    );
    let wj: Value = serde_json::from_str(
        &std::fs::read_to_string(suite_pvc.join("state/watch-jobs.json")).unwrap(),
    )
    .unwrap();
    let row = wj["facts"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["job"] == "compact-memory")
        .unwrap()
        .clone();
    assert_eq!(row["status"], "paused", "{wj}");
    let asked = api.requests();
    assert!(
        asked.len() >= 2,
        "publish-report and watch-jobs listed the CronJobs: {asked:?}"
    );

    // Prometheus reads the textfiles the way the overlay's node_exporter does.
    node_exporter_reads(&docs, &suite_pvc);
    let timings: Vec<String> = done
        .iter()
        .chain(long.iter())
        .map(|d| format!("{} {:.1} s (exit {})", d.job, d.secs, d.code))
        .collect();
    eprintln!(
        "image built in {built:.1} s; pods: {}; whole test {:.1} s",
        timings.join(", "),
        t0.elapsed().as_secs_f64()
    );
}

/// The Deployment's node_exporter arguments, pointed at the suite's volume on this host, run
/// with Debian's node_exporter (`AGENT_JOBS_REQUIRE_KUBERNETES=1` requires it): every job's
/// textfile is read, none with errors.
fn node_exporter_reads(docs: &[Value], suite_pvc: &Path) {
    let Some(bin) = ["prometheus-node-exporter", "node_exporter"]
        .into_iter()
        .find(|b| kube::runs(&[b, "--version"]))
    else {
        let test = "every_cronjob_runs_in_podman_against_a_real_gateway (node_exporter's read)";
        kube::have(
            test,
            "prometheus-node-exporter",
            false,
            "AGENT_JOBS_REQUIRE_KUBERNETES",
        );
        return;
    };
    let dep = by_kind(docs, "Deployment")
        .into_iter()
        .find(|d| name(d) == "agent-jobs-metrics")
        .unwrap();
    let c = &dep.pointer("/spec/template/spec/containers/0").unwrap();
    let mount = c["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let port = gateway::free_port();
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace(mount, &suite_pvc.display().to_string())
        })
        .map(|a| {
            if a.starts_with("--web.listen-address=") {
                format!("--web.listen-address=127.0.0.1:{port}")
            } else {
                a
            }
        })
        .collect();
    let mut ne = Command::new(bin)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut body = String::new();
    for _ in 0..100 {
        if let Some((200, b)) = gateway::http_get(port, "/metrics") {
            body = b;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = ne.kill();
    let _ = ne.wait();
    assert!(
        body.contains("node_textfile_scrape_error 0"),
        "node_exporter read the textfiles without error:\n{body}"
    );
    for j in jobs() {
        assert!(
            body.lines()
                .any(|l| l.starts_with("agent_jobs_last_run_timestamp_seconds{")
                    && l.contains(&format!("\"{j}\""))),
            "{j}'s metrics reach Prometheus through node_exporter:\n{body}"
        );
    }
}
