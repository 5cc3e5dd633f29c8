//! The host loop: answers Malachite's `AppMsg`s using the [`Application`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate as MCert, ExtendedCommitCertificate, ExtendedCommitSignature,
    LinearTimeouts, NilOrVal, Round, Validity, VoteType,
};
use malachitebft_app_channel::app::types::{
    LocallyProposedValue, MisbehaviorEvidence, PeerId, ProposedValue,
};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use malachitebft_signing_ed25519::{PublicKey, Signature};
use tracing::{debug, error, info, warn};

use crate::api::{
    Application, CommitCertificate, DoubleSign, DoubleSignKind, Error, SignedMessageRef,
    ValidatorInfo,
};
use malachitebft_app_channel::app::streaming::StreamMessage;

use crate::context::{
    Address, BlockId, ChorusContext, Height, PartInit, ProposalPart, Validator, ValidatorSet,
};
use crate::signing::{parts_digest, ChorusSigner};
use crate::store::{ProposalRecord, ProposalStore};
use crate::streaming::{self, Assembled, Streams};

type Ctx = ChorusContext;

/// Most heights served per sync request.
const MAX_SYNC_BATCH: u64 = 64;

/// Counters shared with [`crate::ConsensusHandle`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Heights committed through this handle (consensus or sync).
    pub committed: u64,
    /// Last committed height.
    pub last_height: u64,
    /// Heights decided in round 0 by consensus (not sync) whose decide latency is counted below.
    pub timed: u64,
    /// Sum over `timed` heights of the time from the start of round 0 to `Decided`.
    pub decide_time_total: Duration,
    /// Largest single decide latency.
    pub decide_time_max: Duration,
    /// Heights that needed more than one round.
    pub extra_rounds: u64,
}

impl Stats {
    /// Mean decide latency over the timed heights.
    pub fn mean_decide_time(&self) -> Option<Duration> {
        (self.timed > 0).then(|| self.decide_time_total / self.timed as u32)
    }
}

pub(crate) fn to_valset(height: u64, infos: &[ValidatorInfo]) -> Result<ValidatorSet, Error> {
    let mut vals = Vec::with_capacity(infos.len());
    for v in infos {
        let pk = PublicKey::from_bytes(v.consensus_key)
            .map_err(|e| Error::InvalidKey(format!("validator key {:02x?}: {e}", v.consensus_key)))?;
        vals.push(Validator::new(pk, v.power));
    }
    let set = ValidatorSet::new(vals);
    if set.validators.is_empty() {
        return Err(Error::EmptyValidatorSet(height));
    }
    Ok(set)
}

pub(crate) struct Host<A: Application> {
    pub(crate) app: A,
    pub(crate) chain_id: Arc<str>,
    pub(crate) signer: ChorusSigner,
    pub(crate) address: Address,
    pub(crate) store: ProposalStore,
    pub(crate) streams: Streams,
    pub(crate) timeouts: LinearTimeouts,
    pub(crate) target_time: Option<Duration>,
    /// Last committed height + 1.
    pub(crate) next_height: u64,
    /// Validator set of `next_height`.
    pub(crate) valset: ValidatorSet,
    /// Validator set of the height just committed (for `Finalized` evidence).
    pub(crate) prev_valset: Option<ValidatorSet>,
    /// Complete proposals for heights above `next_height`.
    pub(crate) pending: Vec<Assembled>,
    /// Height whose `Decided` could not be committed (restart it at `Finalized`).
    pub(crate) commit_failed: Option<u64>,
    pub(crate) round0_started: Option<(u64, Instant)>,
    pub(crate) stats: Arc<Mutex<Stats>>,
    pub(crate) stream_nonce: u32,
}

impl<A: Application> Host<A> {
    fn params(&self) -> HeightParams<Ctx> {
        HeightParams::new(self.valset.clone(), self.timeouts, self.target_time)
    }

    pub(crate) async fn run(mut self, mut channels: Channels<Ctx>) -> Result<(), Error> {
        while let Some(msg) = channels.consensus.recv().await {
            self.handle(msg, &channels).await?;
        }
        Err(Error::Engine("consensus channel closed".into()))
    }

    /// The stream messages that (re-)publish a stored proposal.
    fn stream_of(&mut self, rec: &ProposalRecord, for_round: u32) -> Vec<StreamMessage<ProposalPart>> {
        let Some(sig) = rec.signature else { return Vec::new() };
        let init = PartInit {
            height: Height(rec.height),
            round: Round::new(rec.round),
            pol_round: crate::codec::round_from_wire(rec.pol_round).unwrap_or(Round::Nil),
            proposer: Address(rec.proposer),
            value_id: BlockId(rec.value_id),
            total_len: rec.block.len() as u64,
        };
        self.stream_nonce = self.stream_nonce.wrapping_add(1);
        let id = streaming::stream_id(rec.height, for_round, self.stream_nonce);
        streaming::split(id, init, &rec.block, Signature::from_bytes(sig))
    }

