//! The report as one self-contained HTML page: inline CSS, no script, nothing fetched, an
//! SVG timeline of planned against actual times; readable on a phone (tables scroll
//! sideways) and printable on A4 with each section on its own page. Every text is escaped.

use std::fmt::Write;

use jiff::Timestamp;

use crate::report::model::{Journaled, NO_COPY_BACK, Report, duration_text, or_dash, skipped_text};

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #111;
  margin: 0 auto; max-width: 64rem; padding: 0.75rem; }
h1 { font-size: 1.5rem; margin: 0.2rem 0; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #333; padding-bottom: 0.15rem; margin-top: 1.6rem; }
h3 { font-size: 1.05rem; margin: 1rem 0 0.3rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ccc; padding: 0.25rem 0.4rem; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
td.t { white-space: nowrap; }
td.data { overflow-wrap: anywhere; }
th { background: #f2f2f2; }
td.num, th.num { text-align: right; }
.wide { overflow-x: auto; }
.key { font-weight: bold; }
.bad { color: #a40000; font-weight: bold; }
.note { color: #555; font-style: italic; }
.standing { font-size: 1.1rem; }
ul.evidence { margin: 0.2rem 0 0.6rem; padding-left: 1.2rem; font-size: 0.9em; }
svg.timeline { width: 100%; height: auto; display: block; margin: 0.5rem 0; }
svg .planned { fill: #c8c8c8; }
svg .actual { fill: #1f5fbf; }
svg .open { fill: #e08a00; }
svg .grid { stroke: #bbb; stroke-width: 1; }
svg text { font: 11px system-ui, sans-serif; fill: #222; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  section { break-before: page; }
  section.first { break-before: auto; }
  .wide { overflow: visible; }
  tr, li { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
";

pub(crate) fn render(r: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024 + r.mailboxes.len() * 300);
    // Writing to a String cannot fail.
    let _ = write_all(r, &mut out);
    out
}

fn write_all(r: &Report, out: &mut String) -> std::fmt::Result {
    let title = format!("Migration report: {}", r.domain);
    writeln!(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>")?;
    writeln!(out, "<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(out, "<title>{}</title>", escape(&title))?;
    writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>")?;
    writeln!(out, "<header>\n<h1>{}</h1>", escape(&title))?;
    writeln!(
        out,
        "<p class=\"standing\">{}</p>\n</header>",
        escape(&r.headline())
    )?;

    writeln!(
        out,
        "<section id=\"summary\" class=\"first\">\n<h2>Summary</h2>"
    )?;
    writeln!(out, "<table>\n<tbody>")?;
    for (label, value, stands_out) in r.summary_rows() {
        let class = if stands_out { " class=\"key\"" } else { "" };
        writeln!(
            out,
            "<tr{class}><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(&label),
            escape(&value)
        )?;
    }
    writeln!(out, "</tbody>\n</table>\n</section>")?;

    write_timeline(r, out)?;
    write_rollback(r, out)?;
    write_overrides(r, out)?;
    write_alarms(r, out)?;
    write_dns(r, out)?;
    write_mailboxes(r, out)?;
    write_canaries(r, out)?;
    write_archive(r, out)?;
    writeln!(out, "</body>\n</html>")
}

/// The way back: its decisions, its steps with their evidence, the copy back per mailbox.
fn write_rollback(r: &Report, out: &mut String) -> std::fmt::Result {
    let Some(rb) = &r.rollback else {
        return Ok(());
    };
    writeln!(out, "<section id=\"rollback\">\n<h2>Rollback</h2>")?;
    writeln!(out, "<p class=\"bad\">{}</p>", escape(&rb.standing))?;
    writeln!(
        out,
        "<div class=\"wide\">\n<table>\n<thead><tr><th>When</th><th>Decision</th><th>By</th><th>Reason</th></tr></thead>\n<tbody>"
    )?;
    for d in &rb.decisions {
        writeln!(
            out,
            "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.clock(d.at)),
            escape(&d.label()),
            escape(&d.operator),
            escape(&d.reason)
        )?;
    }
    writeln!(out, "</tbody>\n</table>\n</div>")?;
    writeln!(
        out,
        "<div class=\"wide\">\n<table>\n<thead><tr><th>Step</th><th>Applied</th><th>Done</th><th>By</th><th>State</th></tr></thead>\n<tbody>"
    )?;
    for s in &rb.steps {
        writeln!(
            out,
            "<tr><td><b>{}</b> {}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td><td class=\"t\">{}</td></tr>",
            escape(s.id.as_str()),
            escape(&s.title),
            escape(&r.when(s.applied_at)),
            escape(&r.when(s.done_at)),
            escape(&or_dash(s.by.as_deref())),
            escape(&s.state_text())
        )?;
    }
    writeln!(out, "</tbody>\n</table>\n</div>")?;
    for journaled in rb.steps.iter().map(|s| s.journaled()) {
        write_journaled(r, &journaled, out)?;
    }
    writeln!(out, "<h3>Copy back to the old server</h3>")?;
    let copied = r.copied_back();
    if copied.is_empty() {
        writeln!(out, "<p class=\"note\">{}</p>", escape(NO_COPY_BACK))?;
        return writeln!(out, "</section>");
    }
    writeln!(
        out,
        "<div class=\"wide\">\n<table>\n<thead><tr><th>Address</th><th class=\"num\">Copied back</th><th class=\"num\">Still missing on the old server</th><th>State</th></tr></thead>\n<tbody>"
    )?;
    for m in copied {
        writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&m.address),
            or_dash(m.copied_back),
            or_dash(m.copy_back_missing),
            escape(&or_dash(m.copy_back_state.as_deref()))
        )?;
    }
    writeln!(out, "</tbody>\n</table>\n</div>\n</section>")
}

fn write_canaries(r: &Report, out: &mut String) -> std::fmt::Result {
    if r.canaries.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<section id=\"canaries\">\n<h2>Mail flow (canaries)</h2>\n<table>\n<thead><tr><th>Sent</th><th>Route</th><th>To</th><th>Landed</th><th>Folder</th><th>Delay</th><th>Verdict</th><th>Evidence</th></tr></thead>\n<tbody>"
    )?;
    for c in &r.canaries {
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.clock(c.sent_at)),
            escape(c.route.describe()),
            escape(c.target.as_deref().unwrap_or("—")),
            c.landed.as_str(),
            escape(c.folder.as_deref().unwrap_or("—")),
            c.delay_s
                .map(|d| format!("{d} s"))
                .unwrap_or_else(|| "—".into()),
            escape(c.verdict.mark()),
            escape(&c.evidence)
        )?;
    }
    writeln!(out, "</tbody>\n</table>")?;
    let judged: Vec<&crate::canary::CanaryResult> = r
        .canaries
        .iter()
        .filter(|c| c.auth.is_some() || c.auth_note.is_some())
        .collect();
    if !judged.is_empty() {
        writeln!(
            out,
            "<h3>Authentication of the outbound canaries, as received at the external mailbox</h3>\n<ul>"
        )?;
        for c in judged {
            let verdict = c
                .auth
                .as_ref()
                .map(|a| a.one_line())
                .or_else(|| c.auth_note.clone())
                .unwrap_or_default();
            writeln!(
                out,
                "<li>{}: {}</li>",
                escape(&r.clock(c.sent_at)),
                escape(&verdict)
            )?;
        }
        writeln!(out, "</ul>")?;
    }
    writeln!(out, "</section>")
}

fn write_archive(r: &Report, out: &mut String) -> std::fmt::Result {
    let Some(a) = &r.archive else {
        return Ok(());
    };
    writeln!(
        out,
        "<section id=\"archive\">\n<h2>Archive of the old server</h2>"
    )?;
    writeln!(
        out,
        "<p{}>{}</p>",
        if a.ok { "" } else { " class=\"bad\"" },
        escape(&a.standing(r))
    )?;
    writeln!(out, "<table>\n<tbody>")?;
    writeln!(
        out,
        "<tr><th scope=\"row\">Path</th><td>{}</td></tr>",
        escape(&a.path)
    )?;
    writeln!(
        out,
        "<tr><th scope=\"row\">Manifest SHA-256</th><td><code>{}</code></td></tr>",
        escape(&a.manifest_sha256)
    )?;
    for p in &a.problems {
        writeln!(
            out,
            "<tr class=\"bad\"><th scope=\"row\">Problem</th><td>{}</td></tr>",
            escape(p)
        )?;
    }
    writeln!(out, "</tbody>\n</table>")?;
    writeln!(
        out,
        "<div class=\"wide\">\n<table>\n<thead><tr><th>Address</th><th class=\"num\">Folders</th><th class=\"num\">Messages</th><th class=\"num\">Bytes</th><th class=\"num\">Old INBOX covered below UID</th><th class=\"num\">Old server's messages</th></tr></thead>\n<tbody>"
    )?;
    for m in &a.mailboxes {
        writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&m.address),
            m.folders,
            m.messages,
            m.bytes,
            or_dash(m.inbox_uidnext),
            or_dash(m.old_messages)
        )?;
    }
    writeln!(out, "</tbody>\n</table>\n</div>\n</section>")
}

fn write_timeline(r: &Report, out: &mut String) -> std::fmt::Result {
    writeln!(out, "<section id=\"timeline\">\n<h2>Timeline</h2>")?;
    write_svg(r, out)?;
    writeln!(out, "<div class=\"wide\">\n<table>")?;
    writeln!(
        out,
        "<thead><tr><th>Step</th><th>Planned</th><th>Applied</th><th>Done</th><th>By</th><th>State</th></tr></thead>\n<tbody>"
    )?;
    for s in &r.timeline {
        let state = s.state_text();
        let class = if s.how.as_deref() == Some("overridden") {
            " class=\"t bad\""
        } else {
            " class=\"t\""
        };
        writeln!(
            out,
            "<tr><td><b>{}</b> {}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td><td{class}>{}</td></tr>",
            escape(s.id.as_str()),
            escape(&s.title),
            escape(&r.clock(s.planned_start)),
            escape(&r.when(s.applied_at)),
            escape(&r.when(s.done_at)),
            escape(&or_dash(s.by.as_deref())),
            escape(&state)
        )?;
    }
    writeln!(out, "</tbody>\n</table>\n</div>")?;
    if r.timeline.iter().any(|s| !s.journaled().is_empty()) {
        writeln!(out, "<h3>Evidence, as journaled</h3>")?;
        for journaled in r.timeline.iter().map(|s| s.journaled()) {
            write_journaled(r, &journaled, out)?;
        }
    }
    writeln!(out, "</section>")
}

/// A step's journaled evidence: how, when and by whom it was done, then each check; nothing
/// when none was journaled.
fn write_journaled(r: &Report, s: &Journaled<'_>, out: &mut String) -> std::fmt::Result {
    if s.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<p><b>{}</b>: {} {} by {}</p>\n<ul class=\"evidence\">",
        escape(s.id.as_str()),
        escape(&or_dash(s.how)),
        escape(&r.when(s.done_at)),
        escape(&or_dash(s.by))
    )?;
    for c in s.evidence {
        writeln!(
            out,
            "<li>{} <b>{}</b>: {}</li>",
            escape(&c.status),
            escape(&c.check),
            escape(&c.evidence)
        )?;
    }
    if let Some(observed) = s.observed {
        writeln!(out, "<li>{}</li>", escape(observed))?;
    }
    writeln!(out, "</ul>")
}

/// Planned (grey) against actual (blue: applied to done; orange: applied, not done yet)
/// per step, on one time axis with a line at each midnight.
fn write_svg(r: &Report, out: &mut String) -> std::fmt::Result {
    const LABEL: f64 = 150.0;
    const WIDTH: f64 = 800.0;
    const ROW: f64 = 16.0;
    const TOP: f64 = 18.0;
    let times: Vec<Timestamp> = r
        .timeline
        .iter()
        .flat_map(|s| {
            [
                Some(s.planned_start),
                Some(s.planned_end),
                s.applied_at,
                s.done_at,
            ]
        })
        .flatten()
        .chain(r.as_of)
        .collect();
    let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
        return Ok(());
    };
    let span = (last.as_second() - first.as_second()).max(1) as f64;
    let x = |t: Timestamp| {
        LABEL + (t.as_second() - first.as_second()) as f64 / span * (WIDTH - LABEL - 4.0)
    };
    let height = TOP + ROW * r.timeline.len() as f64 + 18.0;
    writeln!(
        out,
        "<svg class=\"timeline\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"Timeline: planned (grey) and actual (blue) times of each step\">"
    )?;
    // A line and a date at each midnight in the plan's zone.
    let mut day = first
        .to_zoned_datetime(r.zone.clone())
        .date()
        .to_zoned_datetime(r.zone.clone())
        .ok();
    while let Some(midnight) = day {
        let t = midnight.timestamp();
        if t > last {
            break;
        }
        if t < first {
            // The first day began before the first step: name it at the axis' start.
            writeln!(
                out,
                "<text x=\"{LABEL}\" y=\"10\">{}</text>",
                escape(&midnight.strftime("%a %-d %b").to_string())
            )?;
        } else {
            let px = x(t);
            writeln!(
                out,
                "<line class=\"grid\" x1=\"{px:.1}\" y1=\"12\" x2=\"{px:.1}\" y2=\"{:.1}\"/><text x=\"{:.1}\" y=\"10\">{}</text>",
                height - 14.0,
                px + 2.0,
                escape(&midnight.strftime("%a %-d %b").to_string())
            )?;
        }
        day = midnight
            .date()
            .tomorrow()
            .ok()
            .and_then(|d| d.to_zoned_datetime(r.zone.clone()).ok());
    }
    writeln!(
        out,
        "<text x=\"{LABEL}\" y=\"{:.1}\">grey: planned · blue: actual, applied to done · orange: applied, not done yet</text>",
        height - 4.0
    )?;
    for (i, s) in r.timeline.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        writeln!(
            out,
            "<text x=\"0\" y=\"{:.1}\">{}</text>",
            y + 11.0,
            escape(s.id.as_str())
        )?;
        let (px0, px1) = (x(s.planned_start), x(s.planned_end));
        writeln!(
            out,
            "<rect class=\"planned\" x=\"{px0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"5\"/>",
            y + 2.0,
            (px1 - px0).max(2.0)
        )?;
        let (from, to, class) = match (s.applied_at, s.done_at) {
            (Some(a), Some(d)) => (a.min(d), d, "actual"),
            (None, Some(d)) => (d, d, "actual"),
            (Some(a), None) => (a, r.as_of.unwrap_or(a), "open"),
            (None, None) => continue,
        };
        let (ax0, ax1) = (x(from), x(to));
        writeln!(
            out,
            "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"6\"/>",
            ax0 - 1.0,
            y + 8.0,
            (ax1 - ax0).max(3.0)
        )?;
    }
    writeln!(out, "</svg>")
}

fn write_overrides(r: &Report, out: &mut String) -> std::fmt::Result {
    if r.overrides.is_empty() {
        return Ok(());
    }
    writeln!(out, "<section id=\"overrides\">\n<h2>Overrides</h2>")?;
    for o in &r.overrides {
        let mailbox = o
            .mailbox
            .as_deref()
            .map(|m| format!(" for {}", escape(m)))
            .unwrap_or_default();
        writeln!(
            out,
            "<p>{}: <b>{}</b>{mailbox} by {}, reason: “{}”</p>\n<ul class=\"evidence\">",
            escape(&r.clock(o.at)),
            escape(&o.step),
            escape(&o.operator),
            escape(&o.reason)
        )?;
        for c in &o.overrode {
            writeln!(
                out,
                "<li>overrode {} <b>{}</b>: {}</li>",
                escape(&c.status),
                escape(&c.check),
                escape(&c.evidence)
            )?;
        }
        if o.overrode.is_empty() {
            writeln!(out, "<li>every recorded check held</li>")?;
        }
        writeln!(out, "</ul>")?;
    }
    writeln!(out, "</section>")
}

fn write_alarms(r: &Report, out: &mut String) -> std::fmt::Result {
    if r.alarms.is_empty() {
        return Ok(());
    }
    writeln!(out, "<section id=\"alarms\">\n<h2>Alarms</h2>")?;
    for a in &r.alarms {
        let cleared = match a.cleared_at {
            Some(at) => format!("cleared {}", r.clock(at)),
            None => "still raised".to_string(),
        };
        writeln!(
            out,
            "<h3 class=\"bad\">{}: raised {}, {} ({})</h3>\n<p>{}</p>",
            escape(&a.id),
            escape(&r.clock(a.raised_at)),
            escape(&cleared),
            escape(&duration_text(a.duration_s)),
            escape(&a.evidence)
        )?;
        if a.entries.is_empty() {
            writeln!(
                out,
                "<p class=\"note\">No other journal line between raise and clear.</p>"
            )?;
            continue;
        }
        writeln!(
            out,
            "<div class=\"wide\">\n<table>\n<thead><tr><th>Time</th><th>Kind</th><th>What</th></tr></thead>\n<tbody>"
        )?;
        for e in &a.entries {
            writeln!(
                out,
                "<tr><td class=\"t\">{}</td><td>{}</td><td class=\"data\">{}</td></tr>",
                escape(&r.clock(e.at)),
                escape(&e.kind),
                escape(&e.text)
            )?;
        }
        writeln!(out, "</tbody>\n</table>\n</div>")?;
    }
    writeln!(out, "</section>")
}

fn write_dns(r: &Report, out: &mut String) -> std::fmt::Result {
    if r.dns.is_empty() {
        return Ok(());
    }
    writeln!(out, "<section id=\"dns\">\n<h2>DNS</h2>")?;
    for stage in &r.dns {
        writeln!(
            out,
            "<h3>{} ({})</h3>",
            escape(&stage.title),
            escape(&r.when(stage.at))
        )?;
        if !stage.records.is_empty() {
            writeln!(
                out,
                "<div class=\"wide\">\n<table>\n<thead><tr><th>Server</th><th>Name</th><th>Type</th><th class=\"num\">TTL</th><th>Data</th></tr></thead>\n<tbody>"
            )?;
            for rec in &stage.records {
                writeln!(
                    out,
                    "<tr><td>{}</td><td class=\"data\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"data\">{}</td></tr>",
                    escape(&rec.server),
                    escape(&rec.name),
                    escape(&rec.rtype),
                    escape(&or_dash(rec.ttl)),
                    escape(&or_dash(rec.data.as_deref()))
                )?;
            }
            writeln!(out, "</tbody>\n</table>\n</div>")?;
        }
        if let Some(missing) = &stage.not_recorded {
            writeln!(
                out,
                "<p class=\"note\">Not recorded: {}</p>",
                escape(missing)
            )?;
        }
    }
    writeln!(out, "</section>")
}

fn write_mailboxes(r: &Report, out: &mut String) -> std::fmt::Result {
    if r.mailboxes.is_empty() {
        return Ok(());
    }
    writeln!(out, "<section id=\"mailboxes\">\n<h2>Mailboxes</h2>")?;
    writeln!(
        out,
        "<div class=\"wide\">\n<table>\n<thead><tr><th>Address</th><th class=\"num\">Old messages</th><th class=\"num\">Copied</th><th class=\"num\">Verified</th><th>Skipped</th><th>Last arrival on the old server</th><th>POP3 fetch seen</th></tr></thead>\n<tbody>"
    )?;
    for m in &r.mailboxes {
        let skipped = skipped_text(m);
        let bad = m.skipped.unwrap_or(0) > 0 || m.old_changed_after_copy;
        let arrival = match (m.last_old_arrival, m.old_changed_after_copy) {
            (Some(at), true) => format!("{} (after the last copy)", r.clock(at)),
            (at, _) => r.when(at),
        };
        writeln!(
            out,
            "<tr{}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if bad { " class=\"bad\"" } else { "" },
            escape(&m.address),
            or_dash(m.old_messages),
            m.copied,
            or_dash(m.verified),
            escape(&skipped),
            escape(&arrival),
            if m.pop3_fetch_seen == Some(true) {
                "yes"
            } else {
                "not seen"
            }
        )?;
    }
    writeln!(out, "</tbody>\n</table>\n</div>\n</section>")
}
