//! Participants as child processes (`--participant-processes`): each participant is a
//! `chorus participant` process with its own keystore, progress file and log under the devnet
//! home, and [`Supervised`] restarts any that exits while the task runs (the restart-safety test
//! kills them on purpose). Child processes, validators included, are stopped with SIGINT so they
//! can close their files cleanly, and killed only if they do not exit within ten seconds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use eyre::{WrapErr, eyre};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{RunFile, SCORE_HOLDOUT, Settings, participant_key};

/// Sends SIGINT to `c` and waits up to ten seconds for it to exit, then kills it.
pub(super) async fn stop_child(c: &mut tokio::process::Child) {
    if let Some(pid) = c.id().and_then(|p| i32::try_from(p).ok()) {
        // SIGINT lets `chorus node` close its database cleanly.
        let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
    }
    if tokio::time::timeout(Duration::from_secs(10), c.wait()).await.is_err() {
        let _ = c.kill().await;
    }
}

/// Writes the participants' keystores (once) and starts one `chorus participant` process per
/// participant, participant `i` talking to the node at `urls[i % urls.len()]`, logging to
/// `logs`.
pub(super) fn start_processes(
    root: &Path,
    rf: &RunFile,
    urls: &[String],
    logs: &Path,
) -> eyre::Result<Supervised> {
    let s = &rf.settings;
    let exe = std::env::current_exe().wrap_err("locating the chorus binary")?;
    // One home, or node0..nodeN-1 under the root: every home holds the same genesis.
    let first_home =
        if root.join("genesis.json").is_file() { root.to_path_buf() } else { root.join("node0") };
    let chain_id = crate::home::Home(first_home).load_genesis()?.chain_id;
    std::fs::create_dir_all(root.join("keys"))?;
    let mut commands: Vec<Box<dyn Fn() -> tokio::process::Command + Send>> = Vec::new();
    for i in 0..s.participants {
        let key = participant_key(s.seed, i)?;
        let path = root.join("keys").join(format!("participant-{i}.json"));
        if !path.exists() {
            // Devnet accounts only: a light KDF keeps process starts fast.
            let kdf = chorus_crypto::KeystoreKdf::Scrypt { log_n: 12, r: 8, p: 1 };
            let json = chorus_crypto::encrypt_keystore_with(&key, "", &[i as u8; 32], kdf)
                .map_err(|e| eyre!("keystore: {e}"))?;
            std::fs::write(&path, serde_json::to_vec_pretty(&json)?)?;
        }
        let rpc = urls[i % urls.len()].clone();
        let atk = if rf.byzantine.contains(&i) { s.attack.clone() } else { "none".into() };
        let (exe, root, st) = (exe.clone(), root.to_path_buf(), s.clone());
        commands.push(Box::new(move || {
            participant_command(&exe, &root, &st, (i, chain_id), &rpc, &atk)
        }));
    }
    let n = commands.len();
    let mut sup = Supervised {
        commands,
        children: (0..n).map(|_| None).collect(),
        restarts: 0,
        logs: logs.to_path_buf(),
    };
    for i in 0..n {
        sup.spawn(i)?;
    }
    Ok(sup)
}

/// The command line of participant `i` as a separate `chorus participant` process.
fn participant_command(
    exe: &Path,
    root: &Path,
    s: &Settings,
    (i, chain_id): (usize, u64),
    rpc: &str,
    attack: &str,
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(exe);
    c.arg("participant")
        .args(["--rpc", rpc])
        .args(["--chain-id", &chain_id.to_string()])
        .arg("--key")
        .arg(root.join("keys").join(format!("participant-{i}.json")))
        .args(["--dataset", &s.dataset])
        .args(["--holdout", &SCORE_HOLDOUT.to_string()])
        .args(["--partition", &s.partition])
        .args(["--clients", &s.participants.to_string()])
        .args(["--client", &i.to_string()])
        .args(["--seed", &s.seed.to_string()])
        .args(["--epochs", &s.epochs.to_string()])
        .args(["--lr", &s.lr.to_string()])
        .args(["--batch", &s.batch.to_string()])
        .args(["--train-seed", &s.train_seed(i).to_string()])
        .args(["--attack", attack])
        .arg("--state")
        .arg(root.join("progress").join(format!("participant-{i}.json")))
        .env("CHORUS_PASSWORD", "")
        .env_remove("CHORUS_PASSWORD_FILE")
        .kill_on_drop(true);
    if let Some(d) = &s.data_dir {
        c.arg("--data-dir").arg(d);
    }
    c
}

/// Participants running as child processes, restarted when they exit (the test of restart
/// safety kills them).
pub(super) struct Supervised {
    commands: Vec<Box<dyn Fn() -> tokio::process::Command + Send>>,
    children: Vec<Option<tokio::process::Child>>,
    /// How many processes were restarted so far.
    pub(super) restarts: usize,
    logs: PathBuf,
}

impl Supervised {
    /// Starts participant `i`, appending to its log and writing its pid file.
    fn spawn(&mut self, i: usize) -> eyre::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("participant-{i}.log")))?;
        let child = (self.commands[i])()
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .wrap_err("spawning a participant process")?;
        std::fs::write(
            self.logs.join(format!("participant-{i}.pid")),
            child.id().map_or(String::new(), |p| p.to_string()),
        )?;
        self.children[i] = Some(child);
        Ok(())
    }

    /// Restarts every participant that exited; returns how many were restarted.
    pub(super) fn restart_exited(&mut self) -> eyre::Result<usize> {
        let mut n = 0;
        for i in 0..self.children.len() {
            let exited = match self.children[i].as_mut() {
                Some(c) => c.try_wait()?.is_some(),
                None => true,
            };
            if exited {
                self.spawn(i)?;
                n += 1;
            }
        }
        self.restarts += n;
        Ok(n)
    }

    /// Stops every participant process ([`stop_child`]).
    pub(super) async fn stop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            stop_child(c).await;
        }
    }
}
