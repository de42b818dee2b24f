//! The one key table: it drives the key handler, the footer hints and the `?` help.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks the cockpit to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextPane,
    PrevPane,
    /// Enter: open the confirmation for a step, the detail of a mailbox or DNS cell.
    Open,
    /// Mark the selected step applied ("I made the change").
    Applied,
    /// Take a confirmation (or a mailbox's tick) back.
    Reopen,
    /// Roll back to the old server (R18): asks why, like an override.
    Rollback,
    /// Tick the marked (or selected) mailboxes for the current per-mailbox step.
    Tick,
    /// Add or remove the selected mailbox from the selection.
    Mark,
    Filter,
    Sort,
    ReverseSort,
    /// Show the journal pane's lines of one kind (all, confirmations, alarms, facts, copies).
    JournalFilter,
    /// Start or pause a copy: the selected mailbox in the mailbox pane, else all.
    Copy,
    Refresh,
    /// Send canaries now on every route (asks first).
    SendCanary,
    Help,
    Quit,
    /// Close help or a popup.
    Close,
    /// In a confirmation popup: record it.
    Yes,
    /// In a confirmation popup: cancel.
    No,
    /// `cutover demo` only: the DNS host console and the simulated clock.
    Rehearsal(Rehearse),
}

/// What the rehearsal's keys do: the DNS host console (in any order, wrong ones included),
/// the sandbox's mail servers, and the simulated clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rehearse {
    LowerTtl,
    SpfAddNew,
    CreateMailboxes,
    StartPop3Fetch,
    AddNewMx,
    DeleteOldMx,
    DkimSpfFinal,
    RestoreTtl,
    /// An alarm's fix: the old MX back at the DNS host.
    RestoreOldMx,
    /// An alarm's fix: SPF naming the old and the new server again.
    RepublishSpf,
    /// The fix of a refused alias: the new provider creates the aliases it lacks.
    CreateAlias,
    /// The new provider breaks: its MX answers 4xx to every message (to practise the way back).
    BreakNewServer,
    /// The way back: the new MX deleted at the DNS host.
    DeleteNewMx,
    /// Staying on the old server: SPF naming the old server only.
    SpfOldOnly,
    PauseClock,
    Faster,
    Slower,
    /// Jump to when the next waiting gate clears.
    SkipToGate,
    /// Every step is finished: the summary of the run (no key; the cockpit asks).
    Summary,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere outside popups.
    Global,
    /// The timeline (steps) pane.
    Steps,
    /// The DNS pane.
    Dns,
    /// The mailbox pane.
    Mailboxes,
    /// The journal pane.
    Journal,
    /// A confirmation popup or a yes/no question.
    Popup,
    /// The override popup: keys type the reason, only Enter and Esc act.
    Reason,
    /// `cutover demo` only, in every pane.
    Rehearsal,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Steps => "Timeline and Next step (the Next step pane acts on the next step)",
            Scope::Dns => "DNS",
            Scope::Mailboxes => "Mailboxes",
            Scope::Journal => "Journal",
            Scope::Popup => "Confirmation popup and yes/no questions",
            Scope::Reason => "Override popup (a check does not hold)",
            Scope::Rehearsal => "Rehearsal: DNS host console and clock",
        }
    }

    /// Whether the global bindings apply here too (not in popups).
    pub(crate) fn has_globals(self) -> bool {
        !matches!(self, Scope::Popup | Scope::Reason)
    }
}

/// A key: its code and whether Ctrl is held (Shift is part of the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

/// One row of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    /// How the keys are written in hints and help, e.g. `↑/k`.
    pub label: &'static str,
    pub action: KeyAction,
    /// What it does, in a few words.
    pub help: &'static str,
    /// Shown in the footer (the most useful few only).
    pub footer: bool,
}

const fn bind(
    scope: Scope,
    keys: &'static [Key],
    label: &'static str,
    action: KeyAction,
    help: &'static str,
    footer: bool,
) -> Binding {
    Binding {
        scope,
        keys,
        label,
        action,
        help,
        footer,
    }
}

