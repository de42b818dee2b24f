use super::*;
use std::collections::BTreeMap;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A zone as receivers see it: a name absent is NXDOMAIN, a type absent
/// at a present name is NODATA, a name listed as failing times out.
#[derive(Default)]
struct Zone {
    names: BTreeMap<String, Vec<(Rtype, Vec<String>)>>,
    failing: Vec<String>,
}

impl Zone {
    fn with(mut self, name: &str, rtype: Rtype, records: &[&str]) -> Zone {
        self.names
            .entry(name.to_string())
            .or_default()
            .push((rtype, s(records)));
        self
    }

    fn txt(self, name: &str, record: &str) -> Zone {
        self.with(name, Rtype::TXT, &[record])
    }

    fn failing(mut self, name: &str) -> Zone {
        self.failing.push(name.to_string());
        self
    }

    fn lookup(&self, name: &str, rtype: Rtype) -> Fetched {
        if self.failing.iter().any(|f| f == name) {
            return Fetched::Unknown;
        }
        match self.names.get(name) {
            None => Fetched::NxDomain,
            Some(sets) => match sets.iter().find(|(t, _)| *t == rtype) {
                Some((_, records)) => Fetched::Records(records.clone()),
                None => Fetched::NoData,
            },
        }
    }

    fn judge(&self, record: &str) -> SpfVerdict {
        evaluate("example.com", record, &|n: &str, t: Rtype| {
            self.lookup(n, t)
        })
    }
}

/// A verdict with exactly one error, at `term` in `position`, whose reason contains `says`.
fn assert_one_error(v: &SpfVerdict, term: &str, position: usize, says: &str) {
    assert_eq!(v.result, SpfResult::Permerror, "{v:#?}");
    assert_eq!(v.valid, Some(false));
    assert_eq!(v.errors.len(), 1, "{v:#?}");
    let e = &v.errors[0];
    assert_eq!((e.term.as_str(), e.position), (term, position), "{v:#?}");
    assert!(e.reason.contains(says), "{:?} lacks {says:?}", e.reason);
}

fn google() -> Zone {
    Zone::default()
        .txt(
            "_spf.google.com",
            "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com ~all",
        )
        .txt(
            "_netblocks.google.com",
            "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:108.177.8.0/21 ip4:173.194.0.0/16 ip4:209.85.128.0/17 ip4:216.58.192.0/19 ip4:216.239.32.0/19 ~all",
        )
        .txt(
            "_netblocks2.google.com",
            "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2607:f8b0:4000::/36 ip6:2800:3f0:4000::/36 ip6:2a00:1450:4000::/36 ip6:2c0f:fb50:4000::/36 ~all",
        )
        .txt(
            "_netblocks3.google.com",
            "v=spf1 ip4:172.217.0.0/19 ip4:172.217.32.0/20 ip4:172.217.128.0/19 ip4:108.177.96.0/19 ip4:35.191.0.0/16 ip4:130.211.0.0/22 ~all",
        )
        .txt(
            "spf.protection.outlook.com",
            "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:52.102.0.0/16 ip4:52.103.0.0/17 ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 ip6:2a01:111:f403:8000::/51 ip6:2a01:111:f403:c000::/51 ip6:2a01:111:f403:f000::/52 -all",
        )
        .with("example.com", Rtype::MX, &["10 mx1.example.com.", "20 mx2.example.com."])
        .with("example.com", Rtype::A, &["192.0.2.10"])
        .with("mail.example.com", Rtype::AAAA, &["2001:db8::25"])
}

#[test]
fn real_world_trees_pass_with_their_counts() {
    let zone = google();
    let v = zone.judge("v=spf1 include:_spf.google.com ~all");
    assert_eq!(
        (v.result, v.lookups, v.void_lookups),
        (SpfResult::Pass, 4, 0),
        "{v:#?}"
    );
    assert_eq!(v.valid, Some(true));
    let v = zone.judge(
        "v=spf1 mx a a:mail.example.com include:_spf.google.com include:spf.protection.outlook.com -all",
    );
    assert_eq!(
        (v.result, v.lookups, v.void_lookups),
        (SpfResult::Pass, 8, 0),
        "{v:#?}"
    );
    let v = zone.judge("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all");
    assert_eq!((v.result, v.lookups), (SpfResult::Pass, 0));
}

