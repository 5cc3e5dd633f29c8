//! The participant runtime: register with a bond, and in every round it is selected for, train
//! on its local data from the round's base model, `Commit` to the content hash of the
//! fixed-point delta (computed locally), and only once the round is in its reveal phase upload
//! the delta and `Reveal`. Nobody can read an update before the commit window has closed, so
//! nobody can copy it (security review H5). Optional Byzantine behaviour for experiments
//! ([`Attack`]).
//!
//! Restart safety: before each transaction is submitted, its signed bytes are written to the
//! progress file ([`crate::progress::ParticipantRound`]); a restarted participant re-submits
//! those bytes instead of signing anew. The commitment salt is
//! `keccak256("chorus/salt" ‖ secret key ‖ task(u64 BE) ‖ round(u32 BE))`, so it is
//! reproducible even if the progress file is lost after the commit. The committed bytes wait for
//! the reveal phase in memory and, with a progress file, in `<progress file>.update-<task>-<round>`
//! (written before the commit is sent); without them a restarted participant retrains (training
//! is seeded per round) and reveals only if it reproduces the committed id.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chorus_crypto::AccountKey;
use chorus_fl::Update;
use chorus_fl::fixed::Micros;
use chorus_store::BlobId;
use chorus_trainer::{Dataset, LabelFlip, TrainConfig};
use chorus_types::learning::{
    Capabilities, Encryption, LearningMsg, RegistryMsg, Role, RoundNo, TaskId, update_commitment,
};
use chorus_types::{Amount, Hash, Msg, keccak256};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::blobs::{BlobStore, MODELS_NAMESPACE, UPDATES_NAMESPACE, hash_of};
use crate::client::TxSender;
use crate::ledger::LedgerSource;
use crate::progress::{ParticipantRound, ProgressFile, StoredTx};
use crate::task_model::TaskModel;
use crate::views::RoundView;
use crate::{Error, Result};

/// Byzantine behaviour of a participant (experiments and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attack {
    /// Honest.
    #[default]
    None,
    /// Sends `−u`.
    SignFlip,
    /// Sends `γ·u` (γ in micro-units).
    Scaled {
        /// γ, micro-units.
        gamma_micros: u64,
    },
    /// Sends pure Gaussian noise N(0, std²) (std in micro-units), seeded per round.
    Gaussian {
        /// std, micro-units.
        std_micros: u64,
    },
    /// Trains on labels flipped `y → 9 − y` (data-side).
    LabelFlip,
    /// Trains nothing: sends an all-zero update (claims its examples anyway).
    FreeRider,
    /// ALIE (Baruch et al. 2019): `μ − z·σ` of the round's honest updates, seen through a
    /// [`Collusion`] (z in micro-units).
    Alie {
        /// z, micro-units.
        z_micros: u64,
    },
    /// Inner-product manipulation (Xie et al. 2019): `−ε · μ` of the honest updates.
    Ipm {
        /// ε, micro-units.
        eps_micros: u64,
    },
    /// Min-Max (Shejwalkar & Houmansadr 2021) against the honest updates.
    MinMax,
}

impl Attack {
    /// Whether the attack needs the round's honest updates (a [`Collusion`]).
    pub fn needs_collusion(&self) -> bool {
        matches!(self, Attack::Alie { .. } | Attack::Ipm { .. } | Attack::MinMax)
    }
}

/// What colluding attackers know in a simulation: every honest update of a round, deposited by
/// the simulated participants right after local training. This is the omniscient threat model
/// of the robust-aggregation literature; on a real network commit-reveal keeps other
/// participants' updates hidden until the commit window closes, so real attackers know less.
#[derive(Debug, Default)]
pub struct Collusion {
    wait: Duration,
    pool: std::sync::Mutex<BTreeMap<(TaskId, RoundNo), BTreeMap<chorus_types::Address, Update>>>,
    notify: tokio::sync::Notify,
}

impl Collusion {
    /// An empty pool; attackers wait at most `wait` for the honest updates of a round.
    pub fn new(wait: Duration) -> Collusion {
        Collusion { wait, ..Collusion::default() }
    }

