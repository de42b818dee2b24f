//! The rehearsal world carries the three canary routes for real: the new MX takes a direct
//! canary into the new server's INBOX, the external provider's submission delivers a world
//! canary where the domain's MX resolves, and the new provider's submission signs the
//! outbound canary with the key the rehearsal publishes, its external provider writing
//! Authentication-Results. Judged by cutover's own canary round, as `cutover canary` does.

use std::collections::BTreeSet;
use std::time::Duration;

use cutover::canary::{CanaryResult, Expect, Landed, Options, Route};
use cutover::check::Status;
use cutover::mailauth::model::AuthResult;
use cutover::sandbox::World;
use cutover::sandbox::operator::{self, OperatorAction};

async fn world_and_plan() -> (World, cutover::plan::Plan, tempfile::TempDir) {
    let spec = cutover::sandbox::demo::world_spec(2, 20, 0.0);
    let world = World::start(spec).await.expect("the world starts");
    let dir = tempfile::tempdir().expect("a directory");
    let path = cutover::sandbox::demo::write_plan(dir.path(), &world).expect("the plan");
    let plan = cutover::plan::load(&path).expect("the plan loads").plan;
    (world, plan, dir)
}

async fn round(plan: &cutover::plan::Plan, world: &World, routes: &[Route]) -> Vec<CanaryResult> {
    let credentials =
        cutover::mail::CredentialSource::new(plan.credentials.as_ref()).expect("credentials");
    let options = Options {
        routes: routes.iter().copied().collect::<BTreeSet<_>>(),
        timeout: Duration::from_secs(10),
        poll: Duration::from_millis(200),
        world_expect: Expect::Old,
        served_mx: vec![],
    };
    let _guard = world.clock.io_guard();
    cutover::canary::run_round(plan, &credentials, &options, &world.clock)
        .await
        .expect("a round")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_carries_its_canary_and_the_outbound_one_passes_dkim_spf() {
    let (world, plan, _dir) = world_and_plan().await;
    for action in [
        OperatorAction::CreateMailboxes,
        OperatorAction::SpfAddNew,
        OperatorAction::DkimSpfFinal,
    ] {
        operator::perform(&world, action).await.expect("the change");
    }
    let results = round(
        &plan,
        &world,
        &[Route::World, Route::Direct, Route::Outbound],
    )
    .await;
    let by = |route| {
        results
            .iter()
            .find(|r| r.route == route)
            .unwrap_or_else(|| panic!("a {route:?} canary in {results:#?}"))
    };
    // Direct: to the new MX host, into the new server's INBOX, with the MX's Received.
    let direct = by(Route::Direct);
    assert_eq!(
        (direct.landed, direct.verdict),
        (Landed::New, Status::Pass),
        "{direct:#?}"
    );
    assert_eq!(direct.folder.as_deref(), Some("INBOX"));
    assert!(
        direct
            .hops
            .iter()
            .any(|h| h.contains("by mx.new-host.test")),
        "{direct:#?}"
    );
    // World: through the external provider, where the MX resolves (still the old server).
    let world_canary = by(Route::World);
    assert_eq!(
        (world_canary.landed, world_canary.verdict),
        (Landed::Old, Status::Pass),
        "{world_canary:#?}"
    );
    // Outbound: signed by the new provider, judged at the external mailbox.
    let outbound = by(Route::Outbound);
    assert_eq!(outbound.landed, Landed::External, "{outbound:#?}");
    let auth = outbound.auth.as_ref().expect("its authentication judged");
    assert_eq!(auth.dkim.result, AuthResult::Pass, "{auth:#?}");
    assert_eq!(auth.dkim.selector.as_deref(), Some("rehearsal"));
    assert_eq!(auth.dkim.domain.as_deref(), Some("example-firm.test"));
    assert!(auth.dkim.aligned, "{auth:#?}");
    assert_eq!(auth.spf.result, AuthResult::Pass, "{auth:#?}");
    assert_eq!(
        auth.spf.ip.map(|ip| ip.to_string()).as_deref(),
        Some("192.0.2.25")
    );
    // The external provider's own verdict agrees.
    let receiver = auth.receiver.as_ref().expect("the receiver's verdict");
    assert_eq!(
        receiver.authserv_id.as_deref(),
        Some("mx.external-provider.test")
    );
    assert_eq!(receiver.dkim.as_deref(), Some("pass"), "{auth:#?}");
    assert_eq!(receiver.spf.as_deref(), Some("pass"), "{auth:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_signing_with_another_selector_fails_dkim_naming_it() {
    let (world, plan, _dir) = world_and_plan().await;
    for action in [
        OperatorAction::CreateMailboxes,
        OperatorAction::DkimSpfFinal,
    ] {
        operator::perform(&world, action).await.expect("the change");
    }
    world.dkim.set_selector("mx2026");
    let results = round(&plan, &world, &[Route::Outbound]).await;
    let auth = results[0].auth.as_ref().expect("judged");
    assert_eq!(auth.dkim.selector.as_deref(), Some("mx2026"), "{auth:#?}");
    assert_ne!(auth.dkim.result, AuthResult::Pass, "{auth:#?}");
    let check = cutover::mailauth::checks::outbound_auth_check(
        Some(auth),
        "example-firm.test",
        Some("rehearsal"),
    );
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert!(check.evidence.contains("mx2026"), "{}", check.evidence);
}