#[test]
fn an_include_without_a_usable_record_is_a_permerror() {
    let zone = google()
        .txt("nospf.example", "google-site-verification=abc")
        .txt("broken.example", "v=spf1 include +all")
        .with("twice.example", Rtype::TXT, &["v=spf1 -all", "v=spf1 ~all"])
        .with("notxt.example", Rtype::A, &["192.0.2.1"]);
    let v = zone.judge("v=spf1 include:_spf.google.com include:nospf.example -all");
    assert_one_error(
        &v,
        "include:nospf.example",
        2,
        "nospf.example publishes no SPF record: an include of it is a permerror (RFC 7208 5.2)",
    );
    let v = zone.judge("v=spf1 include:broken.example -all");
    assert_one_error(
        &v,
        "include:broken.example",
        1,
        "the SPF record of broken.example is broken (term 1 \"include\": include needs a domain",
    );
    let v = zone.judge("v=spf1 include:gone.example -all");
    assert_one_error(
        &v,
        "include:gone.example",
        1,
        "gone.example does not exist (NXDOMAIN)",
    );
    assert_eq!(v.void_lookups, 1);
    let v = zone.judge("v=spf1 include:notxt.example -all");
    assert_one_error(
        &v,
        "include:notxt.example",
        1,
        "notxt.example has no TXT record",
    );
    let v = zone.judge("v=spf1 include:twice.example -all");
    assert_one_error(&v, "include:twice.example", 1, "publishes 2 SPF records");
    let v = zone.judge("v=spf1 a redirect=nospf.example");
    assert_one_error(
        &v,
        "redirect=nospf.example",
        2,
        "a redirect= to it is a permerror (RFC 7208 6.1)",
    );
}

#[test]
fn errors_deep_in_includes_name_the_chain_at_the_top_term() {
    let zone = google()
        .txt("_spf.a.example", "v=spf1 include:_spf.b.example -all")
        .txt(
            "_spf.b.example",
            "v=spf1 ip4:192.0.2.0/24 include:gone.example -all",
        );
    let v = zone.judge("v=spf1 mx include:_spf.a.example -all");
    assert_one_error(
        &v,
        "include:_spf.a.example",
        2,
        "via include:_spf.a.example → include:_spf.b.example, term 2 \"include:gone.example\": gone.example does not exist",
    );
}

#[test]
fn void_lookups_count_for_a_mx_and_exists() {
    let zone = google().with("nomx.example", Rtype::A, &["192.0.2.1"]);
    let v = zone.judge("v=spf1 a:void1.example mx:nomx.example -all");
    assert_eq!((v.result, v.void_lookups), (SpfResult::Pass, 2), "{v:#?}");
    let v = zone.judge("v=spf1 a:void1.example mx:nomx.example exists:void3.example -all");
    assert_one_error(
        &v,
        "exists:void3.example",
        3,
        "void3.example does not exist (NXDOMAIN): the third lookup that finds nothing",
    );
    assert_eq!(v.void_lookups, 3);
    // `a` is void only when the name has neither A nor AAAA.
    let v = zone
        .judge("v=spf1 a:mail.example.com a:nomx.example mx:nomx.example exists:void.example -all");
    assert_eq!(v.void_lookups, 2, "{v:#?}");
    // An a term without a domain looks up the record's own domain, here in an include.
    let zone = zone.txt("_spf.x.example", "v=spf1 a mx -all");
    let v = zone.judge("v=spf1 include:_spf.x.example exists:gone.example -all");
    assert_one_error(
        &v,
        "exists:gone.example",
        2,
        "the third lookup that finds nothing",
    );
}

#[test]
fn an_mx_term_naming_eleven_hosts_is_a_permerror() {
    let hosts: Vec<String> = (1..=11)
        .map(|i| format!("{i} mx{i}.big.example."))
        .collect();
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let zone = google().with("big.example", Rtype::MX, &hosts).with(
        "ten.example",
        Rtype::MX,
        &hosts[..10],
    );
    let v = zone.judge("v=spf1 mx:ten.example mx:big.example -all");
    assert_one_error(&v, "mx:big.example", 2, "big.example has 11 MX hosts");
}