    fn to_proposed(rec: &ProposalRecord) -> ProposedValue<Ctx> {
        ProposedValue {
            height: Height(rec.height),
            round: Round::new(rec.round),
            valid_round: crate::codec::round_from_wire(rec.pol_round).unwrap_or(Round::Nil),
            proposer: Address(rec.proposer),
            value: BlockId(rec.value_id),
            validity: Validity::from_bool(rec.valid),
        }
    }

    /// Check a complete stream for `next_height`, validate the block, remember it.
    fn accept(&mut self, a: Assembled) -> Result<Option<ProposedValue<Ctx>>, Error> {
        let height = a.init.height.0;
        let Some(round) = a.init.round.as_u32() else { return Ok(None) };
        let expected = self.valset.proposer_index(height, round);
        let Some(proposer) = self.valset.validators.get(expected) else { return Ok(None) };
        if proposer.address != a.init.proposer {
            warn!(height, round, "proposal parts from the wrong proposer, dropped");
            return Ok(None);
        }
        let digest = parts_digest(&self.chain_id, &a.init, &a.block);
        if proposer.public_key.verify(&digest, &a.signature).is_err() {
            warn!(height, round, "proposal parts with a bad signature, dropped");
            return Ok(None);
        }
        let pk = *proposer.public_key.as_bytes();
        let id = self.app.validate(height, round, pk, &a.block);
        let valid = id == Some(a.init.value_id.0);
        if !valid {
            warn!(height, round, ?id, "proposed block is invalid");
        }
        let rec = ProposalRecord {
            height,
            round,
            pol_round: a.init.pol_round.as_i64(),
            proposer: a.init.proposer.0,
            value_id: a.init.value_id.0,
            valid,
            block: if valid { a.block } else { Vec::new() },
            signature: Some(a.signature.to_bytes()),
        };
        self.store.put(&rec)?;
        Ok(Some(Self::to_proposed(&rec)))
    }

    fn public_cert(&self, cert: &MCert<Ctx>, set: &ValidatorSet) -> CommitCertificate {
        let mut signatures: Vec<([u8; 32], Vec<u8>)> = cert
            .commit_signatures
            .iter()
            .filter_map(|s| {
                let v = set.get(&s.address)?;
                Some((*v.public_key.as_bytes(), s.signature.to_bytes().to_vec()))
            })
            .collect();
        signatures.sort_by_key(|(k, _)| crate::api::consensus_address(k));
        CommitCertificate {
            height: cert.height.0,
            round: cert.round.as_u32().unwrap_or(0),
            value_id: cert.value_id.0,
            signatures,
        }
    }

    fn evidence(&self, height: u64, ev: &MisbehaviorEvidence<Ctx>) -> Vec<DoubleSign> {
        let set = self.prev_valset.as_ref().unwrap_or(&self.valset);
        let key = |a: &Address| set.get(a).map(|v| *v.public_key.as_bytes());
        let mut out = Vec::new();
        for (addr, list) in ev.votes.iter() {
            let Some(consensus_key) = key(addr) else { continue };
            for (a, b) in list {
                let kind = match a.message.typ {
                    VoteType::Prevote => DoubleSignKind::Prevote,
                    VoteType::Precommit => DoubleSignKind::Precommit,
                };
                let r = |v: &NilOrVal<BlockId>| match v {
                    NilOrVal::Nil => None,
                    NilOrVal::Val(id) => Some(id.0),
                };
                out.push(DoubleSign {
                    consensus_key,
                    kind,
                    height,
                    round: a.message.round.as_u32().unwrap_or(0),
                    first: SignedMessageRef {
                        value_id: r(&a.message.value),
                        pol_round: None,
                        signature: a.signature.to_bytes(),
                    },
                    second: SignedMessageRef {
                        value_id: r(&b.message.value),
                        pol_round: None,
                        signature: b.signature.to_bytes(),
                    },
                });
            }
        }
        for (addr, list) in ev.proposals.iter() {
            let Some(consensus_key) = key(addr) else { continue };
            for (a, b) in list {
                out.push(DoubleSign {
                    consensus_key,
                    kind: DoubleSignKind::Proposal,
                    height,
                    round: a.message.round.as_u32().unwrap_or(0),
                    first: SignedMessageRef {
                        value_id: Some(a.message.value.0),
                        pol_round: a.message.pol_round.as_u32(),
                        signature: a.signature.to_bytes(),
                    },
                    second: SignedMessageRef {
                        value_id: Some(b.message.value.0),
                        pol_round: b.message.pol_round.as_u32(),
                        signature: b.signature.to_bytes(),
                    },
                });
            }
        }
        out
    }

