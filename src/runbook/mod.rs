//! The procedure as data: steps, their checks, and the guidance engine.
//!
//! The steps live in `assets/runbook.toml`, embedded in the binary; a plan may
//! add manual steps of its own. [`evaluate`] turns (plan, journal history,
//! live checks, now) into each step's state and the next thing to do.

pub mod bulk_copy;
pub mod eval;
pub mod rollback;
pub mod template;
pub mod timeline;

use serde::Deserialize;

use crate::plan::Plan;

pub use eval::{Evaluation, Next, StepState, StepStatus, evaluate};

pub use crate::step::StepId;

const RUNBOOK: &str = include_str!("../../assets/runbook.toml");

/// Who carries a step out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The operator does it and confirms.
    Manual,
    /// cutover observes it; no confirmation needed.
    Automatic,
    /// The operator does it; cutover verifies the outcome.
    Both,
}

/// One step of the procedure, before templating.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    pub id: StepId,
    pub day: u8,
    /// Offset from the start of the working day.
    pub at: String,
    pub duration: String,
    pub title: String,
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub why: String,
    pub mode: Mode,
    #[serde(default)]
    pub per_mailbox: bool,
    #[serde(default)]
    pub after: Vec<StepId>,
    #[serde(default)]
    pub gate: Vec<String>,
    #[serde(default)]
    pub outcome: Vec<String>,
    #[serde(default)]
    pub what: String,
}

impl StepDef {
    pub fn at_offset(&self) -> std::time::Duration {
        crate::units::parse_duration(&self.at).unwrap_or_default()
    }

    pub fn planned_duration(&self) -> std::time::Duration {
        crate::units::parse_duration(&self.duration).unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
struct RunbookFile {
    step: Vec<StepDef>,
}

/// The steps of one migration: the embedded procedure plus the plan's own steps.
#[derive(Debug, Clone)]
pub struct Runbook {
    pub steps: Vec<StepDef>,
}

impl Runbook {
    /// The embedded procedure alone.
    pub fn standard() -> Runbook {
        // The asset is part of the binary and covered by tests, so it always parses.
        let file: RunbookFile =
            toml::from_str(RUNBOOK).expect("assets/runbook.toml is valid (tested)");
        Runbook { steps: file.step }
    }

    /// The procedure with the plan's extra steps, each placed after the step it names.
    pub fn for_plan(plan: &Plan) -> Runbook {
        let mut runbook = Runbook::standard();
        // With [canary], mail flow proven by canaries gates the switch and judges its outcome.
        for step in &mut runbook.steps {
            for id in crate::canary::checks::check_ids(plan, &step.id) {
                let list = match crate::canary::checks::kind(id) {
                    crate::check::Kind::Gate => &mut step.gate,
                    crate::check::Kind::Outcome => &mut step.outcome,
                };
                list.push((*id).to_string());
            }
        }
        for extra in &plan.extra_steps {
            let step = StepDef {
                id: extra.id.clone(),
                day: extra.day,
                at: "0m".into(),
                duration: "30m".into(),
                title: extra.title.clone(),
                rule: String::new(),
                why: "Added by the plan.".into(),
                mode: Mode::Manual,
                per_mailbox: extra.per_mailbox,
                after: extra.after.iter().cloned().collect(),
                gate: vec![],
                outcome: if extra.per_mailbox {
                    vec!["every-mailbox-ticked".into()]
                } else {
                    vec![]
                },
                what: extra.what.clone(),
            };
            // Place it after its predecessor, else at the end of its day.
            let index = match &extra.after {
                Some(after) => runbook
                    .steps
                    .iter()
                    .position(|s| &s.id == after)
                    .map(|i| i + 1),
                None => None,
            }
            .unwrap_or_else(|| {
                runbook
                    .steps
                    .iter()
                    .rposition(|s| s.day <= extra.day)
                    .map(|i| i + 1)
                    .unwrap_or(runbook.steps.len())
            });
            runbook.steps.insert(index, step);
        }
        runbook
    }

    pub fn step(&self, id: &StepId) -> Option<&StepDef> {
        self.steps.iter().find(|s| &s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dns_check_is_listed_in_the_runbook_with_its_kind() {
        let runbook = Runbook::standard();
        for step in &runbook.steps {
            for (id, kind) in crate::dns::checks::check_ids(&step.id) {
                let listed = match kind {
                    crate::check::Kind::Gate => &step.gate,
                    crate::check::Kind::Outcome => &step.outcome,
                };
                assert!(
                    listed.iter().any(|l| l == id),
                    "{}: {id} ({kind:?}) missing",
                    step.id
                );
            }
        }
    }

    #[test]
    fn every_mail_check_is_listed_in_the_runbook() {
        for step in &Runbook::standard().steps {
            for id in crate::mail::steps::check_ids(&step.id) {
                assert!(
                    step.gate.iter().chain(&step.outcome).any(|l| l == id),
                    "{}: {id} missing",
                    step.id
                );
            }
        }
    }

    #[test]
    fn every_smtp_check_is_a_gate_in_the_runbook() {
        for step in &Runbook::standard().steps {
            for id in crate::smtp::steps::check_ids(&step.id) {
                assert!(
                    step.gate.iter().any(|l| l == id),
                    "{}: {id} missing",
                    step.id
                );
            }
        }
        assert_eq!(
            crate::smtp::steps::check_ids(&crate::smtp::steps::GATED_STEP),
            [crate::smtp::NEW_MX_ACCEPTS]
        );
    }

    #[test]
    fn the_embedded_runbook_has_every_step_in_order() {
        let runbook = Runbook::standard();
        let ids: Vec<&StepId> = runbook.steps.iter().map(|s| &s.id).collect();
        // Every built-in variant is in the runbook, in order, and the runbook names no other.
        assert_eq!(ids, StepId::BUILT_IN.iter().collect::<Vec<_>>());
        for step in &runbook.steps {
            assert!((1..=3).contains(&step.day), "{} day", step.id);
            assert!(
                crate::units::parse_duration(&step.at).is_some(),
                "{} at",
                step.id
            );
            assert!(
                crate::units::parse_duration(&step.duration).is_some(),
                "{} duration",
                step.id
            );
            for after in &step.after {
                let before = ids.iter().position(|i| *i == after);
                let me = ids.iter().position(|i| **i == step.id);
                assert!(before < me, "{} comes after {}", step.id, after);
            }
        }
    }
}
