//! The footer's hints and the `?` help, both derived from the one key table
//! ([`KEYMAP`](super::keymap::KEYMAP)): what a pane's keys do in a few words, fitted to the
//! terminal's width, and every binding by scope.

use super::keymap::{Binding, KEYMAP, KeyAction, Rehearse, Scope};

/// One footer hint: a key, what it does in a few words and in fewer, and how much it
/// matters (the least first to go when the line is too narrow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub key: &'static str,
    pub long: &'static str,
    pub short: &'static str,
    pub rank: u8,
}

const fn hint(key: &'static str, long: &'static str, short: &'static str, rank: u8) -> Hint {
    Hint {
        key,
        long,
        short,
        rank,
    }
}

/// The footer words of a binding shown in the footer.
fn hint_of(b: &Binding) -> Hint {
    let (long, short, rank) = match (b.action, b.scope) {
        (KeyAction::Open, Scope::Steps) => ("confirm step", "confirm", 90),
        (KeyAction::Open, _) => ("open detail", "detail", 90),
        (KeyAction::Yes, Scope::Reason) => ("record override", "override", 90),
        (KeyAction::Yes, _) => ("record", "record", 90),
        (KeyAction::No, _) => ("cancel", "cancel", 90),
        (KeyAction::Applied, _) => ("mark applied", "applied", 75),
        (KeyAction::Tick, _) => ("tick mailboxes", "tick", 75),
        (KeyAction::Filter, _) => ("filter", "filter", 70),
        (KeyAction::JournalFilter, _) => ("filter by kind", "kind", 70),
        (KeyAction::Rehearsal(Rehearse::SkipToGate), _) => ("skip to next gate", "skip", 85),
        (KeyAction::Rehearsal(Rehearse::PauseClock), _) => ("pause/resume time", "pause", 70),
        (KeyAction::NextPane, _) => ("next pane", "pane", 60),
        (KeyAction::Copy, _) => ("start/pause copy", "copy", 50),
        (KeyAction::Refresh, _) => ("refresh now", "refresh", 40),
        (KeyAction::Help, _) => ("help, all keys", "help", 95),
        (KeyAction::Quit, _) => ("quit", "quit", 100),
        _ => (b.help, b.help, 30),
    };
    // The footer names the key people press, not its alternatives (`q`, not `q/^C`).
    let key = match b.action {
        KeyAction::Quit => "q",
        _ => b.label,
    };
    hint(key, long, short, rank)
}

/// The footer hints of a scope, each key once: the scope's own keys, the rehearsal's
/// (in `cutover demo`), then the global ones.
pub fn hints(scope: Scope, rehearsal: bool) -> Vec<Hint> {
    let of = |s: Scope| KEYMAP.iter().filter(move |b| b.footer && b.scope == s);
    let mut out: Vec<Hint> = of(scope).map(hint_of).collect();
    if rehearsal && scope.has_globals() {
        out.extend(of(Scope::Rehearsal).map(hint_of));
        out.push(hint("1-8", "DNS host console", "DNS", 80));
    }
    if scope != Scope::Global && scope.has_globals() {
        out.extend(of(Scope::Global).map(hint_of));
    }
    out
}

/// Fits hints into `width` columns, each taking `key` + label + 3: labels are shortened
/// first, the least important first; only then are keys dropped, the least important first.
pub fn fit_hints(hints: &[Hint], width: usize) -> Vec<(&'static str, &'static str)> {
    let cost = |h: &Hint, short: bool| {
        let label = if short { h.short } else { h.long };
        h.key.chars().count() + label.chars().count() + 3
    };
    let mut short = vec![false; hints.len()];
    let mut shown = vec![true; hints.len()];
    let total = |short: &[bool], shown: &[bool]| -> usize {
        hints
            .iter()
            .enumerate()
            .filter(|(i, _)| shown[*i])
            .map(|(i, h)| cost(h, short[i]))
            .sum()
    };
    let least = |pick: &dyn Fn(usize) -> bool| {
        (0..hints.len())
            .filter(|&i| pick(i))
            .min_by_key(|&i| (hints[i].rank, std::cmp::Reverse(i)))
    };
    while total(&short, &shown) > width {
        if let Some(i) = least(&|i| shown[i] && !short[i] && hints[i].short != hints[i].long) {
            short[i] = true;
        } else if let Some(i) = least(&|i| shown[i]) {
            shown[i] = false;
        } else {
            break;
        }
    }
    hints
        .iter()
        .enumerate()
        .filter(|(i, _)| shown[*i])
        .map(|(i, h)| (h.key, if short[i] { h.short } else { h.long }))
        .collect()
}

