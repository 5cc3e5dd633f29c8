//! End-to-end use of the participant API on the bundled MNIST.
#![allow(clippy::unwrap_used)]

use chorus_fl::update::FixedScale;
use chorus_trainer::pool::verify_shard_data;
use chorus_trainer::{
    ShardPool, TrainConfig, build_model, load_dataset, params, partition, train_local,
};

#[test]
fn partitions_of_real_mnist_cover_every_sample_exactly_once() {
    let s = load_dataset("mnist", None).unwrap();
    for scheme in [
        partition::Scheme::Iid,
        partition::Scheme::Dirichlet { alpha: 0.5 },
        partition::Scheme::Shards { shards_per_client: 2 },
    ] {
        let p = partition::partition(&s.train.labels, 10, 100, &scheme, 1).unwrap();
        let mut seen = vec![0u8; s.train.len()];
        for &i in p.clients.iter().flatten() {
            seen[i as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c == 1), "{scheme:?}");
        assert_eq!(p, partition::partition(&s.train.labels, 10, 100, &scheme, 1).unwrap());
    }
}

#[test]
fn participant_round_trip_from_assigned_shards_to_a_fixed_point_update() {
    let s = load_dataset("mnist", None).unwrap();
    let pool = ShardPool::new(&s.train.head(6_000), 60).unwrap();
    let root = pool.pool_root();
    let me = [0xAB; 20];
    let assignment = pool.assign_shards([1; 32], &[[1; 20], me, [2; 20]], 10).unwrap();
    let mine = &assignment[&me];
    for &i in mine {
        let proof = pool.shard_proof(i).unwrap();
        assert!(verify_shard_data(&root, &pool.shard_data(&s.train, i).unwrap(), &proof));
    }
    let local = pool.shards_data(&s.train, mine).unwrap();
    assert_eq!(local.len(), 1_000);

    let mut m = build_model("logreg", 0).unwrap();
    let global = m.params().unwrap();
    let cfg = TrainConfig { batch_size: 50, lr: 0.1, fedprox_mu: 0.01, ..TrainConfig::default() };
    let out = train_local(m.as_mut(), &local, &cfg, None).unwrap();
    let update = params::to_update(&m.param_spec(), &out.delta, FixedScale::default()).unwrap();
    let back = params::from_update(&update, &m.param_spec()).unwrap();
    let rebuilt: Vec<f32> = global.iter().zip(&back).map(|(g, d)| g + d).collect();
    let mut m2 = build_model("logreg", 0).unwrap();
    m2.set_params(&rebuilt).unwrap();
    let (a, b) =
        (m.evaluate(&s.test.head(1000)).unwrap(), m2.evaluate(&s.test.head(1000)).unwrap());
    assert!(a.accuracy > 0.7, "{a}");
    assert!((a.accuracy - b.accuracy).abs() < 0.01);
}