/// l1 includes l2 ... l10 includes l11: eleven lookups from one include.
fn chain(depth: usize) -> Zone {
    let mut zone = google();
    for i in 1..depth {
        zone = zone.txt(
            &format!("l{i}.example"),
            &format!("v=spf1 include:l{}.example -all", i + 1),
        );
    }
    zone.txt(&format!("l{depth}.example"), "v=spf1 ip4:192.0.2.1 -all")
}

#[test]
fn an_eleven_deep_include_chain_fails_not_warns() {
    let v = chain(11).judge("v=spf1 include:l1.example -all");
    assert_one_error(
        &v,
        "include:l1.example",
        1,
        "term 1 \"include:l11.example\": this is DNS lookup 11",
    );
    assert!(
        v.errors[0]
            .reason
            .starts_with("via include:l1.example → include:l2.example → "),
        "{v:#?}"
    );
    assert_eq!(v.lookups, 11);
    let v = chain(10).judge("v=spf1 include:l1.example -all");
    assert_eq!((v.result, v.lookups), (SpfResult::Pass, 10), "{v:#?}");
    // Counted across siblings too: 10 + 1.
    let v = chain(10).judge("v=spf1 include:l1.example a -all");
    assert_one_error(&v, "a", 2, "this is DNS lookup 11");
}

#[test]
fn redirect_is_ignored_when_the_record_has_all() {
    let zone = chain(10).txt("_spf.redirect.example", "v=spf1 a -all");
    let v = zone.judge("v=spf1 a include:l1.example -all redirect=l1.example");
    assert_eq!(
        v.result,
        SpfResult::Permerror,
        "11 lookups from the mechanisms alone"
    );
    let v = zone.judge("v=spf1 a -all redirect=l1.example");
    assert_eq!((v.result, v.lookups), (SpfResult::Warn, 1), "{v:#?}");
    assert_eq!(v.warnings[0].position, 3);
    assert!(v.warnings[0].reason.contains("RFC 7208 6.1"));
    let v = zone.judge("v=spf1 a redirect=_spf.redirect.example");
    assert_eq!((v.result, v.lookups), (SpfResult::Pass, 3), "{v:#?}");
}

#[test]
fn loops_are_permerrors_naming_the_loop() {
    let zone = google()
        .txt("a.example", "v=spf1 include:b.example -all")
        .txt("b.example", "v=spf1 redirect=a.example");
    let v = zone.judge("v=spf1 include:a.example -all");
    assert_one_error(
        &v,
        "include:a.example",
        1,
        "a loop: example.com → a.example → b.example → a.example",
    );
    let v = zone.judge("v=spf1 include:example.com -all");
    assert_one_error(
        &v,
        "include:example.com",
        1,
        "a loop: example.com → example.com",
    );
    // The same include twice, side by side, is no loop.
    let v = zone.judge("v=spf1 include:_spf.google.com include:_spf.google.com -all");
    assert_eq!((v.result, v.lookups), (SpfResult::Pass, 8));
}

#[test]
fn a_timeout_is_unknown_never_a_fail() {
    let zone = google().failing("slow.example");
    let v = zone.judge("v=spf1 include:slow.example -all");
    assert_eq!((v.result, v.valid), (SpfResult::Temperror, None), "{v:#?}");
    assert_eq!(v.unresolved[0].term, "include:slow.example");
    assert!(v.errors.is_empty());
    let v = zone.judge("v=spf1 a:slow.example mx:slow.example exists:slow.example -all");
    assert_eq!(
        (v.result, v.unresolved.len(), v.void_lookups),
        (SpfResult::Temperror, 3, 0)
    );
    // A certain permerror stays one.
    let v = zone.judge("v=spf1 include:slow.example a a a a a a a a a a -all");
    assert_one_error(&v, "a", 11, "this is DNS lookup 11");
}

