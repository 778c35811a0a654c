//! `losskit`: PyTorch-exact losses from the command line.

use losskit_cli::bench::alloc;
use losskit_cli::error::CliError;
use losskit_cli::{bench, compare, eval, train};

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "losskit", version, about = "PyTorch-exact loss functions on burn")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve loss requests as JSON Lines (stdin or FILE) -> one JSON line each on stdout.
    Eval {
        /// Read requests from this file instead of standard input (`-`: standard input).
        file: Option<PathBuf>,
    },
    /// Train the tutorial's MLP (784-500-10) on MNIST-format data; see --help for the options.
    Train(train::TrainArgs),
    /// Train the same network under several losses on imbalanced data and compare them.
    Compare(compare::CompareArgs),
    /// Time forward+backward of the losses against burn's and PyTorch's (f32, CPU).
    Bench(bench::BenchArgs),
}

// Counts only once `bench` switches it on.
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

fn main() -> ExitCode {
    // The matches as well as the parsed options: a resume needs to know which options the
    // command line gave and which are defaults.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(cli.command, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Nothing is left to report to if stderr is closed too.
            let _ = writeln!(io::stderr(), "losskit: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, matches: &ArgMatches) -> Result<(), CliError> {
    match command {
        Command::Eval { file: Some(path) } if path.as_os_str() != "-" => {
            if path.is_dir() {
                return Err(CliError::Directory { path });
            }
            let file = File::open(&path).map_err(|source| CliError::Open {
                path: path.clone(),
                source,
            })?;
            eval::run(BufReader::new(file), io::stdout().lock()).map_err(|source| CliError::EvalFile { path, source })
        }
        Command::Eval { file: _ } => eval::run(io::stdin().lock(), io::stdout().lock()).map_err(CliError::Eval),
        Command::Train(args) => {
            let given = matches
                .subcommand_matches("train")
                .map(train::Given::from_matches)
                .unwrap_or_default();
            Ok(train::run(args, &given)?)
        }
        Command::Bench(args) => Ok(bench::run(args)?),
        Command::Compare(args) => Ok(compare::run(args)?),
    }
}
