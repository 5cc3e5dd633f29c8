#![allow(clippy::unwrap_used)]
//! Integration tests for chorus-db: reopen, two-step commit, proofs, pruning, crash atomicity.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chorus_chain::state::{ChangeSet, MemState, StateRead};
use chorus_db::{
    BlockRecord, Db, DbOptions, EMPTY_ROOT, Error, StateProof, TxRecord, verify_proof,
};

fn changes(pairs: &[(&str, Option<&str>)]) -> ChangeSet {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))).collect()
}

fn hash_of(tag: &str, n: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    let bytes = format!("{tag}/{n}");
    for (i, b) in bytes.bytes().enumerate() {
        h[i % 32] ^= b.wrapping_mul(i as u8 + 1);
    }
    h[24..].copy_from_slice(&n.to_be_bytes());
    h
}

fn block(height: u64, ntx: u32) -> BlockRecord {
    BlockRecord {
        height,
        hash: hash_of("block", height),
        block_bytes: format!("block {height}").into_bytes(),
        certificate_bytes: format!("cert {height}").into_bytes(),
        txs: (0..ntx)
            .map(|i| TxRecord {
                hash: hash_of(&format!("tx{i}"), height),
                index: i,
                receipt_bytes: format!("receipt {height}/{i}").into_bytes(),
            })
            .collect(),
    }
}

/// Prepares and commits `c` at the next height; returns (height, root).
fn commit_next(db: &Db, c: &ChangeSet) -> (u64, [u8; 32]) {
    let h = db.next_height().unwrap();
    let p = db.prepare(h, c).unwrap();
    let root = p.state_root;
    db.commit(p, block(h, 2)).unwrap();
    (h, root)
}

fn all_state(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.snapshot().unwrap().scan_prefix(b"").unwrap()
}

/// A deterministic history used by several tests: `n` blocks touching keys `k00..k49`.
fn history_block(h: u64, keys_per_block: u64) -> ChangeSet {
    let mut c = ChangeSet::new();
    for i in 0..keys_per_block {
        let k = format!("k{:04}", (h * 13 + i * 7) % (keys_per_block * 4));
        let v =
            if (h + i).is_multiple_of(5) { None } else { Some(format!("v{h}/{i}").into_bytes()) };
        c.insert(k.into_bytes(), v);
    }
    c
}

#[test]
fn empty_genesis_has_the_empty_root_and_genesis_cannot_repeat() {
    let db = Db::open_in_memory().unwrap();
    assert_eq!(db.latest_height().unwrap(), None);
    assert_eq!(db.next_height().unwrap(), 0);
    let root = db.commit_genesis(&ChangeSet::new()).unwrap();
    assert_eq!(root, EMPTY_ROOT);
    assert_eq!(db.latest().unwrap(), Some((0, EMPTY_ROOT)));
    assert!(matches!(
        db.commit_genesis(&ChangeSet::new()),
        Err(Error::WrongHeight { expected: 1, got: 0 })
    ));
    assert_eq!(db.block_by_height(0).unwrap(), None, "genesis has no block record");
}

#[test]
fn reopening_the_file_restores_latest_height_root_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let (latest, state) = {
        let db = Db::open(&path).unwrap();
        db.commit_genesis(&changes(&[("acct/a", Some("100")), ("acct/b", Some("50"))])).unwrap();
        for h in 1..=5 {
            commit_next(&db, &history_block(h, 10));
        }
        (db.latest().unwrap().unwrap(), all_state(&db))
    };
    let db = Db::open(&path).unwrap();
    assert_eq!(db.latest().unwrap(), Some(latest));
    assert_eq!(latest.0, 5);
    assert_eq!(db.state_root(5).unwrap(), Some(latest.1));
    assert_eq!(all_state(&db), state);
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.height(), Some(5));
    assert_eq!(snap.state_root(), latest.1);
    assert_eq!(snap.get(b"acct/a").unwrap(), Some(b"100".to_vec()));
    // And it keeps going from there.
    let (h, _) = commit_next(&db, &changes(&[("acct/c", Some("1"))]));
    assert_eq!(h, 6);
}

