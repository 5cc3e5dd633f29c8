//! Signing and verifying Chorus transactions (EIP-712 digests from `chorus-types`).

use chorus_types::{Address, SignedTx, Tx};

use crate::{AccountKey, Error, recover_prehash};

/// Signs `tx`'s EIP-712 digest with `key`.
pub fn sign_tx(key: &AccountKey, tx: Tx) -> SignedTx {
    let signature = key.sign_prehash(&tx.signing_digest());
    SignedTx { tx, signature }
}

/// Recovers the sender of a signed transaction (low-s, `v ∈ {27, 28}` only).
pub fn recover_tx_sender(stx: &SignedTx) -> Result<Address, Error> {
    recover_prehash(&stx.tx.signing_digest(), &stx.signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_types::{BankMsg, Msg};

    fn hardhat0() -> AccountKey {
        let sk: [u8; 32] =
            hex::decode("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap()
                .try_into()
                .unwrap();
        AccountKey::from_bytes(&sk).unwrap()
    }

    #[test]
    fn tx_signature_matches_python_eth_account() {
        // eth_account `Account.sign_message(encode_typed_data(full_message=…), key)` for the
        // typed data of this transaction (see chorus-types' golden tests and docs/ledger.md).
        let tx = Tx {
            chain_id: 7,
            nonce: 3,
            fee: 1000,
            msgs: vec![Msg::Bank(BankMsg::Transfer { to: Address([0x11; 20]), amount: 5 })],
        };
        let stx = sign_tx(&hardhat0(), tx);
        assert_eq!(
            hex::encode(stx.signature),
            "84cf2867b39907ed16293d7b38cafc10893a451d97aa76830cd4cf63542e1cda\
             2fc4f2345f638a418d1dab7848b0d9f1570dd1ee060fa6537f724a0330c5839d1c"
        );
        assert_eq!(recover_tx_sender(&stx).unwrap(), hardhat0().address());
    }

    #[test]
    fn eip191_signature_matches_python_eth_account() {
        assert_eq!(
            hex::encode(hardhat0().sign_eip191(b"hello")),
            "f16ea9a3478698f695fd1401bfe27e9e4a7e8e3da94aa72b021125e31fa899cc\
             573c48ea3fe1d4ab61a9db10c19032026e3ed2dbccba5a178235ac27f94504311c"
        );
    }
}
