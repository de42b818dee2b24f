//! The report as Markdown: the same sections as the HTML form, every text escaped so that
//! a `|` cannot split a table cell and no link, image or inline HTML can be formed.

use std::fmt::Write;

use crate::report::model::{Journaled, NO_COPY_BACK, Report, duration_text, or_dash, skipped_text};

/// Escapes Markdown syntax: table pipes, link and image brackets (no `[`, no link), inline
/// HTML and autolinks (`<`), code and emphasis; line breaks become spaces so a cell stays
/// one cell. Parentheses and `#` stay: without a `[` or at a line's start they form nothing.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '|' | '[' | ']' | '<' | '>' | '*' | '_' | '`' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn render(r: &Report) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_all(r, &mut out);
    out
}

fn write_all(r: &Report, out: &mut String) -> std::fmt::Result {
    writeln!(out, "# Migration report: {}\n", escape(&r.domain))?;
    writeln!(out, "{}\n", escape(&r.headline()))?;

    writeln!(out, "## Summary\n")?;
    writeln!(out, "| | |\n|---|---|")?;
    for (label, value, stands_out) in r.summary_rows() {
        match stands_out {
            true => writeln!(out, "| **{}** | **{}** |", escape(&label), escape(&value))?,
            false => writeln!(out, "| {} | {} |", escape(&label), escape(&value))?,
        }
    }

    writeln!(out, "\n## Timeline\n")?;
    writeln!(out, "| Step | Planned | Applied | Done | By | State |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for s in &r.timeline {
        let state = s.state_text();
        writeln!(
            out,
            "| {} — {} | {} | {} | {} | {} | {} |",
            escape(s.id.as_str()),
            escape(&s.title),
            escape(&r.clock(s.planned_start)),
            escape(&r.when(s.applied_at)),
            escape(&r.when(s.done_at)),
            escape(&or_dash(s.by.as_deref())),
            escape(&state)
        )?;
    }
    if r.timeline.iter().any(|s| !s.journaled().is_empty()) {
        writeln!(out, "\n### Evidence, as journaled\n")?;
        for journaled in r.timeline.iter().map(|s| s.journaled()) {
            write_journaled(r, &journaled, out)?;
        }
    }

    write_rollback(r, out)?;

    if !r.overrides.is_empty() {
        writeln!(out, "\n## Overrides\n")?;
        for o in &r.overrides {
            let mailbox = o
                .mailbox
                .as_deref()
                .map(|m| format!(" for {}", escape(m)))
                .unwrap_or_default();
            writeln!(
                out,
                "- {}: **{}**{mailbox} by {}, reason: “{}”",
                escape(&r.clock(o.at)),
                escape(&o.step),
                escape(&o.operator),
                escape(&o.reason)
            )?;
            for c in &o.overrode {
                writeln!(
                    out,
                    "  - overrode {} {}: {}",
                    escape(&c.status),
                    escape(&c.check),
                    escape(&c.evidence)
                )?;
            }
        }
    }

    if !r.alarms.is_empty() {
        writeln!(out, "\n## Alarms\n")?;
        for a in &r.alarms {
            let cleared = match a.cleared_at {
                Some(at) => format!("cleared {}", r.clock(at)),
                None => "still raised".to_string(),
            };
            writeln!(
                out,
                "### {}: raised {}, {cleared} ({})\n",
                escape(&a.id),
                escape(&r.clock(a.raised_at)),
                escape(&duration_text(a.duration_s))
            )?;
            writeln!(out, "{}\n", escape(&a.evidence))?;
            if a.entries.is_empty() {
                writeln!(out, "No other journal line between raise and clear.")?;
            } else {
                writeln!(out, "| Time | Kind | What |\n|---|---|---|")?;
                for e in &a.entries {
                    writeln!(
                        out,
                        "| {} | {} | {} |",
                        escape(&r.clock(e.at)),
                        escape(&e.kind),
                        escape(&e.text)
                    )?;
                }
            }
        }
    }

    if !r.dns.is_empty() {
        writeln!(out, "\n## DNS\n")?;
        for stage in &r.dns {
            writeln!(
                out,
                "### {} ({})\n",
                escape(&stage.title),
                escape(&r.when(stage.at))
            )?;
            if !stage.records.is_empty() {
                writeln!(
                    out,
                    "| Server | Name | Type | TTL | Data |\n|---|---|---|---|---|"
                )?;
                for rec in &stage.records {
                    writeln!(
                        out,
                        "| {} | {} | {} | {} | {} |",
                        escape(&rec.server),
                        escape(&rec.name),
                        escape(&rec.rtype),
                        escape(&or_dash(rec.ttl)),
                        escape(&or_dash(rec.data.as_deref()))
                    )?;
                }
                writeln!(out)?;
            }
            if let Some(missing) = &stage.not_recorded {
                writeln!(out, "Not recorded: {}\n", escape(missing))?;
            }
        }
    }

    if !r.mailboxes.is_empty() {
        writeln!(out, "\n## Mailboxes\n")?;
        writeln!(
            out,
            "| Address | Old messages | Copied | Verified | Skipped | Last arrival on the old server | POP3 fetch seen |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---|---|---|")?;
        for m in &r.mailboxes {
            let skipped = skipped_text(m);
            let arrival = match (m.last_old_arrival, m.old_changed_after_copy) {
                (Some(at), true) => format!("{} (after the last copy)", r.clock(at)),
                (at, _) => r.when(at),
            };
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
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
    }

    if !r.canaries.is_empty() {
        writeln!(out, "\n## Mail flow (canaries)\n")?;
        writeln!(
            out,
            "| Sent | Route | To | Landed | Folder | Delay | Verdict | Evidence |"
        )?;
        writeln!(out, "|---|---|---|---|---|---:|---|---|")?;
        for c in &r.canaries {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.clock(c.sent_at),
                c.route.describe(),
                escape(c.target.as_deref().unwrap_or("—")),
                c.landed.as_str(),
                escape(c.folder.as_deref().unwrap_or("—")),
                c.delay_s
                    .map(|d| format!("{d} s"))
                    .unwrap_or_else(|| "—".into()),
                c.verdict.mark(),
                escape(&c.evidence)
            )?;
        }
        let judged: Vec<&crate::canary::CanaryResult> = r
            .canaries
            .iter()
            .filter(|c| c.auth.is_some() || c.auth_note.is_some())
            .collect();
        if !judged.is_empty() {
            writeln!(
                out,
                "\nAuthentication of the outbound canaries, as received at the external mailbox:\n"
            )?;
            for c in judged {
                let verdict = c
                    .auth
                    .as_ref()
                    .map(|a| a.one_line())
                    .or_else(|| c.auth_note.clone())
                    .unwrap_or_default();
                writeln!(out, "- {}: {}", r.clock(c.sent_at), escape(&verdict))?;
            }
        }
    }

    if let Some(a) = &r.archive {
        writeln!(out, "\n## Archive of the old server\n")?;
        writeln!(out, "{}\n", escape(&a.standing(r)))?;
        writeln!(out, "| | |\n|---|---|")?;
        writeln!(out, "| Path | {} |", escape(&a.path))?;
        writeln!(out, "| Manifest SHA-256 | {} |", escape(&a.manifest_sha256))?;
        for p in &a.problems {
            writeln!(out, "| Problem | {} |", escape(p))?;
        }
        writeln!(
            out,
            "\n| Address | Folders | Messages | Bytes | Old INBOX covered below UID | Old server's messages |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
        for m in &a.mailboxes {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                escape(&m.address),
                m.folders,
                m.messages,
                m.bytes,
                or_dash(m.inbox_uidnext),
                or_dash(m.old_messages)
            )?;
        }
    }
    Ok(())
}

