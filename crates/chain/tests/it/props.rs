use chorus_chain::components::bank;
use chorus_types::Amount;
use proptest::prelude::*;

use crate::support::*;

const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random transfer sequences (some overdrawing, some with stale nonces) keep
    /// supply = Σ balances + pools, collect exactly the fees paid, and never let a transfer through
    /// that the sender could not afford.
    #[test]
    fn random_transfers_preserve_supply_and_never_overdraw(
        ops in proptest::collection::vec((0usize..4, 0usize..4, 1u128..700, 10u128..40, any::<bool>()), 1..24)
    ) {
        let mut s = genesis_state();
        let mut nonces = [0u64; 4];
        for (height, chunk) in (1u64..).zip(ops.chunks(6)) {
            let supply_before = bank::supply(&s).unwrap();
            let before: Vec<Amount> = NAMES.iter().map(|n| balance(&s, n)).collect();
            let txs: Vec<_> = chunk
                .iter()
                .map(|&(from, to, amount, fee, stale)| {
                    let n = if stale && nonces[from] > 0 { nonces[from] - 1 } else { nonces[from] };
                    if !stale { nonces[from] += 1; }
                    verified(NAMES[from], n, fee, vec![transfer(NAMES[to], amount)])
                })
                .collect();
            let (next, out) = run(&s, height, &txs);
            let fees: Amount = out.receipts.iter().map(|r| r.fee_paid).sum();
            // Fees are not burnt: they wait in the fee collector (or were already distributed).
            prop_assert_eq!(bank::supply(&next).unwrap(), supply_before);
            prop_assert_eq!(
                bank::module_balance(&next, bank::FEE_COLLECTOR).unwrap(),
                fees
            );
            // Every successful transfer was affordable at its point in the block; the final
            // balances plus fees and net transfers reconcile with the starting balances.
            let after: Vec<Amount> = NAMES.iter().map(|n| balance(&next, n)).collect();
            prop_assert_eq!(
                before.iter().sum::<Amount>() - fees,
                after.iter().sum::<Amount>()
            );
            // Nonces only move for transactions that paid.
            for (i, name) in NAMES.iter().enumerate() {
                let paid = out.receipts.iter().zip(&txs)
                    .filter(|(r, t)| r.fee_paid > 0 && t.sender() == addr(name)).count() as u64;
                prop_assert_eq!(nonce(&next, name), nonce(&s, name) + paid);
                nonces[i] = nonce(&next, name);
            }
            s = next;
        }
    }
}