/// One line of the `?` help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpLine {
    Heading(&'static str),
    Key(&'static str, &'static str),
}

/// The `?` help: every binding by scope (the rehearsal's only in `cutover demo`), with
/// how the help itself scrolls and how the override popup's reason is typed.
pub fn help_lines(rehearsal: bool) -> Vec<HelpLine> {
    let mut lines = Vec::new();
    for scope in [
        Scope::Global,
        Scope::Steps,
        Scope::Dns,
        Scope::Mailboxes,
        Scope::Journal,
        Scope::Popup,
        Scope::Reason,
        Scope::Rehearsal,
    ] {
        if scope == Scope::Rehearsal && !rehearsal {
            continue;
        }
        let keys: Vec<HelpLine> = KEYMAP
            .iter()
            .filter(|b| b.scope == scope)
            .map(|b| HelpLine::Key(b.label, b.help))
            .collect();
        if keys.is_empty() {
            continue;
        }
        lines.push(HelpLine::Heading(scope.title()));
        if scope == Scope::Reason {
            lines.push(HelpLine::Key(
                "letters",
                "type the reason (`y` and `n` too); Backspace deletes",
            ));
        }
        lines.extend(keys);
    }
    lines.push(HelpLine::Heading("This help"));
    lines.push(HelpLine::Key("↑↓ j/k", "scroll a line"));
    lines.push(HelpLine::Key("PgUp/PgDn", "scroll a page"));
    lines.push(HelpLine::Key("Home/End", "first / last line (also g/G)"));
    lines.push(HelpLine::Key("? or Esc", "close"));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(shown: &[(&str, &str)]) -> String {
        shown.iter().map(|(k, l)| format!(" {k} {l} ")).collect()
    }

    #[test]
    fn the_footer_names_each_key_once_and_keeps_the_rehearsal_keys_at_80_columns() {
        for scope in [Scope::Steps, Scope::Dns, Scope::Mailboxes, Scope::Journal] {
            for rehearsal in [false, true] {
                let all = hints(scope, rehearsal);
                let keys: Vec<&str> = all.iter().map(|h| h.key).collect();
                let mut unique = keys.clone();
                unique.sort_unstable();
                unique.dedup();
                assert_eq!(unique.len(), keys.len(), "{scope:?}: {keys:?}");
                let shown = fit_hints(&all, 80);
                assert!(line(&shown).chars().count() <= 80, "{}", line(&shown));
                let shown_keys: Vec<&str> = shown.iter().map(|(k, _)| *k).collect();
                for must in ["?", "q"] {
                    assert!(shown_keys.contains(&must), "{scope:?}: {shown_keys:?}");
                }
                if rehearsal {
                    for must in [">", "1-8", "p"] {
                        assert!(shown_keys.contains(&must), "{scope:?}: {shown_keys:?}");
                    }
                }
            }
        }
        // Enter confirms in the step panes; it is no "open" there.
        let steps = fit_hints(&hints(Scope::Steps, false), 200);
        assert!(steps.contains(&("Enter", "confirm step")), "{steps:?}");
    }

    #[test]
    fn labels_shorten_before_keys_are_dropped() {
        let all = hints(Scope::Steps, false);
        let long = fit_hints(&all, 500);
        assert_eq!(long.len(), all.len());
        let long_width = line(&long).chars().count();
        // A little narrower: every key still there, some labels shorter.
        let narrower = fit_hints(&all, long_width - 4);
        assert_eq!(narrower.len(), all.len(), "{narrower:?}");
        // The least important first: refresh.
        assert!(narrower.contains(&("r", "refresh")), "{narrower:?}");
        assert!(
            narrower.contains(&("Enter", "confirm step")),
            "{narrower:?}"
        );
        // Far too narrow: the least important go, quit and help stay.
        let narrow = fit_hints(&all, 20);
        assert_eq!(narrow, [("?", "help"), ("q", "quit")]);
    }

    #[test]
    fn every_help_line_fits_the_80_column_help() {
        for l in help_lines(true) {
            let text = match l {
                HelpLine::Heading(t) => t.to_string(),
                HelpLine::Key(k, h) => format!("  {k:<10} {h}"),
            };
            // The help box is 76 wide at 80 columns: 74 inside.
            assert!(text.chars().count() <= 74, "{text}");
        }
    }
}