#[test]
fn committed_root_equals_the_prepared_root_and_matches_a_replay() {
    let db = Db::open_in_memory().unwrap();
    db.commit_genesis(&ChangeSet::new()).unwrap();
    let c = changes(&[("x", Some("1")), ("y", Some("2"))]);
    let p = db.prepare(1, &c).unwrap();
    let promised = p.state_root;
    assert_ne!(promised, EMPTY_ROOT);
    // Prepare writes nothing.
    assert_eq!(db.latest_height().unwrap(), Some(0));
    assert_eq!(db.snapshot().unwrap().get(b"x").unwrap(), None);
    db.commit(p, block(1, 0)).unwrap();
    assert_eq!(db.state_root(1).unwrap(), Some(promised));
    assert_eq!(db.latest().unwrap(), Some((1, promised)));

    // Same changes on another database give the same root (roots depend on state only).
    let other = Db::open_in_memory().unwrap();
    other.commit_genesis(&ChangeSet::new()).unwrap();
    assert_eq!(other.prepare(1, &c).unwrap().state_root, promised);
}

#[test]
fn competing_prepares_for_one_height_are_independent_and_only_one_commits() {
    let db = Db::open_in_memory().unwrap();
    db.commit_genesis(&changes(&[("base", Some("0"))])).unwrap();
    let a = db.prepare(1, &changes(&[("k", Some("A"))])).unwrap();
    let b = db.prepare(1, &changes(&[("k", Some("B"))])).unwrap();
    assert_ne!(a.state_root, b.state_root);
    // Preparing B did not disturb A: A still recomputes to the same root.
    let a_again = db.prepare(1, &changes(&[("k", Some("A"))])).unwrap();
    assert_eq!(a.state_root, a_again.state_root);
    let a_root = a.state_root;
    db.commit(a, block(1, 0)).unwrap();
    assert_eq!(db.state_root(1).unwrap(), Some(a_root));
    assert_eq!(db.snapshot().unwrap().get(b"k").unwrap(), Some(b"A".to_vec()));
    // B was computed on height 0, which is no longer the latest.
    let err = db.commit(b, block(1, 0)).unwrap_err();
    assert!(matches!(err, Error::StaleBase { prepared_on: Some(0), latest: Some(1) }), "{err}");
    assert_eq!(db.latest().unwrap(), Some((1, a_root)));
    assert_eq!(db.snapshot().unwrap().get(b"k").unwrap(), Some(b"A".to_vec()));
}

#[test]
fn a_prepared_state_on_a_stale_base_is_rejected_even_at_the_right_height() {
    // Two databases share nothing; a Prepared from one base must not commit on another base.
    let db = Db::open_in_memory().unwrap();
    db.commit_genesis(&ChangeSet::new()).unwrap();
    let stale = db.prepare(1, &changes(&[("a", Some("1"))])).unwrap();
    commit_next(&db, &changes(&[("a", Some("2"))]));
    let before = (db.latest().unwrap(), all_state(&db));
    assert!(matches!(db.commit(stale, block(1, 0)), Err(Error::StaleBase { .. })));
    assert_eq!((db.latest().unwrap(), all_state(&db)), before);
}

#[test]
fn wrong_heights_are_rejected_and_nothing_changes() {
    let db = Db::open_in_memory().unwrap();
    db.commit_genesis(&changes(&[("a", Some("1"))])).unwrap();
    commit_next(&db, &changes(&[("b", Some("2"))]));
    let before = (db.latest().unwrap(), all_state(&db));

    for h in [0, 1, 3, 100] {
        let err = db.prepare(h, &changes(&[("c", Some("3"))])).unwrap_err();
        assert!(matches!(err, Error::WrongHeight { expected: 2, got } if got == h), "{err}");
    }
    let p = db.prepare(2, &changes(&[("c", Some("3"))])).unwrap();
    let err = db.commit(p, block(3, 1)).unwrap_err();
    assert!(matches!(err, Error::BlockHeightMismatch { prepared: 2, block: 3 }), "{err}");

    assert_eq!((db.latest().unwrap(), all_state(&db)), before);
    assert_eq!(db.block_by_height(3).unwrap(), None);
    assert_eq!(db.tx(&hash_of("tx0", 3)).unwrap(), None);
    assert_eq!(db.state_root(2).unwrap(), None);
}

