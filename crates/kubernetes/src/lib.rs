//! The Kubernetes API, as much as the suite needs: the CronJobs of one namespace, read with the
//! pod's service account. When the suite runs as CronJobs (deploy/kubernetes/), the schedules
//! live there, not in a crontab: publish-report and watch-jobs read them with
//! `GET /apis/batch/v1/namespaces/<ns>/cronjobs?labelSelector=…` (a Role granting `list` on
//! `cronjobs` in API group `batch`, nothing else), and a CronJob with `suspend: true` is a
//! paused job, as a commented-out crontab line is.
//!
//! In a pod the defaults need no configuration: the API server is
//! `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, verified with the cluster's CA
//! (`ca.crt`), and the bearer token and namespace are the files the kubelet mounts under
//! `/var/run/secrets/kubernetes.io/serviceaccount/`. The token is read at each call (the kubelet
//! rotates it) and registered as a secret, so it never reaches a log.

use base::http::{Http, HttpConfig, Method, Retry};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where the kubelet mounts a pod's service account (token, ca.crt, namespace).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The label every object of the suite's manifests carries (deploy/kubernetes/).
pub const DEFAULT_SELECTOR: &str = "app.kubernetes.io/part-of=agent-jobs";

/// Largest accepted `timeout_secs`.
pub const MAX_TIMEOUT_SECS: f64 = 300.0;

/// Items asked for per page (`limit`); the rest follow with `continue`.
const PAGE: usize = 100;

/// Where and how to read the CronJobs (`cronjobs` in publish-report's and watch-jobs' config).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CronJobSource {
    /// The API server's base URL [default: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`].
    pub api_url: Option<String>,
    /// The namespace of the CronJobs [default: the pod's, from the service account's `namespace` file].
    pub namespace: Option<String>,
    /// Which CronJobs are the suite's (equality-based selector, as `kubectl -l` takes).
    pub label_selector: String,
    /// The bearer token (read at each call: the kubelet rotates it).
    pub token_file: PathBuf,
    /// The CA that signed the API server's certificate (for `https://`).
    pub ca_file: PathBuf,
    /// Connect and answer timeout of each request.
    pub timeout_secs: f64,
}

impl Default for CronJobSource {
    fn default() -> Self {
        let sa = Path::new(SERVICE_ACCOUNT_DIR);
        CronJobSource {
            api_url: None,
            namespace: None,
            label_selector: DEFAULT_SELECTOR.into(),
            token_file: sa.join("token"),
            ca_file: sa.join("ca.crt"),
            timeout_secs: 10.0,
        }
    }
}

/// One CronJob, as far as a schedule check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronJob {
    pub name: String,
    /// `spec.schedule` as written (five fields, or a `@` nickname).
    pub schedule: String,
    /// `spec.timeZone` (IANA), when set.
    pub time_zone: Option<String>,
    /// `spec.suspend`: no new Jobs are created.
    pub suspend: bool,
    /// The first container's `command` followed by its `args`.
    pub argv: Vec<String>,
}

/// What one listing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub api_url: String,
    pub namespace: String,
    pub label_selector: String,
    pub cronjobs: Vec<CronJob>,
}

