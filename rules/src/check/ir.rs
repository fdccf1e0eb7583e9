//! The checked, typed intermediate form: every name resolved to a field, a
//! feature (by its index in declaration order), a list, the score or a
//! built-in function; every node's type known. The compiler turns it into
//! closures; nothing downstream sees a string name.

use std::sync::Arc;

use rustc_hash::FxHashSet;

use crate::functions::Function;
use crate::input::Field;
use crate::syntax::ast::BinOp;

/// Value types of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Number,
    Text,
    /// Yes/no; as a feature value 1.0 / 0.0 (NaN when unknown).
    Bool,
    /// A length of time, in milliseconds at run time.
    Duration,
    /// A point in time (`event_time`), milliseconds since the epoch at run time.
    Time,
    /// The expression already has an error; suppresses follow-on diagnostics.
    Error,
}

impl Type {
    pub fn describe(self) -> &'static str {
        match self {
            Type::Number => "a number",
            Type::Text => "text",
            Type::Bool => "a yes/no value",
            Type::Duration => "a duration",
            Type::Time => "a time",
            Type::Error => "an invalid value",
        }
    }

    pub fn of_field(field: Field) -> Type {
        match field {
            Field::EventTime => Type::Time,
            f if f.field_type() == crate::input::FieldType::Number => Type::Number,
            _ => Type::Text,
        }
    }
}

/// A named set of text values, shared by every rule that tests it.
pub type ListSet = Arc<TextSet>;

/// Up to this many entries a linear scan beats hashing the probe.
const SMALL_SET: usize = 8;

/// A set of text values: a short vector for small inline lists such as
/// `["KP", "IR"]`, an FxHash set for list files. FxHash is several times
/// faster than SipHash on short keys such as IPs and ids; hash flooding is
/// not a concern here: the sets are fixed by the analyst's list files, and an
/// event only looks a key up, it never inserts one.
#[derive(Debug, Default)]
pub struct TextSet {
    /// Each entry with its first eight bytes as a word, compared before the bytes.
    small: Vec<(u64, Box<str>)>,
    hashed: FxHashSet<Box<str>>,
}

impl TextSet {
    #[inline]
    pub fn contains(&self, value: &str) -> bool {
        if self.hashed.is_empty() {
            let (w, len) = (prefix_word(value), value.len());
            self.small.iter().any(|(sw, s)| {
                *sw == w
                    && s.len() == len
                    && (len <= 8 || s.as_bytes()[8..] == value.as_bytes()[8..])
            })
        } else {
            self.hashed.contains(value)
        }
    }

    pub fn len(&self) -> usize {
        self.small.len() + self.hashed.len()
    }
}

#[inline]
fn prefix_word(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut buf = [0u8; 8];
    let n = b.len().min(8);
    buf[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(buf)
}

impl FromIterator<Box<str>> for TextSet {
    fn from_iter<I: IntoIterator<Item = Box<str>>>(iter: I) -> Self {
        let mut hashed: FxHashSet<Box<str>> = iter.into_iter().collect();
        if hashed.len() <= SMALL_SET {
            let mut small: Vec<(u64, Box<str>)> =
                hashed.drain().map(|s| (prefix_word(&s), s)).collect();
            small.sort();
            return TextSet { small, hashed };
        }
        TextSet {
            small: Vec::new(),
            hashed,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Ir {
    /// A number, duration (ms) or time (ms) constant.
    Const(f64),
    Text(Box<str>),
    Bool(bool),
    Field(Field),
    /// A feature, by its index in declaration order (yes/no features hold
    /// 1.0 / 0.0 / NaN).
    Feature(u32),
    Score,
    Neg(Box<Ir>),
    Arith(BinOp, Box<Ir>, Box<Ir>),
    /// Comparison of two values stored as `f64` (number, duration, time, yes/no).
    CmpNum(BinOp, Box<Ir>, Box<Ir>),
    /// `==` / `!=` on text.
    CmpText(BinOp, Box<Ir>, Box<Ir>),
    And(Box<Ir>, Box<Ir>),
    Or(Box<Ir>, Box<Ir>),
    Not(Box<Ir>),
    In {
        value: Box<Ir>,
        set: ListSet,
        negated: bool,
    },
    Is {
        value: Box<Ir>,
        ty: Type,
        present: bool,
    },
    /// A built-in, by its row in [`crate::functions::FUNCTIONS`].
    Call(&'static Function, Vec<Ir>),
}
