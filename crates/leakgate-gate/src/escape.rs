//! One escaper per output format, for untrusted text: type names (any
//! character, any length), scenario names, reasons and messages that quote
//! them, the service's log. Every renderer sends such text through the
//! escaper of its format and nowhere else.
//!
//! ```
//! use leakgate_gate::escape;
//! assert_eq!(escape::xml("a<b>\u{1}"), "a&lt;b&gt;\u{2401}");
//! assert_eq!(escape::md_cell("a|b\nc"), "a\\|b\u{240A}c");
//! assert_eq!(escape::terminal("\u{1b}[31mred\u{1b}[0m"), "red");
//! assert_eq!(escape::terminal_line("::error::x"), "\\::error::x");
//! assert_eq!(escape::html("<b title=\"x\">'&"), "&lt;b title=&quot;x&quot;&gt;&#39;&amp;");
//! assert_eq!(escape::mermaid("List<int> \"q\"\n`x`"), "List‹int› 'q' 'x'");
//! ```

/// A control character made visible: its Unicode "control picture"
/// (U+2400 + code, ␀ to ␟; ␡ for DEL), else U+FFFD.
fn visible(c: char) -> char {
    match c as u32 {
        code @ 0..=0x1F => char::from_u32(0x2400 + code).unwrap_or('\u{FFFD}'),
        0x7F => '\u{2421}',
        _ => '\u{FFFD}',
    }
}

/// Characters XML 1.0 forbids (all C0 controls but tab, newline and carriage
/// return; U+FFFE, U+FFFF) replaced visibly; nothing else changed. For text
/// handed to an XML writer that escapes markup itself.
pub fn xml_chars(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => visible(c),
            c => c,
        })
        .collect()
}

/// Text or attribute content of hand-written XML (SVG): markup escaped and
/// forbidden characters replaced.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in xml_chars(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Inside one attribute or one line of text: line breaks are visible too.
            '\n' | '\r' | '\t' => out.push(visible(c)),
            c => out.push(c),
        }
    }
    out
}

/// Text or attribute content of the HTML report: markup escaped (`&`, `<`,
/// `>`, both quotes), control characters other than tab and newline made
/// visible, and U+FFFE/U+FFFF replaced, so the page stays well-formed XML as
/// well as HTML and a name can neither open a tag nor leave an attribute.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push(visible(c)),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The longest untrusted text put in a Mermaid string, in characters.
const MERMAID_MAX_CHARS: usize = 80;

/// Text inside a double-quoted Mermaid string (a chart title): Mermaid has no
/// escape for `"` there, and a backtick could end the Markdown fence, so only
/// letters, digits, spaces and plain punctuation pass; quotes become `'`,
/// angle brackets `‹ ›` (generics stay readable), white space a space, any
/// other character `_`. At most 80 characters (then `…`), on one line.
pub fn mermaid(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MERMAID_MAX_CHARS {
            out.push('…');
            break;
        }
        out.push(match c {
            c if c.is_alphanumeric() => c,
            '.' | ',' | '_' | '-' | '+' | ':' | '(' | ')' | '[' | ']' | '/' | '*' | '=' | '!'
            | '?' | '@' | ' ' => c,
            '"' | '`' | '\'' => '\'',
            '<' => '‹',
            '>' => '›',
            c if c.is_whitespace() => ' ',
            _ => '_',
        });
    }
    out
}

/// Markdown text in one line: HTML-significant characters escaped (so
/// `List<String>` does not vanish as a tag), control characters (line breaks
/// included) made visible so nothing can start a new block, backticks and
/// pipes escaped so they neither open code nor end a table cell.
pub fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '`' => out.push_str("&#96;"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(visible(c)),
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text shown as code in Markdown: a `<code>` element (a code
/// span cannot escape its own backticks), its content escaped as a cell.
pub fn md_code(s: &str) -> String {
    format!("<code>{}</code>", md_cell(s))
}

/// Text for a terminal: ANSI escape sequences removed, other control
/// characters made visible; tab and newline kept.
pub fn terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push(visible(c)),
            c => out.push(c),
        }
    }
    out
}

