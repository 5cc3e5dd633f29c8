//! The node home directory layout and `chorus init`.
//!
//! ```text
//! HOME/config.toml            node configuration (see chorus_node::config)
//! HOME/genesis.json           the chain's genesis
//! HOME/keys/consensus.json    ed25519 consensus key (hex; keep private)
//! HOME/keys/<name>.json       account keys, Ethereum keystore v3
//! HOME/data/chain.redb        ledger state and blocks
//! HOME/data/consensus/        consensus WAL
//! HOME/data/blobs/            the embedded blob store
//! ```
//! `chorus init --validators N` with N > 1 writes one such home per validator under
//! `HOME/node0 … HOME/node{N-1}`, sharing one genesis and peering on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chorus_crypto::{AccountKey, ConsensusKey, encrypt_keystore};
use chorus_node::config::NodeConfig;
use chorus_types::{Address, Amount, Genesis, GenesisValidator, Params};
use eyre::{WrapErr, bail, eyre};
use serde::{Deserialize, Serialize};

/// Paths inside a node home.
#[derive(Clone, Debug)]
pub struct Home(pub PathBuf);

impl Home {
    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.0.join("config.toml")
    }
    /// `genesis.json`.
    pub fn genesis(&self) -> PathBuf {
        self.0.join("genesis.json")
    }
    /// `keys/`.
    pub fn keys(&self) -> PathBuf {
        self.0.join("keys")
    }
    /// `keys/consensus.json`.
    pub fn consensus_key(&self) -> PathBuf {
        self.keys().join("consensus.json")
    }
    /// `data/`.
    pub fn data(&self) -> PathBuf {
        self.0.join("data")
    }

    /// Reads the genesis file.
    pub fn load_genesis(&self) -> eyre::Result<Genesis> {
        let path = self.genesis();
        let text = std::fs::read_to_string(&path)
            .wrap_err_with(|| format!("reading {} (run `chorus init` first)", path.display()))?;
        serde_json::from_str(&text).wrap_err_with(|| format!("parsing {}", path.display()))
    }

    /// Reads the consensus key.
    pub fn load_consensus_key(&self) -> eyre::Result<ConsensusKey> {
        let path = self.consensus_key();
        let text = std::fs::read_to_string(&path)
            .wrap_err_with(|| format!("reading {} (run `chorus init` first)", path.display()))?;
        let file: ConsensusKeyFile =
            serde_json::from_str(&text).wrap_err_with(|| format!("parsing {}", path.display()))?;
        let bytes = decode32(&file.secret_key)?;
        Ok(ConsensusKey::from_bytes(&bytes))
    }

    /// Loads the node configuration (defaults < file < env).
    pub fn load_config(&self) -> eyre::Result<NodeConfig> {
        Ok(NodeConfig::load(&self.config(), std::env::vars())?)
    }

    /// Writes an account key as an encrypted keystore named `name`.
    pub fn write_account(&self, name: &str, key: &AccountKey, password: &str) -> eyre::Result<()> {
        validate_key_name(name)?;
        std::fs::create_dir_all(self.keys())?;
        let path = self.keys().join(format!("{name}.json"));
        if path.exists() {
            bail!("key `{name}` already exists at {}", path.display());
        }
        let seed = chorus_types::keccak256(&[key.to_bytes().as_slice(), name.as_bytes()].concat());
        let json = encrypt_keystore(key, password, &seed);
        write_private(&path, &serde_json::to_vec_pretty(&json)?)
    }

    /// Decrypts the account key named `name`.
    pub fn read_account(&self, name: &str, password: &str) -> eyre::Result<AccountKey> {
        validate_key_name(name)?;
        let path = self.keys().join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .wrap_err_with(|| format!("no key `{name}` at {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)?;
        chorus_crypto::decrypt_keystore(&json, password)
            .map_err(|e| eyre!("decrypting key `{name}`: {e}"))
    }

    /// Names and addresses of the stored account keys.
    pub fn list_accounts(&self) -> eyre::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let Ok(dir) = std::fs::read_dir(self.keys()) else { return Ok(out) };
        for entry in dir {
            let path = entry?.path();
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else { continue };
            if name == "consensus" || path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
            let addr = json.get("address").and_then(|a| a.as_str()).unwrap_or("?");
            out.push((name.to_string(), format!("0x{}", addr.trim_start_matches("0x"))));
        }
        out.sort();
        Ok(out)
    }
}

fn validate_key_name(name: &str) -> eyre::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("key names are 1-64 characters of [A-Za-z0-9_-], got `{name}`");
    }
    Ok(())
}

fn decode32(s: &str) -> eyre::Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim_start_matches("0x"), &mut out)
        .map_err(|e| eyre!("expected 32 bytes of hex: {e}"))?;
    Ok(out)
}

