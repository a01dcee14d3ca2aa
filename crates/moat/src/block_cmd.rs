//! `moat block` / `moat unblock`: block lists (countries, address lists) as
//! nf_tables interval sets, each change one transaction.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use moat_blocklist::{zones, Blocklists, Direction, Entries, ListInfo, ListSpec, Source};
use serde::Serialize;

use moat_host::guard;
use moat_host::lock::RulesetLock;

/// Where `moat block country` looks for zone files without --zone-dir.
const ZONE_DIR: &str = "/var/lib/moat/zones";

/// Arguments of `moat block`.
#[derive(Args)]
pub struct BlockArgs {
    #[command(subcommand)]
    what: BlockCommand,
}

#[derive(Subcommand)]
enum BlockCommand {
    /// Block countries: drop traffic from their networks (IPv4 and IPv6).
    ///
    /// Each country becomes a list named by its code, loaded from
    /// DIR/ipv4/CC.zone and DIR/ipv6/CC.zone (one CIDR network per line),
    /// as ipdeny.com publishes them: https://www.ipdeny.com/ipblocks/data/countries/CC.zone
    /// and https://www.ipdeny.com/ipv6/ipaddresses/blocks/CC.zone (moat does
    /// not download them; when one is missing it prints the curl commands).
    /// Running it again refreshes the lists, all in one transaction: they
    /// are never empty or missing.
    Country {
        /// Two-letter country codes (cn ru ...).
        #[arg(required = true, value_name = "CC")]
        codes: Vec<String>,
        /// Directory with the zone files (ipv4/CC.zone, ipv6/CC.zone).
        #[arg(long, value_name = "DIR", default_value = ZONE_DIR)]
        zone_dir: PathBuf,
        /// Merge the countries into one list of this name instead of one
        /// list per country: fewer elements, so it loads faster (the whole
        /// world about twice as fast); counters are then for the whole list.
        #[arg(long = "as", value_name = "NAME")]
        merged: Option<String>,
        #[command(flatten)]
        opts: ListOptions,
    },
    /// Block the addresses, networks (1.2.3.0/24) and ranges (a-b) in a file,
    /// one per line, '#' or ';' comments; PATH '-' reads standard input.
    File {
        /// The list's name (letters, digits, '_', '-').
        name: String,
        /// The list file.
        path: PathBuf,
        #[command(flatten)]
        opts: ListOptions,
    },
    /// Add addresses or networks to a list; takes milliseconds whatever
    /// the list's size.
    Add {
        /// The list's name.
        name: String,
        /// Addresses, networks or ranges.
        #[arg(required = true, value_name = "ADDRESS")]
        addresses: Vec<String>,
        /// Create the list (blocking in,forward) if it does not exist.
        #[arg(long)]
        create: bool,
        /// Block even an address that an SSH connection to this host comes from.
        #[arg(long)]
        force: bool,
    },
    /// Remove addresses or networks from a list (they are cut out of its ranges).
    Remove {
        /// The list's name.
        name: String,
        /// Addresses, networks or ranges.
        #[arg(required = true, value_name = "ADDRESS")]
        addresses: Vec<String>,
    },
    /// Show the lists: source, directions, sizes, exceptions, packets and
    /// bytes dropped, and the iptables tables whose rules use them.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of a list load.
#[derive(Args)]
struct ListOptions {
    /// An address or network inside the list that stays allowed (repeatable).
    /// Without --except a refresh keeps the list's exceptions.
    #[arg(long = "except", value_name = "CIDR")]
    except: Vec<String>,
    /// Remove the list's exceptions.
    #[arg(long, conflicts_with = "except")]
    no_except: bool,
    /// What to block, comma-separated or repeated: in (from the list to this
    /// host), forward (from the list through this host), out (to the list's
    /// addresses), or none (a list only for `-m set --match-set NAME` in
    /// moat's iptables rules). Default for a new list: in,forward; a refresh
    /// keeps them.
    #[arg(long = "direction", value_name = "DIR", value_delimiter = ',')]
    direction: Vec<String>,
    /// Load a list even when it has no addresses (normally refused: an
    /// empty list lifts the block, and is what a failed download looks like).
    #[arg(long)]
    allow_empty: bool,
    /// Load even when the list holds the address of an SSH connection to
    /// this host (normally refused: it would lock you out).
    #[arg(long)]
    force: bool,
}

/// Arguments of `moat unblock`.
#[derive(Args)]
pub struct UnblockArgs {
    /// `country CC...` to lift country blocks, or list names.
    #[arg(required = true, value_name = "NAME")]
    words: Vec<String>,
}

fn lock() -> Result<RulesetLock> {
    Ok(RulesetLock::acquire(Duration::from_secs(30))?)
}

fn report(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `moat block ...`.
pub fn run_block(args: BlockArgs) -> ExitCode {
    report(block(args))
}

/// Runs `moat unblock ...`.
pub fn run_unblock(args: UnblockArgs) -> ExitCode {
    report(unblock(args))
}

fn parse_addresses(values: &[String], what: &str) -> Result<Entries> {
    let text = values.join("\n");
    let (entries, _) = Entries::parse(&text, what)
        .map_err(|e| anyhow::anyhow!("{what} {:?}: not an IP address, network or range", e.text))?;
    Ok(entries)
}

impl ListOptions {
    fn except(&self) -> Result<Option<Entries>> {
        if self.no_except {
            return Ok(Some(Entries::default()));
        }
        if self.except.is_empty() {
            return Ok(None);
        }
        parse_addresses(&self.except, "--except").map(Some)
    }

    fn directions(&self) -> Result<Option<Vec<Direction>>> {
        if self.direction.is_empty() {
            return Ok(None);
        }
        if self.direction.iter().any(|d| d.trim() == "none") {
            if self.direction.len() > 1 {
                bail!("--direction none cannot be combined with other directions");
            }
            return Ok(Some(Vec::new()));
        }
        let mut out: Vec<Direction> = self
            .direction
            .iter()
            .map(|d| Direction::parse(d.trim()))
            .collect::<Result<_, _>>()?;
        out.sort();
        out.dedup();
        Ok(Some(out))
    }
}

fn read_list_file(path: &Path) -> Result<Entries> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading standard input")?;
        return Ok(Entries::parse(&text, "<stdin>")?.0);
    }
    Ok(Entries::read_file(path)?.0)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn block(args: BlockArgs) -> Result<()> {
    match args.what {
        BlockCommand::Country {
            codes,
            zone_dir,
            merged,
            opts,
        } => {
            let except = opts.except()?;
            let directions = opts.directions()?;
            let mut specs: Vec<ListSpec> = Vec::new();
            let mut networks = Vec::new();
            let mut seen = Vec::new();
            let codes: Vec<String> = codes
                .iter()
                .map(|c| zones::country_code(c))
                .collect::<Result<_, _>>()?;
            zones::check_present(&zone_dir, &codes)?;
            for code in codes {
                if seen.contains(&code) {
                    continue;
                }
                seen.push(code.clone());
                let (entries, stats) = zones::read_country(&zone_dir, &code)?;
                networks.push(stats.lines);
                specs.push(ListSpec {
                    name: code.clone(),
                    source: Source::Country {
                        code,
                        zone_dir: absolute(&zone_dir),
                    },
                    entries,
                    except: except.clone(),
                    directions: directions.clone(),
                    allow_empty: opts.allow_empty,
                });
            }
            if let Some(name) = merged {
                let entries = Entries::union_all(specs.iter().map(|s| &s.entries));
                specs = vec![ListSpec {
                    name,
                    source: Source::Countries {
                        codes: seen,
                        zone_dir: absolute(&zone_dir),
                    },
                    entries,
                    except,
                    directions,
                    allow_empty: opts.allow_empty,
                }];
                networks = vec![networks.iter().sum()];
            }
            if !opts.force {
                guard::refuse_list_cuts(&specs)?;
            }
            let _lock = lock()?;
            let summaries = Blocklists::open()?.load(&specs)?;
            for (s, lines) in summaries.iter().zip(networks) {
                println!(
                    "{} {} {}: {lines} networks as {} IPv4 and {} IPv6 ranges, blocking {}",
                    if s.created { "blocked" } else { "refreshed" },
                    if specs.len() == 1 && matches!(specs[0].source, Source::Countries { .. }) {
                        "countries"
                    } else {
                        "country"
                    },
                    s.name,
                    s.ranges_v4,
                    s.ranges_v6,
                    words(&s.directions)
                );
            }
            Ok(())
        }
        BlockCommand::File { name, path, opts } => {
            let entries = read_list_file(&path)?;
            let spec = ListSpec {
                name,
                source: Source::File {
                    path: if path == Path::new("-") {
                        path
                    } else {
                        absolute(&path)
                    },
                },
                entries,
                except: opts.except()?,
                directions: opts.directions()?,
                allow_empty: opts.allow_empty,
            };
            if !opts.force {
                guard::refuse_list_cuts(std::slice::from_ref(&spec))?;
            }
            let _lock = lock()?;
            let summaries = Blocklists::open()?.load(std::slice::from_ref(&spec))?;
            for s in summaries {
                println!(
                    "{} list {}: {} IPv4 and {} IPv6 ranges, blocking {}",
                    if s.created { "blocked" } else { "refreshed" },
                    s.name,
                    s.ranges_v4,
                    s.ranges_v6,
                    words(&s.directions)
                );
            }
            Ok(())
        }
        BlockCommand::Add {
            name,
            addresses,
            create,
            force,
        } => add(&name, &addresses, create, force),
        BlockCommand::Remove { name, addresses } => remove(&name, &addresses),
        BlockCommand::List { json } => {
            let lists = Blocklists::open()?.lists()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&lists_json(&lists))?);
            } else {
                print!("{}", render_lists(&lists));
            }
            Ok(())
        }
    }
}

