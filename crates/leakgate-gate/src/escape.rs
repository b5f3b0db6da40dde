//! One escaper per output format, for untrusted text: type names (any
//! character, any length), scenario names, reasons and messages that quote
//! them, the service's log, and every string of a report a merged CI leg
//! wrote. Every renderer sends such text through the escaper of its format
//! and nowhere else (`leakgate run`, `leakgate merge`; the Action's own
//! Markdown follows [`md_cell`] and [`md_fenced`]).
//!
//! ```
//! use leakgate_gate::escape;
//! assert_eq!(escape::xml("a<b>\u{1}"), "a&lt;b&gt;\u{2401}");
//! assert_eq!(escape::xml_cdata("a]]>b"), "a]]]]><![CDATA[>b");
//! assert_eq!(escape::md_cell("a|b\nc"), "a\\|b\u{240A}c");
//! assert_eq!(escape::md_cell("[x](y) ![i](u)"), "\\[x\\](y) !\\[i\\](u)");
//! assert_eq!(escape::md_fenced("text", "``\u{1b}[m`"), "````text\n```\n````\n");
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

/// `c`, or, if it is an invisible formatting character (a bidi override or
/// isolate, a zero-width character: [`leakgate_scenario::check::invisible`]),
/// its code point, `‹U+202E›`: it would reorder or hide the text around it
/// (a leg's scenario named `x\u{202E}liaf` reads as `xfail`). Scenario and
/// budget names cannot hold one; type names and merged legs can.
fn push_shown(out: &mut String, c: char) {
    if leakgate_scenario::check::invisible(c) {
        out.push_str(&format!("‹U+{:04X}›", c as u32));
    } else {
        out.push(c);
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

/// Text inside a CDATA section (JUnit's failure text and system-out, which
/// the `junit-report` crate wraps in one `<![CDATA[…]]>` as it is): as
/// [`xml_chars`], and every `]]>` split across two sections (`]]` ends one,
/// `>` starts the next), since it would end the section and let the rest be
/// markup (a fake `<testcase>`). Only for text the writer puts in CDATA.
pub fn xml_cdata(s: &str) -> String {
    xml_chars(s).replace("]]>", "]]]]><![CDATA[>")
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

/// Markdown text in one line (a table cell, a heading, a list item, a
/// paragraph), rendered as the same text by GitHub's cmark-gfm whatever it
/// holds: nothing can start HTML, a link, an image, an autolink, emphasis,
/// code, math, a heading, a list or a new table cell.
///
/// - `&`, `<`, `>` become entities (no tag, no `<http://…>` autolink);
/// - Markdown punctuation is backslash-escaped: `\`, `` ` ``, `*`, `_`, `~`,
///   `[`, `]`, `|`, `#`, `$`, and a `-`, `+` or `=` that starts the text, as
///   the `.` or `)` after leading digits (`1.` would start a list);
/// - control characters (line breaks included) are made visible, so the text
///   stays on its line;
/// - GFM's extended autolinks (`www.`, `http://`, `x@y.z`) are recognised in
///   text after escapes are undone, so an empty HTML comment `<!---->` (shown
///   as nothing) splits them: after `@`, after the `:` of `://`, before the
///   `.` of `www.`.
pub fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    // Where a block marker could stand: after leading blanks (and digits).
    let first = chars.iter().take_while(|c| matches!(c, ' ' | '\t')).count();
    let digits = chars[first..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    for (i, &c) in chars.iter().enumerate() {
        let next = |k: usize| chars.get(i + k).copied();
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '|' | '#' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '-' | '+' | '=' if i == first => {
                out.push('\\');
                out.push(c);
            }
            '.' | ')' if digits > 0 && i == first + digits => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@<!---->"),
            ':' if next(1) == Some('/') && next(2) == Some('/') => out.push_str(":<!---->"),
            '.' if i >= 3 && chars[i - 3..i].iter().all(|w| w.eq_ignore_ascii_case(&'w')) => {
                out.push_str("<!---->.")
            }
            c if c.is_control() => out.push(visible(c)),
            c => push_shown(&mut out, c),
        }
    }
    out
}

/// Untrusted text shown as code in Markdown, outside a table: a `<code>`
/// element (a code span cannot escape its own backticks), its content
/// escaped as a cell.
pub fn md_code(s: &str) -> String {
    format!("<code>{}</code>", md_cell(s))
}

/// Longest fence written, in backticks: cmark-gfm keeps a fence's length in
/// a byte, so a fence of 256 or more closes at any line of backticks.
const MAX_FENCE: usize = 250;

/// A fenced code block of untrusted text (a failure message, a retention
/// path, a diff), shown as it is: escape sequences removed and controls
/// made visible ([`terminal`]) first, then a fence longer than any line of
/// backticks left (only such a line can close it). A line of
/// [`MAX_FENCE`] backticks or more is indented four spaces instead, which
/// no closing fence can be.
pub fn md_fenced(info: &str, body: &str) -> String {
    let body = terminal(body);
    let mut longest = 0;
    let lines: Vec<String> = body
        .trim_end_matches('\n')
        .split('\n')
        .map(|line| {
            let run = line.trim_matches([' ', '\t']);
            if run.is_empty() || !run.bytes().all(|b| b == b'`') {
                line.to_string()
            } else if run.len() >= MAX_FENCE {
                format!("    {line}")
            } else {
                longest = longest.max(run.len());
                line.to_string()
            }
        })
        .collect();
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{info}\n{}\n{fence}\n", lines.join("\n"))
}

/// Text for a terminal: ANSI escape sequences removed, other control
/// characters made visible, invisible formatting characters shown by code
/// point; tab and newline kept.
pub fn terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push(visible(c)),
            c => push_shown(&mut out, c),
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
        assert_eq!(md_cell("a`b"), "a\\`b");
        assert_eq!(md_code("x|y"), "<code>x\\|y</code>");
        assert!(!md_cell("a\r\nb\u{85}c").contains(['\r', '\n', '\u{85}']));
    }

    #[test]
    fn markdown_cells_start_no_block_and_no_autolink() {
        assert_eq!(md_cell("# h"), "\\# h");
        assert_eq!(md_cell("  - x - y"), "  \\- x - y");
        assert_eq!(md_cell("12. x 3."), "12\\. x 3.");
        assert_eq!(md_cell("1) x"), "1\\) x");
        assert_eq!(md_cell("a-b+c"), "a-b+c", "only at the start");
        assert_eq!(md_cell("a@b.co"), "a@<!---->b.co");
        assert_eq!(md_cell("https://e.x"), "https:<!---->//e.x");
        assert_eq!(md_cell("see WWW.e.x"), "see WWW<!---->.e.x");
        assert_eq!(md_cell("a:b"), "a:b");
    }

    #[test]
    fn bidi_and_zero_width_characters_show_as_code_points() {
        assert_eq!(md_cell("x\u{202E}liaf"), "x‹U+202E›liaf");
        assert_eq!(terminal("a\u{200B}b\u{2066}"), "a‹U+200B›b‹U+2066›");
        assert!(md_fenced("", "\u{FEFF}x").contains("‹U+FEFF›x"));
    }

    #[test]
    fn fences_are_sized_after_escapes_are_removed() {
        // Finding 2 of issue 19: ``ESC[m` was sized as two runs of 2 and 1
        // (fence of 3), then became ``` once the escape was stripped.
        let block = md_fenced("text", "x\n``\u{1b}[m`\n# not a heading");
        assert!(block.starts_with("````text\n"), "{block}");
        assert!(block.contains("\n```\n# not a heading\n````\n"), "{block}");
        assert_eq!(md_fenced("", "a\r\n"), "```\na\u{240D}\n```\n");
        // Only a line of backticks alone can close a fence.
        assert_eq!(md_fenced("", "a````b"), "```\na````b\n```\n");
        // cmark-gfm reads no fence of 256 backticks or more (found by the
        // merge property test): such a line is indented instead.
        let long = "`".repeat(300);
        assert_eq!(
            md_fenced("", &format!("x\n{long}\n ````")),
            format!("`````\nx\n    {long}\n ````\n`````\n")
        );
    }

    #[test]
    fn workflow_commands_cannot_be_broken_out_of() {
        assert_eq!(workflow_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(workflow_property("a:b,c"), "a%3Ab%2Cc");
    }
}
