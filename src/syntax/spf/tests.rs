use super::*;

/// The one error of a record that has exactly one.
fn error(record: &str) -> SyntaxError {
    match parse(record) {
        Ok(r) => panic!("{record:?} parsed: {r:?}"),
        Err(SyntaxErrors(errors)) => {
            assert_eq!(errors.len(), 1, "{record:?}: {errors:#?}");
            errors.into_iter().next().unwrap()
        }
    }
}

fn assert_error(record: &str, term: &str, position: usize, check: impl Fn(&Reason) -> bool) {
    let e = error(record);
    assert_eq!(e.term, term, "{record:?}: {e}");
    assert_eq!(e.position, position, "{record:?}: {e}");
    assert!(check(&e.reason), "{record:?}: unexpected reason {e}");
}

#[test]
fn the_rfc_examples_parse() {
    // RFC 7208 appendix A and sections 5, 6, 7 and 8.
    for record in [
        "v=spf1 +all",
        "v=spf1 a -all",
        "v=spf1 a:example.org -all",
        "v=spf1 mx -all",
        "v=spf1 mx:example.org -all",
        "v=spf1 mx mx:example.org -all",
        "v=spf1 mx/30 mx:example.org/30 -all",
        "v=spf1 ptr -all",
        "v=spf1 ip4:192.0.2.128/28 -all",
        "v=spf1 mx -all exp=explain._spf.%{d}",
        "v=spf1 -all",
        "v=spf1 a:authorized-spf.example.com -all",
        "v=spf1 mx:example.com -all",
        "v=spf1 ip4:192.0.2.0/24 mx -all",
        "v=spf1 -ip4:192.0.2.0/24 a/24 mx -all",
        "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
        "v=spf1 include:example.com include:example.net -all",
        "v=spf1 redirect=_spf.example.com",
        "v=spf1 mx -all redirect=_spf.example.com",
        "v=spf1 -exists:%{ir}.sbl.example.org",
        "v=spf1 a:%{d}",
        "v=spf1 include:%{ir}.%{v}._spf.%{d2}",
        "v=spf1 include:%{lr-}.lp._spf.%{d2}",
        "v=spf1 include:%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
        "v=spf1 include:%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
        "v=spf1 include:%{d2}.trusted-domains.example.net",
        "v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all",
        "v=spf1 -ip4:192.0.2.0/24 +all",
        "v=spf1 ip6:2001:db8::/32 ip6:::1 ip6:::ffff:192.0.2.1 ip6:1:2:3:4:5:6:7:8/128 -all",
        "v=spf1 a/24//64 mx//64 a:example.com//128 -all",
        "v=spf1 ip4:0.0.0.0/0 ip6:::/0 ?all",
        "V=SPF1 IP4:192.0.2.1 MX:EXAMPLE.COM -ALL",
        "v=spf1",
        "v=spf1 ",
        "v=spf1  a   -all  ",
        "v=spf1 -all foo=bar x-y.z=%{c}%{r}%{t} ra=",
        "v=spf1 a:example.com. -all",
        "v=spf1 a:x.1-2 include:x.1-2. -all",
        "v=spf1 exists:%{i}.%%.%_.%-.example.com -all",
        // Real-world records.
        "v=spf1 include:_spf.google.com ~all",
        "v=spf1 include:spf.protection.outlook.com -all",
        "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:108.177.8.0/21 ip4:173.194.0.0/16 ip4:209.85.128.0/17 ip4:216.58.192.0/19 ip4:216.239.32.0/19 ~all",
        "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2607:f8b0:4000::/36 ip6:2800:3f0:4000::/36 ip6:2a00:1450:4000::/36 ip6:2c0f:fb50:4000::/36 ~all",
        "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:52.102.0.0/16 ip4:52.103.0.0/17 ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 ip6:2a01:111:f403:8000::/51 ip6:2a01:111:f403:c000::/51 ip6:2a01:111:f403:f000::/52 -all",
        "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com ~all",
        "v=spf1 exists:%{i}._spf.mta.salesforce.com -all",
        "v=spf1 include:mail.zendesk.com include:servers.mcsv.net include:sendgrid.net include:amazonses.com ~all",
    ] {
        assert!(
            parse(record).is_ok(),
            "{record:?}: {}",
            parse(record).unwrap_err()
        );
    }
}

