//! Card numbers (PANs) are never stored or logged in clear.
//!
//! At ingestion a `card_number` is replaced by a keyed BLAKE3 hash (the key
//! comes from configuration, so hashes cannot be reversed by enumerating the
//! ~10^10 PANs of a BIN without it) and its BIN (first six digits), which card
//! schemes allow to be kept. Rules read the hash as `card_hash`; `verdict
//! hash-pan` prints it for block lists, with the same [`PanHasher`].
//!
//! One definition of what a card number looks like serves the decoder, the
//! hash and the masking: 12–19 digits ([`PAN_DIGITS`]) passing the Luhn check,
//! optionally written with [`SEPARATORS`] between them. Bytes headed for the
//! dead-letter topic may hold a PAN we could not parse, anywhere in them, so
//! [`redact`] looks through separators and JSON `\u00XX` escapes (the forms
//! the decoder accepts once the JSON string is unescaped) and masks every
//! Luhn-valid stretch of 12–19 digits, keeping its first six and last four.
//! It errs towards masking: a long number that happens to pass Luhn is masked
//! too.

use std::borrow::Cow;
use std::ops::RangeInclusive;

/// The key a configuration without `validation.pan-hash-key` hashes with.
/// Public, so its hashes are not secret: `verdict run` refuses it.
pub const DEVELOPMENT_KEY: &str = "verdict-development-key";

/// How many digits a card number has.
pub const PAN_DIGITS: RangeInclusive<usize> = 12..=19;

/// What may stand between a card number's digits (`4111 1111-1111 1111`):
/// the decoder strips them, the hash ignores them, [`redact`] sees through them.
pub const SEPARATORS: [char; 2] = [' ', '-'];

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

/// The value with its [`SEPARATORS`] removed: the digits, if it is a PAN.
pub fn strip_separators(value: &str) -> String {
    value.chars().filter(|c| !SEPARATORS.contains(c)).collect()
}

/// Digits only, [`PAN_DIGITS`] of them, with valid Luhn check digit.
pub fn is_plausible_pan(digits: &str) -> bool {
    PAN_DIGITS.contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && luhn(digits.as_bytes())
}

/// Luhn check over ASCII digits.
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

/// One lexical unit of the bytes [`redact`] reads.
#[derive(Clone, Copy, PartialEq)]
enum Token {
    /// A digit, literal or as a JSON `\u003N` escape.
    Digit(u8),
    /// A [`SEPARATORS`] character, literal or escaped.
    Separator,
    /// Anything else (a JSON escape counts as one unit, so `\\u0034` is an
    /// escaped backslash followed by text, not an escaped digit).
    Other,
}

/// The token at `i` and its length in bytes.
fn token(bytes: &[u8], i: usize) -> (Token, usize) {
    let b = bytes[i];
    if b.is_ascii_digit() {
        return (Token::Digit(b), 1);
    }
    if SEPARATORS.iter().any(|&s| s as u8 == b) {
        return (Token::Separator, 1);
    }
    if b != b'\\' || i + 1 >= bytes.len() {
        return (Token::Other, 1);
    }
    let Some(hex) = bytes
        .get(i + 2..i + 6)
        .filter(|h| bytes[i + 1] == b'u' && h.iter().all(u8::is_ascii_hexdigit))
    else {
        return (Token::Other, 2);
    };
    let code = u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("ffff"), 16).unwrap_or(0);
    let t = match char::from_u32(code) {
        Some(c) if c.is_ascii_digit() => Token::Digit(c as u8),
        Some(c) if SEPARATORS.contains(&c) => Token::Separator,
        _ => Token::Other,
    };
    (t, 6)
}

/// Masks every Luhn-valid stretch of [`PAN_DIGITS`] digits (literal or JSON
/// escaped, [`SEPARATORS`] allowed between them), keeping its first six and
/// last four digits; each masked digit becomes one `*`. Returns the input
/// unchanged (borrowed) when there is none.
pub fn redact(bytes: &[u8]) -> Cow<'_, [u8]> {
    // The digits of the current run of digits and separators: where each
    // token starts, how long it is, its value.
    let mut run: Vec<(usize, usize, u8)> = Vec::new();
    let mut masked: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let (t, len) = token(bytes, i);
        match t {
            Token::Digit(d) => run.push((i, len, d)),
            Token::Separator => {}
            Token::Other => mask_run(&mut run, &mut masked),
        }
        i += len;
    }
    mask_run(&mut run, &mut masked);
    if masked.is_empty() {
        return Cow::Borrowed(bytes);
    }
    masked.sort_unstable();
    masked.dedup();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for (start, len) in masked {
        out.extend_from_slice(&bytes[at..start]);
        out.push(b'*');
        at = start + len;
    }
    out.extend_from_slice(&bytes[at..]);
    Cow::Owned(out)
}

/// Adds the middle digits of every card-number-shaped window of `run` to
/// `masked`, then empties `run`.
fn mask_run(run: &mut Vec<(usize, usize, u8)>, masked: &mut Vec<(usize, usize)>) {
    if run.len() >= *PAN_DIGITS.start() {
        let digits: Vec<u8> = run.iter().map(|&(_, _, d)| d).collect();
        for start in 0..digits.len() {
            for len in PAN_DIGITS {
                let end = start + len;
                if end > digits.len() {
                    break;
                }
                if luhn(&digits[start..end]) {
                    masked.extend(run[start + 6..end - 4].iter().map(|&(at, n, _)| (at, n)));
                }
            }
        }
    }
    run.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(s: &str) -> String {
        String::from_utf8(redact(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn hash_is_keyed_and_ignores_separators() {
        let a = PanHasher::new("k1");
        let b = PanHasher::new("k2");
        assert_eq!(a.hash("4111 1111 1111 1111"), a.hash("4111111111111111"));
        assert_eq!(a.hash("4111-1111-1111-1111"), a.hash("4111111111111111"));
        assert_ne!(a.hash("4111111111111111"), b.hash("4111111111111111"));
        assert!(!a.hash("4111111111111111").contains("4111"));
    }

    #[test]
    fn redacts_luhn_valid_runs_only() {
        let text = red(r#"{"card_number":"4111111111111111","id":"1234567890123"}"#);
        assert!(text.contains("411111******1111"), "{text}");
        assert!(text.contains("1234567890123"), "non-Luhn run kept: {text}");
        assert!(matches!(redact(b"no digits here"), Cow::Borrowed(_)));
        assert!(is_plausible_pan("4111111111111111"));
        assert!(!is_plausible_pan("4111111111111112"));
    }

    #[test]
    fn redacts_through_separators_and_json_escapes() {
        assert_eq!(red("4111 1111 1111 1111"), "4111 11** **** 1111");
        assert_eq!(red("4111-1111-1111-1111"), "4111-11**-****-1111");
        assert_eq!(red("4111 - 1111--1111 1111"), "4111 - 11**--**** 1111");
        assert_eq!(
            red(r"4111\u0031111\u002d1111 1111"),
            r"4111\u00311**\u002d**** 1111"
        );
        // 12 digits, the shortest the decoder accepts.
        assert!(is_plausible_pan("411111111117"));
        assert_eq!(red("411111111117"), "411111**1117");
        // Inside other text, next to other digits: the card's own window
        // is masked, and here an overlapping one that passes Luhn as well.
        assert_eq!(
            red("note: ref 7 4111 1111 1111 1111, thanks"),
            "note: ref 7 4111 1*** **** 1111, thanks"
        );
        // An escaped backslash before `u0034` is not an escaped digit.
        assert_eq!(red(r"\\u0034"), r"\\u0034");
    }
}
