//! Serde for an f64 that may be NaN or ±∞, which JSON numbers cannot hold: serde_json writes
//! them as null and then refuses to read null back as an f64, so one overflowed quantity made a
//! whole record unreadable (an analysis could not resume from it, nor `report` draw it).
//!
//! Written as a number when finite, else as the text "NaN", "inf" or "-inf"; read from either,
//! and null as NaN (what records written before this held). Use as
//! `#[serde(with = "curvscope_hessian::non_finite")]`.
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize, Debug)]
//! struct Row { #[serde(with = "curvscope_hessian::non_finite")] x: f64 }
//! let text = serde_json::to_string(&Row { x: f64::INFINITY }).unwrap();
//! assert_eq!(text, r#"{"x":"inf"}"#);
//! assert_eq!(serde_json::from_str::<Row>(&text).unwrap().x, f64::INFINITY);
//! assert!(serde_json::from_str::<Row>(r#"{"x":null}"#).unwrap().x.is_nan());
//! assert_eq!(serde_json::from_str::<Row>(r#"{"x":2.5}"#).unwrap().x, 2.5);
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Number(f64),
    Text(String),
}

/// `x` as a number, or as "NaN", "inf", "-inf".
pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    match *x {
        x if x.is_finite() => Repr::Number(x).serialize(s),
        x if x.is_nan() => Repr::Text("NaN".into()).serialize(s),
        x if x > 0.0 => Repr::Text("inf".into()).serialize(s),
        _ => Repr::Text("-inf".into()).serialize(s),
    }
}

/// A number, "NaN", "inf", "-inf", or null (NaN).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    option::deserialize(d).map(|x| x.unwrap_or(f64::NAN))
}

/// The same for an `Option<f64>`, `None` written and read as null (a value that is undefined,
/// as opposed to one that is ±∞ or NaN): `#[serde(with = "curvscope_hessian::non_finite::option")]`.
pub mod option {
    use super::{Deserialize, Deserializer, Repr, Serializer};

    /// `None` as null, else as [`super::serialize`].
    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(x) => super::serialize(x, s),
            None => s.serialize_none(),
        }
    }

    /// null as `None`, else a number, "NaN", "inf" or "-inf".
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<Repr>::deserialize(d)?
            .map(|repr| match repr {
                Repr::Number(x) => Ok(x),
                Repr::Text(t) => match t.as_str() {
                    "NaN" => Ok(f64::NAN),
                    "inf" => Ok(f64::INFINITY),
                    "-inf" => Ok(f64::NEG_INFINITY),
                    _ => Err(serde::de::Error::custom(format!(
                        "{t:?} is no number (expected a number, \"NaN\", \"inf\" or \"-inf\")"
                    ))),
                },
            })
            .transpose()
    }
}

/// A number as [`super::serialize`] writes and reads it, for the sequences below.
#[derive(Serialize, Deserialize)]
struct Entry(#[serde(with = "self")] f64);

/// The same for a `Vec<f64>`, each entry as [`serialize`] writes it:
/// `#[serde(with = "curvscope_hessian::non_finite::vec")]`.
pub mod vec {
    use super::{Deserialize, Deserializer, Entry, Serializer};

    /// Each entry as a number, "NaN", "inf" or "-inf".
    pub fn serialize<S: Serializer>(x: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(x.iter().map(|&x| Entry(x)))
    }

    /// A sequence of numbers, "NaN", "inf", "-inf" or nulls (NaN).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Entry>::deserialize(d)?
            .into_iter()
            .map(|e| e.0)
            .collect())
    }
}

/// The same for a `Vec<Vec<f64>>`: `#[serde(with = "curvscope_hessian::non_finite::vecs")]`.
pub mod vecs {
    use super::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    struct Row(#[serde(with = "super::vec")] Vec<f64>);

    struct RowRef<'a>(&'a [f64]);

    impl Serialize for RowRef<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::vec::serialize(self.0, s)
        }
    }

    /// Each row as [`super::vec::serialize`] writes it.
    pub fn serialize<S: Serializer>(x: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(x.iter().map(|row| RowRef(row)))
    }

    /// Rows as [`super::vec::deserialize`] reads them.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        Ok(Vec::<Row>::deserialize(d)?
            .into_iter()
            .map(|r| r.0)
            .collect())
    }
}
