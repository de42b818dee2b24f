//! The mailbox the mail benches copy: the same folders and messages in `mail_copy` and
//! `mail_archive`, so their times compare.

#![allow(dead_code)]

pub const ALICE: &str = "alice@example.com";
pub const FOLDERS: [&str; 5] = [
    "INBOX",
    "Sent",
    "Archiv/2023",
    "Projekte/Übergabe",
    "Rechnungen",
];

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sizes from 2 KB to 200 KB, log-uniform (most mail is small), deterministic.
pub fn message(n: usize, folder: &str) -> Vec<u8> {
    let mut x = (n as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    x ^= x >> 33;
    let u = (x % 10_000) as f64 / 10_000.0;
    let size = (2_000.0 * 100f64.powf(u)) as usize;
    let mut m = format!(
        "Message-ID: <bench-{n}@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Bench <bench@example.org>\r\nTo: {ALICE}\r\nSubject: {folder} message {n}\r\nContent-Type: text/plain\r\n\r\n"
    );
    let line = format!(
        "{n:08} Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\r\n"
    );
    while m.len() < size {
        m.push_str(&line);
    }
    m.into_bytes()
}

pub fn which(bin: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    })
}
