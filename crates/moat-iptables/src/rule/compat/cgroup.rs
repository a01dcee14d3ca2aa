//! `-m cgroup`: the sending socket's control group, by net_cls class id
//! (`--cgroup`) or cgroup v2 path (`--path`) (xt_cgroup, revision 2).

use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{save_string, u32_value};

/// The path field of revision 2, its terminating zero included.
const PATH_FIELD: usize = 512;

/// `-m cgroup [!] --path PATH | [!] --cgroup CLASSID`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Cgroup {
    path: Option<(String, bool)>,
    classid: Option<(u32, bool)>,
}

impl Cgroup {
    /// The kernel extension: the path and the class id share one field.
    pub(crate) fn ext(&self) -> XtExtension {
        let mut layout = XtLayout::new();
        let (path, invert_path) = self.path.clone().unwrap_or_default();
        let (classid, invert_classid) = self.classid.unwrap_or_default();
        layout
            .u8(u8::from(self.path.is_some()))
            .u8(u8::from(self.classid.is_some()))
            .u8(u8::from(invert_path))
            .u8(u8::from(invert_classid));
        match self.classid {
            Some(_) => layout.u32(classid).bytes(&[], PATH_FIELD - 4),
            None => layout.bytes(path.as_bytes(), PATH_FIELD),
        };
        // The kernel's pointer to the cgroup it found, 8-byte aligned.
        layout.align(8).bytes(&[], 8);
        kernel_ext("-m", "cgroup", 2, layout.finish(), self)
    }
}

impl Extension for Cgroup {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--path", 1, true), opt("--cgroup", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        if o.name == "--path" {
            once(&self.path, "--path")?;
            if v.len() >= PATH_FIELD {
                return fail(format!(
                    "cgroup: --path is longer than {} bytes",
                    PATH_FIELD - 1
                ));
            }
            self.path = Some((v.to_string(), o.invert));
        } else {
            once(&self.classid, "--cgroup")?;
            self.classid = Some((u32_value(v, "--cgroup")?, o.invert));
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        match (&self.path, &self.classid) {
            (None, None) => refused_by_kernel("cgroup: give --path or --cgroup"),
            (Some(_), Some(_)) => fail("cgroup: --path and --cgroup cannot be used together"),
            _ => Ok(()),
        }
    }

    fn save(&self, out: &mut String) {
        if let Some((path, invert)) = &self.path {
            let bang = if *invert { " !" } else { "" };
            out.push_str(&format!("{bang} --path {}", save_string(path)));
        }
        if let Some((classid, invert)) = self.classid {
            let bang = if invert { " !" } else { "" };
            out.push_str(&format!("{bang} --cgroup {classid}"));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" cgroup");
        if let Some((path, invert)) = &self.path {
            out.push_str(&format!(" {}{path}", if *invert { "! " } else { "" }));
        }
        if let Some((classid, invert)) = self.classid {
            out.push_str(&format!(" {}{classid}", if invert { "! " } else { "" }));
        }
    }
}