    /// Records `who`'s honest update of `(task, round)` (older rounds are dropped).
    pub fn share(&self, task: TaskId, round: RoundNo, who: chorus_types::Address, u: Update) {
        if let Ok(mut p) = self.pool.lock() {
            p.retain(|(t, r), _| *t != task || *r + 1 >= round);
            p.entry((task, round)).or_default().insert(who, u);
        }
        self.notify.notify_waiters();
    }

    /// The honest updates of `(task, round)` once `expected` are pooled, or whatever is there
    /// after the pool's wait.
    pub async fn honest_updates(
        &self,
        task: TaskId,
        round: RoundNo,
        expected: usize,
    ) -> Vec<Update> {
        let end = tokio::time::Instant::now() + self.wait;
        loop {
            let notified = self.notify.notified();
            let have: Vec<Update> = self
                .pool
                .lock()
                .map(|p| p.get(&(task, round)).map(|m| m.values().cloned().collect()))
                .ok()
                .flatten()
                .unwrap_or_default();
            if have.len() >= expected || tokio::time::Instant::now() >= end {
                return have;
            }
            let _ = tokio::time::timeout_at(end, notified).await;
        }
    }
}

impl std::str::FromStr for Attack {
    type Err = Error;
    /// `none`, `sign-flip`, `scaled[:γ]`, `gaussian[:std]`, `label-flip`, `free-rider`,
    /// `alie[:z]`, `ipm[:ε]`, `min-max`.
    fn from_str(s: &str) -> Result<Attack> {
        let (name, arg) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
        let num = |d: u64| -> Result<u64> {
            arg.map_or(Ok(d), |a| {
                a.parse::<Micros>().map(|m| m.0).map_err(|e| Error::Unsupported(format!("{e:?}")))
            })
        };
        Ok(match name {
            "none" => Attack::None,
            "sign-flip" => Attack::SignFlip,
            "scaled" => Attack::Scaled { gamma_micros: num(10_000_000)? },
            "gaussian" => Attack::Gaussian { std_micros: num(1_000_000)? },
            "label-flip" => Attack::LabelFlip,
            "free-rider" => Attack::FreeRider,
            "alie" => Attack::Alie { z_micros: num(1_000_000)? },
            "ipm" => Attack::Ipm { eps_micros: num(500_000)? },
            "min-max" => Attack::MinMax,
            other => return Err(Error::Unsupported(format!("attack {other:?}"))),
        })
    }
}

/// The most examples a reveal may claim in a round of a task with `spec` for a participant
/// assigned `shards` shards (the chain refuses more: security review H4).
pub fn examples_cap(spec: &chorus_types::learning::TaskSpec, shards: usize) -> u64 {
    match spec.data {
        chorus_types::learning::DataMode::Private => spec.max_examples,
        chorus_types::learning::DataMode::ShardPool { .. } => {
            spec.max_examples.saturating_mul(shards as u64)
        }
    }
}

/// Participant settings.
#[derive(Clone, Debug)]
pub struct ParticipantConfig {
    /// Local training (epochs, batch, lr, seed …). `label_flip` is set by [`Attack::LabelFlip`].
    pub train: TrainConfig,
    /// Byzantine behaviour.
    pub attack: Attack,
    /// Shared knowledge of a simulation: every participant deposits its honest update here and
    /// colluding attacks ([`Attack::needs_collusion`]) read it.
    pub collusion: Option<Arc<Collusion>>,
    /// Registry bond posted when not yet registered.
    pub bond: Amount,
    /// Fee per transaction.
    pub fee: Amount,
    /// The chain id to sign for ([`TxSender::pinned`]); `None` trusts the ledger's (only for
    /// an in-process ledger: a remote node could make the participant sign for another chain).
    pub chain_id: Option<u64>,
    /// Progress file (`None`: in memory only).
    pub state_path: Option<PathBuf>,
    /// Poll interval of [`Participant::run_until`] when no events arrive.
    pub poll: Duration,
}

