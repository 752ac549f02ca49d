//! Makes the loops a cell writes stop at the stop button.
//!
//! A loop in a cell that never calls the prelude would run on after an interrupt, and the only
//! way out would be killing the process that holds every variable. Since the kernel compiles
//! the cell, it inserts `::tuna::interrupt::check();` at the top of each `for`, `while` and
//! `loop` body, on the same line, so line numbers in compiler errors stay right; [`Rewrite`]
//! remembers each insertion so that columns can be mapped back too.

use proc_macro2::LineColumn;
use syn::visit::Visit;

/// The statement inserted at the top of each loop body.
pub const CHECK: &str = "::tuna::interrupt::check();";

/// A cell's code with interrupt checks inserted, and where they went.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewrite {
    /// The code to compile.
    pub code: String,
    /// (1-based line, 1-based column in characters) where each check was inserted, in order.
    pub insertions: Vec<(usize, usize)>,
}

impl Rewrite {
    /// Maps a 1-based (line, column) in the rewritten code back to the user's code.
    pub fn original_position(&self, line: usize, column: usize) -> (usize, usize) {
        let shift = self
            .insertions
            .iter()
            .filter(|&&(l, c)| l == line && c < column)
            .count()
            * CHECK.chars().count();
        (line, column.saturating_sub(shift).max(1))
    }
}

/// Inserts interrupt checks into `code`. Code that does not parse (the compiler will report
/// it) and lines that are evcxr commands (`:dep …`) are left as they are.
pub fn insert_interrupt_checks(code: &str) -> Rewrite {
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
        return Rewrite { code: code.to_owned(), insertions: Vec::new() };
    };
    let mut finder = LoopBodies::default();
    finder.visit_block(&block);
    // Positions are in the wrapped text: one line ("{") above the code.
    let mut points: Vec<(usize, usize)> =
        finder.opens.iter().map(|p| (p.line - 1, p.column + 1)).collect();
    points.sort_unstable();
    points.dedup();

    let mut out = String::with_capacity(code.len() + points.len() * CHECK.len());
    let mut next = points.iter().peekable();
    for (index, line) in code.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        for (col, c) in line.chars().enumerate() {
            out.push(c);
            while next.peek().is_some_and(|&&(l, pc)| l == line_no && pc == col + 1) {
                out.push_str(CHECK);
                next.next();
            }
        }
    }
    // Columns are reported 1-based, pointing at the first inserted character.
    let insertions = points.iter().map(|&(l, c)| (l, c + 1)).collect();
    Rewrite { code: out, insertions }
}

/// Collects the opening brace of every loop body outside `const` contexts.
#[derive(Default)]
struct LoopBodies {
    opens: Vec<LineColumn>,
}

impl<'ast> Visit<'ast> for LoopBodies {
    fn visit_expr_for_loop(&mut self, node: &'ast syn::ExprForLoop) {
        self.opens.push(node.body.brace_token.span.open().start());
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
    // Array lengths and const generic arguments are const contexts too.
    fn visit_type_array(&mut self, node: &'ast syn::TypeArray) {
        self.visit_type(&node.elem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_go_at_the_top_of_each_loop_body() {
        let code = "let mut n = 0;\nfor i in 0..10 { n += i; }\nwhile n > 0 {\n    n -= 1;\n    loop { break; }\n}\nn";
        let r = insert_interrupt_checks(code);
        assert_eq!(
            r.code,
            format!("let mut n = 0;\nfor i in 0..10 {{{CHECK} n += i; }}\nwhile n > 0 {{{CHECK}\n    n -= 1;\n    loop {{{CHECK} break; }}\n}}\nn")
        );
        assert_eq!(r.insertions, vec![(2, 17), (3, 14), (5, 11)]);
    }

    #[test]
    fn columns_map_back_past_insertions() {
        let r = insert_interrupt_checks("for i in 0..3 { let x: u8 = \"s\"; }");
        let len = CHECK.chars().count();
        assert_eq!(r.original_position(1, 30 + len), (1, 30));
        assert_eq!(r.original_position(1, 5), (1, 5));
    }

    #[test]
    fn const_contexts_commands_and_broken_code_are_left_alone() {
        let code = ":dep foo = \"1\"\nconst fn f() -> u32 { let mut i = 0; while i < 3 { i += 1; } i }\nconst N: usize = { let mut i = 0; loop { break i; } };";
        assert_eq!(insert_interrupt_checks(code).code, code);
        let broken = "for i in 0..3 {";
        assert_eq!(insert_interrupt_checks(broken).code, broken);
    }

    #[test]
    fn nested_functions_and_closures_in_items_get_checks() {
        let code = "fn spin() { loop {} }\nlet f = || { for _ in 0..2 {} };";
        let r = insert_interrupt_checks(code);
        assert_eq!(r.insertions.len(), 2);
        assert!(r.code.contains(&format!("loop {{{CHECK}}}")));
    }
}
