//! `chorus task`: the task owner's transactions (create from a JSON spec, pause, resume,
//! cancel, roll back) signed with a keystore key. Reading tasks is `chorus query
//! task|round|model`.

use std::path::PathBuf;

use chorus_types::Msg;
use chorus_types::learning::{LearningMsg, TaskSpec};
use clap::{Args, Subcommand};
use eyre::{bail, eyre};

use crate::args::SignerArgs;
use crate::cmd::tx::send;

/// Open and manage training tasks.
#[derive(Args, Debug)]
pub(crate) struct TaskArgs {
    #[command(flatten)]
    signer: SignerArgs,
    #[command(subcommand)]
    cmd: TaskCmd,
}

#[derive(Subcommand, Debug)]
enum TaskCmd {
    /// Open a task from a JSON `TaskSpec` (the shape `chorus query task` shows under `spec`);
    /// `rounds × reward_per_round` is escrowed from the signer.
    Create {
        /// Path of the spec.
        #[arg(long)]
        spec: PathBuf,
    },
    /// Stop opening new rounds.
    Pause {
        /// Task id.
        task: u64,
    },
    /// Resume a paused task.
    Resume {
        /// Task id.
        task: u64,
    },
    /// Cancel; the open round is abandoned and the remaining escrow refunded.
    Cancel {
        /// Task id.
        task: u64,
    },
    /// Make an earlier model version current again.
    Rollback {
        /// Task id.
        task: u64,
        /// Version to restore.
        version: u32,
    },
}

pub(crate) fn run(args: TaskArgs) -> eyre::Result<()> {
    let msg = match args.cmd {
        TaskCmd::Create { spec } => {
            let text = std::fs::read_to_string(&spec)
                .map_err(|e| eyre!("reading {}: {e}", spec.display()))?;
            let spec: TaskSpec = serde_json::from_str(&text)
                .map_err(|e| eyre!("{} is not a task spec: {e}", spec.display()))?;
            LearningMsg::CreateTask { spec: Box::new(spec) }
        }
        TaskCmd::Pause { task } => LearningMsg::PauseTask { task },
        TaskCmd::Resume { task } => LearningMsg::ResumeTask { task },
        TaskCmd::Cancel { task } => LearningMsg::CancelTask { task },
        TaskCmd::Rollback { task, version } => LearningMsg::Rollback { task, version },
    };
    let rt = tokio::runtime::Runtime::new()?;
    let out = rt.block_on(send(&args.signer, vec![Msg::Learning(msg)]))?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    if let Some(err) = out["receipt"]["result"].get("Err") {
        bail!("transaction failed: {}", err["message"].as_str().unwrap_or("?"));
    }
    Ok(())
}
