//! Serde helpers that write `u128` amounts as decimal strings (JSON numbers lose precision in
//! JavaScript and in `serde_json::Value`) and read either a decimal string or a JSON integer.

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

use crate::Amount;

/// Serializes an amount as a decimal string.
pub fn serialize<S: Serializer>(v: &Amount, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Deserializes an amount from a decimal string or a non-negative integer.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
    d.deserialize_any(AmountVisitor)
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = Amount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer amount as a decimal string or number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(format!("invalid amount {v:?}")));
        }
        v.parse::<Amount>().map_err(|_| E::custom(format!("amount out of range {v:?}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
        Ok(Amount::from(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Amount, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
        Amount::try_from(v).map_err(|_| E::custom("negative amount"))
    }
}

/// The same for `Vec<(Address, Amount)>` (genesis accounts): `[["0x…", "1000"], …]`.
pub mod accounts {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::{Address, Amount};

    #[derive(Serialize, Deserialize)]
    struct Entry(Address, #[serde(with = "super")] Amount);

    /// Serializes the accounts as `[address, "amount"]` pairs.
    pub fn serialize<S: Serializer>(v: &[(Address, Amount)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(a, n)| Entry(*a, *n)))
    }

    /// Deserializes `[address, amount]` pairs (amount as string or integer).
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(Address, Amount)>, D::Error> {
        let v = Vec::<Entry>::deserialize(d)?;
        Ok(v.into_iter().map(|Entry(a, n)| (a, n)).collect())
    }
}
