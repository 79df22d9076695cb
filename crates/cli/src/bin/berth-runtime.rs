//! `berth-runtime`: a runc-compatible OCI runtime. All the work is in `berth_cli`.

fn main() -> std::process::ExitCode {
    berth_cli::runtime_cli::main()
}
