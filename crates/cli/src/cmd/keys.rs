//! `chorus keys`: account keys in Ethereum keystore v3 files under `HOME/keys/`.

use std::path::PathBuf;

use chorus_crypto::AccountKey;
use clap::{Args, Subcommand};
use eyre::eyre;

use crate::home::Home;

/// Manage account keys.
#[derive(Args, Debug)]
pub(crate) struct KeysArgs {
    /// Node home.
    #[arg(long, env = "CHORUS_HOME", default_value = ".chorus", global = true)]
    home: PathBuf,
    #[command(flatten)]
    password: crate::args::PasswordArgs,
    /// Allow writing a keystore with an empty password (throwaway local networks only).
    #[arg(long, global = true)]
    insecure_empty_password: bool,
    #[command(subcommand)]
    cmd: KeysCmd,
}

#[derive(Subcommand, Debug)]
enum KeysCmd {
    /// Create a new random key.
    Create {
        /// Key name.
        name: String,
    },
    /// Import a raw secp256k1 private key (hex).
    Import {
        /// Key name.
        name: String,
        /// 32-byte private key, hex (prefer the env var to keep it out of shell history).
        #[arg(long, env = "CHORUS_PRIVATE_KEY")]
        private_key: String,
    },
    /// List stored keys and their addresses.
    List,
    /// Print the address of a key.
    Show {
        /// Key name.
        name: String,
    },
}

pub(crate) fn run(args: KeysArgs) -> eyre::Result<()> {
    let home = Home(args.home);
    match args.cmd {
        KeysCmd::Create { name } => {
            let mut secret = [0u8; 32];
            use std::io::Read;
            std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
            let key = AccountKey::from_bytes(&secret).map_err(|e| eyre!("{e}"))?;
            home.write_account(
                &name,
                &key,
                &args.password.for_new_keystore(args.insecure_empty_password)?,
            )?;
            println!("{name} {}", key.address());
        }
        KeysCmd::Import { name, private_key } => {
            let mut secret = [0u8; 32];
            hex::decode_to_slice(private_key.trim().trim_start_matches("0x"), &mut secret)
                .map_err(|e| eyre!("private key must be 32 bytes of hex: {e}"))?;
            let key = AccountKey::from_bytes(&secret).map_err(|e| eyre!("{e}"))?;
            home.write_account(
                &name,
                &key,
                &args.password.for_new_keystore(args.insecure_empty_password)?,
            )?;
            println!("{name} {}", key.address());
        }
        KeysCmd::List => {
            for (name, addr) in home.list_accounts()? {
                println!("{name:<16} {addr}");
            }
        }
        KeysCmd::Show { name } => {
            println!("{}", home.read_account(&name, &args.password.read()?)?.address());
        }
    }
    Ok(())
}