#[test]
fn terms_are_read_with_their_positions() {
    let r =
        parse("v=spf1 -ip4:192.0.2.0/24 a/24//64 include:_spf.example.com ~all redirect=x.example")
            .unwrap();
    assert_eq!(r.terms.len(), 5);
    assert_eq!(r.terms[0].position, 1);
    assert_eq!(
        r.terms[0].kind,
        TermKind::Mechanism {
            qualifier: Qualifier::Fail,
            mechanism: Mechanism::Ip4 {
                network: Ipv4Addr::new(192, 0, 2, 0),
                prefix: Some(24)
            }
        }
    );
    assert_eq!(
        r.terms[1].kind.mechanism(),
        Some(&Mechanism::A {
            domain: None,
            cidr: DualCidr {
                ip4: Some(24),
                ip6: Some(64)
            }
        })
    );
    let Some(Mechanism::Include(spec)) = r.terms[2].kind.mechanism() else {
        panic!("{:?}", r.terms[2]);
    };
    assert_eq!(spec.target().as_deref(), Some("_spf.example.com"));
    assert!(r.has_all());
    assert_eq!(r.redirect().map(|(t, _)| t.position), Some(5));
}

#[test]
fn arguments_are_checked() {
    use Reason::*;
    assert_error("v=spf1 ip4:1.2.3.4/33 -all", "ip4:1.2.3.4/33", 1, |r| {
        *r == Ip4PrefixRange("33".into())
    });
    assert_error("v=spf1 ip4:1.2.3 -all", "ip4:1.2.3", 1, |r| {
        matches!(r, BadIp4(_))
    });
    assert_error("v=spf1 a ip4:01.2.3.4", "ip4:01.2.3.4", 2, |r| {
        matches!(r, BadIp4(_))
    });
    assert_error("v=spf1 ip4:256.2.3.4", "ip4:256.2.3.4", 1, |r| {
        matches!(r, BadIp4(_))
    });
    assert_error("v=spf1 ip4:1.2.3.4/024", "ip4:1.2.3.4/024", 1, |r| {
        matches!(r, PrefixLeadingZero(_))
    });
    assert_error("v=spf1 ip4:1.2.3.4/", "ip4:1.2.3.4/", 1, |r| {
        matches!(r, BadCidr(_))
    });
    assert_error("v=spf1 ip4:", "ip4:", 1, |r| {
        matches!(r, MissingAddress("ip4", _))
    });
    assert_error("v=spf1 ip4", "ip4", 1, |r| {
        matches!(r, MissingAddress("ip4", _))
    });
    assert_error("v=spf1 ip6::CAFE::BABE", "ip6::CAFE::BABE", 1, |r| {
        matches!(r, BadIp6(_))
    });
    assert_error("v=spf1 ip6:1::2::3", "ip6:1::2::3", 1, |r| {
        matches!(r, BadIp6(_))
    });
    assert_error("v=spf1 ip6:1:2:3:4:5:6:7", "ip6:1:2:3:4:5:6:7", 1, |r| {
        matches!(r, BadIp6(_))
    });
    assert_error("v=spf1 ip6:12345::", "ip6:12345::", 1, |r| {
        matches!(r, BadIp6(_))
    });
    assert_error(
        "v=spf1 ip6:::ffff:1.2.3.04",
        "ip6:::ffff:1.2.3.04",
        1,
        |r| matches!(r, BadIp6(_)),
    );
    assert_error("v=spf1 ip6:fe80::1%eth0", "ip6:fe80::1%eth0", 1, |r| {
        matches!(r, BadIp6(_))
    });
    assert_error("v=spf1 ip6:2001:db8::/129", "ip6:2001:db8::/129", 1, |r| {
        *r == Ip6PrefixRange("129".into())
    });
    assert_error("v=spf1 ip4:2001:db8::", "ip4:2001:db8::", 1, |r| {
        matches!(r, BadIp4(_))
    });
    assert_error("v=spf1 a/33", "a/33", 1, |r| {
        *r == Ip4PrefixRange("33".into())
    });
    assert_error("v=spf1 mx//129", "mx//129", 1, |r| {
        *r == Ip6PrefixRange("129".into())
    });
    assert_error(
        "v=spf1 a:example.com/24/64",
        "a:example.com/24/64",
        1,
        |r| matches!(r, BadCidr(_)),
    );
    assert_error("v=spf1 a/", "a/", 1, |r| matches!(r, BadCidr(_)));
    assert_error("v=spf1 mx:example.com//", "mx:example.com//", 1, |r| {
        matches!(r, BadCidr(_))
    });
    assert_error(
        "v=spf1 exists:mail.example.com/24",
        "exists:mail.example.com/24",
        1,
        |r| matches!(r, NoCidrAllowed { mechanism: "exists", cidr } if cidr == "/24"),
    );
    assert_error("v=spf1 ptr/0", "ptr/0", 1, |r| {
        matches!(
            r,
            NoCidrAllowed {
                mechanism: "ptr",
                ..
            }
        )
    });
    assert_error("v=spf1 ptr:example.com/8", "ptr:example.com/8", 1, |r| {
        matches!(
            r,
            NoCidrAllowed {
                mechanism: "ptr",
                ..
            }
        )
    });
    assert_error(
        "v=spf1 include:_spf.example.com/24",
        "include:_spf.example.com/24",
        1,
        |r| {
            matches!(
                r,
                NoCidrAllowed {
                    mechanism: "include",
                    ..
                }
            )
        },
    );
    assert_error("v=spf1 include -all", "include", 1, |r| {
        *r == MissingDomain("include")
    });
    assert_error("v=spf1 include: -all", "include:", 1, |r| {
        *r == MissingDomain("include")
    });
    assert_error("v=spf1 exists", "exists", 1, |r| {
        *r == MissingDomain("exists")
    });
    assert_error("v=spf1 a: -all", "a:", 1, |r| *r == MissingDomain("a"));
    assert_error("v=spf1 all:x", "all:x", 1, |r| *r == AllTakesNothing);
    assert_error("v=spf1 -all/24", "-all/24", 1, |r| *r == AllTakesNothing);
    assert_error("v=spf1 bogus:x -all", "bogus:x", 1, |r| {
        *r == UnknownMechanism("bogus".into())
    });
    assert_error("v=spf1 ip:1.2.3.4", "ip:1.2.3.4", 1, |r| {
        matches!(r, UnknownMechanism(_))
    });
    assert_error("v=spf1 +", "+", 1, |r| matches!(r, UnknownMechanism(_)));
}