impl CronJobSource {
    /// Checks serde cannot express; `key` is the config key path (`watch-jobs.cronjobs`).
    pub fn validate(&self, key: &str) -> Result<(), String> {
        if let Some(u) = &self.api_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(format!(
                "`{key}.api_url`: {u:?} must start with https:// (or http:// for a local proxy)"
            ));
        }
        if self.namespace.as_deref().is_some_and(|n| !is_dns_label(n)) {
            return Err(format!(
                "`{key}.namespace`: {:?} is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)",
                self.namespace.as_deref().unwrap_or_default()
            ));
        }
        if self.label_selector.trim().is_empty() {
            return Err(format!(
                "`{key}.label_selector`: must select the suite's CronJobs, e.g. {DEFAULT_SELECTOR:?}"
            ));
        }
        if !(0.1..=MAX_TIMEOUT_SECS).contains(&self.timeout_secs) {
            return Err(format!(
                "`{key}.timeout_secs`: {} is out of range 0.1..={MAX_TIMEOUT_SECS}",
                self.timeout_secs
            ));
        }
        Ok(())
    }

    /// The API server's base URL: configured, else the in-cluster service from the environment
    /// the kubelet sets in every pod.
    pub fn api_url(&self) -> Result<String, String> {
        if let Some(u) = &self.api_url {
            return Ok(u.trim_end_matches('/').to_string());
        }
        let host = std::env::var("KUBERNETES_SERVICE_HOST")
            .ok()
            .filter(|h| !h.is_empty());
        let port = std::env::var("KUBERNETES_SERVICE_PORT")
            .ok()
            .filter(|p| !p.is_empty());
        match (host, port) {
            (Some(h), Some(p)) if h.contains(':') => Ok(format!("https://[{h}]:{p}")),
            (Some(h), Some(p)) => Ok(format!("https://{h}:{p}")),
            _ => Err("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?): set `cronjobs.api_url`".into()),
        }
    }

    /// The namespace: configured, else the pod's own.
    pub fn namespace(&self) -> Result<String, String> {
        if let Some(n) = &self.namespace {
            return Ok(n.clone());
        }
        let f = self
            .token_file
            .parent()
            .unwrap_or(Path::new(SERVICE_ACCOUNT_DIR))
            .join("namespace");
        let n = std::fs::read_to_string(&f).map_err(|e| {
            format!(
                "cannot read the pod's namespace from {} ({e}): set `cronjobs.namespace`",
                f.display()
            )
        })?;
        let n = n.trim().to_string();
        if !is_dns_label(&n) {
            return Err(format!("{} holds {n:?}, not a namespace name", f.display()));
        }
        Ok(n)
    }

    /// List the suite's CronJobs. `Err` says why in one line an operator can act on (the API
    /// server's own message for a refusal, and what to grant).
    pub fn list(&self) -> Result<Listing, String> {
        let api = self.api_url()?;
        let namespace = self.namespace()?;
        let token = std::fs::read_to_string(&self.token_file).map_err(|e| {
            format!(
                "cannot read the service account token {} ({e}): the pod needs `automountServiceAccountToken: true` and a service account bound to the cronjob-reading Role",
                self.token_file.display()
            )
        })?;
        let token = base::secret::Secret::new(token.trim().to_string());
        let cfg = HttpConfig {
            connect_timeout_secs: self.timeout_secs.min(5.0),
            timeout_secs: self.timeout_secs,
            max_retries: 2,
            backoff_base_ms: 200,
            backoff_max_secs: 2.0,
            retry_after_max_secs: 5.0,
        };
        let mut http = Http::new(&cfg, None).map_err(|e| e.to_string())?;
        if api.starts_with("https://") {
            let pem = std::fs::read(&self.ca_file).map_err(|e| {
                format!(
                    "cannot read the cluster's CA {} ({e}): set `cronjobs.ca_file`",
                    self.ca_file.display()
                )
            })?;
            http = http
                .with_roots_pem(&pem)
                .map_err(|e| format!("{}: {e}", self.ca_file.display()))?;
        }
        let base_url = format!(
            "{api}/apis/batch/v1/namespaces/{}/cronjobs?limit={PAGE}&labelSelector={}",
            namespace,
            encode(&self.label_selector)
        );
        let mut cronjobs = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..1000 {
            let url = match &next {
                Some(c) => format!("{base_url}&continue={}", encode(c)),
                None => base_url.clone(),
            };
            let resp = http
                .send(Method::GET, &url, Retry::Idempotent, |r| {
                    r.bearer_auth(token.expose())
                        .header("Accept", "application/json")
                })
                .map_err(|e| {
                    format!(
                        "cannot reach the Kubernetes API at {api}: {}",
                        base::exit::one_line(&e)
                    )
                })?;
            if !resp.is_success() {
                return Err(refusal(resp.status, &resp.body, &namespace));
            }
            let (page, cont) = parse_list(&resp.body)?;
            cronjobs.extend(page);
            match cont {
                Some(c) => next = Some(c),
                None => {
                    return Ok(Listing {
                        api_url: api,
                        namespace,
                        label_selector: self.label_selector.clone(),
                        cronjobs,
                    });
                }
            }
        }
        Err("the Kubernetes API kept answering `continue` for 1000 pages".into())
    }
}

