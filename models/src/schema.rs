//! The feature schema: which columns a model reads, in which order.
//!
//! A model's input row is `numeric` columns first (raw values, NaN = missing),
//! then one slot per categorical column holding a vocabulary index stored as
//! `f32`. Index 0 of every vocabulary is reserved for "unknown / other /
//! missing", so a value never seen in training maps to a learned embedding
//! instead of an error.
//!
//! The schema hash covers names, order and vocabularies: two models with the
//! same hash accept exactly the same rows, which is what the engine checks
//! before a hot swap. The value → index maps are built once, on first use, so
//! `category_index` is a hash lookup on the per-event path.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A categorical input column and its vocabulary (index 0 = unknown/other).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoricalColumn {
    pub name: String,
    /// `vocabulary[0]` is the unknown/other bucket; its text is informative only.
    pub vocabulary: Vec<String>,
}

/// The ordered list of features a model consumes.
#[derive(Debug, Serialize, Deserialize)]
pub struct FeatureSchema {
    pub numeric: Vec<String>,
    pub categorical: Vec<CategoricalColumn>,
    #[serde(skip)]
    lookup: OnceLock<Vec<HashMap<String, u32>>>,
}

/// Name of the reserved vocabulary entry at index 0.
pub const UNKNOWN_CATEGORY: &str = "<other>";

impl FeatureSchema {
    pub fn new(numeric: Vec<String>, categorical: Vec<CategoricalColumn>) -> Self {
        Self {
            numeric,
            categorical,
            lookup: OnceLock::new(),
        }
    }

    /// Values per input row: one per numeric column plus one per categorical column.
    pub fn width(&self) -> usize {
        self.numeric.len() + self.categorical.len()
    }

    /// Stable hex hash of names, order and vocabularies.
    pub fn hash(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"verdict-feature-schema/1\n");
        for name in &self.numeric {
            hasher.update(b"n\x1f");
            hasher.update(name.as_bytes());
            hasher.update(b"\n");
        }
        for column in &self.categorical {
            hasher.update(b"c\x1f");
            hasher.update(column.name.as_bytes());
            for value in &column.vocabulary {
                hasher.update(b"\x1f");
                hasher.update(value.as_bytes());
            }
            hasher.update(b"\n");
        }
        hasher.finalize().to_hex()[..32].to_string()
    }

    /// Vocabulary index of `value` in categorical column `column` (0-based
    /// among the categorical columns); 0 when unknown, missing or out of range.
    pub fn category_index(&self, column: usize, value: Option<&str>) -> u32 {
        let Some(value) = value else { return 0 };
        let lookup = self.lookup.get_or_init(|| {
            self.categorical
                .iter()
                .map(|c| {
                    c.vocabulary
                        .iter()
                        .enumerate()
                        .skip(1)
                        .map(|(i, v)| (v.clone(), i as u32))
                        .collect()
                })
                .collect()
        });
        lookup
            .get(column)
            .and_then(|map| map.get(value))
            .copied()
            .unwrap_or(0)
    }

    /// Vocabulary sizes (including the unknown bucket), in column order.
    pub fn vocabulary_sizes(&self) -> Vec<usize> {
        self.categorical
            .iter()
            .map(|c| c.vocabulary.len())
            .collect()
    }
}

impl Clone for FeatureSchema {
    fn clone(&self) -> Self {
        Self::new(self.numeric.clone(), self.categorical.clone())
    }
}

impl PartialEq for FeatureSchema {
    fn eq(&self, other: &Self) -> bool {
        self.numeric == other.numeric && self.categorical == other.categorical
    }
}

impl Eq for FeatureSchema {}

/// A model needs features the caller does not provide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "model {model} (schema {schema_hash}) needs features the engine does not provide: \
     missing numeric [{}], missing categorical [{}]",
    missing_numeric.join(", "),
    missing_categorical.join(", ")
)]
pub struct SchemaMismatch {
    pub model: String,
    pub schema_hash: String,
    pub missing_numeric: Vec<String>,
    pub missing_categorical: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> FeatureSchema {
        FeatureSchema::new(
            vec!["amount".into(), "count_1h".into()],
            vec![CategoricalColumn {
                name: "country".into(),
                vocabulary: vec![UNKNOWN_CATEGORY.into(), "FR".into(), "US".into()],
            }],
        )
    }

    #[test]
    fn category_index_maps_unknown_and_missing_to_zero() {
        let s = schema();
        assert_eq!(s.width(), 3);
        assert_eq!(s.category_index(0, Some("US")), 2);
        assert_eq!(s.category_index(0, Some("FR")), 1);
        assert_eq!(s.category_index(0, Some("ZZ")), 0);
        assert_eq!(s.category_index(0, None), 0);
        assert_eq!(s.category_index(7, Some("US")), 0);
    }

    #[test]
    fn hash_depends_on_order_and_vocabulary() {
        let a = schema();
        let mut b = schema();
        b.numeric.swap(0, 1);
        let mut c = schema();
        c.categorical[0].vocabulary.push("DE".into());
        assert_eq!(a.hash(), schema().hash());
        assert_ne!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
    }
}
