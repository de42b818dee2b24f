//! Cockpit benchmarks (harness = false; `cargo bench --bench tui_render`):
//!
//! 1. one frame with 5,000 mailboxes into a `TestBackend` (target < 2 ms),
//!    against the same screen with 3 mailboxes, and one scroll step (key + frame);
//! 2. time from start to the first frame of the real binary in a pty
//!    (target < 150 ms), against starting `cutover --version` the same way;
//! 3. bytes an idle cockpit writes to its terminal per second (target < 200 B/s),
//!    over `CUTOVER_BENCH_IDLE_SECS` seconds (default 20).

#[path = "../tests/support/fake.rs"]
mod fake;
#[path = "../tests/support/plans.rs"]
mod plans;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover::app::{App, Event, Pane, Role, update};
use cutover::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn app_with(mailboxes: usize) -> App {
    let plan = fake::plan(PathBuf::from("/srv/cutover/cutover.toml"), mailboxes);
    let mut app = App::new(plan, &[], Role::Driving, fake::day1_morning());
    let rows = fake::mailbox_rows(&app.plan, 0.5);
    fake::show_mailboxes(&mut app, rows);
    let view = fake::dns_view(app.now, false);
    fake::show_dns(&mut app, view);
    let _ = update(&mut app, Event::Resize(120, 40));
    app.focus = Pane::Mailboxes;
    app.mailbox_view.selected = mailboxes / 2;
    app.scroll_mailboxes_into_view();
    app
}

/// Mean and median of `f` over `n` runs, in microseconds.
fn measure(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..20 {
        f();
    }
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times.iter().sum::<f64>() / n as f64, times[n / 2])
}

fn render_benchmarks() {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let big = app_with(5_000);
    let (mean, median) = measure(500, || {
        // A fresh buffer each time, so every frame is drawn in full (the worst case).
        terminal.clear().unwrap();
        terminal.draw(|f| ui::render(f, &big)).unwrap();
    });
    let small = app_with(3);
    let (ref_mean, ref_median) = measure(500, || {
        terminal.clear().unwrap();
        terminal.draw(|f| ui::render(f, &small)).unwrap();
    });
    println!(
        "render 120x40, 5,000 mailboxes: mean {:.0} µs, median {:.0} µs (target < 2,000 µs); \
         3 mailboxes: mean {:.0} µs, median {:.0} µs; ratio {:.2}",
        mean,
        median,
        ref_mean,
        ref_median,
        mean / ref_mean
    );
    let mut scrolling = app_with(5_000);
    let down = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
    let up = KeyEvent::new(KeyCode::Up, KeyModifiers::NONE);
    let mut n = 0usize;
    let (mean, median) = measure(1_000, || {
        n += 1;
        let key = if (n / 100).is_multiple_of(2) {
            down
        } else {
            up
        };
        let _ = update(&mut scrolling, Event::Key(key));
        terminal.draw(|f| ui::render(f, &scrolling)).unwrap();
    });
    println!(
        "scroll one row in 5,000 mailboxes (update + frame): mean {mean:.0} µs, median {median:.0} µs"
    );
}

/// Output chunks as read: when, how many bytes, the bytes.
type Chunks = Arc<Mutex<Vec<(Instant, usize, Vec<u8>)>>>;

/// The real binary in a pty of 120×40 (util-linux `script`), its output read as it comes.
struct Pty {
    child: std::process::Child,
    output: Chunks,
    started: Instant,
}