/// `moat block add NAME ADDRESS...`.
fn add(name: &str, addresses: &[String], create: bool, force: bool) -> Result<()> {
    let entries = parse_addresses(addresses, "address")?;
    if !force {
        guard::refuse_list_cuts(&[ListSpec {
            name: name.to_string(),
            source: Source::Manual,
            entries: entries.clone(),
            except: None,
            directions: None,
            allow_empty: false,
        }])?;
    }
    let _lock = lock()?;
    let mut lists = Blocklists::open()?;
    let summary = lists.add(name, &entries, create)?;
    let what = count(addresses.len(), "address", "addresses");
    let size = size_text(lists.size(name)?);
    if summary.created {
        println!("created block list {name} (blocking in,forward) with {what} ({size})");
    } else if summary.changed {
        println!("added {what} to {name} ({size})");
    } else {
        println!("list {name} already holds those addresses ({size})");
    }
    Ok(())
}

/// `moat block remove NAME ADDRESS...`.
fn remove(name: &str, addresses: &[String]) -> Result<()> {
    let entries = parse_addresses(addresses, "address")?;
    let _lock = lock()?;
    let mut lists = Blocklists::open()?;
    let summary = lists.remove(name, &entries)?;
    let size = size_text(lists.size(name)?);
    if summary.changed {
        let what = count(addresses.len(), "address", "addresses");
        println!("removed {what} from {name} ({size})");
    } else {
        println!("list {name} does not hold those addresses ({size})");
    }
    Ok(())
}

