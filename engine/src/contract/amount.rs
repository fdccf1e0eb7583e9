//! Exact decimal amounts.
//!
//! Amounts arrive in major units as a JSON number or a decimal string. They are
//! parsed from their text (never through a float) into an integer count of
//! 1/10,000 of a unit, so `0.1 + 0.2` sums to exactly `0.3` in every window.

use std::fmt;

/// An amount in 1/10,000 of the currency's major unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub i64);

pub const SCALE: i64 = 10_000;
const MAX_DECIMALS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    /// Not a plain decimal (`12`, `12.3`, `-1.50`).
    Syntax,
    /// More than four decimal places: rounding would change the value.
    TooPrecise,
    Negative,
    /// Larger than the configured maximum, or than i64 can hold.
    TooLarge,
}

impl Amount {
    /// Parses a plain decimal such as `12`, `12.34` or `0.0001`.
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        let (negative, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (int_part, frac_part) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(AmountError::Syntax);
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || (digits.contains('.') && frac_part.is_empty())
            || int_part.is_empty()
        {
            return Err(AmountError::Syntax);
        }
        let frac_trimmed = frac_part.trim_end_matches('0');
        if frac_trimmed.len() > MAX_DECIMALS {
            return Err(AmountError::TooPrecise);
        }
        let mut units: i64 = 0;
        for b in int_part.bytes() {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(i64::from(b - b'0')))
                .ok_or(AmountError::TooLarge)?;
        }
        let mut frac: i64 = 0;
        for i in 0..MAX_DECIMALS {
            let d = frac_trimmed
                .as_bytes()
                .get(i)
                .map_or(0, |b| i64::from(b - b'0'));
            frac = frac * 10 + d;
        }
        let value = units
            .checked_mul(SCALE)
            .and_then(|u| u.checked_add(frac))
            .ok_or(AmountError::TooLarge)?;
        if negative && value != 0 {
            return Err(AmountError::Negative);
        }
        Ok(Amount(value))
    }

    pub fn from_major(units: i64) -> Amount {
        Amount(units * SCALE)
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / SCALE;
        let frac = self.0 % SCALE;
        if frac == 0 {
            write!(f, "{int}.00")
        } else {
            let s = format!("{frac:04}");
            let s = s.trim_end_matches('0');
            if s.len() == 1 {
                write!(f, "{int}.{s}0")
            } else {
                write!(f, "{int}.{s}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Amount::parse("12.34"), Ok(Amount(123_400)));
        assert_eq!(Amount::parse("0.0001"), Ok(Amount(1)));
        assert_eq!(Amount::parse("7"), Ok(Amount(70_000)));
        assert_eq!(Amount::parse("1.50000"), Ok(Amount(15_000)));
        assert_eq!(Amount::parse("-0"), Ok(Amount(0)));
        let sum = Amount::parse("0.1").unwrap().0 + Amount::parse("0.2").unwrap().0;
        assert_eq!(Amount(sum), Amount::parse("0.3").unwrap());
    }

    #[test]
    fn rejects_what_would_round_or_is_not_a_decimal() {
        assert_eq!(Amount::parse("0.00001"), Err(AmountError::TooPrecise));
        assert_eq!(Amount::parse("-3.00"), Err(AmountError::Negative));
        for bad in [
            "", ".", "1.", ".5", "1e3", "NaN", "inf", "1,5", "--1", "1.2.3", " 1",
        ] {
            assert_eq!(Amount::parse(bad), Err(AmountError::Syntax), "{bad:?}");
        }
        assert_eq!(
            Amount::parse("99999999999999999999"),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn displays_with_at_least_two_decimals() {
        assert_eq!(Amount(123_400).to_string(), "12.34");
        assert_eq!(Amount(70_000).to_string(), "7.00");
        assert_eq!(Amount(1).to_string(), "0.0001");
        assert_eq!(Amount(15_000).to_string(), "1.50");
    }
}
