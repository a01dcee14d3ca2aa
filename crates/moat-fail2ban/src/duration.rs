//! fail2ban's time values: plain seconds or abbreviated sums such as `10m`, `1h30m`,
//! `1d 12h`, `2w`, `1mo` (a twelfth of 365.25 days), `1y` (365.25 days), `1year-6mo`.

/// Seconds in each unit, by every spelling fail2ban accepts (case-insensitive).
fn unit_seconds(word: &str) -> Option<f64> {
    let w = word.to_ascii_lowercase();
    let s = match w.as_str() {
        "s" | "ss" | "se" | "sec" | "second" | "seconds" => 1.0,
        "m" | "mm" | "mi" | "min" | "minute" | "minutes" => 60.0,
        "h" | "hh" | "ho" | "hou" | "hour" | "hours" => 3600.0,
        "d" | "dd" | "da" | "day" | "days" => 86400.0,
        "w" | "ww" | "we" | "wee" | "week" | "weeks" => 7.0 * 86400.0,
        "mo" | "mon" | "month" | "months" => 365.25 * 86400.0 / 12.0,
        "y" | "yy" | "ye" | "yea" | "year" | "years" => 365.25 * 86400.0,
        _ => return None,
    };
    Some(s)
}

/// The number of seconds `text` stands for (may be negative or fractional): terms of a
/// number with an optional unit, joined by `+`, `-` or blanks (a blank adds).
pub fn seconds(text: &str) -> Result<f64, String> {
    let expected = || {
        format!(
            "`{text}` is not a time: expected seconds or a sum like 10m, 1h30m, 1d, 2w, 1mo, 1y"
        )
    };
    let chars: Vec<char> = text.trim().chars().collect();
    if chars.is_empty() {
        return Err(expected());
    }
    let mut i = 0;
    let mut total = 0.0;
    let mut sign = 1.0;
    let mut need_term = true;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '+' || c == '-' {
            if !need_term {
                need_term = true;
                sign = 1.0;
            }
            if c == '-' {
                sign = -sign;
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        if start == i {
            return Err(expected());
        }
        let num: f64 = chars[start..i]
            .iter()
            .collect::<String>()
            .parse()
            .map_err(|_| expected())?;
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let ustart = j;
        while j < chars.len() && chars[j].is_ascii_alphabetic() {
            j += 1;
        }
        let mult = if j > ustart {
            let word: String = chars[ustart..j].iter().collect();
            i = j;
            unit_seconds(&word).ok_or_else(expected)?
        } else {
            1.0
        };
        total += sign * num * mult;
        sign = 1.0;
        need_term = false;
    }
    if need_term {
        return Err(expected());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn fail2ban_examples() {
        assert_eq!(seconds("600").unwrap(), 600.0);
        assert_eq!(seconds("10m").unwrap(), 600.0);
        assert_eq!(seconds("1h30m").unwrap(), 5400.0);
        assert_eq!(seconds("0d 1h 30m").unwrap(), 5400.0);
        assert_eq!(seconds("1hour+30min").unwrap(), 5400.0);
        assert_eq!(seconds("1year-6mo").unwrap(), 15778800.0);
        assert_eq!(seconds("6 months").unwrap(), 15778800.0);
        assert_eq!(seconds("1w").unwrap(), 604800.0);
        assert_eq!(seconds("48h").unwrap(), 172800.0);
        assert_eq!(seconds("-1").unwrap(), -1.0);
        assert_eq!(seconds("1D").unwrap(), 86400.0);
        assert!(seconds("").is_err());
        assert!(seconds("ten").is_err());
        assert!(seconds("10x").is_err());
        assert!(seconds("1h+").is_err());
    }
}