#[test]
fn ptr_and_macros() {
    let zone = google();
    let v = zone.judge("v=spf1 ptr -all");
    assert_eq!((v.result, v.lookups), (SpfResult::Warn, 1));
    assert_eq!(
        (v.warnings[0].term.as_str(), v.warnings[0].position),
        ("ptr", 1)
    );
    assert!(v.warnings[0].reason.contains("RFC 7208 5.5"));
    // A term with a macro counts one lookup and is not resolved.
    let nothing = |_: &str, _: Rtype| -> Fetched { panic!("looked up a macro") };
    let v = evaluate(
        "example.com",
        "v=spf1 exists:%{i}._spf.mta.salesforce.com a:%{d}.example.com -all",
        &nothing,
    );
    assert_eq!((v.result, v.lookups), (SpfResult::Pass, 2), "{v:#?}");
    let v = evaluate(
        "example.com",
        "v=spf1 include:%{ir}.%{v}._spf.%{d2} -all",
        &nothing,
    );
    assert_eq!((v.result, v.lookups), (SpfResult::Warn, 1));
    assert!(v.warnings[0].reason.contains("depends on the sender"));
}

#[test]
fn syntax_errors_and_other_remarks() {
    let zone = google();
    let v = zone.judge("v=spf1 a/33 mx -all");
    assert_one_error(&v, "a/33", 1, "the IPv4 prefix length /33 is over 32");
    let v = zone.judge("v=spf1 a mx\r\n-all");
    assert_one_error(&v, "mx\\u{d}\\u{a}-all", 2, "a carriage return");
    let v = zone.judge("v=spf1 -all include:_spf.google.com");
    assert_eq!((v.result, v.lookups), (SpfResult::Warn, 0), "{v:#?}");
    assert_eq!(v.warnings[0].position, 2);
    let v = zone.judge("v=spf1 include=_spf.google.com -all");
    assert_eq!(v.result, SpfResult::Warn);
    assert!(
        v.warnings[0]
            .reason
            .contains("\"include:\" was probably meant")
    );
}

/// Issue 11's list of records receivers reject and cutover used to pass:
/// each a permerror naming its term and position.
#[test]
fn the_records_cutover_used_to_pass_are_permerrors() {
    let zone = google();
    for (record, term, position) in [
        ("v=spf1 ip4:1.2.3.4/33 -all", "ip4:1.2.3.4/33", 1),
        ("v=spf1 mx ip4:1.2.3 -all", "ip4:1.2.3", 2),
        ("v=spf1 ip6::CAFE::BABE -all", "ip6::CAFE::BABE", 1),
        ("v=spf1 a/33 -all", "a/33", 1),
        ("v=spf1 mx//129 -all", "mx//129", 1),
        (
            "v=spf1 exists:mail.example.com/24 -all",
            "exists:mail.example.com/24",
            1,
        ),
        ("v=spf1 ptr/0 -all", "ptr/0", 1),
        ("v=spf1 a:foo-bar -all", "a:foo-bar", 1),
        ("v=spf1 a:abc.123 -all", "a:abc.123", 1),
        ("v=spf1 a:example.-com -all", "a:example.-com", 1),
        ("v=spf1 a:example.com:8080 -all", "a:example.com:8080", 1),
        (
            "v=spf1 -exists:%(ir).sbl.example.org",
            "-exists:%(ir).sbl.example.org",
            1,
        ),
        ("v=spf1 a:%{a}.example.com -all", "a:%{a}.example.com", 1),
        ("v=spf1 1up=foo -all", "1up=foo", 1),
        ("v=spf1 -all exp=", "exp=", 2),
        (
            "v=spf1 redirect=a.example redirect=b.example",
            "redirect=b.example",
            2,
        ),
        ("v=spf1 a\r\n-all", "a\\u{d}\\u{a}-all", 1),
        ("v=spf1 mx\n-all", "mx\\u{a}-all", 1),
        ("v=spf1 include -all", "include", 1),
    ] {
        let v = zone.judge(record);
        assert_eq!(v.result, SpfResult::Permerror, "{record:?}: {v:#?}");
        assert_eq!(v.errors.len(), 1, "{record:?}: {v:#?}");
        assert_eq!(
            (v.errors[0].term.as_str(), v.errors[0].position),
            (term, position),
            "{record:?}"
        );
    }
}

