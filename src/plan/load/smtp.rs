//! `[old]`/`[new] smtp`: where the SMTP probe and direct canaries reach each MX host,
//! when not by its name on port 25.

use super::*;

impl<'s> Loader<'s> {
    /// `smtp = ["host:port", …]`, one per MX host in the order of `mx`; empty when absent.
    pub(super) fn smtp_addresses(
        &mut self,
        t: &DeTable<'s>,
        which: &str,
        mx: &[MxRecord],
        ok: &mut bool,
    ) -> Vec<SmtpAddress> {
        let Some(v) = Self::value(t, "smtp") else {
            return vec![];
        };
        let Some(items) = self.strings(t, "smtp", which) else {
            *ok = false;
            return vec![];
        };
        let mut out = Vec::new();
        for (text, span) in &items {
            match parse_smtp_address(text) {
                Some(address) => out.push(address),
                None => {
                    *ok = false;
                    self.error(
                        span,
                        format!(
                            "`{}` is not a host and port to reach an SMTP server at",
                            crate::sanitize::sanitize(text)
                        ),
                        "write \"mx1.example.net:25\", \"192.0.2.7:2525\" or \"[2001:db8::7]:25\"",
                    );
                }
            }
        }
        // Each entry stands for one MX host (whose name its certificate must carry).
        if *ok && out.len() != mx.len() {
            *ok = false;
            let hosts: Vec<&str> = mx.iter().map(|m| m.host.as_str()).collect();
            self.error(
                &v.span(),
                format!(
                    "`{which}.smtp` lists {} for {} ({})",
                    crate::units::count(out.len() as u64, "address", "addresses"),
                    crate::units::count(mx.len() as u64, "MX host", "MX hosts"),
                    hosts.join(", ")
                ),
                format!("list one \"host:port\" per [{which}] mx host, in the same order, or leave `smtp` out to reach each MX host by its name on port 25"),
            );
        }
        out
    }
}

/// `host:port`, `host` (port 25), `[v6]:port` or a bare IPv6 address; the host an IP
/// address, a domain name or `localhost`; the port 1–65535.
pub(super) fn parse_smtp_address(text: &str) -> Option<SmtpAddress> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SmtpAddress {
            host: ip.to_string(),
            port: 25,
        });
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return (addr.port() != 0).then(|| SmtpAddress {
            host: addr.ip().to_string(),
            port: addr.port(),
        });
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => (text, 25),
    };
    let host = host.trim_end_matches('.');
    let named = host.eq_ignore_ascii_case("localhost") || crate::syntax::domain::is_domain(host);
    named.then(|| SmtpAddress {
        host: host.to_ascii_lowercase(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str, port: u16) -> Option<SmtpAddress> {
        Some(SmtpAddress {
            host: host.to_string(),
            port,
        })
    }

    #[test]
    fn addresses_take_names_ips_and_default_to_port_25() {
        assert_eq!(
            parse_smtp_address("MX1.Example.net:2525"),
            at("mx1.example.net", 2525)
        );
        assert_eq!(
            parse_smtp_address("mx1.example.net."),
            at("mx1.example.net", 25)
        );
        assert_eq!(parse_smtp_address("127.0.0.1:2525"), at("127.0.0.1", 2525));
        assert_eq!(parse_smtp_address("[::1]:2525"), at("::1", 2525));
        assert_eq!(parse_smtp_address("2001:db8::7"), at("2001:db8::7", 25));
        assert_eq!(parse_smtp_address("localhost:25"), at("localhost", 25));
        for bad in [
            "mx1:25",
            "mx.example.net:0",
            "mx.example.net:99999",
            "",
            ":25",
        ] {
            assert_eq!(parse_smtp_address(bad), None, "{bad}");
        }
    }
}
