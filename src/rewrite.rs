//! Rewrites a cell before it is compiled, keeping every line where the user wrote it.
//!
//! - **Interrupt checks**: a loop in a cell that never calls the prelude would run on after an
//!   interrupt, and the only way out would be killing the process that holds every variable.
//!   Since the kernel compiles the cell, it inserts `::tuna::interrupt::check();` at the top of
//!   each `while` and `loop` body, and wraps the iterator of each `for` loop as
//!   `(&&::tuna::interrupt::Checked::new(EXPR)).tuna_loop()`: a check before each item, except
//!   for prelude loops (a progress bar, a loader), which end cleanly by themselves.
//! - **One compile for the final value**: evcxr shows a cell's final expression by trying
//!   `.evcxr_display()`, and on the compile error recompiles with `Debug` — two compiles for
//!   `1 + 1`. The kernel instead wraps it as `(&&Final(&(EXPR))).tuna_final();`, which picks
//!   `Render` or `Debug` at compile time (see `prelude/src/display/mod.rs`).
//!
//! Insertions never add lines, so rustc's line numbers stay right; [`Rewrite`] remembers each
//! insertion so that columns map back too.

use proc_macro2::LineColumn;
use syn::spanned::Spanned;
use syn::visit::Visit;

/// The statement inserted at the top of each loop body.
pub const CHECK: &str = "::tuna::interrupt::check();";
const FOR_OPEN: &str = "(&&::tuna::interrupt::Checked::new(";
const FOR_CLOSE: &str = ")).tuna_loop()";
const FINAL_OPEN: &str = "(&&::tuna::display::Final(&(";
const FINAL_CLOSE: &str = "))).tuna_final();";

/// Text inserted before the character at (1-based `line`, 0-based `column`) of the user's code.
#[derive(Debug, Clone, PartialEq)]
struct Insertion {
    line: usize,
    column: usize,
    text: &'static str,
}

/// A cell's code as compiled, and where text was inserted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rewrite {
    /// The code to compile.
    pub code: String,
    insertions: Vec<Insertion>,
}

impl Rewrite {
    /// The code as the user wrote it, unchanged.
    pub fn unchanged(code: &str) -> Self {
        Rewrite { code: code.to_owned(), insertions: Vec::new() }
    }

    /// Maps a 1-based (line, column) of the compiled code back to the user's code; a position
    /// inside inserted text maps to where it was inserted.
    pub fn original_position(&self, line: usize, column: usize) -> (usize, usize) {
        let mut shift = 0;
        for ins in self.insertions.iter().filter(|i| i.line == line) {
            let len = ins.text.chars().count();
            let start = ins.column + 1 + shift;
            if column >= start + len {
                shift += len;
            } else if column >= start {
                return (line, ins.column + 1);
            } else {
                break;
            }
        }
        (line, column - shift)
    }

    /// How many interrupt checks were inserted.
    #[cfg(test)]
    pub fn checks(&self) -> usize {
        self.insertions.iter().filter(|i| i.text == CHECK || i.text == FOR_OPEN).count()
    }
}

