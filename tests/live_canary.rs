//! The cockpit's canary worker against the mail flow of tests/support/mailflow.rs: `m`
//! (a request on its channel) sends canaries on every route, journals them through the
//! recorder, and says how many landed.

#[path = "support/mailflow.rs"]
mod mailflow;

use std::time::Duration;

use cutover::app::Event;
use cutover::journal::{Entry, Journal};
use cutover::live::Setup;
use mailflow::MailFlow;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m_sends_canaries_on_every_route_and_journals_them() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let plan_path = flow.write_plan("");
    let plan = cutover::plan::load(&plan_path).expect("plan").plan;
    let (events, mut rx) = mpsc::channel::<Event>(256);
    let workers = cutover::live::start(&plan, Setup::cockpit(&plan), events);
    let canary = workers.canary.expect("a canary worker with [canary]");
    canary.send(()).await.expect("the worker listens");
    let notice = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(event) = rx.recv().await {
            if let Event::Notice(text) = event
                && text.starts_with("Canaries")
            {
                return text;
            }
        }
        String::new()
    })
    .await
    .expect("the round ends within its timeout");
    assert_eq!(
        notice, "Canaries: 3 of 3 landed where expected (Mail flow).",
        "{notice}"
    );
    let journal = Journal::open(Journal::path_for_plan(&plan_path)).expect("journal");
    let canaries = journal
        .replay()
        .expect("replay")
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Fact { key, .. } if key == "canary"))
        .count();
    assert_eq!(canaries, 3);
}
