//! The timeline pane: the three days with their steps, the waits as bars, and the "now" line.
//!
//! The "now" line stands in the day it belongs to: between the last step that started before
//! now and the first that starts after, and before the next day's header when now is still
//! on an earlier date. A wait counts down only while its step is `waiting` (the evaluation's
//! `wait_until`); otherwise it says how long it lasts and what starts it, because a planned
//! slot is not when a wait clears.

use crate::step::StepId;
use jiff::SignedDuration;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::panes::{state_style, window};
use super::text::{fit, pad};
use super::{local, style};
use crate::app::App;
use crate::runbook::{StepState, StepStatus};

/// What a wait of the runbook waits for, in the operator's words.
fn waits_for(id: &StepId) -> &'static str {
    match id {
        StepId::TtlWait => "the TTL lowering is seen",
        StepId::Monitor24h => "the switch",
        _ => "the step before it",
    }
}

/// A wait drawn as a bar: while the step is waiting, how much of it has passed and the
/// countdown to its `wait_until`; otherwise its length and what it waits for, in `room`
/// columns if it can.
pub(super) fn wait_bar(app: &App, status: &StepStatus, room: usize) -> String {
    let Some(wait) = app.timeline.waits.iter().find(|x| x.id == status.id) else {
        return String::new();
    };
    let length = wait.end.timestamp().duration_since(wait.start.timestamp());
    let counting = match (status.state, status.wait_until) {
        (StepState::Waiting, Some(until)) => Some(until.duration_since(app.now)),
        _ => None,
    };
    let Some(left) = counting else {
        let what = format!(
            "{} after {}",
            crate::units::duration(length),
            waits_for(&status.id)
        );
        let long = format!("waits {what}");
        return if long.chars().count() <= room {
            long
        } else {
            what
        };
    };
    let done = if length.as_secs() <= 0 {
        1.0
    } else {
        (1.0 - left.as_secs_f64() / length.as_secs_f64()).clamp(0.0, 1.0)
    };
    let bar_w = 10;
    let filled = (done * bar_w as f64).round() as usize;
    let countdown = if left > SignedDuration::ZERO {
        crate::units::duration(left) + " left"
    } else {
        "over".to_string()
    };
    format!(
        "▕{}{}▏ {countdown}",
        "█".repeat(filled),
        "░".repeat(bar_w - filled)
    )
}

fn now_line(app: &App, w: usize) -> Line<'static> {
    Line::from(Span::styled(
        fit(
            &format!("── now {} ──────────────", local(app, app.now, "%a %H:%M")),
            w,
        ),
        style(app, Color::Yellow, None).add_modifier(Modifier::BOLD),
    ))
}

/// The timeline pane's lines, `w` wide, cut to `h` around the selected step.
pub(super) fn steps(app: &App, w: usize, h: usize) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut focus = None;
    let mut now_drawn = false;
    let today = app.now.to_zoned_datetime(app.plan.timezone.clone()).date();
    for day in &app.timeline.days {
        // Still on an earlier date than this day (the evening before, a weekend): now
        // belongs after the previous day's steps, not under this day's header.
        if !now_drawn && today < day.date {
            lines.push(now_line(app, w));
            now_drawn = true;
        }
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "Day {} · {}{}",
                    day.day,
                    day.date.strftime("%a %-d %b"),
                    if today == day.date { " (today)" } else { "" }
                ),
                w,
            ),
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )));
        // In time order, so the now line falls between the steps before it and those after.
        let mut planned_steps: Vec<_> = day.steps.iter().collect();
        planned_steps.sort_by_key(|p| p.start.timestamp());
        for planned in planned_steps {
            let Some((index, status)) = app
                .eval
                .steps
                .iter()
                .enumerate()
                .find(|(_, s)| s.id == planned.id)
            else {
                continue;
            };
            if !now_drawn && planned.start.timestamp() > app.now {
                lines.push(now_line(app, w));
                now_drawn = true;
            }
            let glyph = status.state.glyph();
            let is_wait = app.timeline.waits.iter().any(|x| x.id == planned.id);
            let prefix = format!("{glyph} {} ", planned.start.strftime("%H:%M"));
            let rest = if is_wait && !status.state.is_finished() {
                let room = w.saturating_sub(prefix.chars().count() + planned.id.as_str().len() + 1);
                format!("{} {}", planned.id, wait_bar(app, status, room))
            } else {
                let ticks = status
                    .mailboxes
                    .as_ref()
                    .map(|t| format!(" {}/{}", t.ticked, t.total))
                    .unwrap_or_default();
                format!("{:<19}{ticks} {}", planned.id, status.title)
            };
            let text = pad(&format!("{prefix}{rest}"), w);
            let mut s = state_style(app, status.state);
            if index == app.selected_step {
                s = s.add_modifier(Modifier::REVERSED);
                focus = Some(lines.len());
            }
            lines.push(Line::from(Span::styled(text, s)));
        }
    }
    if !now_drawn {
        lines.push(now_line(app, w));
    }
    // The way back (R18) follows no day's plan: it follows the decision, after the days.
    if let Some(rollback) = crate::runbook::rollback::active(&app.history) {
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "Way back · decided {} by {}",
                    local(app, rollback.at, "%a %-d %b %H:%M"),
                    crate::sanitize::sanitize(&rollback.operator)
                ),
                w,
            ),
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )));
        for (index, status) in app.eval.steps.iter().enumerate() {
            if !status.id.is_rollback() {
                continue;
            }
            let ticks = status
                .mailboxes
                .as_ref()
                .map(|t| format!(" {}/{}", t.ticked, t.total))
                .unwrap_or_default();
            let text = pad(
                &format!(
                    "{} {:<22}{ticks} {}",
                    status.state.glyph(),
                    status.id,
                    status.title
                ),
                w,
            );
            let mut s = state_style(app, status.state);
            if index == app.selected_step {
                s = s.add_modifier(Modifier::REVERSED);
                focus = Some(lines.len());
            }
            lines.push(Line::from(Span::styled(text, s)));
        }
    }
    window(lines, h, focus)
}
