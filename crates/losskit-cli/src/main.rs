//! `losskit`: PyTorch-exact losses from the command line.

use losskit_cli::bench::alloc;
use losskit_cli::{bench, compare, eval, train};

use std::fs::File;
use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
        /// Read requests from this file instead of standard input.
        file: Option<PathBuf>,
    },
    /// Train the tutorial's MLP (784-500-10) on MNIST-format data; see --help for the options.
    Train(train::TrainArgs),
    /// Train the same network under several losses on imbalanced data and compare them.
    Compare(compare::CompareArgs),
    /// Time forward+backward of the losses against burn's and PyTorch's (f32, CPU).
    Bench(bench::BenchArgs),
}

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval { file } => match file {
            Some(path) => File::open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))
                .and_then(|f| eval::run(BufReader::new(f), io::stdout().lock()).map_err(|e| e.to_string())),
            None => eval::run(io::stdin().lock(), io::stdout().lock()).map_err(|e| e.to_string()),
        },
        Command::Train(args) => train::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Compare(args) => compare::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("losskit: {message}");
            ExitCode::FAILURE
        }
    }
}
