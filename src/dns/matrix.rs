//! The DNS matrix as text: names and types as rows, servers as columns, each
//! cell the answer in short with its TTL. Server text is sanitised first.

use crate::dns::mx;
use crate::dns::query::{Answer, AnswerStatus, Rtype, fqdn};
use crate::dns::watch::{DnsSnapshot, Role, questions};
use crate::plan::Plan;
use crate::sanitize::sanitize;

/// The narrowest a server column gets; below it the matrix is wider than `width`.
const MIN_CELL: usize = 14;

/// Renders the snapshot for `cutover dns` and `status` (at most `width`
/// columns when the servers fit at all).
pub fn render_matrix(snapshot: &DnsSnapshot, plan: &Plan, width: usize) -> String {
    let apex = fqdn(&plan.domain);
    let rows: Vec<(String, Rtype)> = questions(plan);
    let labels: Vec<String> = rows
        .iter()
        .map(|(name, rtype)| format!("{} {}", relative(name, &apex), rtype.as_str()))
        .collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 1;
    let columns = snapshot.servers.len().max(1);
    let cell_width = (width.saturating_sub(label_width) / columns)
        .saturating_sub(1)
        .max(MIN_CELL);

    let mut out = String::new();
    out.push_str(&format!(
        "DNS for {} — round {}, measured {}\n",
        plan.domain,
        snapshot.round,
        snapshot.measured_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    ));
    let mut header = pad("", label_width);
    let mut roles = pad("", label_width);
    for server in &snapshot.servers {
        header.push_str(&pad(&server.address.to_string(), cell_width));
        header.push(' ');
        let role = match server.role {
            Role::Authoritative => "authoritative",
            Role::Resolver => "resolver",
        };
        roles.push_str(&pad(role, cell_width));
        roles.push(' ');
    }
    out.push_str(header.trim_end());
    out.push('\n');
    out.push_str(roles.trim_end());
    out.push('\n');
    for ((name, rtype), label) in rows.iter().zip(&labels) {
        let mut line = pad(label, label_width);
        for server in &snapshot.servers {
            let cell = match server.answer(name, *rtype) {
                Some(answer) => short(answer, plan),
                None => "-".to_string(),
            };
            line.push_str(&pad(&cell, cell_width));
            line.push(' ');
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if snapshot.servers.is_empty() {
        out.push_str(
            "No server to ask: the plan lists no resolvers and no authoritative servers.\n",
        );
    }
    if let Some(why) = &snapshot.discovery_error {
        out.push_str(&format!(
            "Authoritative servers not found: {}\n",
            sanitize(why)
        ));
    }
    if let Some(policy) = crate::dns::facts::dmarc_policy(plan, snapshot) {
        out.push_str(&format!("DMARC policy: p={}\n", sanitize(&policy)));
    }
    if let Some(sts) = &snapshot.mta_sts {
        match (&sts.policy, &sts.error) {
            (Some(policy), _) => {
                let mode = crate::dns::mta_sts::parse_policy(policy)
                    .map(|p| p.mode.as_str().to_string())
                    .unwrap_or_else(|e| e.to_string());
                out.push_str(&format!("MTA-STS policy: {}\n", sanitize(&mode)));
            }
            (None, Some(error)) => out.push_str(&format!(
                "MTA-STS policy not fetched: {}\n",
                sanitize(error)
            )),
            (None, None) => {}
        }
    }
    out
}

/// A name relative to the apex: `@` for the apex itself, `www` for `www.example.com.`.
pub fn relative(name: &str, apex: &str) -> String {
    if name.eq_ignore_ascii_case(apex) {
        "@".to_string()
    } else {
        name.strip_suffix(&format!(".{apex}"))
            .unwrap_or(name)
            .to_string()
    }
}

/// One cell: the answer in short, then its TTL.
fn short(answer: &Answer, plan: &Plan) -> String {
    match answer.status {
        AnswerStatus::Ok => format!("{} {}", summary(answer, plan), answer.ttl),
        AnswerStatus::Nodata => "(none)".to_string(),
        other => other.as_str().to_string(),
    }
}

/// What an answer says, in a few words (sanitised): `old mx1.old.example.`, the TXT text, `serial 7`.
pub fn summary(answer: &Answer, plan: &Plan) -> String {
    let body = match answer.rtype {
        Rtype::MX => {
            let state = mx::classify(&answer.records, &plan.old.mx, &plan.new.mx);
            let hosts: Vec<String> = mx::hosts(&answer.records).into_iter().collect();
            format!("{} {}", state.as_str(), hosts.join(","))
        }
        Rtype::TXT => {
            let first = answer.records.first().map(String::as_str).unwrap_or("");
            if answer.records.len() > 1 {
                format!("{}×: {first}", answer.records.len())
            } else {
                first.to_string()
            }
        }
        Rtype::SOA => answer
            .records
            .first()
            .and_then(|r| r.split_whitespace().nth(2))
            .map(|serial| format!("serial {serial}"))
            .unwrap_or_default(),
        _ => answer.records.join(","),
    };
    sanitize(&body)
}

/// `text` cut or padded to exactly `width` characters; a cut ends in `…`.
/// The TTL at the end of a cell survives the cut.
fn pad(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        let mut s = text.to_string();
        s.extend(std::iter::repeat_n(' ', width - count));
        return s;
    }
    // Keep the last word (the TTL) visible: "v=spf1 include:…  300".
    let (head, tail) = match text.rsplit_once(' ') {
        Some((h, t)) if t.chars().count() + 2 < width => (h, format!(" {t}")),
        _ => (text, String::new()),
    };
    let room = width.saturating_sub(tail.chars().count() + 1);
    let mut s: String = head.chars().take(room).collect();
    s.push('…');
    s.push_str(&tail);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_cells_keep_their_ttl() {
        assert_eq!(pad("abc", 5), "abc  ");
        assert_eq!(
            pad("v=spf1 include:_spf.old.example 300", 16),
            "v=spf1 incl… 300"
        );
        assert_eq!(pad("abcdefgh", 4).chars().count(), 4);
    }
}
