//! Fault test: a TCP proxy between the copy engine and each Dovecot cuts connections at
//! random points (during the FETCHes from old and the APPENDs to new). After the reruns
//! the new side must hold exactly the old side's messages: none twice, none missing.

#[path = "support/dovecot.rs"]
mod dovecot;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cutover::clock::SystemClock;
use cutover::mail::credentials::{AuthMethod, CredentialSource, Login, Secret};
use cutover::mail::sync::{MemoryLog, SyncOptions, run_sync};
use cutover::mail::{Place, Timeouts, connect};
use cutover::plan::{Security, WhichSide};
use dovecot::{Dovecot, SeedMessage, plan, write_secrets};
use futures_util::TryStreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ALICE: &str = "alice@example.com";

/// A small deterministic random source (xorshift); the seed is printed for reruns.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// A proxy that forwards to `target` and, while `cutting` is set, closes each connection
/// after a random number of bytes (both directions counted).
struct CuttingProxy {
    port: u16,
    cutting: Arc<AtomicBool>,
    cuts: Arc<AtomicU64>,
}

impl CuttingProxy {
    async fn start(target: u16, seed: u64, max_budget: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cutting = Arc::new(AtomicBool::new(true));
        let cuts = Arc::new(AtomicU64::new(0));
        let rng = Arc::new(std::sync::Mutex::new(Rng(seed)));
        let (c, k) = (cutting.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let budget = if c.load(Ordering::SeqCst) {
                    Some(rng.lock().unwrap().range(512, max_budget))
                } else {
                    None
                };
                let k = k.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    if forward(client, server, budget).await {
                        k.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        CuttingProxy {
            port,
            cutting,
            cuts,
        }
    }
}

/// Forwards until either side closes (false) or the budget is spent (true: a cut).
async fn forward(mut client: TcpStream, mut server: TcpStream, budget: Option<u64>) -> bool {
    let mut left = budget.unwrap_or(u64::MAX);
    let mut a = vec![0u8; 16 * 1024];
    let mut b = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            r = client.read(&mut a) => {
                let n = match r { Ok(0) | Err(_) => return false, Ok(n) => n };
                let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
                if server.write_all(&a[..n]).await.is_err() { return false; }
                left -= n as u64;
            }
            r = server.read(&mut b) => {
                let n = match r { Ok(0) | Err(_) => return false, Ok(n) => n };
                let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
                if client.write_all(&b[..n]).await.is_err() { return false; }
                left -= n as u64;
            }
        }
        if left == 0 {
            return true; // dropping both streams cuts the connection mid-command
        }
    }
}