#[test]
fn domain_specs_follow_the_toplabel_rules() {
    use Reason::*;
    assert_error("v=spf1 a:foo-bar -all", "a:foo-bar", 1, |r| {
        matches!(r, DomainNoDot(_))
    });
    assert_error(
        "v=spf1 a:abc.123 -all",
        "a:abc.123",
        1,
        |r| matches!(r, BadTopLabel { label, .. } if label == "123"),
    );
    assert_error(
        "v=spf1 a:example.-com -all",
        "a:example.-com",
        1,
        |r| matches!(r, BadTopLabel { label, .. } if label == "-com"),
    );
    assert_error("v=spf1 a:example.com- -all", "a:example.com-", 1, |r| {
        matches!(r, BadTopLabel { .. })
    });
    assert_error(
        "v=spf1 a:example.com:8080 -all",
        "a:example.com:8080",
        1,
        |r| matches!(r, BadTopLabel { label, .. } if label == "com:8080"),
    );
    assert_error(
        "v=spf1 include:example.com.. -all",
        "include:example.com..",
        1,
        |r| matches!(r, BadTopLabel { .. }),
    );
    assert_error(
        "v=spf1 include:a..example.com",
        "include:a..example.com",
        1,
        |r| matches!(r, EmptyLabel(_)),
    );
    assert_error("v=spf1 include:.com", "include:.com", 1, |r| {
        matches!(r, EmptyLabel(_))
    });
    let long = format!("v=spf1 include:{}.com", "a".repeat(64));
    assert!(matches!(error(&long).reason, LabelTooLong(_)));
    assert_error("v=spf1 a:%{d}x -all", "a:%{d}x", 1, |r| {
        matches!(r, DomainNoDot(_))
    });
    assert_error("v=spf1 include:%{d}.1", "include:%{d}.1", 1, |r| {
        matches!(r, BadTopLabel { .. })
    });
}

