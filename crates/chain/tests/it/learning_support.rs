//! The harness of the learning scenarios (`learning.rs`): a scripted network ([`Net`]) of
//! registered participants, equal-power validators and a task owner that executes real signed
//! transactions block by block (checking the invariants and escrow conservation after each), the
//! default task [`spec`], and [`play_round`], which plays one round through every phase with
//! scripted behaviour ([`Script`]) and recomputes the accepted set off-chain as a validator would.

use std::collections::BTreeMap;

use chorus_chain::components::bank;
use chorus_chain::components::learning::{self, Phase, math::RevealedUpdate};
use chorus_chain::state::{ChangeSet, MemState};
use chorus_chain::{BlockOutcome, VerifiedTx, execute_block};
use chorus_crypto::ConsensusKey;
use chorus_types::learning::{
    Capabilities, DataMode, Encryption, LearningMsg, ModelSpec, PhaseLengths, RegistryMsg, Role,
    RuleSpec, TaskSpec, score_commitment, update_commitment,
};
use chorus_types::{Address, Amount, Event, Genesis, GenesisValidator, Hash, Msg, keccak256};

use crate::support::{CHAIN, addr, ctx, verified};

pub(crate) const BOND: Amount = 10_000;
pub(crate) const REWARD: Amount = 1_000_000;

pub(crate) fn caps() -> Capabilities {
    Capabilities { x25519_public_key: [7; 32], max_model_bytes: 1 << 20, ..Capabilities::default() }
}

pub(crate) fn spec(rounds: u32, per_round: u32, quorum: u32) -> TaskSpec {
    TaskSpec {
        model: ModelSpec {
            spec_id: "mlp-784-128-10".into(),
            description: "mnist".into(),
            initial_model: Hash([0xAA; 32]),
        },
        data: DataMode::Private,
        rounds,
        participants_per_round: per_round,
        phases: PhaseLengths {
            commit: 1,
            reveal: 1,
            score_commit: 1,
            score_reveal: 1,
            aggregate: 1,
        },
        aggregation: RuleSpec { id: "fedavg".into(), params: vec![] },
        score_rule: RuleSpec { id: "loss_delta".into(), params: vec![] },
        min_quorum: quorum,
        reward_per_round: REWARD,
        min_participant_stake: BOND,
        validator_share_bps: 1_000,
        score_threshold: 1,
        dp: None,
        encryption: Encryption::None,
        max_examples: 1_000,
    }
}

/// A scripted network: `p0..pN` participants (registered with [`BOND`]), `v0..vM` validators
/// (equal power), `owner`.
pub(crate) struct Net {
    pub(crate) state: MemState,
    pub(crate) height: u64,
    nonces: BTreeMap<String, u64>,
    names: BTreeMap<Address, String>,
    pub(crate) validators: usize,
    pub(crate) history: Vec<ChangeSet>,
    genesis: MemState,
    blocks: Vec<Vec<VerifiedTx>>,
}

impl Net {
    pub(crate) fn new(participants: usize, validators: usize) -> Net {
        let mut accounts = vec![(addr("owner"), 1_000_000_000_000)];
        let mut names = BTreeMap::new();
        for i in 0..participants {
            let n = format!("p{i}");
            accounts.push((addr(&n), 1_000_000));
            names.insert(addr(&n), n);
        }
        let mut vals = Vec::new();
        for i in 0..validators {
            let n = format!("v{i}");
            accounts.push((addr(&n), 1_000_000));
            names.insert(addr(&n), n.clone());
            vals.push(GenesisValidator {
                operator: addr(&n),
                consensus_key: ConsensusKey::from_seed(n.as_bytes()).public_key(),
                stake: 1_000,
            });
        }
        let g = Genesis {
            chain_id: CHAIN,
            genesis_time_ms: 1_700_000_000_000,
            accounts,
            validators: vals,
            // Fee-free: the scenarios assert exact balances (fees are covered elsewhere).
            params: crate::support::test_params(0),
        };
        let mut state = MemState::new();
        state.apply(&chorus_chain::init_genesis(&g).unwrap());
        let mut net = Net {
            state: state.clone(),
            height: 0,
            nonces: BTreeMap::new(),
            names,
            validators,
            history: Vec::new(),
            genesis: state.clone(),
            blocks: Vec::new(),
        };
        let regs: Vec<VerifiedTx> = (0..participants)
            .map(|i| {
                net.tx(
                    &format!("p{i}"),
                    Msg::Registry(RegistryMsg::Register {
                        role: Role::Participant,
                        bond: BOND,
                        capabilities: caps(),
                    }),
                )
            })
            .collect();
        let out = net.block(regs);
        assert!(out.receipts.iter().all(|r| r.result.is_ok()), "{:?}", out.receipts);
        net
    }