/// Skips the rest of an escape sequence after ESC.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        // OSC, DCS, SOS, PM, APC: up to BEL or ESC \.
        Some(']' | 'P' | 'X' | '^' | '_') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                    break;
                }
            }
        }
        // ESC, intermediate bytes (0x20–0x2F), one final byte: `ESC ( B`.
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            while chars
                .next_if(|c| ('\u{20}'..='\u{2f}').contains(c))
                .is_some()
            {}
            chars.next();
        }
        _ => {} // ESC and one final byte
    }
}

/// Skips a CSI sequence's parameters and its final byte (0x40–0x7E).
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

/// One line for leakgate's own stdout or stderr: [`terminal`]-safe, line
/// breaks and tabs made visible (it stays one line), and never read as a
/// GitHub workflow command (`::cmd::` or `##[cmd]`, after leading white
/// space), whatever names it holds.
pub fn terminal_line(line: &str) -> String {
    let clean: String = terminal(line)
        .chars()
        .map(|c| {
            if c == '\n' || c == '\t' {
                visible(c)
            } else {
                c
            }
        })
        .collect();
    let start = clean.trim_start();
    if start.starts_with("::") || start.starts_with("##[") {
        format!("\\{clean}")
    } else {
        clean
    }
}

/// Every line of `text` through [`terminal_line`].
pub fn terminal_text(text: &str) -> String {
    text.split('\n')
        .map(terminal_line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The message of a GitHub workflow command (`%`, CR, LF escaped).
pub fn workflow_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value of a GitHub workflow command (`file=`, `title=`): as the
/// message, plus `:` and `,`.
pub fn workflow_property(s: &str) -> String {
    workflow_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_removes_escapes_and_shows_controls() {
        assert_eq!(terminal("a\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(
            terminal("a\u{1b}[2Jb\u{1b}(Bc"),
            "abc",
            "CSI and a 2-char sequence"
        );
        assert_eq!(terminal("bell\u{7}"), "bell\u{2407}");
        assert_eq!(terminal("x\ry"), "x\u{240D}y", "no overwriting the line");
        assert_eq!(terminal_line("  ##[error]x"), "\\  ##[error]x");
        assert_eq!(terminal_line("a ::b"), "a ::b");
        assert_eq!(terminal_text("ok\n::x\n"), "ok\n\\::x\n");
    }

    #[test]
    fn xml_escapes_markup_and_forbidden_characters() {
        assert_eq!(xml("\"'&"), "&quot;&apos;&amp;");
        assert_eq!(
            xml_chars("a\u{0}\u{1f}\tb\u{ffff}"),
            "a\u{2400}\u{241f}\tb\u{fffd}"
        );
    }

    #[test]
    fn html_keeps_lines_and_shows_controls() {
        assert_eq!(html("a\nb\tc\rd"), "a\nb\tc\u{240D}d");
        assert_eq!(html("\u{0}\u{85}\u{ffff}"), "\u{2400}\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn mermaid_strings_cannot_be_closed_or_fenced() {
        let hostile = "a\"]\n```\n%%{init}%% #quot; \u{202e}";
        let m = mermaid(hostile);
        assert!(
            !m.contains(['"', '`', '\n', '#', '%', '{', '\u{202e}']),
            "{m}"
        );
        assert_eq!(
            mermaid(&"x".repeat(100)).chars().count(),
            MERMAID_MAX_CHARS + 1
        );
    }

    #[test]
    fn markdown_cells_stay_one_cell() {
        assert_eq!(md_cell("a`b"), "a&#96;b");
        assert_eq!(md_code("x|y"), "<code>x\\|y</code>");
        assert!(!md_cell("a\r\nb\u{85}c").contains(['\r', '\n', '\u{85}']));
    }

    #[test]
    fn workflow_commands_cannot_be_broken_out_of() {
        assert_eq!(workflow_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(workflow_property("a:b,c"), "a%3Ab%2Cc");
    }
}