/// Writes a secret file readable only by its owner.
fn write_private(path: &Path, bytes: &[u8]) -> eyre::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).wrap_err_with(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// `keys/consensus.json`.
#[derive(Serialize, Deserialize)]
struct ConsensusKeyFile {
    public_key: String,
    secret_key: String,
}

/// Options of `chorus init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Number of validators.
    pub validators: usize,
    /// Chain id.
    pub chain_id: u64,
    /// Deterministic key seed (devnets, tests); `None` derives keys from the OS RNG.
    pub seed: Option<String>,
    /// Keystore password for the generated account keys.
    pub password: String,
    /// First API port; validator i uses `api_port + 10 * i`, p2p `api_port + 10 * i + 1`.
    pub api_port: u16,
    /// Target block time.
    pub block_time_ms: u64,
    /// Extra funded accounts (address, amount).
    pub extra_accounts: Vec<(Address, Amount)>,
    /// Stake of each validator.
    pub validator_stake: Amount,
    /// Balance of the `faucet` account.
    pub faucet_balance: Amount,
    /// Genesis time (ms since epoch).
    pub genesis_time_ms: u64,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            validators: 1,
            chain_id: DEVNET_CHAIN_ID,
            seed: None,
            password: String::new(),
            api_port: 26_657,
            block_time_ms: 1000,
            extra_accounts: Vec::new(),
            validator_stake: 1_000_000_000_000,
            faucet_balance: 1_000_000_000_000_000_000,
            genesis_time_ms: 0,
        }
    }
}

/// Result of `chorus init`: the homes written and the genesis.
pub struct InitOutput {
    /// One home per validator.
    pub homes: Vec<Home>,
    /// The shared genesis.
    pub genesis: Genesis,
    /// The funded `faucet` account.
    pub faucet: AccountKey,
}

/// The secret behind key `label` of a network initialised with `seed` (random without one).
pub fn derive_secret(seed: &Option<String>, label: &str) -> eyre::Result<[u8; 32]> {
    match seed {
        Some(s) => Ok(chorus_types::keccak256(format!("chorus-init/{s}/{label}").as_bytes())),
        None => {
            let mut b = [0u8; 32];
            getrandom(&mut b)?;
            Ok(b)
        }
    }
}

/// Chain id of `chorus devnet` networks (local and throwaway; `chorus init` picks a fresh one).
pub const DEVNET_CHAIN_ID: u64 = 7_777;

/// Lowest chain id `chorus init` picks by itself (ids below are left to hand-picked networks).
pub const MIN_DERIVED_CHAIN_ID: u64 = 10_000;

/// The chain id of a network initialised with `seed`: derived from it, or random without one, in
/// `MIN_DERIVED_CHAIN_ID..2^31` (small enough for every EIP-155 tool, large enough that two
/// independent networks rarely collide).
pub fn derive_chain_id(seed: &Option<String>) -> eyre::Result<u64> {
    let secret = derive_secret(seed, "chain-id")?;
    let raw = u64::from_be_bytes([
        secret[0], secret[1], secret[2], secret[3], secret[4], secret[5], secret[6], secret[7],
    ]);
    Ok(MIN_DERIVED_CHAIN_ID + raw % ((1u64 << 31) - MIN_DERIVED_CHAIN_ID))
}

fn getrandom(buf: &mut [u8]) -> eyre::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .wrap_err("reading /dev/urandom")
}