/// Every key binding of the cockpit. Popup bindings come first so `y`/`n`
/// in a popup win over anything global.
pub const KEYMAP: &[Binding] = &[
    bind(
        Scope::Popup,
        &[ch('y')],
        "y",
        KeyAction::Yes,
        "record it (when every check holds)",
        true,
    ),
    bind(
        Scope::Popup,
        &[ch('n'), key(KeyCode::Esc)],
        "n/Esc",
        KeyAction::No,
        "cancel",
        true,
    ),
    bind(
        Scope::Reason,
        &[key(KeyCode::Enter)],
        "Enter",
        KeyAction::Yes,
        "record the override (a reason of at least 10 characters)",
        true,
    ),
    bind(
        Scope::Reason,
        &[key(KeyCode::Esc)],
        "Esc",
        KeyAction::No,
        "cancel",
        true,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::Up), ch('k')],
        "↑/k",
        KeyAction::Up,
        "move up",
        false,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::Down), ch('j')],
        "↓/j",
        KeyAction::Down,
        "move down",
        false,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::Left), ch('h')],
        "←/h",
        KeyAction::Left,
        "previous column (DNS)",
        false,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::Right), ch('l')],
        "→/l",
        KeyAction::Right,
        "next column (DNS)",
        false,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::PageUp), ctrl('u')],
        "PgUp/^U",
        KeyAction::PageUp,
        "page up",
        false,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::PageDown), ctrl('d')],
        "PgDn/^D",
        KeyAction::PageDown,
        "page down",
        false,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::Home), ch('g')],
        "g/Home",
        KeyAction::Top,
        "first row",
        false,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::End), ch('G')],
        "G/End",
        KeyAction::Bottom,
        "last row",
        false,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::Tab)],
        "Tab",
        KeyAction::NextPane,
        "next pane",
        true,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::BackTab)],
        "S-Tab",
        KeyAction::PrevPane,
        "previous pane",
        false,
    ),
    bind(
        Scope::Steps,
        &[key(KeyCode::Enter)],
        "Enter",
        KeyAction::Open,
        "confirm the selected step (the next step in Next step)",
        true,
    ),
    bind(
        Scope::Steps,
        &[ch('a')],
        "a",
        KeyAction::Applied,
        "mark the step applied (asks first if its gates do not hold)",
        true,
    ),
    bind(
        Scope::Steps,
        &[ch('u')],
        "u",
        KeyAction::Reopen,
        "reopen the selected step",
        false,
    ),
    bind(
        Scope::Steps,
        &[ch('R')],
        "R",
        KeyAction::Rollback,
        "roll back to the old server (asks why)",
        false,
    ),
    bind(
        Scope::Dns,
        &[key(KeyCode::Enter)],
        "Enter",
        KeyAction::Open,
        "detail of the selected answer",
        true,
    ),
    bind(
        Scope::Mailboxes,
        &[key(KeyCode::Enter)],
        "Enter",
        KeyAction::Open,
        "mailbox detail with folders",
        true,
    ),
    bind(
        Scope::Mailboxes,
        &[ch(' ')],
        "Space",
        KeyAction::Mark,
        "select / unselect a mailbox",
        false,
    ),
    bind(
        Scope::Mailboxes,
        &[ch('t')],
        "t",
        KeyAction::Tick,
        "tick mailbox(es) for the per-mailbox step",
        true,
    ),
    bind(
        Scope::Mailboxes,
        &[ch('u')],
        "u",
        KeyAction::Reopen,
        "take a mailbox's tick back",
        false,
    ),
    bind(
        Scope::Mailboxes,
        &[ch('/')],
        "/",
        KeyAction::Filter,
        "filter by address",
        true,
    ),
    bind(
        Scope::Journal,
        &[ch('f')],
        "f",
        KeyAction::JournalFilter,
        "show all, confirmations, alarms, facts or copies",
        true,
    ),
    bind(
        Scope::Mailboxes,
        &[ch('o')],
        "o",
        KeyAction::Sort,
        "sort by the next column",
        false,
    ),
    bind(
        Scope::Mailboxes,
        &[ch('O')],
        "O",
        KeyAction::ReverseSort,
        "reverse the sort",
        false,
    ),
    bind(
        Scope::Global,
        &[ch('s')],
        "s",
        KeyAction::Copy,
        "start/pause copy (mailbox pane: the selected; else all)",
        true,
    ),
    bind(
        Scope::Global,
        &[ch('r')],
        "r",
        KeyAction::Refresh,
        "refresh DNS and mailboxes now",
        true,
    ),
    bind(
        Scope::Global,
        &[ch('m')],
        "m",
        KeyAction::SendCanary,
        "send canaries now: prove that mail flows (asks first)",
        false,
    ),
    bind(
        Scope::Global,
        &[ch('?')],
        "?",
        KeyAction::Help,
        "this help",
        true,
    ),
    bind(
        Scope::Global,
        &[key(KeyCode::Esc)],
        "Esc",
        KeyAction::Close,
        "close help or popup",
        false,
    ),
    bind(
        Scope::Global,
        &[ch('q'), ctrl('c')],
        "q/^C",
        KeyAction::Quit,
        "quit (asks first while a copy runs, and in the rehearsal)",
        true,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('1')],
        "1",
        KeyAction::Rehearsal(Rehearse::LowerTtl),
        "DNS host: lower the MX and TXT TTLs to 5 min",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('2')],
        "2",
        KeyAction::Rehearsal(Rehearse::SpfAddNew),
        "DNS host: add the new server to SPF",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('3')],
        "3",
        KeyAction::Rehearsal(Rehearse::CreateMailboxes),
        "new server: create every mailbox",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('4')],
        "4",
        KeyAction::Rehearsal(Rehearse::StartPop3Fetch),
        "employees: set up POP3 fetch from the old server",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('5')],
        "5",
        KeyAction::Rehearsal(Rehearse::AddNewMx),
        "DNS host: add the new MX",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('6')],
        "6",
        KeyAction::Rehearsal(Rehearse::DeleteOldMx),
        "DNS host: delete the old MX",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('7')],
        "7",
        KeyAction::Rehearsal(Rehearse::DkimSpfFinal),
        "DNS host: publish DKIM, old server out of SPF",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('8')],
        "8",
        KeyAction::Rehearsal(Rehearse::RestoreTtl),
        "DNS host: restore the TTLs (24 h MX, 6 h TXT)",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('9')],
        "9",
        KeyAction::Rehearsal(Rehearse::RestoreOldMx),
        "DNS host: put the old MX back (an alarm's fix)",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('0')],
        "0",
        KeyAction::Rehearsal(Rehearse::RepublishSpf),
        "DNS host: re-publish SPF with old and new (an alarm's fix)",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('c')],
        "c",
        KeyAction::Rehearsal(Rehearse::CreateAlias),
        "new provider: create the alias its MX refuses (a gate's fix)",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('b')],
        "b",
        KeyAction::Rehearsal(Rehearse::BreakNewServer),
        "new provider: its server breaks, MX answers 451 (practise R)",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('x')],
        "x",
        KeyAction::Rehearsal(Rehearse::DeleteNewMx),
        "DNS host: delete the new MX (the way back)",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('z')],
        "z",
        KeyAction::Rehearsal(Rehearse::SpfOldOnly),
        "DNS host: SPF with the old server only (staying on it)",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('p')],
        "p",
        KeyAction::Rehearsal(Rehearse::PauseClock),
        "pause or resume simulated time",
        true,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('+')],
        "+",
        KeyAction::Rehearsal(Rehearse::Faster),
        "simulated time twice as fast",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('-')],
        "-",
        KeyAction::Rehearsal(Rehearse::Slower),
        "simulated time half as fast",
        false,
    ),
    bind(
        Scope::Rehearsal,
        &[ch('>')],
        ">",
        KeyAction::Rehearsal(Rehearse::SkipToGate),
        "skip to when the next gate clears",
        true,
    ),
];

