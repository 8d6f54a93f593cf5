//! Kubernetes quantities and Go durations, as the API server and Go clients write them.

/// A Kubernetes quantity (`500m`, `64Gi`, `1e3`) as a number; `None` if malformed.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    Some(n * factor)
}

/// Parses a Go duration (`1h30m`, `90s`, `1.5s`, `250ms`) into nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u_end..];
        total += n * unit;
    }
    let ns = total.round() as i128;
    Some(if neg { -ns } else { ns })
}

/// Formats a duration the way Go's `time.Duration.String` does (`1m30s`, `2m0s`,
/// `1h0m0s`, `1.5s`, `250ms`), so routes match what AIM Engine wrote.
pub fn go_duration(s: &str) -> Option<String> {
    let ns = parse_go_duration(s)?;
    Some(format_go_duration(ns))
}

pub fn format_go_duration(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000_000_000 {
        let (v, prec, unit) = if u < 1_000 {
            (u, 0, "ns")
        } else if u < 1_000_000 {
            (u, 3, "µs")
        } else {
            (u, 6, "ms")
        };
        return format!("{sign}{}{unit}", frac(v, prec));
    }
    let secs = frac(u, 9);
    let whole = u / 1_000_000_000;
    let s_part = {
        let int = whole % 60;
        match secs.split_once('.') {
            Some((_, f)) => format!("{int}.{f}s"),
            None => format!("{int}s"),
        }
    };
    let mins = whole / 60;
    if mins == 0 {
        return format!("{sign}{s_part}");
    }
    let hours = mins / 60;
    if hours == 0 {
        return format!("{sign}{}m{s_part}", mins % 60);
    }
    format!("{sign}{hours}h{}m{s_part}", mins % 60)
}

/// `v / 10^prec` with trailing zeros of the fraction dropped.
fn frac(v: u128, prec: u32) -> String {
    let p = 10u128.pow(prec);
    let (int, f) = (v / p, v % p);
    if f == 0 {
        return int.to_string();
    }
    let digits = format!("{f:0width$}", width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_render_like_go() {
        for (input, want) in [
            ("90s", "1m30s"),
            ("120s", "2m0s"),
            ("1h", "1h0m0s"),
            ("30s", "30s"),
            ("1.5s", "1.5s"),
            ("250ms", "250ms"),
            ("1500ms", "1.5s"),
            ("0", "0s"),
            ("2h45m", "2h45m0s"),
            ("1.5ms", "1.5ms"),
        ] {
            assert_eq!(go_duration(input).as_deref(), Some(want), "{input}");
        }
        assert_eq!(go_duration("ten seconds"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn quantities_parse_with_binary_and_decimal_suffixes() {
        assert_eq!(parse_quantity("64Gi"), Some(64.0 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("4"), Some(4.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("12Q"), None);
    }
}