/// A refused listing in one line: the status, the API server's `Status.message`, what to do.
fn refusal(status: u16, body: &[u8], namespace: &str) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    let hint = match status {
        401 => "the service account token was not accepted (expired or from another cluster)"
            .to_string(),
        403 => format!(
            "bind the pod's service account to a Role allowing `list` on `cronjobs` (API group `batch`) in namespace {namespace} (deploy/kubernetes/rbac.yaml)"
        ),
        404 => format!("namespace {namespace} or the batch/v1 API does not exist there"),
        _ => "the API server refused the listing".to_string(),
    };
    format!("the Kubernetes API answered {status} listing cronjobs: {message}; {hint}")
}

/// Parse a `CronJobList` page: its CronJobs and the `metadata.continue` token, if any.
pub fn parse_list(body: &[u8]) -> Result<(Vec<CronJob>, Option<String>), String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the Kubernetes API's cronjob list is not JSON: {e}"))?;
    if v.get("kind").and_then(Value::as_str) != Some("CronJobList") {
        return Err(format!(
            "the Kubernetes API answered kind {:?}, not a CronJobList",
            v.get("kind").and_then(Value::as_str).unwrap_or("(none)")
        ));
    }
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_string();
        let Some(schedule) = item.pointer("/spec/schedule").and_then(Value::as_str) else {
            return Err(format!("CronJob {name} has no spec.schedule"));
        };
        let container = item.pointer("/spec/jobTemplate/spec/template/spec/containers/0");
        let strings = |key: &str| -> Vec<String> {
            container
                .and_then(|c| c.get(key))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut argv = strings("command");
        argv.extend(strings("args"));
        out.push(CronJob {
            name,
            schedule: schedule.to_string(),
            time_zone: item
                .pointer("/spec/timeZone")
                .and_then(Value::as_str)
                .map(str::to_string),
            suspend: item
                .pointer("/spec/suspend")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            argv,
        });
    }
    let cont = v
        .pointer("/metadata/continue")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    Ok((out, cont))
}

/// RFC 1123 label: what a namespace name must be.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A query value: everything but RFC 3986's unreserved characters percent-encoded.
fn encode(s: &str) -> String {
    const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, QUERY).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_list_page_gives_schedules_zones_suspension_and_argv() {
        let body = br#"{"kind":"CronJobList","apiVersion":"batch/v1","metadata":{"resourceVersion":"42","continue":"abc"},
          "items":[{"metadata":{"name":"agent-jobs-backup-config"},
            "spec":{"schedule":"17 * * * *","timeZone":"Europe/Berlin","suspend":true,
              "jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"job",
                "command":["/usr/local/bin/backup-config"],"args":["--config","/etc/agent-jobs/config.json"]}]}}}}},
            "status":{}}]}"#;
        let (jobs, cont) = parse_list(body).unwrap();
        assert_eq!(cont.as_deref(), Some("abc"));
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].schedule, "17 * * * *");
        assert_eq!(jobs[0].time_zone.as_deref(), Some("Europe/Berlin"));
        assert!(jobs[0].suspend);
        assert_eq!(jobs[0].argv[0], "/usr/local/bin/backup-config");
        assert_eq!(jobs[0].argv.len(), 3);
    }

    #[test]
    fn other_answers_are_errors_that_say_what_they_are() {
        let e = parse_list(br#"{"kind":"Status","status":"Failure"}"#).unwrap_err();
        assert!(e.contains("Status"), "{e}");
        let e = refusal(
            403,
            br#"{"kind":"Status","message":"cronjobs.batch is forbidden: User \"system:serviceaccount:openclaw:default\" cannot list resource \"cronjobs\""}"#,
            "openclaw",
        );
        assert!(
            e.contains("403") && e.contains("cannot list") && e.contains("rbac.yaml"),
            "{e}"
        );
    }

    #[test]
    fn config_is_checked() {
        let mut s = CronJobSource {
            namespace: Some("Open_Claw".into()),
            ..Default::default()
        };
        assert!(
            s.validate("w.cronjobs")
                .unwrap_err()
                .contains("w.cronjobs.namespace")
        );
        s.namespace = Some("openclaw".into());
        s.api_url = Some("ftp://x".into());
        assert!(s.validate("w.cronjobs").unwrap_err().contains("api_url"));
        s.api_url = Some("https://10.0.0.1:443/".into());
        assert_eq!(s.api_url().unwrap(), "https://10.0.0.1:443");
        s.timeout_secs = 0.0;
        assert!(
            s.validate("w.cronjobs")
                .unwrap_err()
                .contains("timeout_secs")
        );
    }
}
