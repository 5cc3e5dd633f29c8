//! Host loop: translates Malachite `AppMsg`s into `Application` calls.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tracing::{debug, error, info, warn};

use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use malachitebft_core_types::{
    self as mc, ExtendedCommitCertificate, LinearTimeouts, Round, ValidatorSet as _, Validity,
    VoteExtensions,
};

use crate::streams::{Accepted, CHUNK, Limits, StreamBuffer};
use crate::types::{
    Address, Ctx, Height, KeySigner, ProposalPart, PubKey, Validator, ValidatorSet, ValueId,
    parts_digest,
};
use crate::{AppError, Application, CommitCertificate, Error, ValidatorInfo};

fn timeouts() -> LinearTimeouts {
    let propose = Duration::from_millis(1000);
    let prevote = Duration::from_millis(500);
    let precommit = Duration::from_millis(500);
    LinearTimeouts {
        propose,
        propose_delta: Duration::from_millis(250),
        prevote,
        prevote_delta: Duration::from_millis(250),
        precommit,
        precommit_delta: Duration::from_millis(250),
        rebroadcast: propose + prevote + precommit,
        max_timeout: Duration::from_secs(10),
    }
}

fn to_validator_set(infos: &[ValidatorInfo]) -> ValidatorSet {
    ValidatorSet::new(
        infos
            .iter()
            .filter_map(|v| {
                let pk = PubKey::from_bytes(v.consensus_key)?;
                Some(Validator {
                    address: Address::from_public_key(&v.consensus_key),
                    public_key: pk,
                    voting_power: v.power,
                })
            })
            .collect(),
    )
}

pub(crate) struct Host<A: Application> {
    app: A,
    me: Address,
    signer: KeySigner,
    home: PathBuf,
    block_time: Duration,

    height: u64,
    round: u32,
    height_started: Instant,
    vs: ValidatorSet,
    next_vs: Option<ValidatorSet>,
    last_committed: u64,

    /// Block bytes by (height, id), for our own and received proposals and synced values.
    blocks: HashMap<(u64, ValueId), Vec<u8>>,
    /// Validated proposals by (height, round), replayed in StartedRound.
    undecided: HashMap<(u64, u32), Vec<ProposedValue<Ctx>>>,
    /// Signed parts by (height, id), for RestreamProposal.
    parts_cache: HashMap<(u64, ValueId), Vec<ProposalPart>>,
    /// Proposal-part streams being reassembled, and complete sets for future heights (bounded).
    streams: StreamBuffer,
    /// Our own proposals (persisted): (height, round) -> (block, id).
    own: BTreeMap<(u64, u32), (Vec<u8>, [u8; 32])>,
    stream_nonce: u64,
}

impl<A: Application> Host<A> {
    pub(crate) fn new(
        app: A,
        me: Address,
        signer: KeySigner,
        home: PathBuf,
        block_time: Duration,
        max_value_bytes: usize,
    ) -> Self {
        Self {
            app,
            me,
            signer,
            home,
            block_time,
            height: 0,
            round: 0,
            height_started: Instant::now(),
            vs: ValidatorSet::new(vec![]),
            next_vs: None,
            last_committed: 0,
            blocks: HashMap::new(),
            undecided: HashMap::new(),
            parts_cache: HashMap::new(),
            streams: StreamBuffer::new(Limits::for_value_bytes(max_value_bytes)),
            own: BTreeMap::new(),
            stream_nonce: 0,
        }
    }

    fn params(&self, vs: ValidatorSet) -> HeightParams<Ctx> {
        let target = (!self.block_time.is_zero()).then_some(self.block_time);
        HeightParams::new(vs, timeouts(), target)
    }

    // --- own proposals persistence ---

    fn own_path(&self) -> PathBuf {
        self.home.join("own_proposals.bin")
    }

    fn load_own(&mut self) {
        let Ok(bytes) = std::fs::read(self.own_path()) else {
            return;
        };
        match borsh::from_slice::<Vec<(u64, u32, Vec<u8>, [u8; 32])>>(&bytes) {
            Ok(v) => {
                for (h, r, b, id) in v {
                    self.blocks.insert((h, ValueId(id)), b.clone());
                    self.own.insert((h, r), (b, id));
                }
            }
            Err(e) => warn!("ignoring corrupt own proposals file: {e}"),
        }
    }