/// Rewrites `code` (see the module docs). Code that does not parse (the compiler will report
/// it) is left as it is; lines that are evcxr commands (`:dep …`) are never touched.
pub fn rewrite_cell(code: &str) -> Rewrite {
    // Blank out command lines so that the rest parses; offsets stay the same.
    let parseable: String = code
        .split_inclusive('\n')
        .map(|line| {
            if line.trim_start().starts_with(':') {
                line.chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect()
            } else {
                line.to_owned()
            }
        })
        .collect();
    // A cell is a block body: items, statements and a final expression.
    let Ok(block) = syn::parse_str::<syn::Block>(&format!("{{\n{parseable}\n}}")) else {
        return Rewrite::unchanged(code);
    };
    let mut finder = LoopBodies::default();
    finder.visit_block(&block);
    // Positions are in the wrapped text: one line ("{") above the code.
    let at = |p: LineColumn, text| Insertion { line: p.line - 1, column: p.column, text };
    let mut insertions: Vec<Insertion> =
        finder.opens.iter().map(|p| at(LineColumn { line: p.line, column: p.column + 1 }, CHECK)).collect();
    for &(start, end) in &finder.iterators {
        insertions.push(at(start, FOR_OPEN));
        insertions.push(at(end, FOR_CLOSE));
    }
    match final_expression(&block) {
        Some(Final::Show(start, end)) => {
            insertions.push(at(start, FINAL_OPEN));
            insertions.push(at(end, FINAL_CLOSE));
        }
        // A `for` or `while` loop ending a cell has no value: evcxr would print `()`.
        Some(Final::Terminate(end)) => insertions.push(at(end, ";")),
        None => {}
    }
    // Stable: an opening wrapper and a loop check at one place keep their order.
    insertions.sort_by_key(|i| (i.line, i.column));
    insertions.dedup();
    Rewrite { code: apply(code, &insertions), insertions }
}

fn apply(code: &str, insertions: &[Insertion]) -> String {
    let mut out = String::with_capacity(code.len() + insertions.len() * 32);
    let mut next = insertions.iter().peekable();
    let mut push_due = |out: &mut String, line: usize, column: usize| {
        while let Some(ins) = next.next_if(|i| (i.line, i.column) <= (line, column)) {
            out.push_str(ins.text);
        }
    };
    let mut line_no = 1;
    for line in code.split_inclusive('\n') {
        let mut column = 0;
        for c in line.chars() {
            if c == '\n' {
                break;
            }
            push_due(&mut out, line_no, column);
            out.push(c);
            column += 1;
        }
        push_due(&mut out, line_no, column);
        if line.ends_with('\n') {
            out.push('\n');
        }
        line_no += 1;
    }
    push_due(&mut out, usize::MAX, usize::MAX);
    out
}

/// What to do with a cell's final expression.
enum Final {
    /// Show its value: wrap it from start to end.
    Show(LineColumn, LineColumn),
    /// It has no value: end it with `;` there.
    Terminate(LineColumn),
}

fn final_expression(block: &syn::Block) -> Option<Final> {
    let span = match block.stmts.last()? {
        syn::Stmt::Expr(expr, None) => match expr {
            syn::Expr::ForLoop(_) | syn::Expr::While(_) => return Some(Final::Terminate(expr.span().end())),
            syn::Expr::Const(_) | syn::Expr::Async(_) | syn::Expr::TryBlock(_) => return None,
            expr => expr.span(),
        },
        syn::Stmt::Macro(m) if m.semi_token.is_none() => m.span(),
        _ => return None,
    };
    Some(Final::Show(span.start(), span.end()))
}

/// Collects, outside `const` contexts, the opening brace of every `while` and `loop` body and
/// the span of every `for` loop's iterator.
#[derive(Default)]
struct LoopBodies {
    opens: Vec<LineColumn>,
    iterators: Vec<(LineColumn, LineColumn)>,
}

impl<'ast> Visit<'ast> for LoopBodies {
    fn visit_expr_for_loop(&mut self, node: &'ast syn::ExprForLoop) {
        let span = node.expr.span();
        self.iterators.push((span.start(), span.end()));
        syn::visit::visit_expr_for_loop(self, node);
    }

    fn visit_expr_while(&mut self, node: &'ast syn::ExprWhile) {
        self.opens.push(node.body.brace_token.span.open().start());
        syn::visit::visit_expr_while(self, node);
    }

    fn visit_expr_loop(&mut self, node: &'ast syn::ExprLoop) {
        self.opens.push(node.body.brace_token.span.open().start());
        syn::visit::visit_expr_loop(self, node);
    }

