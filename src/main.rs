//! The `tusk` command: serve (`tusk [CONFIG]`), `tusk token`, `tusk demo`, `--example`,
//! `--dump-config`, `--dump-schema`, `--ready`. Argument parsing, logging set-up (no colours
//! unless the log goes to a terminal; the configuration's warnings whatever the log level) and
//! exit codes live here; everything else is in the library.

use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use tusk::config::Config;

/// jemalloc, configured at build time (`.cargo/config.toml`) to hand freed memory back to the
/// system within a second: with glibc's malloc, a 20 MB body that was refused stayed in the
/// process's RSS (glibc raises its mmap threshold after freeing a large block, so the next
/// one comes from a heap that is not trimmed). docs/limits.md has the figures.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A PostgREST-compatible HTTP API server for PostgreSQL.
///
/// Configure it exactly like PostgREST: PGRST_* environment variables (PGRST_DB_URI,
/// PGRST_DB_SCHEMAS, PGRST_DB_ANON_ROLE, PGRST_JWT_SECRET, ...) and/or a PostgREST-format config
/// file given as the first argument; the environment wins over the file. As with libpq,
/// PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGPASSFILE, PGSERVICE, ... fill in what
/// db-uri leaves out (its default, postgresql://, takes everything from them).
#[derive(Parser, Debug)]
#[command(name = "tusk", disable_version_flag = true, args_conflicts_with_subcommands = true)]
struct Cli {
    /// PostgREST-format configuration file
    config: Option<PathBuf>,
    /// Print the version and exit (as PostgREST: -v, --version)
    #[arg(short = 'v', long)]
    version: bool,
    /// Print an annotated example configuration file and exit
    #[arg(short = 'e', long)]
    example: bool,
    /// Print the effective configuration (file + environment + in-database settings + defaults) and exit
    #[arg(long, conflicts_with_all = ["dump_schema", "ready"])]
    dump_config: bool,
    /// Print the schema cache as JSON and exit (its structure is not stable)
    #[arg(long, conflicts_with = "ready")]
    dump_schema: bool,
    /// Ask the admin server's /ready of a running tusk: exit 0 when it answers 200, else 1
    #[arg(long)]
    ready: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign a JWT with the configured secret (PGRST_JWT_SECRET or the config file)
    Token(TokenArgs),
    /// Run the todo example app on a private throwaway PostgreSQL: no setup needed
    Demo(tusk::demo::DemoArgs),
}

#[derive(Args, Debug)]
struct TokenArgs {
    /// The role claim
    #[arg(long)]
    role: String,
    /// Lifetime, e.g. 30s, 5m, 12h, 7d (negative for an already expired token); none: no exp
    #[arg(long, allow_hyphen_values = true)]
    exp: Option<String>,
    /// Extra claim NAME=VALUE (VALUE is parsed as JSON when it can be, else a string); repeatable
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
    /// PostgREST-format configuration file to read the secret from
    #[arg(long)]
    config: Option<PathBuf>,
}

fn env_map() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("tusk: {message}");
    ExitCode::from(1)
}

fn init_logging(level: tusk::config::LogLevel) {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_max_level(level.as_tracing())
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}

/// The configuration's warnings (unknown settings, unimplemented ones): on stderr whatever the
/// log level, since a typo'd setting is worth hearing about even at `log-level = error`.
fn print_warnings(config: &Config) {
    for w in &config.warnings {
        eprintln!("tusk: warning: {w}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("tusk {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if cli.example {
        print!("{}", tusk::config::example());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match cli.command {
        Some(Command::Token(args)) => token(args),
        Some(Command::Demo(args)) => {
            init_logging(tusk::config::LogLevel::Info);
            match runtime.block_on(tusk::demo::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        None => {
            let config = match Config::from_sources(cli.config.as_deref(), &env_map()) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            print_warnings(&config);
            if cli.dump_config {
                return dump_config(&runtime, config);
            }
            if cli.ready {
                return match runtime.block_on(tusk::server::check_ready(&config)) {
                    Ok(url) => {
                        println!("OK: {url}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("ERROR: {e}");
                        ExitCode::from(1)
                    }
                };
            }
            if cli.dump_schema {
                return match runtime.block_on(tusk::server::dump_schema(&config)) {
                    Ok(json) => {
                        println!("{json}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                };
            }
            init_logging(config.log_level);
            runtime.block_on(serve(config))
        }
    }
}

/// `--dump-config`. As PostgREST: the in-database settings count too (db-config = false skips
/// them).
fn dump_config(runtime: &tokio::runtime::Runtime, config: Config) -> ExitCode {
    let config = if config.db_config {
        match runtime.block_on(tusk::server::reread_config(&config)) {
            Ok((c, _)) => c,
            Err(e) => {
                return fail(format!(
                    "cannot read the in-database configuration ({e}); set db-config = false to dump without it"
                ))
            }
        }
    } else {
        config
    };
    print!("{}", config.dump());
    ExitCode::SUCCESS
}

/// `tusk [CONFIG]`: serves until Ctrl-C or SIGTERM.
async fn serve(config: Config) -> ExitCode {
    let server = match tusk::server::Server::bind(config).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match server.run(tusk::server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// `5m` → 300; `-1h` → -3600; `90` → 90.
fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn token(args: TokenArgs) -> ExitCode {
    let config = match Config::from_sources(args.config.as_deref(), &env_map()) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut claims = serde_json::Map::new();
    claims.insert("role".into(), serde_json::Value::String(args.role));
    if let Some(exp) = args.exp {
        let Some(secs) = parse_duration(&exp) else {
            return fail(format!("invalid --exp '{exp}': expected e.g. 30s, 5m, 12h, 7d"));
        };
        claims.insert("exp".into(), serde_json::Value::from(tusk::auth::now() + secs));
    }
    for claim in args.claims {
        let Some((k, v)) = claim.split_once('=') else {
            return fail(format!("invalid --claim '{claim}': expected NAME=VALUE"));
        };
        let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        claims.insert(k.to_string(), value);
    }
    match tusk::auth::sign_token(&config, &serde_json::Value::Object(claims)) {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