fn tamper_expect_failure(p: &StateProof, root: &[u8; 32]) {
    let mut bad_value = p.clone();
    bad_value.value = Some(b"forged".to_vec());
    assert!(matches!(verify_proof(&bad_value, root), Err(Error::ProofInvalid(_))));

    let mut flipped = p.clone();
    flipped.value = if p.value.is_some() { None } else { Some(b"v".to_vec()) };
    assert!(matches!(verify_proof(&flipped, root), Err(Error::ProofInvalid(_))));

    let mut bad_root = *root;
    bad_root[0] ^= 1;
    assert!(matches!(verify_proof(p, &bad_root), Err(Error::RootMismatch { .. })));
    let mut both = p.clone();
    both.root = bad_root;
    assert!(matches!(verify_proof(&both, &bad_root), Err(Error::ProofInvalid(_))));

    let mut other_key = p.clone();
    other_key.key.push(b'!');
    assert!(verify_proof(&other_key, root).is_err());

    let mut garbage = p.clone();
    garbage.proof_bytes.push(0);
    assert!(matches!(verify_proof(&garbage, root), Err(Error::ProofDecode(_))));
}

#[test]
fn inclusion_and_exclusion_proofs_verify_and_tampering_fails() {
    let db = Db::open_in_memory().unwrap();
    db.commit_genesis(&ChangeSet::new()).unwrap();
    let mut c = ChangeSet::new();
    for i in 0..200u32 {
        c.insert(format!("acct/{i}").into_bytes(), Some(format!("bal {i}").into_bytes()));
    }
    let (h, root) = commit_next(&db, &c);

    let incl = db.prove(b"acct/42", h).unwrap();
    assert_eq!(incl.value, Some(b"bal 42".to_vec()));
    assert_eq!((incl.root, incl.height), (root, h));
    verify_proof(&incl, &root).unwrap();
    tamper_expect_failure(&incl, &root);

    let excl = db.prove(b"acct/missing", h).unwrap();
    assert_eq!(excl.value, None);
    verify_proof(&excl, &root).unwrap();
    tamper_expect_failure(&excl, &root);

    // Proofs survive serde (JSON, as the API ships them) and borsh round trips.
    let json = serde_json::to_string(&incl).unwrap();
    let back: StateProof = serde_json::from_str(&json).unwrap();
    verify_proof(&back, &root).unwrap();
    let bytes = borsh::to_vec(&excl).unwrap();
    let back: StateProof = borsh::from_slice(&bytes).unwrap();
    verify_proof(&back, &root).unwrap();

    // An empty tree proves absence too.
    let empty = Db::open_in_memory().unwrap();
    empty.commit_genesis(&ChangeSet::new()).unwrap();
    let p = empty.prove(b"anything", 0).unwrap();
    verify_proof(&p, &EMPTY_ROOT).unwrap();
}

#[test]
fn proofs_at_older_heights_show_the_state_of_that_height() {
    let db = Db::open_in_memory().unwrap();
    db.commit_genesis(&changes(&[("k", Some("v0"))])).unwrap();
    let (_, r1) = commit_next(&db, &changes(&[("k", Some("v1")), ("other", Some("o"))]));
    let (_, r2) = commit_next(&db, &changes(&[("k", None)]));
    let (_, r3) = commit_next(&db, &changes(&[("k", Some("v3"))]));
    let r0 = db.state_root(0).unwrap().unwrap();
    for (h, root, want) in
        [(0, r0, Some("v0")), (1, r1, Some("v1")), (2, r2, None), (3, r3, Some("v3"))]
    {
        let p = db.prove(b"k", h).unwrap();
        assert_eq!(p.value, want.map(|w| w.as_bytes().to_vec()), "height {h}");
        verify_proof(&p, &root).unwrap();
        // A proof for one height does not verify against another height's root.
        let other = if h == 3 { r0 } else { r3 };
        assert!(verify_proof(&p, &other).is_err());
    }
    assert!(matches!(db.prove(b"k", 4), Err(Error::NotCommitted { height: 4, latest: Some(3) })));
}

