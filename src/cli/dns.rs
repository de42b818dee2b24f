//! `cutover dns`: the DNS matrix, every name and type at every server, once, as JSON, or
//! redrawn every `dns.poll`.

use super::{terminal_width, to_json};
use crate::clock::Clock;
use crate::plan::Plan;
use crate::session::{CommandFailure, Session};

/// `cutover dns [--watch] [--json]`.
pub(crate) fn run(
    plan: &Plan,
    watch: bool,
    json: bool,
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let mut session = Session::open(plan)?;
    loop {
        let observed = session.observe(clock, false)?;
        let Some(snapshot) = observed.dns else {
            return Ok(());
        };
        if json {
            println!("{}", to_json(&snapshot)?);
            return Ok(());
        }
        let matrix = crate::dns::render_matrix(&snapshot, plan, terminal_width());
        if watch && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            // Clear and home, so the matrix redraws in place.
            print!("\x1b[2J\x1b[H");
        }
        println!(
            "{} — DNS at {}\n{matrix}",
            plan.domain,
            crate::runbook::eval::local(plan, snapshot.measured_at)
        );
        if !watch {
            return Ok(());
        }
        std::thread::sleep(plan.dns.poll);
    }
}
