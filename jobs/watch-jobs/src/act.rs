//! Sending what the check decided, through the runtime's alerts (each one an effect in the
//! journal, keyed by job and outage: at most once).
//!
//! A delivery that provably failed is forgotten in the journal so the next check (a few
//! minutes later) tries again; one whose outcome is unknown counts as sent (never repeated
//! blindly). A recovery message is tried once: its failure is logged.

use crate::data::{Data, Level};
use crate::decide::Action;
use anyhow::Result;
use common::effect::EffectStatus;
use common::{Ctx, Delivery};
use std::time::Duration;

/// How long an alert key is kept from repeating: as long as the journal keeps its record
/// (each outage has its own keys anyway).
const KEY_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

/// What the deliveries came to.
#[derive(Debug, Default)]
pub struct Sent {
    /// Messages delivered (or already delivered before).
    pub delivered: Vec<String>,
    /// Messages that could not be delivered, with why.
    pub failed: Vec<String>,
}

/// Send every message; record on each open outage the level that reached someone.
pub fn send(ctx: &mut Ctx<Data>, actions: &[Action]) -> Result<Sent> {
    let mut out = Sent::default();
    for a in actions {
        let key = a.key();
        let delivery = ctx.alert_with_interval(&key, a.severity(), a.text(), Some(KEY_LIFETIME))?;
        if delivery == Delivery::DryRun {
            continue;
        }
        let ekey = common::alert::effect_key(&key);
        let failed = ctx
            .effect_record(&ekey)
            .is_some_and(|r| r.status == EffectStatus::Failed);
        if failed {
            if matches!(a, Action::Alert { .. }) {
                ctx.forget_effect(&ekey);
            }
            let why = match &delivery {
                Delivery::Failed(w) => w.clone(),
                _ => "an earlier attempt failed".to_string(),
            };
            out.failed.push(format!("`{key}`: {why}"));
            continue;
        }
        if let Action::Alert { job, level, .. } = a {
            mark_alerted(&mut ctx.state.data, job, *level);
        }
        out.delivered.push(key);
    }
    Ok(out)
}

fn mark_alerted(data: &mut Data, job: &str, level: Level) {
    if let Some(o) = data.jobs.get_mut(job).and_then(|w| w.outage.as_mut()) {
        o.alerted = o.alerted.max(Some(level));
    }
}