/// A step's journaled evidence as a list item (how, when, by whom) with each check below;
/// nothing when none was journaled.
fn write_journaled(r: &Report, s: &Journaled<'_>, out: &mut String) -> std::fmt::Result {
    if s.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "- **{}** ({} {} by {})",
        escape(s.id.as_str()),
        escape(&or_dash(s.how)),
        escape(&r.when(s.done_at)),
        escape(&or_dash(s.by))
    )?;
    for c in s.evidence {
        writeln!(
            out,
            "  - {} {}: {}",
            escape(&c.status),
            escape(&c.check),
            escape(&c.evidence)
        )?;
    }
    if let Some(observed) = s.observed {
        writeln!(out, "  - {}", escape(observed))?;
    }
    Ok(())
}

/// The way back: its decisions, its steps with their evidence, the copy back per mailbox.
fn write_rollback(r: &Report, out: &mut String) -> std::fmt::Result {
    let Some(rb) = &r.rollback else {
        return Ok(());
    };
    writeln!(out, "\n## Rollback\n")?;
    writeln!(out, "{}\n", escape(&rb.standing))?;
    writeln!(out, "| When | Decision | By | Reason |\n|---|---|---|---|")?;
    for d in &rb.decisions {
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            escape(&r.clock(d.at)),
            escape(&d.label()),
            escape(&d.operator),
            escape(&d.reason)
        )?;
    }
    writeln!(out, "\n| Step | Applied | Done | By | State |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for s in &rb.steps {
        writeln!(
            out,
            "| {} — {} | {} | {} | {} | {} |",
            escape(s.id.as_str()),
            escape(&s.title),
            escape(&r.when(s.applied_at)),
            escape(&r.when(s.done_at)),
            escape(&or_dash(s.by.as_deref())),
            escape(&s.state_text())
        )?;
    }
    for journaled in rb.steps.iter().map(|s| s.journaled()) {
        if !journaled.is_empty() {
            writeln!(out)?;
        }
        write_journaled(r, &journaled, out)?;
    }
    writeln!(out, "\n### Copy back to the old server\n")?;
    let copied = r.copied_back();
    if copied.is_empty() {
        return writeln!(out, "{}", escape(NO_COPY_BACK));
    }
    writeln!(
        out,
        "| Address | Copied back | Still missing on the old server | State |\n|---|---:|---:|---|"
    )?;
    for m in copied {
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            escape(&m.address),
            or_dash(m.copied_back),
            or_dash(m.copy_back_missing),
            escape(&or_dash(m.copy_back_state.as_deref()))
        )?;
    }
    Ok(())
}
