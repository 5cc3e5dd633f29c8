//! State-machine benchmarks (`chorus bench learning`). The chain has no clock, so the caller
//! passes one in; nothing measured here ever reaches state.

use std::fmt;
use std::time::Duration;

use chorus_crypto::{AccountKey, ConsensusKey, sign_tx};
use chorus_types::learning::{
    Capabilities, DataMode, Encryption, LearningMsg, ModelSpec, PhaseLengths, RegistryMsg, Role,
    RuleSpec, TaskSpec, score_commitment, update_commitment,
};
use chorus_types::{Genesis, GenesisValidator, Hash, Msg, Params, Tx, keccak256};

use chorus_chain::components::learning;
use chorus_chain::state::MemState;
use chorus_chain::{BlockContext, TxError, VerifiedTx, check_stateless, execute_block};

const CHAIN: u64 = 1;

/// What one learning round cost in the state machine.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LearningRoundReport {
    /// Registered and selected participants.
    pub participants: usize,
    /// Validators (each reveals a score vector of `participants` entries).
    pub validators: usize,
    /// Transactions in the round (commits, reveals, score commits and reveals, attestations).
    pub txs: usize,
    /// Signature verification (`check_stateless`) of those transactions, µs.
    pub verify_us: u64,
    /// `execute_block` of the opening block (selection over the registry), µs.
    pub open_us: u64,
    /// `execute_block` of the commit block, µs.
    pub commit_us: u64,
    /// `execute_block` of the reveal block, µs.
    pub reveal_us: u64,
    /// `execute_block` of the score-commit block (reveal deadline), µs.
    pub score_commit_us: u64,
    /// `execute_block` of the score-reveal block, µs.
    pub score_reveal_us: u64,
    /// `execute_block` of the aggregate block (median, clipping, accepted set, attestations,
    /// finalization, rewards), µs.
    pub aggregate_us: u64,
    /// Sum of the `execute_block` times, µs (the state-machine cost without signatures).
    pub execute_us: u64,
    /// `execute_us + verify_us`.
    pub total_us: u64,
    /// Updates in the accepted set.
    pub accepted: usize,
    /// Reward payouts made.
    pub payouts: usize,
    /// Whether the round finalized.
    pub finalized: bool,
    /// State keys written by the round's blocks (what the host would persist).
    pub changed_keys: usize,
}

impl fmt::Display for LearningRoundReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        writeln!(
            f,
            "learning round: {} participants, {} validators, {} txs, finalized = {}, {} accepted, {} payouts, {} keys written",
            self.participants,
            self.validators,
            self.txs,
            self.finalized,
            self.accepted,
            self.payouts,
            self.changed_keys
        )?;
        writeln!(f, "  open (selection)     {:>9.2} ms", ms(self.open_us))?;
        writeln!(f, "  commit block         {:>9.2} ms", ms(self.commit_us))?;
        writeln!(f, "  reveal block         {:>9.2} ms", ms(self.reveal_us))?;
        writeln!(f, "  score-commit block   {:>9.2} ms", ms(self.score_commit_us))?;
        writeln!(f, "  score-reveal block   {:>9.2} ms", ms(self.score_reveal_us))?;
        writeln!(f, "  aggregate block      {:>9.2} ms", ms(self.aggregate_us))?;
        writeln!(
            f,
            "  state machine total  {:>9.2} ms (no signature checks)",
            ms(self.execute_us)
        )?;
        writeln!(f, "  signature checks     {:>9.2} ms", ms(self.verify_us))?;
        write!(f, "  total                {:>9.2} ms", ms(self.total_us))
    }
}

struct Harness {
    state: MemState,
    height: u64,
    rewards: usize,
    changed: usize,
}

impl Harness {
    fn block(&mut self, txs: &[VerifiedTx], clock: &dyn Fn() -> Duration) -> Result<u64, TxError> {
        self.height += 1;
        let ctx = BlockContext {
            chain_id: CHAIN,
            height: self.height,
            time_ms: 1_700_000_000_000 + self.height * 1000,
            proposer: [0; 32],
            randomness: Hash(keccak256(&self.height.to_be_bytes())),
            last_commit: None,
        };
        let t0 = clock();
        let out = execute_block(&self.state, &ctx, txs).map_err(|e| match e {
            chorus_chain::BlockError::Hook(e) => e,
            chorus_chain::BlockError::Storage(e) => TxError::Storage(e),
        })?;
        let us = (clock() - t0).as_micros() as u64;
        if let Some(f) = out.receipts.iter().find_map(|r| r.result.as_ref().err()) {
            return Err(TxError::Malformed(format!("bench tx failed: {}", f.message)));
        }
        self.rewards = out
            .receipts
            .iter()
            .flat_map(|r| &r.events)
            .filter(|e| e.kind == "learning.reward")
            .count();
        self.changed += out.changes.len();
        self.state.apply(&out.changes);
        Ok(us)
    }
}

