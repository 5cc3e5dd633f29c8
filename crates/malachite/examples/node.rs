#![allow(clippy::unwrap_used)]
//! Run one validator of a local N-validator network as its own process.
//!
//! `cargo run --example node -- <index> <n> [base_port=29500] [home=/tmp/chorus-node] [heights=10]`
//! Validator i uses secret key [100+i; 32] and port base_port+i; all have power 1.
//! Start the N processes; each prints its decided heights and exits after `heights` commits.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use chorus_consensus::{
    AppError, Application, CommitCertificate, ConsensusConfig, ValidatorInfo, public_key, run,
};

struct App {
    vals: Vec<ValidatorInfo>,
    committed: Vec<(Vec<u8>, CommitCertificate)>,
    start: Instant,
}

impl Application for App {
    fn consensus_ready(&mut self) -> Result<(u64, Vec<ValidatorInfo>), AppError> {
        Ok((self.committed.len() as u64 + 1, self.vals.clone()))
    }
    fn propose(&mut self, height: u64, round: u32) -> Result<(Vec<u8>, [u8; 32]), AppError> {
        let b = format!("block h={height} r={round}").into_bytes();
        let id = Sha256::digest(&b).into();
        Ok((b, id))
    }
    fn validate(
        &mut self,
        height: u64,
        _r: u32,
        _p: [u8; 32],
        block: &[u8],
    ) -> Result<Option<[u8; 32]>, AppError> {
        let Ok(text) = std::str::from_utf8(block) else { return Ok(None) };
        Ok(text.starts_with(&format!("block h={height} ")).then(|| Sha256::digest(block).into()))
    }
    fn commit(
        &mut self,
        block: &[u8],
        cert: &CommitCertificate,
    ) -> Result<Vec<ValidatorInfo>, AppError> {
        cert.verify(&self.vals, 0).map_err(AppError::new)?;
        println!(
            "[{:>6} ms] committed height {} round {} id {} ({} sigs) {:?}",
            self.start.elapsed().as_millis(),
            cert.height,
            cert.round,
            cert.value_id[..4].iter().map(|b| format!("{b:02x}")).collect::<String>(),
            cert.signatures.len(),
            String::from_utf8_lossy(block)
        );
        self.committed.push((block.to_vec(), cert.clone()));
        Ok(self.vals.clone())
    }
    fn decided(&self, height: u64) -> Result<Option<(Vec<u8>, CommitCertificate)>, AppError> {
        let Some(i) = height.checked_sub(1) else { return Ok(None) };
        Ok(self.committed.get(i as usize).cloned())
    }
    fn history_min_height(&self) -> u64 {
        1
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let idx: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let base: u16 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(29500);
    let home = args.get(4).cloned().unwrap_or_else(|| "/tmp/chorus-node".into());
    let heights: usize = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(10);

    let sks: Vec<[u8; 32]> = (0..n).map(|i| [100 + i as u8; 32]).collect();
    let vals =
        sks.iter().map(|sk| ValidatorInfo { consensus_key: public_key(sk), power: 1 }).collect();
    let addr = |i: usize| format!("127.0.0.1:{}", base + i as u16).parse().unwrap();

    let mut cfg = ConsensusConfig::new(format!("{home}/{idx}").into(), addr(idx));
    cfg.peers = (0..n).map(addr).collect();
    cfg.block_time = Duration::from_millis(500);
    cfg.moniker = format!("node{idx}");

    // Runs for roughly `heights` block times (plus startup), then stops.
    let app = App { vals, committed: vec![], start: Instant::now() };
    let handle = run(sks[idx], cfg, app).await?;
    tokio::time::sleep(Duration::from_millis(600) * heights as u32 + Duration::from_secs(3)).await;
    handle.stop().await;
    Ok(())
}
