//! The comment match: a note that matches every packet.

use moat_model::text::first_bytes;
use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{push_opt, save_string};
use crate::rule::Warning;

/// The longest comment the kernel's xt_comment holds (256 bytes with its
/// NUL); iptables cuts longer ones.
const MAX_LEN: usize = 255;

/// `-m comment --comment`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Comment {
    text: Option<String>,
}

impl Comment {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some(text) = &self.text {
            out.push(Match::Comment { text: text.clone() });
        }
    }
}

impl Extension for Comment {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--comment", 1, false)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.text, "--comment")?;
        let mut text = o.value().to_string();
        if text.len() > MAX_LEN {
            let end = first_bytes(&text, MAX_LEN).len();
            o.warnings.push(Warning::advice(format!(
                "--comment is {} bytes long; like iptables, moat keeps its first {end}",
                text.len()
            )));
            text.truncate(end);
        }
        if text.contains('\n') {
            return fail("--comment cannot contain a line break");
        }
        self.text = Some(text);
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.text.is_none() {
            return fail("the comment match needs --comment TEXT");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(t) = &self.text {
            push_opt(out, false, "--comment", Some(&save_string(t)));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some(t) = &self.text {
            out.push_str(&format!(" /* {t} */"));
        }
    }
}
