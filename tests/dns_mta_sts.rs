//! MTA-STS: the `_mta-sts` TXT is seen in a round, the policy is fetched over
//! HTTPS (a local rustls server with a test CA), and an `enforce` policy that
//! does not list the new MX hosts blocks `add-new-mx` with the lines to publish.

#[path = "support/dns_plan.rs"]
mod dns_plan;
#[path = "support/dns_server.rs"]
mod dns_server;

use cutover::step::StepId;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutover::check::Status;
use cutover::clock::ManualClock;
use cutover::dns::{self, DnsFacts, RoundOptions};
use cutover::plan::Plan;
use dns_server::TestDns;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A test CA and a certificate for mta-sts.example.com it signed (P-256, valid
/// for 100 years; made once with openssl, only ever trusted by these tests).
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUT7in6HIlfFlUR+MIhiitkOKOZSAwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPY3V0b3ZlciB0ZXN0IENBMCAXDTI2MTEyOTA0MjQwN1oYDzIx
MjYxMTA1MDQyNDA3WjAaMRgwFgYDVQQDDA9jdXRvdmVyIHRlc3QgQ0EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQPVnEgTA18hEklceaBYWiyfxbMPWKfFRCwpnss
R5NiHjGwawxWILEA1IqkvHMN7hWBmpDFqCxO+Q4w6b2p2OkCo2MwYTAdBgNVHQ4E
FgQUnPG7oz0PG0g4RXzoXVZRTZCFtEIwHwYDVR0jBBgwFoAUnPG7oz0PG0g4RXzo
XVZRTZCFtEIwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZI
zj0EAwIDRwAwRAIgU3ZZeSaD1Ww6XDH9FSelueyCc5tL+Bwn+yZASGJdGyACICwH
NY2iggTJtBlGn11yIRTVDpkPUMHNPl23VzZnG/HJ
-----END CERTIFICATE-----";
const MTA_STS_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIB0zCCAXmgAwIBAgIUPE/96fMYNO/rKShS1Pc+eIspwLgwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPY3V0b3ZlciB0ZXN0IENBMCAXDTI2MTEyOTA0MjQwN1oYDzIx
MjYxMTA1MDQyNDA3WjAeMRwwGgYDVQQDDBNtdGEtc3RzLmV4YW1wbGUuY29tMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEE7vVYAbXLHi+vBSPbMErlPZrlWMvkSuI
N1YC1O3RA5C31+5pkiYgonE9jvctk1KiZ/tQXQVAWATupZ9aj7vMpKOBljCBkzAe
BgNVHREEFzAVghNtdGEtc3RzLmV4YW1wbGUuY29tMAwGA1UdEwEB/wQCMAAwDgYD
VR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1UdDgQWBBQdCS5m
bgr+Rl66r7z0F0+JMSXtwTAfBgNVHSMEGDAWgBSc8bujPQ8bSDhFfOhdVlFNkIW0
QjAKBggqhkjOPQQDAgNIADBFAiEA2u6mOyQG5BZ0jmKQzSZli5aEGUIazfgQeMP2
W62SXAcCIF3MHmWYIfIw35nqFATHp5Sd8BxieBh+ffXsCYxagIYv
-----END CERTIFICATE-----";
const MTA_STS_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjWdgUokKcl6JTPuh
4YOlSsb1+N/dSHx1yrbYd62FkB2hRANCAAQTu9VgBtcseL68FI9swSuU9muVYy+R
K4g3VgLU7dEDkLfX7mmSJiCicT2O9y2TUqJn+1BdBUBYBO6ln1qPu8yk
-----END PRIVATE KEY-----";

const APEX: &str = "example.com.";

/// The DNS tests' plan with one authoritative server; the HTTPS fetch gets 2 s.
fn plan(authoritative: SocketAddr) -> Plan {
    let mut plan = dns_plan::plan(vec![authoritative], vec![]);
    plan.dns.timeout = Duration::from_secs(2);
    plan
}

/// An HTTPS server for mta-sts.example.com serving whatever policy is set.
async fn policy_server(policy: Arc<Mutex<String>>) -> SocketAddr {
    let certs = vec![CertificateDer::from_pem_slice(MTA_STS_CERT.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(MTA_STS_KEY.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let body = policy.lock().unwrap().clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                assert!(
                    text.starts_with("GET /.well-known/mta-sts.txt HTTP/1.1\r\n"),
                    "{text}"
                );
                assert!(text.contains("Host: mta-sts.example.com\r\n"), "{text}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn trusting_test_ca() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(TEST_CA.as_bytes()).unwrap())
        .unwrap();
    cutover::tls::tls_config_with_roots(roots).unwrap()
}

const OLD_POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.old.example\r\nmx: mx2.old.example\r\nmax_age: 604800\r\n";

#[tokio::test]
async fn an_enforce_policy_without_the_new_host_blocks_add_new_mx() {
    let auth = TestDns::start(APEX).await;
    auth.set_mx(
        APEX,
        300,
        &[(10, "mx1.old.example."), (20, "mx2.old.example.")],
    )
    .await;
    let plan = plan(auth.addr);
    let clock = ManualClock::new("2026-12-08T09:00:00Z".parse().unwrap());
    let policy = Arc::new(Mutex::new(OLD_POLICY.to_string()));
    let options = RoundOptions {
        mta_sts_connect: Some(policy_server(policy.clone()).await),
        mta_sts_tls: Some(trusting_test_ca()),
    };

    // No _mta-sts TXT: nothing is fetched, nothing blocks.
    let s = dns::one_round_with(&plan, &clock, &options, 1).await;
    assert!(s.mta_sts.is_none());
    let add = dns::step_checks(
        &StepId::AddNewMx,
        &plan,
        Some(&s),
        &DnsFacts::default(),
        None,
        "2026-12-08T09:00:00Z".parse().unwrap(),
    );
    assert_eq!(add[0].id, "mta-sts-covers-new");
    assert_eq!(add[0].status, Status::Pass);

    // The TXT announces a policy in enforce mode that lists only the old hosts.
    auth.set_txt("_mta-sts.example.com.", 300, &["v=STSv1; id=20261201"])
        .await;
    let s = dns::one_round_with(&plan, &clock, &options, 2).await;
    let view = s.mta_sts.as_ref().unwrap();
    assert_eq!(view.txt, "v=STSv1; id=20261201");
    assert_eq!(view.policy.as_deref(), Some(OLD_POLICY), "{view:?}");
    let add = dns::step_checks(
        &StepId::AddNewMx,
        &plan,
        Some(&s),
        &DnsFacts::default(),
        None,
        "2026-12-08T09:00:00Z".parse().unwrap(),
    );
    let gate = &add[0];
    assert_eq!(gate.status, Status::Fail);
    assert!(
        gate.evidence.contains("smtp.new.example"),
        "{}",
        gate.evidence
    );
    assert!(gate.evidence.contains("enforce"));
    let paste = dns::records_to_paste(&StepId::AddNewMx, &plan, Some(&s));
    assert_eq!(paste[0], "example.com. 300 IN MX 1 smtp.new.example.");
    assert!(
        paste.contains(&";   mx: smtp.new.example".to_string()),
        "{paste:#?}"
    );
    assert!(
        paste.contains(&";   mode: enforce".to_string()),
        "{paste:#?}"
    );

    // Once the policy lists the new host, the gate opens.
    *policy.lock().unwrap() = format!("{OLD_POLICY}mx: smtp.new.example\r\n");
    let s = dns::one_round_with(&plan, &clock, &options, 3).await;
    let add = dns::step_checks(
        &StepId::AddNewMx,
        &plan,
        Some(&s),
        &DnsFacts::default(),
        None,
        "2026-12-08T09:00:00Z".parse().unwrap(),
    );
    assert_eq!(add[0].status, Status::Pass, "{:?}", add[0]);
    assert_eq!(
        dns::records_to_paste(&StepId::AddNewMx, &plan, Some(&s)).len(),
        1
    );
}

#[tokio::test]
async fn an_untrusted_or_unreachable_policy_server_is_a_warning_not_a_pass() {
    let auth = TestDns::start(APEX).await;
    auth.set_txt("_mta-sts.example.com.", 300, &["v=STSv1; id=1"])
        .await;
    let plan = plan(auth.addr);
    let clock = ManualClock::new("2026-12-08T09:00:00Z".parse().unwrap());
    // The system roots do not trust the test CA.
    let options = RoundOptions {
        mta_sts_connect: Some(policy_server(Arc::new(Mutex::new(OLD_POLICY.into()))).await),
        mta_sts_tls: Some(
            cutover::tls::tls_config_with_roots(rustls::RootCertStore::empty()).unwrap(),
        ),
    };
    let s = dns::one_round_with(&plan, &clock, &options, 1).await;
    let view = s.mta_sts.as_ref().unwrap();
    assert!(view.policy.is_none());
    assert!(view.error.as_deref().unwrap().contains("TLS"), "{view:?}");
    let add = dns::step_checks(
        &StepId::AddNewMx,
        &plan,
        Some(&s),
        &DnsFacts::default(),
        None,
        clock_now(),
    );
    assert_eq!(add[0].status, Status::Warn);
}

fn clock_now() -> jiff::Timestamp {
    "2026-12-08T09:00:00Z".parse().unwrap()
}
