//! JSON objects whose keys are distinct. serde_json keeps the last of a repeated key, so a
//! file written or patched by hand — a layer with `"out"` twice, a checkpoint.json with two
//! `"arch"`s, a safetensors header naming a tensor twice — would silently take one of the two.

use serde::{Deserialize, Deserializer};

/// A JSON object read with every key checked to be given once; the error names the key.
pub(crate) struct DistinctKeys(pub serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for DistinctKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Entries(entries) = Entries::deserialize(deserializer)?;
        if let Some(key) = first_repeat(&entries) {
            return Err(serde::de::Error::custom(format!(
                "field `{key}` is given twice"
            )));
        }
        Ok(DistinctKeys(entries.into_iter().collect()))
    }
}

/// The first key a JSON object gives twice (`None`: none does, or `json` is no object).
pub(crate) fn repeated_key(json: &[u8]) -> Option<String> {
    let Entries(entries) = serde_json::from_slice(json).ok()?;
    first_repeat(&entries)
}

fn first_repeat(entries: &[(String, serde_json::Value)]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    entries
        .iter()
        .map(|(key, _)| key)
        .find(|key| !seen.insert(*key))
        .cloned()
}

/// An object's entries in order, repeats kept (a map keeps one of each key).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> serde::de::Visitor<'de> for InOrder {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}