/// Writes genesis, keys and configs for an N-validator network under `root`.
pub fn init(root: &Path, opts: &InitOptions) -> eyre::Result<InitOutput> {
    if opts.validators == 0 {
        bail!("--validators must be at least 1");
    }
    if root.join("genesis.json").exists() || root.join("node0").exists() {
        bail!("{} already holds a network; pick another --home or remove it", root.display());
    }
    let homes: Vec<Home> = if opts.validators == 1 {
        vec![Home(root.to_path_buf())]
    } else {
        (0..opts.validators).map(|i| Home(root.join(format!("node{i}")))).collect()
    };
    let faucet = AccountKey::from_bytes(&derive_secret(&opts.seed, "faucet")?)
        .map_err(|e| eyre!("faucet key: {e}"))?;
    let mut validators = Vec::new();
    let mut consensus_keys = Vec::new();
    let mut operators = Vec::new();
    for i in 0..opts.validators {
        let ck = ConsensusKey::from_bytes(&derive_secret(&opts.seed, &format!("consensus/{i}"))?);
        let op = AccountKey::from_bytes(&derive_secret(&opts.seed, &format!("operator/{i}"))?)
            .map_err(|e| eyre!("operator key: {e}"))?;
        validators.push(GenesisValidator {
            operator: op.address(),
            consensus_key: ck.public_key(),
            stake: opts.validator_stake,
        });
        consensus_keys.push(ck);
        operators.push(op);
    }
    let mut accounts = vec![(faucet.address(), opts.faucet_balance)];
    for op in &operators {
        accounts.push((op.address(), opts.validator_stake));
    }
    accounts.extend(opts.extra_accounts.iter().copied());
    let genesis = Genesis {
        chain_id: opts.chain_id,
        genesis_time_ms: opts.genesis_time_ms,
        accounts,
        validators,
        params: Params::default(),
    };
    chorus_chain::init_genesis(&genesis).map_err(|e| eyre!("genesis is invalid: {e}"))?;
    let p2p = |i: usize| -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], opts.api_port + 10 * i as u16 + 1))
    };
    for (i, home) in homes.iter().enumerate() {
        std::fs::create_dir_all(home.keys())?;
        std::fs::create_dir_all(home.data())?;
        std::fs::write(home.genesis(), serde_json::to_vec_pretty(&genesis)?)?;
        let mut config = NodeConfig { moniker: format!("validator-{i}"), ..NodeConfig::default() };
        config.api.listen = SocketAddr::from(([127, 0, 0, 1], opts.api_port + 10 * i as u16));
        config.consensus.listen = p2p(i);
        config.consensus.peers = (0..opts.validators).filter(|j| *j != i).map(p2p).collect();
        config.consensus.block_time_ms = opts.block_time_ms;
        if opts.validators > 1 {
            let gossip = |j: usize| SocketAddr::new(p2p(j).ip(), p2p(j).port() + 1);
            config.gossip.listen = Some(gossip(i));
            config.gossip.peers = (0..opts.validators).filter(|j| *j != i).map(gossip).collect();
        }
        std::fs::write(home.config(), config.to_toml())?;
        let ck = &consensus_keys[i];
        let file = ConsensusKeyFile {
            public_key: format!("0x{}", hex::encode(ck.public_key())),
            secret_key: format!("0x{}", hex::encode(ck.to_bytes())),
        };
        write_private(&home.consensus_key(), &serde_json::to_vec_pretty(&file)?)?;
        home.write_account("operator", &operators[i], &opts.password)?;
        home.write_account("faucet", &faucet, &opts.password)?;
    }
    Ok(InitOutput { homes, genesis, faucet })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_a_loadable_single_validator_home() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions { seed: Some("t".into()), ..InitOptions::default() };
        let out = init(dir.path(), &opts).unwrap();
        let home = &out.homes[0];
        assert_eq!(home.load_genesis().unwrap(), out.genesis);
        let ck = home.load_consensus_key().unwrap();
        assert_eq!(ck.public_key(), out.genesis.validators[0].consensus_key);
        let faucet = home.read_account("faucet", "").unwrap();
        assert_eq!(faucet.address(), out.faucet.address());
        assert!(home.read_account("faucet", "wrong").is_err());
        let names: Vec<String> =
            home.list_accounts().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["faucet", "operator"]);
        // A second init into the same place is refused.
        assert!(init(dir.path(), &opts).is_err());
    }

    #[test]
    fn derived_chain_ids_are_reproducible_from_a_seed_and_random_without_one() {
        let a = derive_chain_id(&Some("net-a".into())).unwrap();
        assert_eq!(a, derive_chain_id(&Some("net-a".into())).unwrap());
        assert_ne!(a, derive_chain_id(&Some("net-b".into())).unwrap());
        let random: Vec<u64> = (0..4).map(|_| derive_chain_id(&None).unwrap()).collect();
        assert!(random.iter().all(|id| (MIN_DERIVED_CHAIN_ID..1 << 31).contains(id)));
        assert!(random.windows(2).any(|w| w[0] != w[1]), "{random:?}");
        assert_ne!(a, 7_777);
    }

    #[test]
    fn init_with_four_validators_peers_them_on_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions { validators: 4, seed: Some("t".into()), ..InitOptions::default() };
        let out = init(dir.path(), &opts).unwrap();
        assert_eq!(out.homes.len(), 4);
        let c2 = out.homes[2].load_config().unwrap();
        assert_eq!(c2.consensus.peers.len(), 3);
        assert!(!c2.consensus.peers.contains(&c2.consensus.listen));
        assert_eq!(out.genesis.validators.len(), 4);
    }

    #[test]
    fn key_names_with_path_characters_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home(dir.path().to_path_buf());
        let key = AccountKey::from_seed(b"x");
        assert!(home.write_account("../evil", &key, "").is_err());
        assert!(home.read_account("a/b", "").is_err());
    }
}
