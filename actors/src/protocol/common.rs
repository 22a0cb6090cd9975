//! Building blocks shared by several wire types: [`Page`], and serde
//! helpers for ordered maps.

use serde::{Deserialize, Serialize};

/// One page of a listing (§4.1): `{"data":[...],"has_more":false}`.
///
/// `after` is the id of the last element, present only when `has_more`
/// is true (§11.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    /// The elements of this page.
    #[serde(default)]
    pub data: Vec<T>,
    /// Whether more elements follow this page.
    #[serde(default)]
    pub has_more: bool,
    /// Cursor for the next page; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl<T> Page<T> {
    /// The empty page, `{"data":[],"has_more":false}`.
    pub fn empty() -> Self {
        Self {
            data: Vec::new(),
            has_more: false,
            after: None,
        }
    }
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self::empty()
    }
}

/// Serde helpers for `IndexMap<String, V>`, kept in input order (the
/// `indexmap` crate's own serde support is not enabled in this workspace).
/// Use with `#[serde(with = "crate::protocol::common::ordered_map")]`.
pub mod ordered_map {
    use std::fmt;
    use std::marker::PhantomData;

    use indexmap::IndexMap;
    use serde::de::{MapAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the map as a JSON object, in insertion order.
    pub fn serialize<S, V>(map: &IndexMap<String, V>, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        V: Serialize,
    {
        serializer.collect_map(map)
    }

    /// Reads a JSON object, keeping its key order (a repeated key keeps
    /// its first position and its last value). `null` is rejected.
    pub fn deserialize<'de, D, V>(deserializer: D) -> Result<IndexMap<String, V>, D::Error>
    where
        D: Deserializer<'de>,
        V: Deserialize<'de>,
    {
        struct MapVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = IndexMap<String, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = IndexMap::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some((key, value)) = access.next_entry::<String, V>()? {
                    map.insert(key, value);
                }
                Ok(map)
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_page_wire_form() {
        let page: Page<String> = Page::empty();
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"data":[],"has_more":false}"#
        );
        let back: Page<String> = serde_json::from_str("{}").unwrap();
        assert_eq!(back, page);
    }

    #[test]
    fn page_after_omitted_when_none_and_accepts_null() {
        let page: Page<u32> = serde_json::from_str(r#"{"data":[1],"after":null}"#).unwrap();
        assert_eq!(page.after, None);
        assert!(serde_json::from_str::<Page<u32>>(r#"{"data":null}"#).is_err());
    }
}
