//! TCPMSS: `tcp option maxseg size set N` or `... set rt mtu`.

use std::borrow::Cow;

use moat_model::MssValue;
use nftables::expr::{Expression, NamedExpression, RTKey, TcpOption, RT};
use nftables::stmt::{Mangle, Statement};

use super::build::num;
use super::{refuse, CompileError, Cx};

/// `tcp option maxseg size set VALUE`. Like iptables' TCPMSS, the kernel
/// only ever lowers the option (a SYN announcing less keeps its value).
pub(super) fn compile(value: MssValue, cx: &Cx) -> Result<Statement<'static>, CompileError> {
    if cx.protocol() != Some(6) {
        return refuse("TCPMSS needs -p tcp, as in iptables");
    }
    let value = match value {
        MssValue::Fixed(n) => num(u32::from(n)),
        MssValue::PathMtu => Expression::Named(NamedExpression::RT(RT {
            key: RTKey::MTU,
            family: None,
        })),
    };
    Ok(Statement::Mangle(Mangle {
        key: Expression::Named(NamedExpression::TcpOption(TcpOption {
            name: Cow::Borrowed("maxseg"),
            field: Some(Cow::Borrowed("size")),
        })),
        value,
    }))
}