    fn commit(&mut self, cert: &MCert<Ctx>) -> Result<(), Error> {
        let height = cert.height.0;
        if height != self.next_height {
            error!(height, next = self.next_height, "decided a height that is not the next one");
            self.commit_failed = Some(height);
            return Ok(());
        }
        let Some(rec) = self.store.find(height, &cert.value_id.0).filter(|r| r.valid) else {
            error!(height, value = %cert.value_id, "decided block not found in the proposal store");
            self.commit_failed = Some(height);
            return Ok(());
        };
        let public = self.public_cert(cert, &self.valset);
        let next = self.app.commit(&rec.block, &public);
        let next_set = match to_valset(height + 1, &next) {
            Ok(s) => s,
            Err(e) => {
                error!(height, "application returned a bad validator set ({e}); keeping the old one");
                self.valset.clone()
            }
        };
        self.prev_valset = Some(std::mem::replace(&mut self.valset, next_set));
        self.next_height = height + 1;
        self.commit_failed = None;
        self.store.prune_through(height);
        self.streams.prune_below(self.next_height);
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.committed += 1;
        stats.last_height = height;
        if cert.round.as_u32() != Some(0) {
            stats.extra_rounds += 1;
        }
        if let Some((h, t)) = self.round0_started.take() {
            if h == height && cert.round.as_u32() == Some(0) {
                let dt = t.elapsed();
                stats.timed += 1;
                stats.decide_time_total += dt;
                stats.decide_time_max = stats.decide_time_max.max(dt);
                debug!(height, decide_ms = dt.as_secs_f64() * 1e3, "decided");
            }
        }
        Ok(())
    }

