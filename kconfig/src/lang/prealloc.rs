//! Reading the long arrays of the parsed-tree cache (symbols, properties, menus, the
//! evaluator's tables) into vectors allocated once at their final size.
//!
//! serde's own `Vec` reading reserves at most 1 MiB up front and then grows by doubling: for
//! the ~20,000 symbols and menus of a kernel tree that copies each array several times and
//! touches twice the memory it keeps, which showed up as 40 % of a warm load's page faults.
//! The stored length is trusted up to [`MAX_BYTES`] of elements (an entry is written by this
//! library; a corrupt one must not reserve absurd amounts, and still reads as an error).

use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// The most memory reserved up front for one array.
const MAX_BYTES: usize = 256 << 20;

/// `deserialize_with` for a `Vec<T>`: reserves the stored length at once.
pub(crate) fn vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Seq<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Seq<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let most = MAX_BYTES / std::mem::size_of::<T>().max(1);
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(most));
            while let Some(x) = seq.next_element()? {
                v.push(x);
            }
            Ok(v)
        }
    }
    d.deserialize_seq(Seq(PhantomData))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Arrays {
        #[serde(deserialize_with = "super::vec")]
        long: Vec<(u32, String)>,
        #[serde(deserialize_with = "super::vec")]
        empty: Vec<u8>,
    }

    /// The values read back are the values written, at exactly their length's capacity.
    #[test]
    fn arrays_read_back_at_their_size() {
        let a = Arrays {
            long: (0..100_000).map(|i| (i, format!("s{i}"))).collect(),
            empty: Vec::new(),
        };
        let bytes = postcard::to_stdvec(&a).unwrap();
        let b: Arrays = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.long.capacity(), 100_000);
        // A length far beyond the data is an error, not a huge allocation that succeeds.
        let mut bad = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        bad.extend_from_slice(&bytes[3..]);
        assert!(postcard::from_bytes::<Arrays>(&bad).is_err());
    }
}