impl Pty {
    fn spawn(args: &str) -> Pty {
        let command = format!(
            "stty rows 40 cols 120; exec {} {args}",
            env!("CARGO_BIN_EXE_cutover")
        );
        let started = Instant::now();
        let mut child = Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .env_remove("CUTOVER_PLAN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run script (util-linux)");
        let mut stdout = child.stdout.take().expect("stdout");
        let output: Chunks = Arc::new(Mutex::new(Vec::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push((Instant::now(), n, buf[..n].to_vec()));
            }
        });
        Pty {
            child,
            output,
            started,
        }
    }

    /// When the output first contained `needle`, since the spawn.
    fn wait_for(&self, needle: &[u8]) -> Option<Duration> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            {
                let chunks = self.output.lock().unwrap();
                let mut seen = Vec::new();
                for (at, _, bytes) in chunks.iter() {
                    seen.extend_from_slice(bytes);
                    if seen.windows(needle.len()).any(|w| w == needle) {
                        return Some(at.duration_since(self.started));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    }

    fn bytes_between(&self, from: Instant, to: Instant) -> usize {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _, _)| *at >= from && *at < to)
            .map(|(_, n, _)| n)
            .sum()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stop_cockpit(dir: &Path) {
    // The driver file names the cockpit's pid: SIGTERM closes it cleanly.
    if let Ok(text) = std::fs::read_to_string(dir.join("cutover.driver"))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(pid) = v["pid"].as_u64()
    {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A plan with 5,000 mailboxes and a 100,000-line journal beside it (copy progress lines).
fn big_plan() -> (tempfile::TempDir, PathBuf) {
    let mut text = plans::PLAN.to_string();
    for i in 2..5_000 {
        text.push_str(&format!(
            "\n[[mailbox]]\naddress = \"user{i:04}@example.com\"\n"
        ));
    }
    let (dir, plan) = plans::write_plan(&text);
    let mut journal = String::new();
    let at: jiff::Timestamp = "2026-12-09T08:00:00Z".parse().unwrap();
    for i in 0..100_000u64 {
        let entry = cutover::journal::Entry::Sync {
            at,
            mailbox: format!("user{:04}@example.com", 2 + i % 4_998),
            pid: 4242,
            state: "running".into(),
            messages_done: i,
            messages_left: 100_000 - i,
            bytes_done: i * 40_000,
            detail: None,
        };
        journal.push_str(&serde_json::to_string(&entry).unwrap());
        journal.push('\n');
    }
    std::fs::write(dir.path().join("cutover.journal"), journal).unwrap();
    (dir, plan)
}

fn first_frame(dir: &Path, plan: &Path) -> Duration {
    let args = format!("tui --offline --plan {}", plan.display());
    let mut first = Vec::new();
    for _ in 0..5 {
        let pty = Pty::spawn(&args);
        first.push(pty.wait_for(b"DRIVING").expect("first frame"));
        stop_cockpit(dir);
        std::thread::sleep(Duration::from_millis(200));
    }
    median(first)
}

fn terminal_benchmarks() {
    if Command::new("script").arg("--version").output().is_err() {
        println!("SKIPPED: `script` (util-linux) is not installed");
        return;
    }
    let (big_dir, big) = big_plan();
    let big_first = first_frame(big_dir.path(), &big);
    println!(
        "time to first frame, 5,000 mailboxes and a 100,000-line journal: median {:.1} ms (target < 150 ms)",
        big_first.as_secs_f64() * 1e3
    );
    let (dir, plan) = plans::write_plan(plans::PLAN);
    let args = format!("tui --offline --plan {}", plan.display());
    let mut first = Vec::new();
    let mut reference = Vec::new();
    for _ in 0..5 {
        let pty = Pty::spawn("--version");
        reference.push(pty.wait_for(b"cutover").expect("version printed"));
        let pty = Pty::spawn(&args);
        first.push(pty.wait_for(b"DRIVING").expect("first frame"));
        stop_cockpit(dir.path());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (first, reference) = (median(first), median(reference));
    println!(
        "time to first frame: median {:.1} ms (target < 150 ms); `cutover --version` in the same pty: {:.1} ms; \
         the cockpit's own start: {:.1} ms",
        first.as_secs_f64() * 1e3,
        reference.as_secs_f64() * 1e3,
        first.saturating_sub(reference).as_secs_f64() * 1e3
    );

    let secs: u64 = std::env::var("CUTOVER_BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let pty = Pty::spawn(&args);
    pty.wait_for(b"DRIVING").expect("first frame");
    std::thread::sleep(Duration::from_millis(500));
    let from = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let to = Instant::now();
    let idle = pty.bytes_between(from, to);
    let first_frame = pty.bytes_between(pty.started, from);
    stop_cockpit(dir.path());
    println!(
        "idle cockpit over {secs} s: {idle} bytes, {:.1} B/s (target < 200 B/s); the first frame was {first_frame} bytes",
        idle as f64 / secs as f64
    );
}

fn main() {
    render_benchmarks();
    terminal_benchmarks();
}