#[test]
fn macros_are_checked() {
    use Reason::*;
    assert_error(
        "v=spf1 -exists:%(ir).sbl.example.org",
        "-exists:%(ir).sbl.example.org",
        1,
        |r| matches!(r, LonePercent { .. }),
    );
    assert_error(
        "v=spf1 a:%{a}.example.com",
        "a:%{a}.example.com",
        1,
        |r| matches!(r, BadMacroLetter { letter, .. } if letter == "a"),
    );
    assert_error(
        "v=spf1 exists:%{c}.example.com",
        "exists:%{c}.example.com",
        1,
        |r| matches!(r, MacroOnlyInExp { letter: 'c', .. }),
    );
    assert_error(
        "v=spf1 exists:%{T}.example.com",
        "exists:%{T}.example.com",
        1,
        |r| matches!(r, MacroOnlyInExp { letter: 't', .. }),
    );
    assert_error(
        "v=spf1 exists:%{d0}.example.com",
        "exists:%{d0}.example.com",
        1,
        |r| matches!(r, ZeroDigitTransformer { .. }),
    );
    assert_error(
        "v=spf1 exists:%{ir.example.com",
        "exists:%{ir.example.com",
        1,
        |r| matches!(r, MalformedMacro { .. }),
    );
    assert_error(
        "v=spf1 exists:%{i}.example.com%",
        "exists:%{i}.example.com%",
        1,
        |r| matches!(r, LonePercent { .. }),
    );
    assert_error("v=spf1 exists:%{", "exists:%{", 1, |r| {
        matches!(r, MalformedMacro { .. })
    });
    assert_error("v=spf1 exists:%{i!}.x.com", "exists:%{i!}.x.com", 1, |r| {
        matches!(r, MalformedMacro { .. })
    });
    assert_error(
        "v=spf1 exp=%{c}.example.com",
        "exp=%{c}.example.com",
        1,
        |r| matches!(r, MacroOnlyInExp { .. }),
    );
    // Every macro form of RFC 7208 7.4, upper case included.
    for spec in [
        "%{s}",
        "%{o}",
        "%{d}",
        "%{d4}",
        "%{d3}",
        "%{d2}",
        "%{d1}",
        "%{dr}",
        "%{d2r}",
        "%{l}",
        "%{l-}",
        "%{lr}",
        "%{lr-}",
        "%{l1r-}",
        "%{S}",
        "%{IR}",
        "%{h}",
        "%{p}",
        "%{v}",
        "%{i10r.-+,/_=}",
    ] {
        let record = format!("v=spf1 exists:{spec}.example.com");
        assert!(
            parse(&record).is_ok(),
            "{record}: {}",
            parse(&record).unwrap_err()
        );
    }
}

#[test]
fn modifiers_are_checked() {
    use Reason::*;
    assert_error("v=spf1 1up=foo", "1up=foo", 1, |r| {
        *r == BadModifierName("1up".into())
    });
    assert_error("v=spf1 =foo", "=foo", 1, |r| {
        *r == BadModifierName(String::new())
    });
    assert_error("v=spf1 exp=", "exp=", 1, |r| *r == EmptyModifier("exp"));
    assert_error("v=spf1 redirect=", "redirect=", 1, |r| {
        *r == EmptyModifier("redirect")
    });
    assert_error(
        "v=spf1 -redirect=x.example",
        "-redirect=x.example",
        1,
        |r| *r == QualifiedModifier,
    );
    assert_error(
        "v=spf1 redirect=a.example REDIRECT=b.example",
        "REDIRECT=b.example",
        2,
        |r| *r == DuplicateModifier("redirect"),
    );
    assert_error(
        "v=spf1 exp=a.example -all exp=b.example",
        "exp=b.example",
        3,
        |r| *r == DuplicateModifier("exp"),
    );
    assert_error("v=spf1 redirect=foo", "redirect=foo", 1, |r| {
        matches!(r, DomainNoDot(_))
    });
    assert_error("v=spf1 foo=%", "foo=%", 1, |r| {
        matches!(r, LonePercent { .. })
    });
    // a=b is an unknown modifier named "a", which the ABNF allows.
    assert!(parse("v=spf1 a=b foo.bar_baz-1=x:y/z -all").is_ok());
}