impl Default for ParticipantConfig {
    fn default() -> Self {
        ParticipantConfig {
            train: TrainConfig::default(),
            attack: Attack::None,
            collusion: None,
            bond: 1_000,
            fee: 0,
            chain_id: None,
            state_path: None,
            poll: Duration::from_millis(500),
        }
    }
}

/// What one [`Participant::step`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Transactions submitted (including re-submissions), as `(kind, task, round, hash)`.
    pub sent: Vec<(&'static str, TaskId, RoundNo, Hash)>,
}

/// A participant runtime.
pub struct Participant<L, B> {
    ledger: Arc<L>,
    blobs: Arc<B>,
    sender: TxSender<L>,
    data: Arc<Dataset>,
    cfg: ParticipantConfig,
    progress: ProgressFile<ParticipantRound>,
    register_tx: Option<Hash>,
    /// Registration seen on chain (registrations are only re-read until then).
    registered: bool,
    /// Committed update bytes not uploaded yet (they go to the store in the reveal phase).
    pending: BTreeMap<(TaskId, RoundNo), Vec<u8>>,
}

/// The X25519 key a participant registers for sealed delivery to it, derived from its account
/// key: `keccak256("chorus/x25519" ‖ secret key)`.
pub fn derive_seal_secret(key: &AccountKey) -> chorus_store::SealSecretKey {
    chorus_store::SealSecretKey(keccak256(&[b"chorus/x25519".as_slice(), &key.to_bytes()].concat()))
}

/// The reproducible commitment salt of `key` for `(task, round)`.
pub fn derive_salt(key: &AccountKey, task: TaskId, round: RoundNo) -> Hash {
    let mut b = Vec::with_capacity(11 + 32 + 12);
    b.extend_from_slice(b"chorus/salt");
    b.extend_from_slice(&key.to_bytes());
    b.extend_from_slice(&task.to_be_bytes());
    b.extend_from_slice(&round.to_be_bytes());
    Hash(keccak256(&b))
}

fn round_seed64(seed: u64, task: TaskId, round: RoundNo) -> u64 {
    seed ^ task.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(round).wrapping_mul(0xD1B5_4A32_D192_ED03)
}

impl<L: LedgerSource + 'static, B: BlobStore + 'static> Participant<L, B> {
    /// A participant for `key` training on `data` (its local partition).
    pub fn new(
        ledger: Arc<L>,
        blobs: Arc<B>,
        key: AccountKey,
        data: Arc<Dataset>,
        cfg: ParticipantConfig,
    ) -> Result<Self> {
        let progress = ProgressFile::open(cfg.state_path.clone())?;
        let sender = TxSender::new(ledger.clone(), key, cfg.fee).pinned(cfg.chain_id);
        Ok(Participant {
            ledger,
            blobs,
            sender,
            data,
            cfg,
            progress,
            register_tx: None,
            registered: false,
            pending: BTreeMap::new(),
        })
    }

    /// The participant's address.
    pub fn address(&self) -> chorus_types::Address {
        self.sender.address()
    }

    /// Progress record of a round.
    pub fn progress(&self, task: TaskId, round: RoundNo) -> ParticipantRound {
        self.progress.get(task, round)
    }

    async fn ensure_registered(&mut self, report: &mut StepReport) -> Result<bool> {
        let me = self.address();
        if self.registered {
            return Ok(true);
        }
        if self.ledger.registrations().await?.iter().any(|r| r.address == me) {
            self.registered = true;
            return Ok(true);
        }
        if let Some(h) = self.register_tx {
            match self.ledger.receipt(&h).await? {
                None => return Ok(false),
                Some(r) if r.result.is_ok() => return Ok(true),
                Some(_) => self.register_tx = None,
            }
        }
        let capabilities = Capabilities {
            device: chorus_types::learning::DeviceFacts {
                cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
                ..Default::default()
            },
            max_model_bytes: 1 << 30,
            datasets: vec![self.data.name.clone()],
            x25519_public_key: derive_seal_secret(self.sender.key()).public().0,
        };
        let msg = Msg::Registry(RegistryMsg::Register {
            role: Role::Participant,
            bond: self.cfg.bond,
            capabilities,
        });
        let h = self.sender.send(vec![msg]).await?;
        self.register_tx = Some(h);
        report.sent.push(("register", 0, 0, h));
        Ok(false)
    }