    // A call to a non-const function is not allowed in const contexts.
    fn visit_item_fn(&mut self, node: &'ast syn::ItemFn) {
        if node.sig.constness.is_none() {
            syn::visit::visit_item_fn(self, node);
        }
    }

    fn visit_impl_item_fn(&mut self, node: &'ast syn::ImplItemFn) {
        if node.sig.constness.is_none() {
            syn::visit::visit_impl_item_fn(self, node);
        }
    }

    fn visit_trait_item_fn(&mut self, node: &'ast syn::TraitItemFn) {
        if node.sig.constness.is_none() {
            syn::visit::visit_trait_item_fn(self, node);
        }
    }

    fn visit_item_const(&mut self, _: &'ast syn::ItemConst) {}
    fn visit_item_static(&mut self, _: &'ast syn::ItemStatic) {}
    fn visit_expr_const(&mut self, _: &'ast syn::ExprConst) {}
    // Array lengths are const contexts too.
    fn visit_type_array(&mut self, node: &'ast syn::TypeArray) {
        self.visit_type(&node.elem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_loop_gets_a_check() {
        let code = "let mut n = 0;\nfor i in 0..10 { n += i; }\nwhile n > 0 {\n    n -= 1;\n    loop { break; }\n}";
        let r = rewrite_cell(code);
        assert_eq!(
            r.code,
            format!("let mut n = 0;\nfor i in {FOR_OPEN}0..10{FOR_CLOSE} {{ n += i; }}\nwhile n > 0 {{{CHECK}\n    n -= 1;\n    loop {{{CHECK} break; }}\n}};")
        );
        assert_eq!(r.checks(), 3);
    }

    #[test]
    fn the_final_expression_is_wrapped_once() {
        let r = rewrite_cell("let x = 1;\nx +\n  1");
        assert_eq!(r.code, format!("let x = 1;\n{FINAL_OPEN}x +\n  1{FINAL_CLOSE}"));
        let r = rewrite_cell("vec![1, 2]");
        assert_eq!(r.code, format!("{FINAL_OPEN}vec![1, 2]{FINAL_CLOSE}"));
        assert!(rewrite_cell("for i in 0..2 {}").code.ends_with("{};"));
        for unchanged in ["let x = 1;", "for i in 0..2 {}", "println!(\"x\");", "fn f() {}"] {
            assert_eq!(rewrite_cell(unchanged).code.matches(FINAL_OPEN).count(), 0, "{unchanged}");
        }
    }

    #[test]
    fn columns_map_back_past_insertions() {
        let r = rewrite_cell("while true { let x: u8 = \"s\"; }");
        let len = CHECK.chars().count();
        assert_eq!(r.original_position(1, 27 + len), (1, 27));
        assert_eq!(r.original_position(1, 5), (1, 5));
        assert_eq!(r.original_position(1, 14), (1, 13));
        let r = rewrite_cell("1 + x");
        assert_eq!(r.original_position(1, FINAL_OPEN.len() + 5), (1, 5));
    }

    #[test]
    fn const_contexts_commands_and_broken_code_are_left_alone() {
        let code = ":dep foo = \"1\"\nconst fn f() -> u32 { let mut i = 0; while i < 3 { i += 1; } i }\nconst N: usize = { let mut i = 0; loop { break i; } };";
        assert_eq!(rewrite_cell(code).code, code);
        let broken = "for i in 0..3 {";
        assert_eq!(rewrite_cell(broken).code, broken);
    }

    #[test]
    fn nested_functions_and_closures_in_items_get_checks() {
        let code = "fn spin() { loop {} }\nlet f = || { for _ in 0..2 {} };";
        let r = rewrite_cell(code);
        assert_eq!(r.checks(), 2);
        assert!(r.code.contains(&format!("loop {{{CHECK}}}")));
        assert!(r.code.contains(&format!("for _ in {FOR_OPEN}0..2{FOR_CLOSE} {{}}")));
    }
}