#[test]
fn the_verdict_serialises_as_status_json_wants_it() {
    let v = google().judge("v=spf1 a/33 -all");
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["lookups"], 0);
    assert_eq!(json["void_lookups"], 0);
    assert_eq!(json["errors"][0]["term"], "a/33");
    assert_eq!(json["errors"][0]["position"], 1);
    assert!(json["errors"][0]["reason"].is_string());
    assert_eq!(json["result"], "permerror");
    let v = google()
        .failing("x.example")
        .judge("v=spf1 include:x.example -all");
    assert!(serde_json::to_value(&v).unwrap()["valid"].is_null());
}

#[test]
fn merged_record_keeps_old_adds_new_before_all() {
    let old = s(&["include:_spf.old.example"]);
    let new = s(&["include:_spf.new.example"]);
    assert_eq!(
        merged_spf(Some("v=spf1 include:_spf.old.example ~all"), &old, &new),
        "v=spf1 include:_spf.old.example include:_spf.new.example ~all"
    );
    assert_eq!(
        merged_spf(None, &old, &new),
        "v=spf1 include:_spf.old.example include:_spf.new.example ~all"
    );
    // Already merged: unchanged.
    let merged = "v=spf1 include:_spf.old.example include:_spf.new.example ~all";
    assert_eq!(merged_spf(Some(merged), &old, &new), merged);
    assert_eq!(
        final_spf(Some(merged), &old, &new),
        "v=spf1 include:_spf.new.example ~all"
    );
    assert_eq!(
        merged_spf(
            Some("v=spf1 ip4:192.0.2.1 redirect=_spf.x.example"),
            &old,
            &new
        ),
        "v=spf1 ip4:192.0.2.1 include:_spf.old.example include:_spf.new.example redirect=_spf.x.example"
    );
}

#[test]
fn records_to_publish_always_pass_the_syntax() {
    let old = s(&["include:_spf.old.example"]);
    let new = s(&["include:_spf.new.example"]);
    // A broken current record: its broken terms are left out and said so.
    let m = merge(
        Some(
            "v=spf1 a/33 mx\r\ninclude:_spf.old.example -all redirect=x.example redirect=y.example",
        ),
        &old,
        &new,
    );
    assert_eq!(
        m.record,
        "v=spf1 mx include:_spf.old.example include:_spf.new.example -all redirect=x.example"
    );
    assert_eq!(m.dropped, s(&["a/33", "redirect=y.example"]));
    assert!(parse(&m.record).is_ok());
    // Sides that redirect: two redirects cannot stand in one record.
    let old = s(&["redirect=_spf.old.example"]);
    let new = s(&["redirect=_spf.new.example"]);
    let current = "v=spf1 redirect=_spf.old.example";
    let merged = merged_spf(Some(current), &old, &new);
    assert_eq!(
        merged,
        "v=spf1 include:_spf.old.example include:_spf.new.example redirect=_spf.old.example"
    );
    assert!(parse(&merged).is_ok());
    assert_eq!(
        final_spf(Some(&merged), &old, &new),
        "v=spf1 include:_spf.new.example ~all"
    );
    assert_eq!(
        final_spf(None, &old, &new),
        "v=spf1 include:_spf.new.example ~all"
    );
    // A term both sides name stays at the end.
    let both = s(&["mx"]);
    assert_eq!(
        final_spf(
            Some("v=spf1 mx include:_spf.old.example -all"),
            &s(&["mx", "include:_spf.old.example"]),
            &both
        ),
        "v=spf1 mx -all"
    );
}

#[test]
fn an_over_limit_merge_names_the_largest_includes() {
    let zone = chain(6).txt(
        "_spf.new.example",
        "v=spf1 include:_spf.google.com a mx -all",
    );
    let merged = merged_spf(
        Some("v=spf1 include:l1.example ~all"),
        &s(&["include:l1.example"]),
        &s(&["include:_spf.new.example"]),
    );
    let lookup = |n: &str, t: Rtype| zone.lookup(n, t);
    let over = over_limit("example.com", &merged, &lookup).expect("over the limit");
    // 6 + 7: past the limit nothing more is fetched, but the terms in hand still count.
    assert_eq!(over.lookups, 13);
    assert_eq!(
        over.largest,
        vec![
            IncludeCost {
                term: "include:_spf.new.example".into(),
                lookups: 7,
                complete: true
            },
            IncludeCost {
                term: "include:l1.example".into(),
                lookups: 6,
                complete: true
            },
        ]
    );
    let text = over.describe();
    assert!(
        text.contains("include:_spf.new.example (7 lookups), include:l1.example (6 lookups)"),
        "{text}"
    );
    assert!(
        over_limit(
            "example.com",
            "v=spf1 include:_spf.google.com -all",
            &lookup
        )
        .is_none()
    );
}