    /// Trains and builds this round's update (blocking work runs on the blocking pool).
    async fn make_update(&self, tm: &TaskModel, rd: &RoundView) -> Result<(Update, u64)> {
        let base_id =
            rd.base_model.ok_or_else(|| Error::Inconsistent("round without base model".into()))?;
        let base = tm.decode(&self.blobs.get(MODELS_NAMESPACE, &base_id).await?)?;
        let mut train = self.cfg.train.clone();
        train.seed = round_seed64(train.seed, rd.task, rd.round);
        if self.cfg.attack == Attack::LabelFlip {
            train.label_flip = Some(LabelFlip::Reverse);
        }
        let (data, tm2, attack) = (self.data.clone(), tm.clone(), self.cfg.attack.clone());
        let salt = derive_salt(self.sender.key(), rd.task, rd.round);
        let (u, n) = tokio::task::spawn_blocking(move || -> Result<(Update, u64)> {
            let n = data.len() as u64;
            if attack == Attack::FreeRider {
                return Ok((Update::zeros(tm2.spec.clone(), tm2.scale), n.max(1)));
            }
            let mut m = chorus_trainer::build_model(tm2.arch.as_str(), 0)?;
            chorus_trainer::params::set_model_from_update(m.as_mut(), &base)?;
            let out = chorus_trainer::train_local(m.as_mut(), &data, &train, None)?;
            let u = Update::from_f32_shared(tm2.spec.clone(), &out.delta, tm2.scale)?;
            let u = match attack {
                Attack::SignFlip => chorus_fl::attack::sign_flip(&u, Micros::ONE),
                Attack::Scaled { gamma_micros } => {
                    chorus_fl::attack::scaled(&u, Micros(gamma_micros))
                }
                Attack::Gaussian { std_micros } => {
                    chorus_fl::attack::gaussian(&u, Micros(std_micros), salt.0)
                }
                _ => u,
            };
            Ok((u, (out.num_examples as u64).max(1)))
        })
        .await
        .map_err(|e| Error::Inconsistent(format!("training task: {e}")))??;
        let Some(collusion) = &self.cfg.collusion else {
            if self.cfg.attack.needs_collusion() {
                return Err(Error::Unsupported(format!(
                    "attack {:?} needs a collusion pool",
                    self.cfg.attack
                )));
            }
            return Ok((u, n));
        };
        if self.cfg.attack == Attack::None || self.cfg.attack.needs_collusion() {
            collusion.share(rd.task, rd.round, self.address(), u.clone());
        }
        if !self.cfg.attack.needs_collusion() {
            return Ok((u, n));
        }
        // Wait for the round's other selected participants (bounded: the commit must still fit).
        let honest = collusion.honest_updates(rd.task, rd.round, rd.selected as usize).await;
        let attack = self.cfg.attack.clone();
        let crafted = match attack {
            Attack::Alie { z_micros } => chorus_fl::attack::alie(&honest, Micros(z_micros)),
            Attack::Ipm { eps_micros } => chorus_fl::attack::ipm(&honest, Micros(eps_micros)),
            Attack::MinMax => chorus_fl::attack::min_max(&honest),
            _ => None,
        };
        // Colluders craft the same vector; each nudges one coordinate by one fixed-point unit
        // (a coordinate chosen from its address) so the copies do not share an id, which the
        // protocol would pay and count once.
        let crafted = crafted.map(|mut c| {
            if !c.values.is_empty() {
                let a = self.address().0;
                let k = u64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
                let i = (k % c.values.len() as u64) as usize;
                c.values[i] = c.values[i].saturating_add(1);
            }
            c
        });
        Ok((crafted.unwrap_or(u), n))
    }

    async fn persist(&mut self, task: TaskId, round: RoundNo, rec: ParticipantRound) -> Result<()> {
        self.progress.set(task, round, rec)
    }