    fn save_own(&self) {
        let v: Vec<(u64, u32, Vec<u8>, [u8; 32])> =
            self.own.iter().map(|((h, r), (b, id))| (*h, *r, b.clone(), *id)).collect();
        let path = self.own_path();
        let tmp = path.with_extension("tmp");
        let res = borsh::to_vec(&v)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = res {
            error!("failed to persist own proposals: {e}");
        }
    }

    // --- streaming ---

    fn build_parts(&self, height: u64, round: u32, block: &[u8]) -> Vec<ProposalPart> {
        let mut parts = vec![ProposalPart::Init {
            height: Height(height),
            round: Round::new(round),
            proposer: self.me,
        }];
        for c in block.chunks(CHUNK) {
            parts.push(ProposalPart::Data(c.to_vec()));
        }
        if block.is_empty() {
            parts.push(ProposalPart::Data(vec![]));
        }
        let sig = self.signer.sign(&parts_digest(&parts));
        parts.push(ProposalPart::Fin(sig));
        parts
    }

    fn stream_messages(
        &mut self,
        height: u64,
        round: u32,
        parts: &[ProposalPart],
    ) -> Vec<StreamMessage<ProposalPart>> {
        self.stream_nonce += 1;
        let mut id = Vec::with_capacity(20);
        id.extend_from_slice(&height.to_be_bytes());
        id.extend_from_slice(&round.to_be_bytes());
        id.extend_from_slice(&self.stream_nonce.to_be_bytes());
        let sid = StreamId::new(Bytes::from(id));
        let mut msgs: Vec<_> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| StreamMessage::new(sid.clone(), i as u64, StreamContent::Data(p.clone())))
            .collect();
        msgs.push(StreamMessage::new(sid, parts.len() as u64, StreamContent::Fin));
        msgs
    }

    async fn publish(
        channels: &Channels<Ctx>,
        msgs: Vec<StreamMessage<ProposalPart>>,
    ) -> Result<(), Error> {
        for m in msgs {
            channels
                .network
                .send(NetworkMsg::PublishProposalPart(m))
                .await
                .map_err(|e| Error::Engine(format!("network channel closed: {e}")))?;
        }
        Ok(())
    }

    /// Verify a complete part set for the current height and hand it to the application.
    /// `Ok(None)`: the set is dropped; `Err`: the application failed and the host must stop.
    fn process_parts(
        &mut self,
        parts: Vec<ProposalPart>,
    ) -> Result<Option<ProposedValue<Ctx>>, AppError> {
        let Some(ProposalPart::Init { height, round, proposer }) = parts.first().cloned() else {
            warn!("stream without Init part");
            return Ok(None);
        };
        let Some(ProposalPart::Fin(sig)) = parts.last().cloned() else {
            warn!("stream without Fin part");
            return Ok(None);
        };
        let Some(r) = round.as_u32() else { return Ok(None) };
        if height.0 < self.height {
            debug!(height = height.0, "dropping outdated proposal");
            return Ok(None);
        }
        if height.0 > self.height {
            // The stream buffer queues future heights; a set reaching here is stale input.
            debug!(height = height.0, "dropping proposal for a future height");
            return Ok(None);
        }
        let Some(expected) = self.vs.proposer(height.0, r) else { return Ok(None) };
        if expected.address != proposer {
            warn!(%proposer, expected = %expected.address, "proposal from wrong proposer");
            return Ok(None);
        }
        if !expected.public_key.verify(&parts_digest(&parts), &sig) {
            warn!(%proposer, "invalid proposal signature");
            return Ok(None);
        }
        let mut block = Vec::new();
        for p in &parts {
            if let ProposalPart::Data(d) = p {
                block.extend_from_slice(d);
            }
        }
        let pk = expected.public_key.bytes();
        let (id, validity) = match self.app.validate(height.0, r, pk, &block)? {
            Some(id) => (ValueId(id), Validity::Valid),
            None => (ValueId(Sha256::digest(&block).into()), Validity::Invalid),
        };
        let pv =
            ProposedValue { height, round, valid_round: Round::Nil, proposer, value: id, validity };
        debug!(height = height.0, round = r, value = %id, ?validity, "received complete proposal");
        if validity == Validity::Valid {
            self.blocks.insert((height.0, id), block);
        }
        self.parts_cache.insert((height.0, id), parts);
        let list = self.undecided.entry((height.0, r)).or_default();
        if !list.iter().any(|v| v.value == id) {
            list.push(pv.clone());
        }
        Ok(Some(pv))
    }

    fn public_cert(&self, cert: &mc::CommitCertificate<Ctx>) -> CommitCertificate {
        CommitCertificate {
            height: cert.height.0,
            round: cert.round.as_u32().unwrap_or(0),
            value_id: cert.value_id.0,
            signatures: cert
                .commit_signatures
                .iter()
                .filter_map(|s| {
                    let v = self.vs.get_by_address(&s.address)?;
                    Some((v.public_key.bytes(), s.signature.0.to_bytes()))
                })
                .collect(),
        }
    }

    fn prune(&mut self, upto: u64) {
        self.blocks.retain(|(h, _), _| *h > upto);
        self.undecided.retain(|(h, _), _| *h > upto);
        self.parts_cache.retain(|(h, _), _| *h > upto);
        self.streams.prune(upto);
        debug!(
            streams = self.streams.streams(),
            pending = self.streams.pending(),
            bytes = self.streams.bytes(),
            "proposal-part buffer after pruning"
        );
        let before = self.own.len();
        self.own.retain(|(h, _), _| *h > upto);
        if self.own.len() != before {
            self.save_own();
        }
    }

    pub(crate) async fn run(mut self, mut channels: Channels<Ctx>) -> Result<(), Error> {
        while let Some(msg) = channels.consensus.recv().await {
            match msg {
                AppMsg::ConsensusReady { reply } => {
                    let (start, vals) = self.app.consensus_ready()?;
                    let start = start.max(1);
                    self.last_committed = start - 1;
                    self.height = start;
                    self.height_started = Instant::now();
                    self.vs = to_validator_set(&vals);
                    self.load_own();
                    self.prune(self.last_committed);
                    info!(start, validators = self.vs.validators.len(), "consensus ready");
                    let _ = reply.send((Height(start), self.params(self.vs.clone())));
                }

                AppMsg::StartedRound { height, round, proposer, role, reply_value } => {
                    let r = round.as_u32().unwrap_or(0);
                    if height.0 != self.height {
                        self.height_started = Instant::now();
                    }
                    self.height = height.0;
                    self.round = r;
                    debug!(height = height.0, round = r, %proposer, ?role, "started round");
                    // Process proposals buffered for this height.
                    for parts in self.streams.take_pending(height.0) {
                        self.process_parts(parts)?;
                    }
                    let mut values =
                        self.undecided.get(&(height.0, r)).cloned().unwrap_or_default();
                    if let Some((_, id)) = self.own.get(&(height.0, r)) {
                        let id = ValueId(*id);
                        if !values.iter().any(|v| v.value == id) {
                            values.push(ProposedValue {
                                height,
                                round,
                                valid_round: Round::Nil,
                                proposer: self.me,
                                value: id,
                                validity: Validity::Valid,
                            });
                        }
                    }
                    let _ = reply_value.send(values);
                }

                AppMsg::GetValue { height, round, timeout: _, reply } => {
                    let h = height.0;
                    let r = round.as_u32().unwrap_or(0);
                    let (block, id) = match self.own.get(&(h, r)) {
                        Some(v) => v.clone(),
                        None => {
                            let v = self.app.propose(h, r)?;
                            self.own.insert((h, r), v.clone());
                            self.save_own();
                            v
                        }
                    };
                    let id = ValueId(id);
                    info!(height = h, round = r, value = %id, size = block.len(), "proposing");
                    let parts = self.build_parts(h, r, &block);
                    self.blocks.insert((h, id), block);
                    self.parts_cache.insert((h, id), parts.clone());
                    let _ = reply.send(LocallyProposedValue::new(height, round, id));
                    let msgs = self.stream_messages(h, r, &parts);
                    Self::publish(&channels, msgs).await?;
                }

                AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                    let publisher = published_by.unwrap_or(from);
                    let current = self.height;
                    let vs = &self.vs;
                    // At the current height the proposer must be the round's; ahead of it, a
                    // member of the current set (the next set is not known yet).
                    let plausible = |h: u64, round: Round, proposer: &Address| {
                        if h == current {
                            round
                                .as_u32()
                                .and_then(|r| vs.proposer(h, r))
                                .is_some_and(|v| &v.address == proposer)
                        } else {
                            vs.get_by_address(proposer).is_some()
                        }
                    };
                    let result = match self.streams.offer(publisher, part, current, plausible) {
                        Accepted::Complete(parts) => self.process_parts(parts)?,
                        Accepted::Dropped(why) => {
                            debug!(%publisher, why, "dropped proposal part");
                            None
                        }
                        Accepted::Buffered | Accepted::Queued => None,
                    };
                    let _ = reply.send(result);
                }

                AppMsg::RestreamProposal { height, round, valid_round, address, value_id } => {
                    match self.parts_cache.get(&(height.0, value_id)).cloned() {
                        Some(parts) => {
                            debug!(height = height.0, %round, %valid_round, %address, "restreaming proposal");
                            let r = round.as_u32().unwrap_or(0);
                            let msgs = self.stream_messages(height.0, r, &parts);
                            Self::publish(&channels, msgs).await?;
                        }
                        None => debug!(height = height.0, %value_id, "no parts to restream"),
                    }
                }

                AppMsg::Decided { certificate, extensions: _, reply } => {
                    let h = certificate.height.0;
                    if h > self.last_committed {
                        match self.blocks.get(&(h, certificate.value_id)).cloned() {
                            Some(block) => {
                                let cert = self.public_cert(&certificate);
                                let lat = self.height_started.elapsed();
                                info!(height = h, round = %certificate.round, value = %certificate.value_id,
                                      sigs = cert.signatures.len(), latency_ms = lat.as_millis() as u64, "decided");
                                let next = self.app.commit(&block, &cert)?;
                                self.next_vs = Some(to_validator_set(&next));
                                self.last_committed = h;
                            }
                            None => {
                                error!(height = h, value = %certificate.value_id, "decided value's block is unknown")
                            }
                        }
                    }
                    let _ = reply.send(());
                }

                AppMsg::Finalized { certificate, extensions: _, evidence, reply } => {
                    let h = certificate.height.0;
                    let found = double_votes(&self.vs, &evidence.votes);
                    if !found.is_empty() {
                        warn!(height = h, pairs = found.len(), "equivocation observed");
                        self.app.misbehavior(found);
                    }
                    if self.last_committed >= h {
                        let vs = self.next_vs.take().unwrap_or_else(|| self.vs.clone());
                        self.vs = vs.clone();
                        self.height = h + 1;
                        self.round = 0;
                        self.height_started = Instant::now();
                        self.prune(h);
                        let _ = reply.send(Next::Start(Height(h + 1), self.params(vs)));
                    } else {
                        warn!(height = h, "commit failed; restarting height");
                        let _ = reply.send(Next::Restart(Height(h), self.params(self.vs.clone())));
                    }
                }

                AppMsg::GetDecidedValues { range, reply } => {
                    let mut values = Vec::new();
                    for h in range.start().0..=range.end().0 {
                        let Some((block, cert)) = self.app.decided(h)? else { break };
                        values.push(RawDecidedValue::new(
                            Bytes::from(block),
                            ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                                cert.to_malachite(),
                                VoteExtensions::default(),
                            ),
                        ));
                    }
                    let _ = reply.send(values);
                }

                AppMsg::GetHistoryMinHeight { reply } => {
                    let _ = reply.send(Height(self.app.history_min_height()));
                }

                AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                    let r = round.as_u32().unwrap_or(0);
                    let outcome = match self.vs.get_by_address(&proposer) {
                        None => SyncedValueOutcome::PeerFault,
                        Some(v) => {
                            let pk = v.public_key.bytes();
                            match self.app.validate(height.0, r, pk, &value_bytes)? {
                                Some(id) => {
                                    let id = ValueId(id);
                                    self.blocks.insert((height.0, id), value_bytes.to_vec());
                                    info!(height = height.0, value = %id, "processed synced value");
                                    SyncedValueOutcome::Verdict(ProposedValue {
                                        height,
                                        round,
                                        valid_round: Round::Nil,
                                        proposer,
                                        value: id,
                                        validity: Validity::Valid,
                                    })
                                }
                                None => SyncedValueOutcome::PeerFault,
                            }
                        }
                    };
                    let _ = reply.send(outcome);
                }

                AppMsg::ExtendVote { reply, .. } => {
                    let _ = reply.send(None);
                }

                AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                    let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
                }
            }
        }
        Err(Error::Engine("consensus channel closed".into()))
    }
}