#[test]
fn snapshots_are_consistent_while_blocks_commit() {
    let db = Db::open_in_memory().unwrap();
    db.commit_genesis(&changes(&[
        ("acct/a", Some("1")),
        ("acct/b", Some("2")),
        ("acctx", Some("not in acct/")),
        ("val/a", Some("3")),
    ]))
    .unwrap();
    let snap = db.snapshot().unwrap();
    commit_next(&db, &changes(&[("acct/a", None), ("acct/c", Some("4"))]));
    assert_eq!(snap.height(), Some(0));
    assert_eq!(snap.get(b"acct/a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        snap.scan_prefix(b"acct/").unwrap(),
        vec![(b"acct/a".to_vec(), b"1".to_vec()), (b"acct/b".to_vec(), b"2".to_vec())]
    );
    let now = db.snapshot().unwrap();
    assert_eq!(now.height(), Some(1));
    assert_eq!(now.get(b"acct/a").unwrap(), None);
    assert_eq!(
        now.scan_prefix(b"acct/").unwrap(),
        vec![(b"acct/b".to_vec(), b"2".to_vec()), (b"acct/c".to_vec(), b"4".to_vec())]
    );
    assert_eq!(now.scan_prefix(b"zzz").unwrap(), vec![]);
}

#[test]
fn blocks_and_transactions_are_indexed_by_height_and_hash() {
    let db = Db::open_in_memory().unwrap();
    db.commit_genesis(&ChangeSet::new()).unwrap();
    for h in 1..=4 {
        commit_next(&db, &changes(&[("k", Some(&format!("{h}")))]));
    }
    let b3 = db.block_by_height(3).unwrap().unwrap();
    assert_eq!(b3.hash, hash_of("block", 3));
    assert_eq!(b3.block_bytes, b"block 3");
    assert_eq!(b3.certificate_bytes, b"cert 3");
    assert_eq!(db.block_by_hash(&hash_of("block", 3)).unwrap(), Some(b3));
    assert_eq!(db.block_by_hash(&hash_of("block", 99)).unwrap(), None);
    assert_eq!(db.block_by_height(5).unwrap(), None);

    let tx = db.tx(&hash_of("tx1", 2)).unwrap().unwrap();
    assert_eq!(tx.height, 2);
    assert_eq!(tx.tx.index, 1);
    assert_eq!(tx.tx.receipt_bytes, b"receipt 2/1");
    assert_eq!(db.tx(&hash_of("tx7", 2)).unwrap(), None);

    let range: Vec<u64> = db.blocks_range(2, 10).unwrap().iter().map(|b| b.height).collect();
    assert_eq!(range, vec![2, 3, 4]);
    let all: Vec<u64> = db.blocks_range(0, 4).unwrap().iter().map(|b| b.height).collect();
    assert_eq!(all, vec![1, 2, 3, 4], "genesis has no block record");
    assert!(db.blocks_range(4, 2).unwrap().is_empty());
}

#[test]
fn pruning_keeps_recent_heights_provable_and_refuses_older_ones() {
    let opts = DbOptions { keep_recent: Some(3), ..DbOptions::default() };
    let pruned = Db::open_in_memory_with(opts).unwrap();
    let full = Db::open_in_memory().unwrap();
    pruned.commit_genesis(&ChangeSet::new()).unwrap();
    full.commit_genesis(&ChangeSet::new()).unwrap();
    for h in 1..=12 {
        let c = history_block(h, 25);
        let a = commit_next(&pruned, &c);
        let b = commit_next(&full, &c);
        assert_eq!(a, b, "pruning must not change roots");
        // Empty blocks too.
        if h.is_multiple_of(4) {
            let a = commit_next(&pruned, &ChangeSet::new());
            assert_eq!(a, commit_next(&full, &ChangeSet::new()));
        }
    }
    let latest = pruned.latest_height().unwrap().unwrap();
    assert_eq!(pruned.history_min_height().unwrap(), latest - 2);
    assert_eq!(full.history_min_height().unwrap(), 0);
    assert_eq!(all_state(&pruned), all_state(&full));
    for h in latest - 2..=latest {
        let root = pruned.state_root(h).unwrap().unwrap();
        for i in 0..100 {
            let key = format!("k{i:04}");
            let p = pruned.prove(key.as_bytes(), h).unwrap();
            assert_eq!(p, full.prove(key.as_bytes(), h).unwrap(), "key {key} at {h}");
            verify_proof(&p, &root).unwrap();
        }
    }
    let err = pruned.prove(b"k0001", latest - 3).unwrap_err();
    assert!(matches!(err, Error::Pruned { .. }), "{err}");
    // Roots and blocks of pruned heights are still there.
    assert_eq!(pruned.state_root(1).unwrap(), full.state_root(1).unwrap());
    assert!(pruned.block_by_height(1).unwrap().is_some());
    // And a new block still commits on the pruned tree.
    let c = history_block(99, 25);
    assert_eq!(commit_next(&pruned, &c), commit_next(&full, &c));
}

#[test]
fn deleting_absent_keys_is_harmless_and_deletes_show_as_absent() {
    let db = Db::open_in_memory().unwrap();
    db.commit_genesis(&changes(&[("a", Some("1"))])).unwrap();
    let r0 = db.state_root(0).unwrap().unwrap();
    let (h, r1) = commit_next(&db, &changes(&[("never", None)]));
    assert_eq!(r1, r0, "deleting an absent key leaves the root unchanged");
    let (h2, r2) = commit_next(&db, &changes(&[("a", None)]));
    assert_eq!(r2, EMPTY_ROOT, "deleting every key gives the empty root");
    assert_eq!(db.snapshot().unwrap().get(b"a").unwrap(), None);
    let p = db.prove(b"a", h2).unwrap();
    assert_eq!(p.value, None);
    verify_proof(&p, &r2).unwrap();
    verify_proof(&db.prove(b"a", h).unwrap(), &r1).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Crash atomicity: a child process (this test binary) commits in a loop and is SIGKILLed.

const CRASH_CHILD_ENV: &str = "CHORUS_DB_CRASH_CHILD";
const CRASH_TEST: &str = "a_writer_killed_mid_commit_leaves_whole_blocks_only";
const CRASH_KEYS: u64 = 400;

fn crash_block(h: u64) -> ChangeSet {
    history_block(h, CRASH_KEYS)
}

fn crash_child(path: &str) {
    let db = Db::open(path).unwrap();
    if db.next_height().unwrap() == 0 {
        db.commit_genesis(&changes(&[("genesis", Some("g"))])).unwrap();
    }
    let start = std::time::Instant::now();
    // Bounded in case the parent dies without killing us.
    while start.elapsed() < std::time::Duration::from_secs(60) {
        let h = db.next_height().unwrap();
        let p = db.prepare(h, &crash_block(h)).unwrap();
        println!("committing {h}");
        let t = std::time::Instant::now();
        db.commit(p, block(h, 3)).unwrap();
        println!("committed {h} in {} us", t.elapsed().as_micros());
    }
}

#[test]
fn a_writer_killed_mid_commit_leaves_whole_blocks_only() {
    if let Ok(path) = std::env::var(CRASH_CHILD_ENV) {
        crash_child(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let exe = std::env::current_exe().unwrap();
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args([CRASH_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CRASH_CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        loop {
            let line = lines.next().expect("child exited early").unwrap();
            if line.starts_with("committed ") {
                eprintln!("child: {line}");
                seen += 1;
            }
            // After a few blocks, kill while a commit (write transaction) is in flight.
            if seen >= 3 && line.starts_with("committing ") {
                break;
            }
        }
        // Land the kill at a different point of the write transaction each round.
        std::thread::sleep(std::time::Duration::from_millis(9 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let db = Db::open(&path).unwrap();
        let (h, root) = db.latest().unwrap().unwrap();
        eprintln!("round {round}: reopened at height {h}");
        assert!(h >= 3, "round {round}: latest {h}");
        assert_eq!(db.state_root(h).unwrap(), Some(root));
        assert_eq!(db.state_root(h + 1).unwrap(), None);
        assert_eq!(db.block_by_height(h).unwrap().unwrap().hash, hash_of("block", h));
        assert_eq!(db.block_by_height(h + 1).unwrap(), None, "no partial block above latest");
        assert_eq!(db.tx(&hash_of("tx2", h)).unwrap().unwrap().height, h);
        assert_eq!(db.tx(&hash_of("tx0", h + 1)).unwrap(), None);

        // State equals a replay of blocks 0..=h, and the tree root matches the stored root.
        let mut expect = MemState::new();
        expect.apply(&changes(&[("genesis", Some("g"))]));
        for b in 1..=h {
            expect.apply(&crash_block(b));
        }
        assert_eq!(
            all_state(&db),
            expect.scan_prefix(b"").unwrap(),
            "round {round}: flat state at {h}"
        );
        let probe = db.prove(b"genesis", h).unwrap();
        verify_proof(&probe, &root).unwrap();
        for i in 0..20 {
            let key = format!("k{:04}", i * 3);
            let p = db.prove(key.as_bytes(), h).unwrap();
            assert_eq!(p.value, expect.get(key.as_bytes()).unwrap());
            verify_proof(&p, &root).unwrap();
        }
        let replay = Db::open_in_memory().unwrap();
        replay.commit_genesis(&changes(&[("genesis", Some("g"))])).unwrap();
        for b in 1..=h {
            commit_next(&replay, &crash_block(b));
        }
        assert_eq!(replay.latest().unwrap(), Some((h, root)), "round {round}");
    }
}