    /// Trains and encodes this round's update: the bytes to store (sealed to the committee if
    /// the task says so), the examples behind it and its fixed-point norm.
    async fn update_bytes(
        &self,
        tm: &TaskModel,
        rd: &RoundView,
        enc: &Encryption,
    ) -> Result<(Vec<u8>, u64, u64)> {
        let (u, n) = self.make_update(tm, rd).await?;
        let salt = derive_salt(self.sender.key(), rd.task, rd.round);
        let mut bytes = u.to_bytes();
        if let Encryption::Committee { keys } = enc {
            let pubs: Vec<chorus_store::SealPublicKey> =
                keys.iter().map(|k| chorus_store::SealPublicKey(*k)).collect();
            // `seal` binds its keys to the plaintext too (L5): an update re-trained after a
            // crash in the same round never reuses this seed's keystream.
            let seed = keccak256(&[b"chorus/seal".as_slice(), &salt.0].concat());
            bytes = chorus_store::seal(&bytes, &pubs, &seed)?;
        }
        Ok((bytes, n, TaskModel::norm(&u)))
    }

    fn pending_path(&self, task: TaskId, round: RoundNo) -> Option<PathBuf> {
        let p = self.cfg.state_path.as_ref()?;
        Some(PathBuf::from(format!("{}.update-{task}-{round}", p.display())))
    }

    /// Keeps committed bytes until the reveal phase (on disk too when there is a progress file,
    /// written before the commit is sent).
    fn keep_pending(&mut self, task: TaskId, round: RoundNo, bytes: Vec<u8>) -> Result<()> {
        if let Some(path) = self.pending_path(task, round) {
            let io = |source| Error::Io { path: path.display().to_string(), source };
            let tmp = PathBuf::from(format!("{}.tmp", path.display()));
            std::fs::write(&tmp, &bytes).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
        }
        self.pending.retain(|(t, r), _| *t != task || *r + 1 >= round);
        self.pending.insert((task, round), bytes);
        Ok(())
    }

    fn take_pending(&mut self, task: TaskId, round: RoundNo) -> Result<Option<Vec<u8>>> {
        if let Some(b) = self.pending.get(&(task, round)) {
            return Ok(Some(b.clone()));
        }
        match self.pending_path(task, round) {
            Some(path) if path.exists() => std::fs::read(&path)
                .map(Some)
                .map_err(|source| Error::Io { path: path.display().to_string(), source }),
            _ => Ok(None),
        }
    }

    fn drop_pending(&mut self, task: TaskId, round: RoundNo) {
        self.pending.remove(&(task, round));
        if let Some(path) = self.pending_path(task, round) {
            let _ = std::fs::remove_file(path);
        }
    }