fn sign(
    key: &AccountKey,
    nonce: u64,
    msg: Msg,
    clock: &dyn Fn() -> Duration,
    verify_us: &mut u64,
) -> Result<VerifiedTx, TxError> {
    let bytes = sign_tx(key, Tx { chain_id: CHAIN, nonce, fee: 0, msgs: vec![msg] }).encode();
    let t0 = clock();
    let v = check_stateless(&bytes, CHAIN)?;
    *verify_us += (clock() - t0).as_micros() as u64;
    Ok(v)
}

/// Runs one learning round with `participants` registered and selected participants and
/// `validators` validators through [`execute_block`] with real signed transactions, timing each
/// block with `clock` (e.g. `|| start.elapsed()`).
pub fn learning_round(
    participants: usize,
    validators: usize,
    clock: &dyn Fn() -> Duration,
) -> Result<LearningRoundReport, TxError> {
    let pkeys: Vec<AccountKey> =
        (0..participants).map(|i| AccountKey::from_seed(format!("p{i}").as_bytes())).collect();
    let vkeys: Vec<AccountKey> =
        (0..validators).map(|i| AccountKey::from_seed(format!("v{i}").as_bytes())).collect();
    let owner = AccountKey::from_seed(b"owner");
    let mut accounts = vec![(owner.address(), 1_000_000_000_000u128)];
    accounts.extend(pkeys.iter().map(|k| (k.address(), 1_000_000u128)));
    accounts.extend(vkeys.iter().map(|k| (k.address(), 1_000_000u128)));
    let genesis = Genesis {
        chain_id: CHAIN,
        genesis_time_ms: 1_700_000_000_000,
        accounts,
        validators: (0..validators)
            .map(|i| GenesisValidator {
                operator: vkeys[i].address(),
                consensus_key: ConsensusKey::from_seed(format!("v{i}").as_bytes()).public_key(),
                stake: 1_000,
            })
            .collect(),
        // The defaults scaled to this harness's small stakes, fee-free: it times the round's
        // execution, not fees.
        params: Params {
            bank: chorus_types::BankParams { min_fee: 0 },
            staking: chorus_types::staking::StakingParams {
                min_self_delegation: 1,
                ..Default::default()
            },
            ..Params::default()
        },
    };
    let mut h = Harness { state: MemState::new(), height: 0, rewards: 0, changed: 0 };
    h.state.apply(
        &chorus_chain::init_genesis(&genesis).map_err(|e| TxError::Malformed(e.to_string()))?,
    );
    let mut discard = 0u64;
    // Setup (not part of the round): registrations and the task.
    let caps = Capabilities { x25519_public_key: [1; 32], ..Capabilities::default() };
    let mut txs = Vec::with_capacity(participants + 1);
    for k in &pkeys {
        let m = Msg::Registry(RegistryMsg::Register {
            role: Role::Participant,
            bond: 1_000,
            capabilities: caps.clone(),
        });
        txs.push(sign(k, 0, m, clock, &mut discard)?);
    }
    let spec = TaskSpec {
        model: ModelSpec {
            spec_id: "bench".into(),
            description: String::new(),
            initial_model: Hash([1; 32]),
        },
        data: DataMode::Private,
        rounds: 1,
        participants_per_round: participants as u32,
        phases: PhaseLengths {
            commit: 1,
            reveal: 1,
            score_commit: 1,
            score_reveal: 1,
            aggregate: 1,
        },
        aggregation: RuleSpec { id: "fedavg".into(), params: vec![] },
        score_rule: RuleSpec { id: "loss_delta".into(), params: vec![] },
        min_quorum: 1,
        reward_per_round: 1_000_000_000,
        min_participant_stake: 1_000,
        validator_share_bps: 1_000,
        score_threshold: 1,
        dp: None,
        encryption: Encryption::None,
        max_examples: chorus_types::learning::MAX_EXAMPLES_PER_UPDATE,
    };
    txs.push(sign(
        &owner,
        0,
        Msg::Learning(LearningMsg::CreateTask { spec: Box::new(spec) }),
        clock,
        &mut discard,
    )?);
    h.block(&txs, clock)?;
    let task = 1u64;

    let mut r = LearningRoundReport { participants, validators, ..Default::default() };
    h.changed = 0;
    r.open_us = h.block(&[], clock)?;
    let salt = |i: usize| Hash(keccak256(&(i as u64).to_be_bytes()));
    let update = |i: usize| Hash(keccak256(format!("update{i}").as_bytes()));
    let mut txs = Vec::with_capacity(participants);
    for (i, k) in pkeys.iter().enumerate() {
        let c = update_commitment(&update(i), 100 + i as u64, &salt(i), &k.address(), task, 0);
        let m = Msg::Learning(LearningMsg::Commit { task, round: 0, commitment: c });
        txs.push(sign(k, 1, m, clock, &mut r.verify_us)?);
    }
    r.txs += txs.len();
    r.commit_us = h.block(&txs, clock)?;
    let mut txs = Vec::with_capacity(participants);
    for (i, k) in pkeys.iter().enumerate() {
        let m = Msg::Learning(LearningMsg::Reveal {
            task,
            round: 0,
            update_id: update(i),
            salt: salt(i),
            num_examples: 100 + i as u64,
            norm: 1_000,
        });
        txs.push(sign(k, 2, m, clock, &mut r.verify_us)?);
    }
    r.txs += txs.len();
    r.reveal_us = h.block(&txs, clock)?;
    // Validators score every revealed update (canonical order); scores vary per validator.
    let updates = learning::revealed_updates(&h.state, task, 0)?;
    let vectors: Vec<Vec<i64>> = (0..validators)
        .map(|v| {
            updates.iter().map(|u| 1 + i64::from(u.participant.0[0]) + (v as i64 % 7)).collect()
        })
        .collect();
    let mut txs = Vec::with_capacity(validators);
    for (v, k) in vkeys.iter().enumerate() {
        let c = score_commitment(&vectors[v], &salt(v), &k.address(), task, 0);
        let m = Msg::Learning(LearningMsg::ScoreCommit { task, round: 0, commitment: c });
        txs.push(sign(k, 0, m, clock, &mut r.verify_us)?);
    }
    r.txs += txs.len();
    r.score_commit_us = h.block(&txs, clock)?;
    let mut txs = Vec::with_capacity(validators);
    for (v, k) in vkeys.iter().enumerate() {
        let m = Msg::Learning(LearningMsg::ScoreReveal {
            task,
            round: 0,
            scores: vectors[v].clone(),
            salt: salt(v),
        });
        txs.push(sign(k, 1, m, clock, &mut r.verify_us)?);
    }
    r.txs += txs.len();
    r.score_reveal_us = h.block(&txs, clock)?;
    // The accepted-set hash as an off-chain validator computes it.
    let votes: Vec<(u64, &[i64])> = vectors.iter().map(|v| (1_000u64, v.as_slice())).collect();
    let c = learning::math::consensus(updates.len(), &votes);
    let acc = learning::math::accepted_set(&updates, &c, 1);
    let set_hash = learning::math::accepted_set_hash(task, 0, &acc);
    let model_id = Hash([9; 32]);
    // Equal power: the first ⌊2n/3⌋ + 1 attestations (strictly more than 2/3) finalize; later
    // ones would be refused as late.
    let quorum = 2 * validators / 3 + 1;
    let mut txs = Vec::with_capacity(quorum);
    for (v, k) in vkeys.iter().enumerate().take(quorum) {
        let m = if v == 0 {
            LearningMsg::ProposeAggregate { task, round: 0, model_id, accepted_set_hash: set_hash }
        } else {
            LearningMsg::AttestAggregate { task, round: 0, model_id, accepted_set_hash: set_hash }
        };
        txs.push(sign(k, 2, Msg::Learning(m), clock, &mut r.verify_us)?);
    }
    r.txs += txs.len();
    r.aggregate_us = h.block(&txs, clock)?;
    r.execute_us = r.open_us
        + r.commit_us
        + r.reveal_us
        + r.score_commit_us
        + r.score_reveal_us
        + r.aggregate_us;
    r.total_us = r.execute_us + r.verify_us;
    r.accepted = acc.len();
    let rd = learning::round(&h.state, task, 0)?;
    r.finalized = rd.is_some_and(|x| x.phase == learning::Phase::Finalized);
    r.payouts = h.rewards;
    r.changed_keys = h.changed;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_round_finalizes() {
        let r = learning_round(8, 3, &|| Duration::ZERO).unwrap();
        assert!(r.finalized);
        assert_eq!(r.accepted, 8);
        assert_eq!(r.txs, 8 * 2 + 3 * 2 + 3);
        assert_eq!(r.payouts, 8 + 3);
    }
}
