//! The statistic match: a share of packets, at random or every n-th.

use moat_model::{Match, StatisticMode};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{push_opt, strtoul_start, u32_value};

/// The kernel stores probabilities as a fraction of 2^31.
const ONE: f64 = 2_147_483_648.0;

/// `-m statistic`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Statistic {
    nth: Option<bool>,
    probability: Option<u32>,
    every: Option<u32>,
    packet: Option<u32>,
    invert: bool,
}

impl Statistic {
    fn probability_text(&self) -> String {
        format!("{:.11}", f64::from(self.probability.unwrap_or(0)) / ONE)
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        let mode = if self.nth == Some(true) {
            StatisticMode::Nth {
                every: self.every.unwrap_or(1),
                packet: self.packet.unwrap_or(0),
            }
        } else {
            StatisticMode::Random {
                probability: f64::from(self.probability.unwrap_or(0)) / ONE,
            }
        };
        out.push(Match::Statistic {
            mode,
            negate: self.invert,
        });
    }
}

impl Extension for Statistic {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--mode", 1, false),
            opt("--probability", 1, true),
            opt("--every", 1, true),
            opt("--packet", 1, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        match o.name {
            "--mode" => {
                once(&self.nth, o.name)?;
                self.nth = Some(match v {
                    "random" => false,
                    "nth" => true,
                    _ => return fail(format!("--mode takes random or nth, not \"{v}\"")),
                });
            }
            "--probability" => {
                once(&self.probability, o.name)?;
                let p = match strtoul_start(v).parse::<f64>() {
                    Ok(p) if (0.0..=1.0).contains(&p) => p,
                    Ok(_) => {
                        return fail(format!(
                            "--probability {v} is outside 0..1 (it is a fraction, like 0.25)"
                        ))
                    }
                    Err(_) => {
                        return fail(format!(
                            "--probability needs a number between 0 and 1, not \"{v}\""
                        ))
                    }
                };
                self.probability = Some((p * ONE).round() as u32);
                self.invert = o.invert;
            }
            "--every" => {
                once(&self.every, o.name)?;
                let n = u32_value(v, o.name)?;
                if n == 0 {
                    return fail("--every 0 makes no sense: it must be at least 1");
                }
                self.every = Some(n);
                self.invert = o.invert;
            }
            _ => {
                once(&self.packet, o.name)?;
                self.packet = Some(u32_value(v, o.name)?);
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.nth == Some(true) {
            if self.probability.is_some() {
                return fail("--probability only works with --mode random");
            }
            let (Some(every), Some(packet)) = (self.every, self.packet) else {
                return fail("--mode nth needs --every N and --packet P");
            };
            if packet >= every {
                return fail(format!(
                    "--packet must be between 0 and {} (one less than --every)",
                    every - 1
                ));
            }
        } else {
            if self.every.is_some() || self.packet.is_some() {
                return fail("--every and --packet only work with --mode nth");
            }
            if self.probability.is_none() {
                return fail("--mode random needs --probability P");
            }
            self.nth = Some(false);
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if self.nth == Some(true) {
            out.push_str(" --mode nth");
            push_opt(
                out,
                self.invert,
                "--every",
                Some(&self.every.unwrap_or(1).to_string()),
            );
            push_opt(
                out,
                false,
                "--packet",
                Some(&self.packet.unwrap_or(0).to_string()),
            );
        } else {
            out.push_str(" --mode random");
            push_opt(
                out,
                self.invert,
                "--probability",
                Some(&self.probability_text()),
            );
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let bang = if self.invert { "! " } else { "" };
        if self.nth == Some(true) {
            out.push_str(&format!(
                " statistic mode nth {bang}every {}",
                self.every.unwrap_or(1)
            ));
            if let Some(p) = self.packet.filter(|&p| p != 0) {
                out.push_str(&format!(" packet {p}"));
            }
        } else {
            out.push_str(&format!(
                " statistic mode random {bang}probability {}",
                self.probability_text()
            ));
        }
    }
}