    async fn handle(&mut self, msg: AppMsg<Ctx>, channels: &Channels<Ctx>) -> Result<(), Error> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let (h, vals) = self.app.consensus_ready();
                self.next_height = h.max(1);
                self.valset = to_valset(self.next_height, &vals)?;
                info!(height = self.next_height, validators = self.valset.validators.len(), "consensus ready");
                let _ = reply.send((Height(self.next_height), self.params()));
            }

            AppMsg::StartedRound { height, round, proposer, role, reply_value } => {
                debug!(%height, %round, %proposer, ?role, "started round");
                if round == Round::new(0) {
                    self.round0_started = Some((height.0, Instant::now()));
                }
                if height.0 == self.next_height {
                    let pending = std::mem::take(&mut self.pending);
                    for a in pending {
                        if a.init.height.0 == height.0 {
                            self.accept(a)?;
                        } else if a.init.height.0 > height.0 {
                            self.pending.push(a);
                        }
                    }
                }
                let Some(r) = round.as_u32() else {
                    let _ = reply_value.send(Vec::new());
                    return Ok(());
                };
                let values: Vec<_> =
                    self.store.at_round(height.0, r).iter().map(Self::to_proposed).collect();
                let _ = reply_value.send(values);
            }

            AppMsg::GetValue { height, round, timeout: _, reply } => {
                let Some(r) = round.as_u32() else { return Ok(()) };
                let own = self
                    .store
                    .at_round(height.0, r)
                    .into_iter()
                    .find(|rec| rec.proposer == self.address.0 && rec.signature.is_some());
                let rec = match own {
                    Some(rec) => {
                        info!(%height, %round, "re-proposing the value persisted before a restart");
                        rec
                    }
                    None => {
                        let (block, id) = self.app.propose(height.0, r);
                        let init = PartInit {
                            height,
                            round,
                            pol_round: Round::Nil,
                            proposer: self.address,
                            value_id: BlockId(id),
                            total_len: block.len() as u64,
                        };
                        let sig = self.signer.sign(&parts_digest(&self.chain_id, &init, &block));
                        let rec = ProposalRecord {
                            height: height.0,
                            round: r,
                            pol_round: -1,
                            proposer: self.address.0,
                            value_id: id,
                            valid: true,
                            block,
                            signature: Some(sig.to_bytes()),
                        };
                        self.store.put(&rec)?; // persisted before Malachite signs anything for it
                        rec
                    }
                };
                let _ = reply.send(LocallyProposedValue::new(height, round, BlockId(rec.value_id)));
                let msgs = self.stream_of(&rec, r);
                publish(channels, msgs).await;
            }

            AppMsg::RestreamProposal { height, round, valid_round, address, value_id } => {
                match self.store.find(height.0, &value_id.0).filter(|r| r.signature.is_some()) {
                    Some(rec) => {
                        debug!(%height, %round, %valid_round, %address, "re-streaming proposal");
                        let msgs = self.stream_of(&rec, round.as_u32().unwrap_or(0));
                        publish(channels, msgs).await;
                    }
                    None => warn!(%height, %round, %value_id, "nothing to re-stream"),
                }
            }

            AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                let publisher: PeerId = published_by.unwrap_or(from);
                let out = match self.streams.insert(publisher, part) {
                    None => None,
                    Some(a) if a.init.height.0 < self.next_height => None,
                    Some(a) if a.init.height.0 > self.next_height => {
                        if self.pending.len() < 64 {
                            self.pending.push(a);
                        }
                        None
                    }
                    Some(a) => self.accept(a)?,
                };
                let _ = reply.send(out);
            }

            AppMsg::Decided { certificate, extensions: _, reply } => {
                self.commit(&certificate)?;
                let _ = reply.send(());
            }

            AppMsg::Finalized { certificate, extensions: _, evidence, reply } => {
                let height = certificate.height.0;
                if !evidence.is_empty() {
                    let ev = self.evidence(height, &evidence);
                    if !ev.is_empty() {
                        warn!(height, count = ev.len(), "equivocation evidence");
                        self.app.misbehavior(height, ev);
                    }
                }
                let next = if self.commit_failed == Some(height) {
                    error!(height, "restarting height after a failed commit");
                    Next::Restart(Height(height), self.params())
                } else {
                    Next::Start(Height(self.next_height), self.params())
                };
                let _ = reply.send(next);
            }

            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(self.app.history_min_height()));
            }

            AppMsg::GetDecidedValues { range, reply } => {
                let (start, end) = (range.start().0, range.end().0);
                let end = end.min(start.saturating_add(MAX_SYNC_BATCH - 1));
                let mut values = Vec::new();
                for h in start..=end {
                    let Some((block, cert)) = self.app.decided(h) else { break };
                    values.push(
                        malachitebft_app_channel::app::types::sync::RawDecidedValue::new(
                            Bytes::from(block),
                            to_malachite_cert(&cert),
                        ),
                    );
                }
                let _ = reply.send(values);
            }

            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let outcome = if height.0 != self.next_height {
                    SyncedValueOutcome::LocalTransientError
                } else if let Some(pk) = self.valset.get(&proposer).map(|v| *v.public_key.as_bytes())
                {
                    let r = round.as_u32().unwrap_or(0);
                    match self.app.validate(height.0, r, pk, &value_bytes) {
                        Some(id) => {
                            let rec = ProposalRecord {
                                height: height.0,
                                round: r,
                                pol_round: -1,
                                proposer: proposer.0,
                                value_id: id,
                                valid: true,
                                block: value_bytes.to_vec(),
                                signature: None,
                            };
                            self.store.put(&rec)?;
                            SyncedValueOutcome::Verdict(Self::to_proposed(&rec))
                        }
                        None => {
                            warn!(%height, "synced block is invalid");
                            SyncedValueOutcome::PeerFault
                        }
                    }
                } else {
                    warn!(%height, %proposer, "synced value from an unknown proposer");
                    SyncedValueOutcome::PeerFault
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
        Ok(())
    }
}

async fn publish(channels: &Channels<Ctx>, msgs: Vec<StreamMessage<ProposalPart>>) {
    for m in msgs {
        if channels.network.send(NetworkMsg::PublishProposalPart(m)).await.is_err() {
            warn!("network channel closed while streaming a proposal");
            return;
        }
    }
}

/// Our certificate → Malachite's (for serving sync).
pub(crate) fn to_malachite_cert(c: &CommitCertificate) -> ExtendedCommitCertificate<Ctx> {
    let mut sigs: Vec<ExtendedCommitSignature<Ctx>> = c
        .signatures
        .iter()
        .filter_map(|(key, sig)| {
            Some(ExtendedCommitSignature::new(
                Address(crate::api::consensus_address(key)),
                Signature::from_bytes(<[u8; 64]>::try_from(sig.as_slice()).ok()?),
                None,
            ))
        })
        .collect();
    sigs.sort_by(|a, b| a.address.cmp(&b.address));
    ExtendedCommitCertificate {
        height: Height(c.height),
        round: Round::new(c.round),
        value_id: BlockId(c.value_id),
        commit_signatures: sigs,
    }
}