/// The action a key press means in `scope` (global bindings apply too).
pub fn lookup(scope: Scope, event: &KeyEvent) -> Option<KeyAction> {
    let pressed = Key {
        code: event.code,
        ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
    };
    KEYMAP
        .iter()
        .filter(|b| in_scope(b, scope))
        .find(|b| b.keys.contains(&pressed))
        .map(|b| b.action)
}

fn in_scope(b: &Binding, scope: Scope) -> bool {
    b.scope == scope || (b.scope == Scope::Global && scope.has_globals())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_means_two_things_in_one_scope() {
        for scope in [
            Scope::Steps,
            Scope::Dns,
            Scope::Mailboxes,
            Scope::Journal,
            Scope::Popup,
            Scope::Reason,
        ] {
            let visible: Vec<&Binding> = KEYMAP.iter().filter(|b| in_scope(b, scope)).collect();
            for (i, a) in visible.iter().enumerate() {
                for b in &visible[i + 1..] {
                    // A scope's own binding may shadow a global one on purpose (Esc in popups).
                    let shadowing = a.scope != b.scope;
                    for k in a.keys {
                        assert!(
                            shadowing || !b.keys.contains(k),
                            "{k:?} bound twice in {scope:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn vim_keys_and_arrows_move() {
        let j = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
        let down = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Mailboxes, &j), Some(KeyAction::Down));
        assert_eq!(lookup(Scope::Steps, &down), Some(KeyAction::Down));
        let y = KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Steps, &y), None);
        assert_eq!(lookup(Scope::Popup, &y), Some(KeyAction::Yes));
    }
}
