//! Card numbers (PANs) are never stored or logged in clear.
//!
//! At ingestion a `card_number` is replaced by a keyed BLAKE3 hash (the key
//! comes from configuration, so hashes cannot be reversed by enumerating the
//! ~10^10 PANs of a BIN without it) and its BIN (first six digits), which card
//! schemes allow to be kept. Bytes headed for the dead-letter topic may hold a
//! PAN we could not parse, so [`redact`] masks every run of 13–19 digits that
//! passes the Luhn check, keeping the first six and last four digits.

use std::borrow::Cow;

/// Hashes card numbers with a secret key.
#[derive(Clone)]
pub struct PanHasher {
    key: [u8; 32],
}

impl PanHasher {
    /// Derives the 32-byte hashing key from a secret of any length.
    pub fn new(secret: &str) -> Self {
        PanHasher {
            key: blake3::derive_key("verdict 2026 pan hashing key", secret.as_bytes()),
        }
    }

    /// Hex digest of the keyed hash of the PAN's digits (separators ignored).
    pub fn hash(&self, pan: &str) -> String {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        for b in pan.bytes().filter(u8::is_ascii_digit) {
            hasher.update(&[b]);
        }
        hasher.finalize().to_hex()[..32].to_string()
    }
}

impl std::fmt::Debug for PanHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PanHasher(<secret>)")
    }
}

/// Digits only, 12–19 of them, with valid Luhn check digit.
pub fn is_plausible_pan(digits: &str) -> bool {
    (12..=19).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && luhn(digits.as_bytes())
}

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &b) in digits.iter().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Masks every Luhn-valid run of 13–19 ASCII digits, keeping the BIN and the
/// last four. Returns the input unchanged (borrowed) when there is none.
pub fn redact(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &bytes[start..i];
        if (13..=19).contains(&run.len()) && luhn(run) {
            let buf = out.get_or_insert_with(|| bytes.to_vec());
            for b in &mut buf[start + 6..i - 4] {
                *b = b'*';
            }
        }
    }
    match out {
        Some(v) => Cow::Owned(v),
        None => Cow::Borrowed(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_keyed_and_ignores_separators() {
        let a = PanHasher::new("k1");
        let b = PanHasher::new("k2");
        assert_eq!(a.hash("4111 1111 1111 1111"), a.hash("4111111111111111"));
        assert_ne!(a.hash("4111111111111111"), b.hash("4111111111111111"));
        assert!(!a.hash("4111111111111111").contains("4111"));
    }

    #[test]
    fn redacts_luhn_valid_runs_only() {
        let raw = br#"{"card_number":"4111111111111111","id":"1234567890123"}"#;
        let red = redact(raw);
        let text = std::str::from_utf8(&red).unwrap();
        assert!(text.contains("411111******1111"), "{text}");
        assert!(text.contains("1234567890123"), "non-Luhn run kept: {text}");
        assert!(matches!(redact(b"no digits here"), Cow::Borrowed(_)));
        assert!(is_plausible_pan("4111111111111111"));
        assert!(!is_plausible_pan("4111111111111112"));
    }
}