    pub(crate) fn name(&self, a: &Address) -> String {
        self.names[a].clone()
    }

    pub(crate) fn tx(&mut self, from: &str, msg: Msg) -> VerifiedTx {
        let n = self.nonces.entry(from.to_string()).or_insert(0);
        let tx = verified(from, *n, 0, vec![msg]);
        *n += 1;
        tx
    }

    pub(crate) fn learn(&mut self, from: &str, msg: LearningMsg) -> VerifiedTx {
        self.tx(from, Msg::Learning(msg))
    }

    /// Re-executes every recorded block from genesis and returns the change sets.
    pub(crate) fn replay(&self) -> (Vec<ChangeSet>, MemState) {
        let mut s = self.genesis.clone();
        let mut changes = Vec::new();
        for (h, txs) in (1u64..).zip(&self.blocks) {
            let out = execute_block(&s, &ctx(h), txs).unwrap();
            s.apply(&out.changes);
            changes.push(out.changes);
        }
        (changes, s)
    }

    pub(crate) fn block(&mut self, txs: Vec<VerifiedTx>) -> BlockOutcome {
        self.height += 1;
        let out = execute_block(&self.state, &ctx(self.height), &txs).unwrap();
        self.state.apply(&out.changes);
        self.history.push(out.changes.clone());
        self.blocks.push(txs);
        chorus_chain::invariants::check(&self.state).unwrap();
        for t in learning::tasks(&self.state).unwrap() {
            assert_eq!(t.escrow + t.paid + t.refunded, t.budget, "escrow conservation");
        }
        out
    }

    /// Creates a task (one block) and returns its id.
    pub(crate) fn create(&mut self, spec: TaskSpec) -> u64 {
        let tx = self.learn("owner", LearningMsg::CreateTask { spec: Box::new(spec) });
        let out = self.block(vec![tx]);
        assert!(out.receipts[0].result.is_ok(), "{:?}", out.receipts[0]);
        learning::tasks(&self.state).unwrap().last().unwrap().id
    }

    pub(crate) fn task(&self, id: u64) -> learning::Task {
        learning::task(&self.state, id).unwrap().unwrap()
    }

    pub(crate) fn balance(&self, name: &str) -> Amount {
        bank::balance(&self.state, &addr(name)).unwrap()
    }
}

pub(crate) fn salt(name: &str) -> Hash {
    Hash(keccak256(format!("salt-{name}").as_bytes()))
}

pub(crate) fn update_of(name: &str, round: u32) -> Hash {
    Hash(keccak256(format!("update-{name}-{round}").as_bytes()))
}

pub(crate) fn model_of(task: u64, round: u32) -> Hash {
    Hash(keccak256(format!("model-{task}-{round}").as_bytes()))
}

/// How scripted actors behave in one round.
pub(crate) struct Script<'a> {
    /// Update a selected participant commits (`None`: it stays silent).
    pub(crate) commit: &'a dyn Fn(&str) -> Option<Hash>,
    /// Update it reveals given its committed one (`None`: never reveals).
    pub(crate) reveal: &'a dyn Fn(&str, Hash) -> Option<Hash>,
    /// Score validator `i` gives an update.
    pub(crate) score: &'a dyn Fn(usize, &RevealedUpdate) -> i64,
}

pub(crate) fn honest(round: u32) -> impl Fn(&str) -> Option<Hash> {
    move |n| Some(update_of(n, round))
}

pub(crate) fn same(_: &str, h: Hash) -> Option<Hash> {
    Some(h)
}

pub(crate) fn flat(_: usize, _: &RevealedUpdate) -> i64 {
    100
}