async fn contents(d: &Dovecot) -> BTreeMap<String, Vec<String>> {
    let login = Login {
        user: ALICE.to_string(),
        method: AuthMethod::Password,
        secret: Secret::new("pw"),
    };
    let mut imap = connect(
        &d.endpoint(Security::Implicit),
        &Place::new(ALICE, WhichSide::New, "t"),
        &login,
        Timeouts::default(),
    )
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for f in imap
        .folders()
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.selectable)
    {
        imap.session.examine(&f.wire).await.unwrap();
        let fetches: Vec<_> = imap
            .session
            .uid_fetch(
                "1:*",
                "(FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
            )
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap_or_default();
        let mut lines: Vec<String> = fetches
            .iter()
            .map(|m| {
                let mut flags: Vec<String> = m
                    .flags()
                    .filter(|f| !matches!(f, async_imap::types::Flag::Recent))
                    .map(|f| format!("{f:?}"))
                    .collect();
                flags.sort();
                format!(
                    "{} {} {}",
                    String::from_utf8_lossy(m.header().unwrap_or(b"")).trim(),
                    flags.join(","),
                    m.size.unwrap_or(0)
                )
            })
            .collect();
        lines.sort();
        out.insert(f.name, lines);
    }
    imap.logout().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_never_lose_or_duplicate_a_message() {
    let Some(old) = Dovecot::start("old") else {
        return;
    };
    let Some(new) = Dovecot::start("new") else {
        return;
    };
    old.add_user(ALICE, "pw");
    new.add_user(ALICE, "pw");
    for (folder, count) in [("INBOX", 300u32), ("Archiv/2023", 200), ("Gelöscht", 100)] {
        let messages: Vec<SeedMessage> = (0..count)
            .map(|n| {
                let body = "x".repeat(2_000 + (n as usize * 397) % 18_000);
                // Every fifth message shares its Message-ID with the one before (distinct subjects).
                let mid = if n % 5 == 4 { n - 1 } else { n };
                let raw = format!(
                    "Message-ID: <{folder}-{mid}@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: a@x\r\nTo: {ALICE}\r\nSubject: {folder} {n}\r\n\r\n{body}\r\n"
                );
                SeedMessage::new(raw).flags(if n % 3 == 0 { "S" } else { "" })
            })
            .collect();
        old.seed(ALICE, folder, &messages);
    }
    // CUTOVER_FAULT_SEED replays the cuts of a failed run (timing still varies).
    let seed = std::env::var("CUTOVER_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    println!("fault proxy seed {seed} (CUTOVER_FAULT_SEED={seed} replays it)");
    // The old side's budget is larger, so that many runs end by a cut on the new side
    // (APPEND) rather than on the old one (FETCH).
    let old_proxy = CuttingProxy::start(old.imaps_port, seed, 400_000).await;
    let new_proxy = CuttingProxy::start(new.imaps_port, seed.rotate_left(17) | 1, 120_000).await;

    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "pw", "pw")], None);
    let mut plan = plan(&old, &new, &[ALICE], &secrets);
    plan.old.imap.port = old_proxy.port;
    plan.new.imap.port = new_proxy.port;
    let creds = CredentialSource::new(plan.credentials.as_ref()).unwrap();
    let log = MemoryLog::default();
    // One attempt per run: the test does the reruns, and counts them.
    let opts = SyncOptions {
        attempts: 1,
        batch_messages: 20,
        timeouts: Timeouts {
            command: Duration::from_secs(10),
            ..Timeouts::default()
        },
        ..SyncOptions::default()
    };
    let cuts = || old_proxy.cuts.load(Ordering::SeqCst) + new_proxy.cuts.load(Ordering::SeqCst);
    let mut runs = 0;
    while cuts() < 50 {
        runs += 1;
        assert!(runs < 400, "only {} cuts after {runs} runs", cuts());
        let _ = run_sync(&plan, &creds, &SystemClock, &opts, &log, None).await;
        // A cut leaves Dovecot with the APPENDs it had received; it saves them after the
        // client is gone. The next look must come after that, as it does in real life (the
        // engine's own retry waits `backoff`, a person rerunning takes seconds): rerun at
        // once and the new side may be scanned before they land, then copied a second time.
        new.wait_until_no_sessions(ALICE);
    }
    println!(
        "{} cuts in {runs} runs (old {}, new {})",
        cuts(),
        old_proxy.cuts.load(Ordering::SeqCst),
        new_proxy.cuts.load(Ordering::SeqCst)
    );
    assert!(cuts() >= 50, "only {} cuts", cuts());
    // Both directions were cut: reading from old (FETCH) and writing to new (APPEND).
    assert!(
        old_proxy.cuts.load(Ordering::SeqCst) >= 10 && new_proxy.cuts.load(Ordering::SeqCst) >= 10
    );

    old_proxy.cutting.store(false, Ordering::SeqCst);
    new_proxy.cutting.store(false, Ordering::SeqCst);
    let report = run_sync(&plan, &creds, &SystemClock, &opts, &log, None).await;
    assert_eq!(report.exit_code(), 0, "{}", report.render_table());
    let (o, n) = (contents(&old).await, contents(&new).await);
    for (folder, lines) in &o {
        assert_eq!(n.get(folder), Some(lines), "{folder}: new differs from old");
    }
}
