//! `berth`: the daemonless engine with Docker's commands. All the work is in `berth_cli`.

fn main() -> std::process::ExitCode {
    berth_cli::engine_cli::main()
}