/// Malachite's double votes as the state machine's evidence type, with each voter's consensus key
/// taken from `vs` (the set of the height they were cast in). Pairs by unknown voters are dropped.
pub(crate) fn double_votes(
    vs: &ValidatorSet,
    votes: &malachitebft_core_votekeeper::EvidenceMap<Ctx>,
) -> Vec<chorus_types::staking::DoubleSignEvidence> {
    use chorus_types::staking::{DoubleSignEvidence, SignedVote as ChainVote};
    let mut out = Vec::new();
    for (addr, pairs) in votes.iter() {
        let Some(v) = vs.get_by_address(addr) else { continue };
        let key = v.public_key.bytes();
        let chain = |sv: &malachitebft_core_types::SignedVote<Ctx>| {
            let m = &sv.message;
            ChainVote {
                vote: crate::types::canonical_vote(
                    m.typ,
                    m.height.0,
                    m.round_u32(),
                    m.value_bytes(),
                    &key,
                ),
                signature: sv.signature.0.to_bytes(),
            }
        };
        for (a, b) in pairs {
            out.push(DoubleSignEvidence { a: chain(a), b: chain(b) });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{KeySigner, Vote};
    use malachitebft_core_types::{NilOrVal, SignedMessage, VoteType};

    #[test]
    fn malachite_double_votes_become_evidence_the_chain_can_verify() {
        let chain_id = 7;
        let secret = [5u8; 32];
        let key = malachitebft_signing_ed25519::PrivateKey::from(secret);
        let pk = *key.public_key().as_bytes();
        let signer = KeySigner { key, chain_id };
        let vs = to_validator_set(&[ValidatorInfo { consensus_key: pk, power: 10 }]);
        let addr = Address::from_public_key(&pk);
        let vote = |id: u8| {
            let v = Vote {
                typ: VoteType::Precommit,
                height: Height(9),
                round: Round::new(2),
                value: NilOrVal::Val(ValueId([id; 32])),
                validator_address: addr,
                extension: None,
            };
            let sig = signer.sign(&v.to_sign_bytes(&pk, chain_id));
            SignedMessage::new(v, sig)
        };
        let mut map = malachitebft_core_votekeeper::EvidenceMap::<Ctx>::new();
        map.add(vote(1), vote(2));
        let ev = double_votes(&vs, &map);
        assert_eq!(ev.len(), 1);
        let (a, b) = (&ev[0].a, &ev[0].b);
        assert_eq!((a.vote.height, a.vote.round, a.vote.validator), (9, 2, pk));
        assert_ne!(a.vote.value_id, b.vote.value_id);
        // Exactly what `staking::handle_evidence` checks: ed25519 over `Vote::sign_bytes(chain_id)`.
        let vk = ed25519_consensus::VerificationKey::try_from(pk).unwrap();
        for sv in [a, b] {
            let sig = ed25519_consensus::Signature::from(sv.signature);
            vk.verify(&sig, &sv.vote.sign_bytes(chain_id)).unwrap();
            assert!(vk.verify(&sig, &sv.vote.sign_bytes(chain_id + 1)).is_err());
        }
        // A voter outside the set yields nothing.
        let other = to_validator_set(&[ValidatorInfo { consensus_key: [0xAB; 32], power: 1 }]);
        assert!(double_votes(&other, &map).is_empty());
    }
}
