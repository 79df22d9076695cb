//! `berth-monitor`: supervises one container for the `berth` engine (see
//! `berth_engine::monitor`). Started by `berth run`; not meant to be run by hand.

fn main() -> std::process::ExitCode {
    match berth_engine::monitor::Args::parse(std::env::args_os().skip(1)) {
        Some(args) => std::process::ExitCode::from(
            u8::try_from(berth_engine::monitor::run(&args)).unwrap_or(1),
        ),
        None => {
            eprintln!("berth-monitor: started by berth run; usage: berth-monitor --id ID --runtime PATH ...");
            std::process::ExitCode::from(2)
        }
    }
}