/// `n` and the noun for it: `1 address`, `2 addresses`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `n` entries: `1 entry`, `3 entries`.
pub fn entries_text(n: usize) -> String {
    count(n, "entry", "entries")
}

/// A list's size after a change: `now 3 entries`.
fn size_text((v4, v6): (usize, usize)) -> String {
    format!("now {}", entries_text(v4 + v6))
}

fn unblock(args: UnblockArgs) -> Result<()> {
    let words = args.words;
    let _lock = lock()?;
    let mut lists = Blocklists::open()?;
    if words[0] == "country" {
        if words.len() == 1 {
            bail!("name the countries: moat unblock country CC...");
        }
        lists.unblock_countries(&words[1..])?;
        println!("unblocked country {}", words[1..].join(" "));
    } else {
        lists.unblock(&words)?;
        println!("unblocked {}", words.join(" "));
    }
    Ok(())
}

/// A list's directions as `moat block` writes them: `in,forward`, or `none`.
pub fn words(directions: &[Direction]) -> String {
    if directions.is_empty() {
        return "none".to_string();
    }
    directions
        .iter()
        .map(|d| d.word())
        .collect::<Vec<_>>()
        .join(",")
}

/// What `moat block list --json` prints for one list.
#[derive(Serialize)]
struct ListJson<'a> {
    name: &'a str,
    source: Option<String>,
    directions: Vec<&'static str>,
    ranges_v4: usize,
    addresses_v4: u64,
    ranges_v6: usize,
    exceptions: Vec<String>,
    packets: u64,
    bytes: u64,
    used_by: &'a [String],
}

/// The `moat block list --json` objects.
fn lists_json(lists: &[ListInfo]) -> Vec<ListJson<'_>> {
    lists
        .iter()
        .map(|l| ListJson {
            name: &l.name,
            source: l.source.as_ref().map(|s| s.describe()),
            directions: l.directions.iter().map(|d| d.word()).collect(),
            ranges_v4: l.ranges_v4,
            addresses_v4: l.addresses_v4,
            ranges_v6: l.ranges_v6,
            exceptions: l
                .exceptions
                .networks()
                .iter()
                .map(|n| n.to_string())
                .collect(),
            packets: l.packets,
            bytes: l.bytes,
            used_by: &l.copies,
        })
        .collect()
}

/// The `moat block list` table.
fn render_lists(lists: &[ListInfo]) -> String {
    if lists.is_empty() {
        return "no block lists\n".into();
    }
    let header = [
        "LIST",
        "DIRECTIONS",
        "IPV4 RANGES",
        "IPV4 ADDRESSES",
        "IPV6 RANGES",
        "EXCEPTIONS",
        "PACKETS",
        "BYTES",
        "SOURCE",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for l in lists {
        let mut source = l
            .source
            .as_ref()
            .map(|s| s.describe())
            .unwrap_or_else(|| "?".into());
        if !l.copies.is_empty() {
            source += &format!(" (used by iptables rules in {})", l.copies.join(", "));
        }
        rows.push(vec![
            l.name.clone(),
            words(&l.directions),
            l.ranges_v4.to_string(),
            l.addresses_v4.to_string(),
            l.ranges_v6.to_string(),
            l.exceptions
                .networks()
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",")
                .chars()
                .take(60)
                .collect::<String>()
                .if_empty("-"),
            l.packets.to_string(),
            l.bytes.to_string(),
            source,
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == row.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    out
}

trait IfEmpty {
    fn if_empty(self, default: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, default: &str) -> String {
        if self.is_empty() {
            default.to_string()
        } else {
            self
        }
    }
}
