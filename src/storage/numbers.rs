//! A payload field's number, as a search names it and as a record stores
//! it. PostgreSQL compares JSON numbers exactly (`numeric`); SQLite holds an
//! integer exactly when it fits 64 bits and anything else as the nearest
//! `f64`. The search index writes a stored number one way
//! ([`stored_text`]), and a searched number is looked for in each form that
//! either database may find equal ([`FieldNumber::texts`]), so the index
//! finds every record the exact test accepts.

use serde_json::Number;

/// Beyond this many digits from the point, a number's exact decimal is not
/// written out (`1e-99999`): its nearest `f64` stands for it.
const MAX_EXACT_DIGITS: u64 = 1_000;

/// A finite number, parsed once from its text (`1500`, ` 1500.0 `,
/// `1.5e3`, `-0`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldNumber {
    /// In plain decimal, without exponent, leading or trailing zeros, or
    /// `-0` (`1.5e3` is `1500`, `0.10` is `0.1`).
    exact: String,
    float: f64,
}

impl FieldNumber {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let float = text.parse::<f64>().ok().filter(|n| n.is_finite())?;
        let exact = exact_decimal(text).unwrap_or_else(|| float_text(float));
        Some(FieldNumber { exact, float })
    }

    /// The value, when it is an `i64` exactly (`1500.0` is).
    pub fn integer(&self) -> Option<i64> {
        self.exact.parse().ok()
    }

    /// The nearest `f64`.
    pub fn float(&self) -> f64 {
        self.float
    }

    /// The value in plain decimal, exactly (PostgreSQL's `numeric` reads it).
    pub fn exact(&self) -> &str {
        &self.exact
    }

    /// How the index writes a stored number either database finds equal to
    /// this one: the exact value, and the nearest `f64`'s text when it
    /// differs (SQLite compares a REAL so: `18446744073709551614` equals a
    /// stored `18446744073709551615` there).
    pub fn texts(&self) -> Vec<String> {
        let float = float_text(self.float);
        if float == self.exact {
            vec![float]
        } else {
            vec![self.exact.clone(), float]
        }
    }
}

/// How the index writes a stored number: exactly when it is an `i64` (both
/// databases hold it exactly), else as its nearest `f64` (SQLite's REAL).
pub fn stored_text(n: &Number) -> String {
    match n.as_i64() {
        Some(integer) => integer.to_string(),
        None => n.as_f64().map_or_else(|| n.to_string(), float_text),
    }
}

/// An `f64` written one way: an integer without a fraction (`1500.0` is
/// `1500`), others as Rust prints them (no exponent).
fn float_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        (n as i64).to_string()
    } else {
        n.to_string()
    }
}

/// `text` (a number `f64` reads) in plain decimal, exactly; `None` when its
/// exponent puts it more than `MAX_EXACT_DIGITS` digits from the point.
fn exact_decimal(text: &str) -> Option<String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{integer}{fraction}");
    let significant = all.trim_start_matches('0');
    // Where the point is, counted in `significant`'s digits; saturating,
    // as an exponent may be any i64 (`0.1e-9223372036854775808` is 0.0 to f64).
    let zeros = (all.len() - significant.len()) as i64;
    let point = (integer.len() as i64).saturating_add(exponent).saturating_sub(zeros);
    let digits = significant.trim_end_matches('0');
    if digits.is_empty() {
        return Some("0".to_owned());
    }
    if point.unsigned_abs() > MAX_EXACT_DIGITS {
        return None;
    }
    let len = digits.len() as i64;
    let plain = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(-point as usize))
    } else if point >= len {
        format!("{digits}{}", "0".repeat((point - len) as usize))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    Some(if negative { format!("-{plain}") } else { plain })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(text: &str) -> String {
        FieldNumber::parse(text).unwrap().exact
    }

    #[test]
    fn a_number_is_written_exactly_one_way() {
        for (text, written) in [
            ("1500", "1500"),
            (" 1500.00 ", "1500"),
            ("1.5e3", "1500"),
            ("+5", "5"),
            ("-0.0", "0"),
            ("0042", "42"),
            ("0.10", "0.1"),
            (".5", "0.5"),
            ("1.", "1"),
            ("-1.25E-2", "-0.0125"),
            ("9.007199254740993e15", "9007199254740993"),
            ("18446744073709551615", "18446744073709551615"),
        ] {
            assert_eq!(exact(text), written, "{text}");
        }
        assert_eq!(FieldNumber::parse("lots"), None);
        assert_eq!(FieldNumber::parse("inf"), None);
        assert_eq!(exact("1e-99999"), "0", "too far from the point: its f64");
        // Exponents at i64's ends, which f64 reads as 0.
        assert_eq!(exact("0.1e-9223372036854775808"), "0");
        assert_eq!(exact("-1e-9223372036854775807"), "0");
        assert_eq!(exact("00e9223372036854775807"), "0");
        assert_eq!(exact("0.0e9223372036854775807"), "0");
        assert_eq!(FieldNumber::parse("0.1e9223372036854775807"), None, "infinite");
    }

    #[test]
    fn a_searched_number_is_looked_for_as_either_database_holds_it() {
        assert_eq!(FieldNumber::parse("1500.0").unwrap().texts(), ["1500"]);
        assert_eq!(FieldNumber::parse("1500.0").unwrap().integer(), Some(1500));
        let huge = FieldNumber::parse("18446744073709551614").unwrap();
        assert_eq!(huge.integer(), None);
        assert_eq!(huge.texts(), ["18446744073709551614", "18446744073709552000"]);
        let stored: Number = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(stored_text(&stored), "18446744073709552000", "SQLite holds it as a REAL");
        // As shown, it differs: the document holds both (`search::Document::json`).
        assert_eq!(stored.to_string(), "18446744073709551615");
        let exact_integer = FieldNumber::parse("12345678901234567.0").unwrap();
        assert_eq!(exact_integer.texts(), ["12345678901234567", "12345678901234568"]);
        assert_eq!(stored_text(&serde_json::from_str("12345678901234567").unwrap()), "12345678901234567");
        assert_eq!(stored_text(&serde_json::from_str("1.5e3").unwrap()), "1500");
        assert_eq!(stored_text(&serde_json::from_str("0.1").unwrap()), "0.1");
    }
}
