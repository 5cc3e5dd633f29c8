//! Binding to `chorus-crypto` for EIP-191 (kept in one place).

use chorus_types::Address;

use crate::auth::RequestSigner;

/// Recovers the signer of an EIP-191 `personal_sign` signature (low-s enforced by chorus-crypto).
pub(crate) fn recover_eip191(msg: &[u8], sig: &[u8; 65]) -> Result<Address, String> {
    chorus_crypto::recover_eip191(msg, sig).map_err(|e| e.to_string())
}

impl RequestSigner for chorus_crypto::AccountKey {
    fn address(&self) -> Address {
        chorus_crypto::AccountKey::address(self)
    }
    fn sign_eip191(&self, msg: &[u8]) -> [u8; 65] {
        chorus_crypto::AccountKey::sign_eip191(self, msg)
    }
}
