//! Number, size and shape formatting shared by every rendering, and text escaping. Sizes use
//! binary units (KiB, MiB, GiB = 1024-based), computed from exact byte counts.

use memmodel::size::{gib, mib};

/// `1592524800` → `1,592,524,800`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `1,592,524,800 B`.
pub fn bytes(n: u64) -> String {
    format!("{} B", thousands(n))
}

/// The most readable binary unit with two decimals: `512 B`, `9.38 MiB`, `1.48 GiB`.
pub fn size(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * 1024 * 1024;
    if n < KIB {
        format!("{n} B")
    } else if n < MIB {
        format!("{:.2} KiB", n as f64 / KIB as f64)
    } else if n < GIB {
        in_mib(n)
    } else {
        format!("{:.2} GiB", gib(n))
    }
}

/// Always MiB: `9.38 MiB`, `1,518.75 MiB`.
pub fn in_mib(n: u64) -> String {
    let hundredths = (mib(n) * 100.0).round() as u64;
    format!(
        "{}.{:02} MiB",
        thousands(hundredths / 100),
        hundredths % 100
    )
}

/// Always GiB: `1.48 GiB`.
pub fn in_gib(n: u64) -> String {
    format!("{:.2} GiB", gib(n))
}

/// A ratio such as an overhead or an excess over the bank: `17.86×`.
pub fn factor(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}×")
    } else {
        format!("{x:.2}×")
    }
}

/// `part / whole` as a percentage with one decimal (0 when `whole` is 0).
pub fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        return "0.0%".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// `[1,96,2160,3840]`.
pub fn dims(d: &[u64]) -> String {
    let inner: Vec<String> = d.iter().map(u64::to_string).collect();
    format!("[{}]", inner.join(","))
}

/// Several operands: `[1,64,640,400]x[1,64,640,400]`.
pub fn shapes(s: &[Vec<u64>]) -> String {
    s.iter().map(|d| dims(d)).collect::<Vec<_>>().join("x")
}

/// Milliseconds as `850 ms`, `12.3 s`, `4 min 05 s`.
pub fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "n/a".into();
    }
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// Escape text for HTML/XML element content and attribute values. Characters XML 1.0 does not
/// allow (control characters other than tab, newline and carriage return, e.g. the ESC of
/// terminal colour codes in a raw runtime message) become U+FFFD, so the output always parses.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}' => {
                out.push('\u{fffd}')
            }
            c => out.push(c),
        }
    }
    out
}

/// Escape text for Markdown prose and table cells: characters Markdown (or the HTML it may
/// contain) would interpret are backslash-escaped or entity-encoded, and only those, so the
/// raw file stays readable; newlines become spaces (tables are one line per row).
pub fn escape_md(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &ch) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        match ch {
            '\\' | '`' | '*' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(ch);
            }
            // Inside a word (`L1_SMALL`, `split_with_sizes`) an underscore cannot emphasise.
            '_' if !(word(prev) && word(next)) => out.push_str("\\_"),
            // `#` only starts a heading at the beginning of a line.
            '#' if i == 0 => out.push_str("\\#"),
            // `>` only starts a block quote at the beginning of a line.
            '>' if i == 0 => out.push_str("\\>"),
            '<' => out.push_str("&lt;"),
            // `&` is literal unless it could start an entity (`&amp;`, `&#38;`).
            '&' if next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '#') => {
                out.push_str("&amp;")
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A Markdown code span that holds `text` literally, whatever backticks it contains. Inside a
/// table, `|` must still be escaped (GitHub splits cells before parsing spans).
pub fn code_span_md(text: &str, in_table: bool) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\r' => ' ',
            c if c.is_control() && c != '\t' => '\u{fffd}',
            c => c,
        })
        .collect();
    let longest = longest_run(&clean, '`');
    let fence = "`".repeat(longest + 1);
    let body = if in_table {
        clean.replace('|', "\\|")
    } else {
        clean
    };
    let pad = if body.starts_with('`') || body.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// The longest run of `ch` in `text`.
pub fn longest_run(text: &str, ch: char) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == ch {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// A fenced Markdown code block that holds `text` literally.
pub fn code_block_md(text: &str) -> String {
    let fence = "`".repeat(longest_run(text, '`').max(2) + 1);
    let body: String = text
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    format!("{fence}text\n{}\n{fence}\n", body.trim_end_matches('\n'))
}

/// At most `max` characters of `text`, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units_and_real_arithmetic() {
        // Seed 000 wrote 19.5 MB for [1,3,1280,1280] bf16: 1*3*1280*1280*2 B is 9.38 MiB.
        assert_eq!(in_mib(3 * 1280 * 1280 * 2), "9.38 MiB");
        // and 65.0 MB for [1,128,640,400]: 62.50 MiB.
        assert_eq!(in_mib(128 * 640 * 400 * 2), "62.50 MiB");
        assert_eq!(in_gib(96 * 2160 * 3840 * 2), "1.48 GiB");
        assert_eq!(in_mib(96 * 2160 * 3840 * 2), "1,518.75 MiB");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(2048), "2.00 KiB");
        assert_eq!(thousands(1_592_524_800), "1,592,524,800");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape_xml("a<b>&\"'\u{1b}[0m"),
            "a&lt;b&gt;&amp;&quot;&#39;\u{fffd}[0m"
        );
        assert_eq!(escape_md("a|b<i>"), "a\\|b&lt;i>");
        assert_eq!(
            escape_md("L1_SMALL _x_ a & b &amp;"),
            "L1_SMALL \\_x\\_ a & b &amp;amp;"
        );
        assert_eq!(code_span_md("x`y", false), "``x`y``");
        assert_eq!(code_span_md("a|b", true), "`a\\|b`");
        assert!(code_block_md("```\nx").starts_with("````text\n"));
    }
}