#[test]
fn only_spaces_separate_terms() {
    use Reason::*;
    assert_error("v=spf1 mx\r\n-all", "mx\\u{d}\\u{a}-all", 1, |r| {
        *r == Whitespace("a carriage return (\\r)".into())
    });
    assert_error("v=spf1 a mx\n-all", "mx\\u{a}-all", 2, |r| {
        *r == Whitespace("a line feed (\\n)".into())
    });
    assert_error("v=spf1 a\tmx", "a\\u{9}mx", 1, |r| {
        *r == Whitespace("a tab (\\t)".into())
    });
    assert_error("v=spf1\t-all", "v=spf1\\u{9}-all", 0, |r| {
        matches!(r, Whitespace(_))
    });
    assert_error(
        "v=spf1 a:\u{1b}[2J.example.com",
        "a:\\u{1b}[2J.example.com",
        1,
        |r| matches!(r, ControlCharacter(_)),
    );
    assert_error("v=spf1 a:bücher.example", "a:bücher.example", 1, |r| {
        matches!(r, NonAscii(_))
    });
    assert_error(" v=spf1 -all", "v=spf1", 0, |r| {
        matches!(r, LeadingWhitespace(_))
    });
    assert_error("v=spf10 -all", "v=spf10", 0, |r| *r == NotSpf);
}

#[test]
fn all_errors_come_at_once() {
    let SyntaxErrors(errors) = parse("v=spf1 a/33 mx include ip4:1.2.3 -all exp=").unwrap_err();
    let positions: Vec<usize> = errors.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 3, 4, 6]);
    let shown = SyntaxErrors(errors).to_string();
    assert!(
        shown.starts_with("term 1 \"a/33\": the IPv4 prefix length /33 is over 32 (and 3 more)"),
        "{shown}"
    );
}

#[test]
fn spf_records_are_recognised() {
    assert!(is_spf("v=spf1"));
    assert!(is_spf("V=SPF1 -all"));
    assert!(is_spf(" v=spf1 -all"));
    assert!(is_spf("v=spf1\t-all"));
    assert!(!is_spf("v=spf10 -all"));
    assert!(!is_spf("v=spf"));
    assert!(!is_spf("google-site-verification=x"));
    assert!(!is_spf("v=spf1é"));
}

proptest::proptest! {
    #[test]
    fn nothing_panics_and_errors_are_printable(
        text in "\\PC{0,120}|v=spf1( [-+~?]?(all|include:[a-z%{}.]{0,10}|a|mx|ptr|exists:[a-z%{}.]{0,8}|ip4:[0-9./]{0,16}|ip6:[0-9a-f:./]{0,20}|redirect=[a-z.%{}]{0,8}|exp=[a-z.]{0,6}|[a-z0-9=:/%{}.\\x00-\\x1f\\x7f-]{0,10})){0,10}"
    ) {
        match parse(&text) {
            Ok(record) => {
                for term in &record.terms {
                    proptest::prop_assert!(term.position >= 1);
                }
            }
            Err(SyntaxErrors(errors)) => {
                proptest::prop_assert!(!errors.is_empty());
                for e in &errors {
                    proptest::prop_assert!(!e.to_string().chars().any(char::is_control), "{e:?}");
                    proptest::prop_assert!(!e.term.chars().any(char::is_control), "{e:?}");
                }
            }
        }
    }
}