#[test]
fn the_analysis_flags_permissive_all_and_two_records() {
    let old = s(&["include:_spf.old.example"]);
    let new = s(&["include:_spf.new.example"]);
    let unknown = |_: &str, _: Rtype| Fetched::Unknown;
    let txts = s(&[
        "v=spf1 include:_spf.old.example +all",
        "google-site-verification=x",
    ]);
    let a = analyse("example.com", &txts, &old, &new, &unknown);
    assert_eq!(a.record_count, 1);
    assert_eq!(a.permissive_all.as_deref(), Some("+all"));
    assert!(a.missing_old.is_empty());
    assert_eq!(a.missing_new, new);
    assert_eq!(
        a.verdict.as_ref().map(|v| v.result),
        Some(SpfResult::Temperror)
    );
    let two = s(&["v=spf1 -all", "v=spf1 include:_spf.new.example -all"]);
    assert_eq!(
        analyse("example.com", &two, &old, &new, &unknown).record_count,
        2
    );
    let one = analyse("example.com", &s(&["v=spf1 -all"]), &old, &new, &unknown);
    assert_eq!(
        (one.record_count, one.verdict.and_then(|v| v.valid)),
        (1, Some(true))
    );
}

#[test]
fn the_records_to_judge_cover_what_will_be_published() {
    let roots = records_to_judge(
        &s(&["v=spf1 include:_spf.old.example ~all"]),
        &s(&["include:_spf.old.example"]),
        &s(&["include:_spf.new.example"]),
    );
    for wanted in [
        "v=spf1 include:_spf.old.example ~all",
        "v=spf1 include:_spf.old.example include:_spf.new.example ~all",
        "v=spf1 include:_spf.new.example ~all",
        "v=spf1 include:_spf.new.example",
    ] {
        assert!(roots.iter().any(|r| r == wanted), "{wanted}: {roots:#?}");
    }
}

proptest::proptest! {
    #[test]
    fn nothing_panics_and_what_to_publish_parses(
        text in "\\PC{0,200}|v=spf1( [-+~?]?(all|include:[a-z.]{0,8}|a|mx|ip4:[0-9./]{0,12}|redirect=[a-z.]{0,6}|exp=[a-z.]{0,6}|[a-z=:/%\\r\\n\\t]{0,6})){0,12}",
        old in "\\PC{0,30}|(include:|redirect=|exp=|a:|mx)[a-z.]{0,10}",
        new in "\\PC{0,30}|(include:|redirect=|exp=|a:|mx)[a-z.]{0,10}",
    ) {
        let old = vec![old];
        let new = vec![new];
        let echo = |_: &str, _: Rtype| Fetched::Records(vec![text.clone()]);
        let v = evaluate("example.com", &text, &echo);
        for p in v.errors.iter().chain(&v.warnings).chain(&v.unresolved) {
            proptest::prop_assert!(!p.term.chars().any(char::is_control), "{p:?}");
            proptest::prop_assert!(!p.reason.chars().any(char::is_control), "{p:?}");
        }
        let m = merge(Some(&text), &old, &new);
        proptest::prop_assert!(parse(&m.record).is_ok(), "{:?} from {text:?}", m.record);
        proptest::prop_assert!(!m.dropped.iter().any(|d| d.chars().any(char::is_control)));
        let f = final_spf(Some(&text), &old, &new);
        proptest::prop_assert!(parse(&f).is_ok(), "{f:?} from {text:?}");
        proptest::prop_assert!(parse(&merged_spf(None, &old, &new)).is_ok());
        let _ = analyse("example.com", std::slice::from_ref(&text), &old, &new, &echo);
        let _ = over_limit("example.com", &text, &echo);
    }
}
