//! chorus-trainer: a participant's local training on real data — data sets (IDX loader and registry),
//! deterministic partitioning, the content-addressed shard pool (Merkle root, proofs, seeded
//! assignment), models behind our own [`Model`] trait (hand-written passes on `gemm` in [`native`],
//! burn's flex CPU backend as the reference in [`BurnModel`]), local optimisation
//! (SGD/momentum, Adam, FedProx, SCAFFOLD, update clipping), evaluation and data-side attacks (its
//! throughput benchmark lives in `chorus-bench`).
//!
//! This crate is an L2/L3 adapter: it reads data files and uses floats, so nothing it computes may go
//! into chain state or a hash except through [`params::to_update`] (fixed-point, `chorus_fl`) and the
//! integer-only shard pool. It never downloads data at run time (see `scripts/setup-fashion-mnist`) and
//! never draws entropy: every random choice comes from a seed.
//!
//! # Participant API
//! ```no_run
//! use chorus_trainer::{data, partition, model, train, params};
//! use chorus_fl::update::FixedScale;
//!
//! // 1. Data: by registry name, default directory (or Some(path)).
//! let splits = data::load_dataset("mnist", None)?;
//! // 2. Partition the training set across 10 simulated clients (seeded) and take client 3's share.
//! let part = partition::partition(&splits.train.labels, 10, 10, &partition::Scheme::Dirichlet { alpha: 0.5 }, 42)?;
//! let local = splits.train.subset(&part.clients[3])?;
//! // 3. Model by name; load the round's global model (f32 or a fixed-point Update).
//! let mut m = model::build_model("mlp", 0)?;
//! let global = m.params()?;
//! m.set_params(&global)?;
//! // 4. Train locally.
//! let cfg = train::TrainConfig { epochs: 1, batch_size: 32, lr: 0.05, fedprox_mu: 0.01, ..Default::default() };
//! let out = train::train_local(m.as_mut(), &local, &cfg, None)?;
//! // 5. Ship the update (Δ) as fixed-point, evaluate on the test set.
//! let update = params::to_update(&m.param_spec(), &out.delta, FixedScale::default())?;
//! let report = m.evaluate(&splits.test)?;
//! println!("{} examples, update norm {:.3}, {report}", out.num_examples, out.update_norm);
//! # let _ = update;
//! # Ok::<(), chorus_trainer::Error>(())
//! ```

pub mod attack;
pub mod data;
mod error;
pub mod model;
pub mod native;
pub mod params;
pub mod partition;
pub mod pool;
pub mod train;

pub use attack::{Backdoor, LabelFlip, Trigger};
pub use data::{Dataset, DatasetName, Splits, load_dataset};
pub use error::{Error, Result};
pub use model::{Arch, Backend, BurnModel, Model, build_model, build_model_on};
pub use native::{NativeCnn, NativeDense};
pub use partition::{Partition, Scheme, partition};
pub use pool::{ShardPool, ShardProof, assign_shards, verify_shard_proof};
pub use train::{
    EvalReport, LocalUpdate, Optimizer, Scaffold, ScaffoldOutput, TrainConfig, TrainStats,
    train_local,
};