/// Plays the open round of `task` (which must be in its commit phase at the current height) to
/// its end, one block per phase, and returns every event of those blocks.
pub(crate) fn play_round(net: &mut Net, task: u64, s: &Script<'_>) -> Vec<Event> {
    let t = net.task(task);
    let r = t.open_round.expect("a round is open");
    let mut events = Vec::new();
    fn grab(out: &BlockOutcome, events: &mut Vec<Event>) {
        events.extend(out.events.iter().cloned());
        for rc in &out.receipts {
            events.extend(rc.events.iter().cloned());
        }
    }
    // Commit.
    let selected: Vec<String> = learning::selection(&net.state, task, r)
        .unwrap()
        .iter()
        .map(|(a, _)| net.name(a))
        .collect();
    let mut committed = Vec::new();
    let mut txs = Vec::new();
    for n in &selected {
        if let Some(id) = (s.commit)(n) {
            let c = update_commitment(&id, 100, &salt(n), &addr(n), task, r);
            txs.push(net.learn(n, LearningMsg::Commit { task, round: r, commitment: c }));
            committed.push((n.clone(), id));
        }
    }
    let out = net.block(txs);
    grab(&out, &mut events);
    // Reveal.
    let mut txs = Vec::new();
    for (n, id) in &committed {
        if let Some(rid) = (s.reveal)(n, *id) {
            txs.push(net.learn(
                n,
                LearningMsg::Reveal {
                    task,
                    round: r,
                    update_id: rid,
                    salt: salt(n),
                    num_examples: 100,
                    norm: 1_000,
                },
            ));
        }
    }
    let out = net.block(txs);
    grab(&out, &mut events);
    // Score commit (if the round survived the reveal deadline at the next block's start, the
    // validators' txs land in the score-commit phase).
    let updates = learning::revealed_updates(&net.state, task, r).unwrap();
    let vectors: Vec<Vec<i64>> =
        (0..net.validators).map(|i| updates.iter().map(|u| (s.score)(i, u)).collect()).collect();
    let vsalt = |i: usize| Hash([i as u8 + 1; 32]);
    let txs: Vec<VerifiedTx> = (0..net.validators)
        .map(|i| {
            let v = format!("v{i}");
            let c = score_commitment(&vectors[i], &vsalt(i), &addr(&v), task, r);
            net.learn(&v, LearningMsg::ScoreCommit { task, round: r, commitment: c })
        })
        .collect();
    let out = net.block(txs);
    grab(&out, &mut events);
    if net.task(task).open_round != Some(r) {
        return events;
    }
    let txs: Vec<VerifiedTx> = (0..net.validators)
        .map(|i| {
            let v = format!("v{i}");
            net.learn(
                &v,
                LearningMsg::ScoreReveal {
                    task,
                    round: r,
                    scores: vectors[i].clone(),
                    salt: vsalt(i),
                },
            )
        })
        .collect();
    let out = net.block(txs);
    grab(&out, &mut events);
    // Aggregate: the outcome exists from this block's start on.
    let mut txs = Vec::new();
    let mut pending = Vec::new();
    for i in 0..net.validators {
        pending.push(format!("v{i}"));
    }
    let hash = net.state_outcome_hash(task, r);
    if let Some(hash) = hash {
        let model_id = model_of(task, r);
        for (i, v) in pending.iter().enumerate() {
            let msg = if i == 0 {
                LearningMsg::ProposeAggregate { task, round: r, model_id, accepted_set_hash: hash }
            } else {
                LearningMsg::AttestAggregate { task, round: r, model_id, accepted_set_hash: hash }
            };
            txs.push(net.learn(v, msg));
        }
    }
    let out = net.block(txs);
    grab(&out, &mut events);
    events
}

impl Net {
    /// The accepted-set hash of a round, computed as an off-chain validator would: from the
    /// public reveals and score reveals with the exported pure functions.
    fn state_outcome_hash(&self, task: u64, r: u32) -> Option<Hash> {
        let rd = learning::round(&self.state, task, r).unwrap()?;
        if rd.phase != Phase::ScoreReveal && rd.phase != Phase::Aggregate {
            return None;
        }
        let updates = learning::revealed_updates(&self.state, task, r).unwrap();
        let scored = learning::scores(&self.state, task, r).unwrap();
        let votes: Vec<(u64, Vec<i64>)> = scored
            .iter()
            .filter_map(|(a, s)| {
                let p = rd.validators.iter().find(|(v, _)| v == a)?.1;
                Some((p, s.scores.clone()?))
            })
            .collect();
        let votes: Vec<(u64, &[i64])> = votes.iter().map(|(p, v)| (*p, v.as_slice())).collect();
        let c = learning::math::consensus(updates.len(), &votes);
        let acc = learning::math::accepted_set(&updates, &c, self.task(task).spec.score_threshold);
        let h = learning::math::accepted_set_hash(task, r, &acc);
        if let Some(o) = learning::outcome(&self.state, task, r).unwrap() {
            assert_eq!(o.accepted_set_hash, h, "off-chain recomputation matches the chain");
        }
        Some(h)
    }
}

pub(crate) fn kinds<'a>(events: &'a [Event], kind: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.kind == kind).collect()
}

pub(crate) fn code(out: &BlockOutcome, i: usize) -> u32 {
    out.receipts[i].result.as_ref().err().map(|f| f.code).unwrap_or(0)
}