    async fn do_round(
        &mut self,
        rd: &RoundView,
        tm: &TaskModel,
        spec: &chorus_types::learning::TaskSpec,
        report: &mut StepReport,
    ) -> Result<()> {
        let enc = &spec.encryption;
        let me = self.address();
        let (t, r) = (rd.task, rd.round);
        let mut rec = self.progress.get(t, r);
        if rec.abandoned.is_some() {
            return Ok(());
        }
        let on_chain = rd.commit_of(&me);
        match rd.phase.as_str() {
            "commit" if on_chain.is_none() => {
                if let Some(stx) = &rec.commit_tx {
                    let h = self.sender.resubmit(&stx.signed()?).await?;
                    report.sent.push(("commit", t, r, h));
                    return Ok(());
                }
                let shards =
                    rd.selection.iter().find(|s| s.address == me).map_or(0, |s| s.shards.len());
                let cap = examples_cap(spec, shards);
                let (bytes, n, norm) = self.update_bytes(tm, rd, enc).await?;
                // H4: the weight is bound in the commitment and capped by the task.
                let n = n.min(cap).max(1);
                let salt = derive_salt(self.sender.key(), t, r);
                // H5: commit to the content hash only; the bytes stay here until the reveal phase.
                let update_id = hash_of(&BlobId::of(&bytes));
                self.keep_pending(t, r, bytes)?;
                let commitment = update_commitment(&update_id, n, &salt, &me, t, r);
                let stx = self
                    .sender
                    .sign(vec![Msg::Learning(LearningMsg::Commit {
                        task: t,
                        round: r,
                        commitment,
                    })])
                    .await?;
                rec.update_id = Some(update_id);
                rec.salt = Some(salt);
                rec.num_examples = n;
                rec.norm = norm;
                rec.commit_tx = Some(StoredTx::new(&stx)?);
                self.persist(t, r, rec).await?;
                let h = self.sender.resubmit(&stx).await?;
                report.sent.push(("commit", t, r, h));
            }
            "reveal" => {
                let Some(c) = on_chain else { return Ok(()) };
                if c.reveal.is_some() || c.faulted {
                    return Ok(());
                }
                if let Some(stx) = &rec.reveal_tx {
                    let h = self.sender.resubmit(&stx.signed()?).await?;
                    report.sent.push(("reveal", t, r, h));
                    return Ok(());
                }
                let (Some(update_id), Some(salt)) = (rec.update_id, rec.salt) else {
                    // Committed but the progress was lost before the update id was recorded:
                    // nothing safe to reveal.
                    rec.abandoned = Some("commit on chain but no local update record".into());
                    return self.persist(t, r, rec).await;
                };
                // The commit window has closed: now the update may be read, so upload it.
                let bytes = match self.take_pending(t, r)? {
                    Some(b) => b,
                    // Lost (restart without a progress file): training is seeded per round, so
                    // retraining usually reproduces the committed bytes.
                    None => self.update_bytes(tm, rd, enc).await?.0,
                };
                if hash_of(&BlobId::of(&bytes)) != update_id {
                    rec.abandoned = Some("committed update bytes lost and not reproducible".into());
                    return self.persist(t, r, rec).await;
                }
                // Signed with the account key: a node only takes uploads from registered
                // participants.
                let stored =
                    self.blobs.put_signed(UPDATES_NAMESPACE, bytes, self.sender.key()).await?;
                if stored != update_id {
                    return Err(Error::Inconsistent(format!(
                        "store returned id {stored} for committed update {update_id}"
                    )));
                }
                let msg = LearningMsg::Reveal {
                    task: t,
                    round: r,
                    update_id,
                    salt,
                    num_examples: rec.num_examples,
                    norm: rec.norm,
                };
                let stx = self.sender.sign(vec![Msg::Learning(msg)]).await?;
                rec.reveal_tx = Some(StoredTx::new(&stx)?);
                self.persist(t, r, rec).await?;
                self.drop_pending(t, r);
                let h = self.sender.resubmit(&stx).await?;
                report.sent.push(("reveal", t, r, h));
            }
            _ => {}
        }
        Ok(())
    }

    /// One pass: register if needed, then act on every open round this participant is selected
    /// in. Safe to call any number of times (already-sent transactions are only re-submitted).
    pub async fn step(&mut self) -> Result<StepReport> {
        let mut report = StepReport::default();
        if !self.ensure_registered(&mut report).await? {
            return Ok(report);
        }
        let me = self.address();
        for t in self.ledger.tasks().await? {
            let Some(r) = t.open_round else { continue };
            let Some(rd) = self.ledger.round(t.id, r).await? else { continue };
            if !rd.is_selected(&me) {
                continue;
            }
            let tm = TaskModel::from_spec(&t.spec)?;
            if let Err(e) = self.do_round(&rd, &tm, &t.spec, &mut report).await {
                tracing::warn!(task = t.id, round = r, "participant {me}: {e}");
            }
        }
        Ok(report)
    }

    /// Runs until `shutdown` becomes true: steps on every new block (WebSocket events when
    /// `events` is given) and at least every `poll` interval.
    pub async fn run_until(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        mut events: Option<tokio::sync::mpsc::Receiver<crate::ChainEvent>>,
    ) -> Result<()> {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            if let Err(e) = self.step().await {
                tracing::warn!("participant {}: step failed: {e}", self.address());
            }
            crate::client::wait_for_next_step(&mut shutdown, events.as_mut(), self.cfg.poll).await;
        }
    }
}
