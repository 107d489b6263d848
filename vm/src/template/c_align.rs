//! Kernel style aligns a continuation line with the bracket it continues (`checkpatch --strict`:
//! "Alignment should match open parenthesis"); a renamed function or macro before that bracket
//! moves it, so the renamed C gets each such line re-indented to the bracket's new column.

/// Tab stops of kernel style.
const TAB: usize = 8;

/// `renamed` (the same lines as `original`, some names changed) with every line that was aligned
/// with an open `(` (or with the text after `{ `) in `original` aligned with it again.
pub fn realign(original: &str, renamed: &str) -> String {
    let (mut was, mut now) = (Scanner::default(), Scanner::default());
    let mut out = String::with_capacity(renamed.len());
    for (o, r) in original.lines().zip(renamed.lines()) {
        let line = match (was.aligned_to(), now.aligned_to()) {
            (Some(old), Some(new))
                if width(indent(o)) == old && old != new && !o.trim().is_empty() =>
            {
                format!(
                    "{}{}{}",
                    "\t".repeat(new / TAB),
                    " ".repeat(new % TAB),
                    r.trim_start()
                )
            }
            _ => r.to_owned(),
        };
        was.scan(o);
        now.scan(&line);
        out.push_str(&line);
        out.push('\n');
    }
    if !renamed.ends_with('\n') {
        out.pop();
    }
    out
}

fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// The display width of `text` from column 0 (tabs to the next stop).
fn width(text: &str) -> usize {
    text.chars().fold(0, |col, c| {
        if c == '\t' {
            (col / TAB + 1) * TAB
        } else {
            col + 1
        }
    })
}

/// The open brackets so far, as the column a continuation line aligns to; skips strings,
/// characters and comments.
#[derive(Default)]
struct Scanner {
    open: Vec<usize>,
    in_comment: bool,
}

impl Scanner {
    fn aligned_to(&self) -> Option<usize> {
        self.open.last().copied()
    }

    fn scan(&mut self, line: &str) {
        let chars: Vec<char> = line.chars().collect();
        let (mut col, mut i) = (0, 0);
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if self.in_comment {
                if c == '*' && next == Some('/') {
                    self.in_comment = false;
                    i += 1;
                    col += 1;
                }
            } else if let Some(q) = quote {
                if c == '\\' {
                    i += 1;
                    col += 1;
                } else if c == q {
                    quote = None;
                }
            } else {
                match (c, next) {
                    ('/', Some('/')) => return,
                    ('/', Some('*')) => {
                        self.in_comment = true;
                        i += 1;
                        col += 1;
                    }
                    ('"' | '\'', _) => quote = Some(c),
                    ('(', _) => self.open.push(col + 1),
                    ('{', Some(' ')) => self.open.push(col + 2),
                    ('{', _) => self.open.push(usize::MAX),
                    (')' | '}', _) => {
                        self.open.pop();
                    }
                    _ => {}
                }
            }
            col = if c == '\t' {
                (col / TAB + 1) * TAB
            } else {
                col + 1
            };
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_follow_their_bracket() {
        let original = "static int long_name_doit(struct sk_buff *skb,\n\t\t\t  struct genl_info *info)\n{\n\tf(a,\n\t  b);\n}\n";
        let renamed = "static int x_doit(struct sk_buff *skb,\n\t\t\t  struct genl_info *info)\n{\n\tf(a,\n\t  b);\n}\n";
        assert_eq!(
            realign(original, renamed),
            "static int x_doit(struct sk_buff *skb,\n\t\t  struct genl_info *info)\n{\n\tf(a,\n\t  b);\n}\n"
        );
        let policy = "\t[LONG_NAME_A] = { .type = T,\n\t\t\t  .len = L },\n";
        let shorter = "\t[N_A] = { .type = T,\n\t\t\t  .len = L },\n";
        assert_eq!(
            realign(policy, shorter),
            "\t[N_A] = { .type = T,\n\t\t  .len = L },\n"
        );
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let original = "\tpr_info(\"(%s\",\n\t\tx); /* ( */\n\tnext;\n";
        assert_eq!(realign(original, original), original);
    }
}
