//! Rust files through tree-sitter's Rust grammar: items (functions, methods,
//! structs, enums, traits, modules, constants, type aliases, `macro_rules!`)
//! with their nesting, `use` declarations and `mod` declarations as imports,
//! calls and macro invocations, and `impl Trait for Type` as `Type` deriving
//! from `Trait`. Qualified names join with `.` as Python's do (`Type.method`,
//! `tests.it_works`), so the graph treats every language alike.

use tree_sitter::Node;

use super::extract::{CallStyle, Facts, Ref, SymKind, Walk, gather, line_of};

/// Extracts the facts of a Rust source file.
pub fn extract(text: &str) -> Facts {
    gather(tree_sitter_rust::LANGUAGE.into(), text, |facts, root| {
        Walker {
            src: text.as_bytes(),
            facts,
        }
        .items(root, None);
    })
}

struct Walker<'a> {
    src: &'a [u8],
    facts: &'a mut Facts,
}

impl Walk for Walker<'_> {
    fn src(&self) -> &[u8] {
        self.src
    }
    fn facts(&mut self) -> &mut Facts {
        self.facts
    }
}

/// Where a `use` path starts: `crate::` (or an outside crate), `self::`, or
/// `super::` a number of times. Encoded as [`Ref::Import`]'s `level`: 0, 1, 1 + n.
fn split_path(text: &str) -> (u32, Vec<String>) {
    let mut level = 0;
    let mut segments = Vec::new();
    for (i, seg) in text.split("::").map(str::trim).enumerate() {
        match seg {
            "" => {}
            "crate" if i == 0 => {}
            "self" if i == 0 => level = 1,
            "super" if segments.is_empty() => level = level.max(1) + 1,
            s => segments.push(s.to_string()),
        }
    }
    (level, segments)
}

impl Walker<'_> {
    /// The items of a file, module body, impl or trait body.
    fn items(&mut self, node: Node<'_>, scope: Option<u32>) {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            self.item(child, scope, None);
        }
    }

    /// The symbol a type name in this file stands for (for `impl` blocks).
    fn type_symbol(&self, name: &str, scope: Option<u32>) -> Option<u32> {
        self.facts
            .symbols
            .iter()
            .position(|s| {
                s.parent == scope
                    && s.name() == name
                    && matches!(
                        s.kind,
                        SymKind::Struct | SymKind::Enum | SymKind::Trait | SymKind::TypeAlias
                    )
            })
            .map(|i| i as u32)
    }

    /// The last type name of `Foo`, `Foo<T>`, `a::Foo`, `&Foo`.
    fn type_name(&self, node: Node<'_>) -> Option<String> {
        match node.kind() {
            "type_identifier" => Some(self.text(node)),
            "generic_type" => node
                .child_by_field_name("type")
                .and_then(|t| self.type_name(t)),
            "scoped_type_identifier" => node.child_by_field_name("name").map(|n| self.text(n)),
            "reference_type" => node
                .child_by_field_name("type")
                .and_then(|t| self.type_name(t)),
            _ => None,
        }
    }

    /// One item. `owner` is the type of the `impl` or the trait it sits in, so
    /// its functions are methods named `Type.method`.
    fn item(&mut self, node: Node<'_>, scope: Option<u32>, owner: Option<&str>) {
        let kind = match node.kind() {
            "function_item" | "function_signature_item" => {
                if owner.is_some() {
                    SymKind::Method
                } else {
                    SymKind::Function
                }
            }
            "struct_item" | "union_item" => SymKind::Struct,
            "enum_item" => SymKind::Enum,
            "trait_item" => SymKind::Trait,
            "const_item" | "static_item" => SymKind::Constant,
            "type_item" => SymKind::TypeAlias,
            "macro_definition" => SymKind::Macro,
            "mod_item" => SymKind::Module,
            "impl_item" => return self.impl_block(node, scope),
            "use_declaration" => return self.use_declaration(node, scope),
            "attribute_item" | "inner_attribute_item" | "line_comment" | "block_comment" => {
                return;
            }
            _ => return self.uses(node, scope),
        };
        let Some(name) = self.name_of(node) else {
            return self.uses(node, scope);
        };
        let id = self.define(node, &name, kind, scope);
        match kind {
            SymKind::Module => match node.child_by_field_name("body") {
                Some(body) => self.items(body, Some(id)),
                // `mod name;`: the file of that module.
                None => self.facts.refs.push(Ref::Import {
                    module: name,
                    level: 1,
                    names: Vec::new(),
                    line: line_of(node),
                }),
            },
            SymKind::Trait => {
                if let Some(body) = node.child_by_field_name("body") {
                    let mut cursor = body.walk();
                    for child in body.named_children(&mut cursor) {
                        self.item(child, Some(id), Some(&name));
                    }
                }
            }
            _ => self.uses(node, Some(id)),
        }
    }

    /// `impl [Trait for] Type { … }`: its functions are `Type.method`, nested
    /// under `Type` when this file defines it; `Trait` is what `Type` derives from.
    fn impl_block(&mut self, node: Node<'_>, scope: Option<u32>) {
        let Some(type_name) = node
            .child_by_field_name("type")
            .and_then(|t| self.type_name(t))
        else {
            return self.uses(node, scope);
        };
        let owner = self.type_symbol(&type_name, scope);
        if let (Some(owner), Some(trait_name)) = (
            owner,
            node.child_by_field_name("trait")
                .and_then(|t| self.type_name(t)),
        ) {
            self.facts.refs.push(Ref::Inherits {
                from: owner,
                base: trait_name,
                line: line_of(node),
            });
        }
        let Some(body) = node.child_by_field_name("body") else {
            return;
        };
        let mut cursor = body.walk();
        for child in body.named_children(&mut cursor) {
            if matches!(child.kind(), "function_item" | "function_signature_item")
                && owner.is_none()
                && let Some(name) = self.name_of(child)
            {
                // The type is defined elsewhere: the method still says whose it is.
                let id = self.define(
                    child,
                    &format!("{type_name}.{name}"),
                    SymKind::Method,
                    scope,
                );
                self.uses(child, Some(id));
            } else {
                self.item(child, owner.or(scope), Some(&type_name));
            }
        }
    }

    /// `use a::b::{c, d as e, f::*};` as imports grouped by module.
    fn use_declaration(&mut self, node: Node<'_>, scope: Option<u32>) {
        // Inside inline modules (`mod tests { use super::*; }`) each `super` first
        // leaves one of them; only the rest climb above this file's module.
        let mut inline = 0;
        let mut at = scope;
        while let Some(i) = at {
            let sym = &self.facts.symbols[i as usize];
            if sym.kind == SymKind::Module {
                inline += 1;
            }
            at = sym.parent;
        }
        let Some(arg) = node.child_by_field_name("argument") else {
            return;
        };
        let mut found: Vec<(String, Option<String>)> = Vec::new();
        self.use_tree(arg, "", &mut found);
        let line = line_of(node);
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        for (path, name) in found {
            match grouped.iter_mut().find(|(p, _)| *p == path) {
                Some((_, names)) => names.extend(name),
                None => grouped.push((path, name.into_iter().collect())),
            }
        }
        for (path, names) in grouped {
            let (mut level, segments) = split_path(&path);
            if level > 1 {
                level = (level - 1).saturating_sub(inline) + 1;
            }
            if segments.is_empty() && level == 0 {
                // `use a;`, `use {a, b};`: whole crates or modules.
                for name in names {
                    self.facts.refs.push(Ref::Import {
                        module: name,
                        level: 0,
                        names: Vec::new(),
                        line,
                    });
                }
                continue;
            }
            if segments.is_empty() && names.is_empty() {
                continue;
            }
            self.facts.refs.push(Ref::Import {
                module: segments.join("."),
                level,
                names,
                line,
            });
        }
    }

    /// Flattens a use tree into (module path, imported name) pairs; a module
    /// imported whole (`a::b::*`, `a::{self}`, `use a;`) has no name.
    fn use_tree(&self, node: Node<'_>, prefix: &str, out: &mut Vec<(String, Option<String>)>) {
        let join = |p: &str, s: &str| {
            if p.is_empty() {
                s.to_string()
            } else {
                format!("{p}::{s}")
            }
        };
        match node.kind() {
            "scoped_identifier" => {
                let path = node
                    .child_by_field_name("path")
                    .map(|p| self.text(p))
                    .unwrap_or_default();
                let name = node
                    .child_by_field_name("name")
                    .map(|n| self.text(n))
                    .unwrap_or_default();
                match name.as_str() {
                    "self" => out.push((join(prefix, &path), None)),
                    _ => out.push((join(prefix, &path), Some(name))),
                }
            }
            "identifier" | "crate" | "super" => {
                out.push((prefix.to_string(), Some(self.text(node))));
            }
            "self" => out.push((prefix.to_string(), None)),
            "use_as_clause" => {
                if let Some(path) = node.child_by_field_name("path") {
                    self.use_tree(path, prefix, out);
                }
            }
            "scoped_use_list" => {
                let path = node
                    .child_by_field_name("path")
                    .map(|p| self.text(p))
                    .unwrap_or_default();
                if let Some(list) = node.child_by_field_name("list") {
                    self.use_tree(list, &join(prefix, &path), out);
                }
            }
            "use_list" => {
                let mut cursor = node.walk();
                for child in node.named_children(&mut cursor) {
                    self.use_tree(child, prefix, out);
                }
            }
            "use_wildcard" => {
                let mut cursor = node.walk();
                let path = node
                    .named_children(&mut cursor)
                    .next()
                    .map(|p| self.text(p))
                    .unwrap_or_default();
                out.push((join(prefix, &path), None));
            }
            _ => {}
        }
    }

    /// Calls and macro invocations anywhere beneath `node`, made by `scope`.
    fn uses(&mut self, node: Node<'_>, scope: Option<u32>) {
        let mut cursor = node.walk();
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            match n.kind() {
                "call_expression" => {
                    if let Some(f) = n.child_by_field_name("function") {
                        self.call(f, scope, line_of(n), false);
                    }
                }
                "macro_invocation" => {
                    if let Some(m) = n.child_by_field_name("macro") {
                        self.call(m, scope, line_of(n), true);
                    }
                }
                // A macro's arguments are tokens, not expressions: `f(`, `a.f(` and
                // `T::f(` in them are read as calls (tests live in `assert!`s).
                "token_tree" => {
                    self.token_calls(n, scope);
                    continue;
                }
                // Items nested in a function body are items of their own.
                "function_item" | "struct_item" | "enum_item" | "trait_item" | "impl_item"
                | "mod_item" | "const_item" | "static_item" | "macro_definition"
                    if n != node =>
                {
                    self.item(n, scope, None);
                    continue;
                }
                _ => {}
            }
            let children: Vec<Node<'_>> = n.named_children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }

    /// A token that names something (contextual keywords such as `default` and
    /// `union` are names too), not a keyword that can precede a parenthesis.
    fn is_name(&self, token: Node<'_>) -> bool {
        let text = self.text(token);
        let mut chars = text.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || c == '_')
            && !matches!(
                text.as_str(),
                "if" | "while"
                    | "for"
                    | "match"
                    | "return"
                    | "loop"
                    | "in"
                    | "as"
                    | "fn"
                    | "let"
                    | "mut"
                    | "ref"
                    | "move"
                    | "async"
                    | "unsafe"
                    | "else"
                    | "where"
                    | "impl"
                    | "dyn"
                    | "break"
                    | "continue"
                    | "yield"
                    | "await"
            )
    }

    /// Calls written inside a macro's token tree.
    fn token_calls(&mut self, tree: Node<'_>, scope: Option<u32>) {
        let mut cursor = tree.walk();
        let tokens: Vec<Node<'_>> = tree.children(&mut cursor).collect();
        for (i, token) in tokens.iter().enumerate() {
            if token.kind() != "token_tree" {
                continue;
            }
            let opens_call = token.child(0).is_some_and(|c| c.kind() == "(");
            if opens_call
                && i > 0
                && self.is_name(tokens[i - 1])
                && (i < 2 || tokens[i - 2].kind() != "!")
            {
                let callee = self.text(tokens[i - 1]);
                let qualifier =
                    (i >= 3 && tokens[i - 2].kind() == "::" && self.is_name(tokens[i - 3]))
                        .then(|| self.text(tokens[i - 3]))
                        .filter(|q| !matches!(q.as_str(), "self" | "super" | "crate" | "Self"));
                let style = if i >= 2 && tokens[i - 2].kind() == "." {
                    CallStyle::Method
                } else {
                    CallStyle::Plain
                };
                self.facts.refs.push(Ref::Call {
                    from: scope,
                    callee,
                    qualifier,
                    style,
                    line: line_of(tokens[i - 1]),
                });
            }
            self.token_calls(*token, scope);
        }
    }

    /// The type a method call's receiver is known to be: the `impl`'s type for
    /// `self.f()`, `T` for `T::new().f()` and `T::default().f()`-style chains.
    fn receiver_type(&self, field: Node<'_>, scope: Option<u32>) -> Option<String> {
        let value = field.child_by_field_name("value")?;
        match value.kind() {
            "self" => {
                let method = &self.facts.symbols[scope? as usize];
                (method.kind == SymKind::Method)
                    .then(|| method.qualname.rsplit_once('.').map(|(t, _)| t.to_string()))
                    .flatten()
            }
            "call_expression" => value
                .child_by_field_name("function")
                .filter(|f| f.kind() == "scoped_identifier")
                .and_then(|f| f.child_by_field_name("path"))
                .map(|p| self.text(p))
                .and_then(|p| p.rsplit("::").next().map(str::to_string))
                .filter(|t| t.starts_with(char::is_uppercase) && t != "Self"),
            _ => None,
        }
    }

    /// A call (or, with `is_macro`, a macro invocation) of `function`.
    fn call(&mut self, function: Node<'_>, scope: Option<u32>, line: u32, is_macro: bool) {
        let plain = if is_macro {
            CallStyle::Macro
        } else {
            CallStyle::Plain
        };
        let (callee, qualifier, style) = match function.kind() {
            "identifier" => (self.text(function), None, plain),
            "field_expression" => match function.child_by_field_name("field") {
                Some(f) => (
                    self.text(f),
                    self.receiver_type(function, scope),
                    CallStyle::Method,
                ),
                None => return,
            },
            "scoped_identifier" => {
                let Some(name) = function.child_by_field_name("name") else {
                    return;
                };
                let qualifier = function
                    .child_by_field_name("path")
                    .map(|p| self.text(p))
                    .and_then(|p| p.rsplit("::").next().map(str::to_string))
                    .filter(|q| !matches!(q.as_str(), "self" | "super" | "crate" | "Self"));
                (self.text(name), qualifier, plain)
            }
            "generic_function" => {
                if let Some(f) = function.child_by_field_name("function") {
                    self.call(f, scope, line, is_macro);
                }
                return;
            }
            _ => return,
        };
        if !callee.is_empty() {
            self.facts.refs.push(Ref::Call {
                from: scope,
                callee,
                qualifier,
                style,
                line,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_nest_and_impls_name_their_methods() {
        let src = r#"use crate::store::{Store, Base as B};
use super::util::*;
mod child;
pub const LIMIT: usize = 3;
pub struct Cache { items: Vec<u8> }
pub trait Named { fn name(&self) -> String; }
impl Named for Cache {
    fn name(&self) -> String { helper(self.items.len()) }
}
impl Other { fn build() -> Self { Cache::new() } }
fn helper(n: usize) -> String { format!("{n}") }
#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn it_names() { assert_eq!(Cache::default().name(), "0"); }
}
"#;
        let f = extract(src);
        assert!(!f.syntax_errors);
        assert_eq!(
            f.names(),
            vec![
                ("child", SymKind::Module),
                ("LIMIT", SymKind::Constant),
                ("Cache", SymKind::Struct),
                ("Named", SymKind::Trait),
                ("Named.name", SymKind::Method),
                ("Cache.name", SymKind::Method),
                ("Other.build", SymKind::Method),
                ("helper", SymKind::Function),
                ("tests", SymKind::Module),
                ("tests.it_names", SymKind::Function),
            ]
        );
        assert_eq!(f.symbols[5].parent, Some(2));
        assert!(
            f.refs
                .contains(&Ref::import("store", 0, &["Store", "Base"], 1))
        );
        assert!(f.refs.contains(&Ref::import("util", 2, &[], 2)));
        assert!(f.refs.contains(&Ref::import("child", 1, &[], 3)));
        assert!(f.refs.contains(&Ref::Inherits {
            from: 2,
            base: "Named".into(),
            line: 7
        }));
        let calls: Vec<(Option<u32>, &str, Option<&str>)> = f
            .refs
            .iter()
            .filter_map(|r| match r {
                Ref::Call {
                    from,
                    callee,
                    qualifier,
                    ..
                } => Some((*from, callee.as_str(), qualifier.as_deref())),
                _ => None,
            })
            .collect();
        assert!(calls.contains(&(Some(5), "helper", None)), "{calls:?}");
        assert!(calls.contains(&(Some(5), "len", None)), "{calls:?}");
        assert!(
            calls.contains(&(Some(6), "new", Some("Cache"))),
            "{calls:?}"
        );
        assert!(calls.contains(&(Some(7), "format", None)), "{calls:?}");
        assert!(calls.contains(&(Some(9), "assert_eq", None)), "{calls:?}");
        assert!(
            calls.contains(&(Some(9), "default", Some("Cache"))),
            "{calls:?}"
        );
    }

    #[test]
    fn use_paths_say_where_they_start() {
        assert_eq!(split_path("crate::a::b"), (0, vec!["a".into(), "b".into()]));
        assert_eq!(split_path("self::a"), (1, vec!["a".into()]));
        assert_eq!(split_path("super::a"), (2, vec!["a".into()]));
        assert_eq!(split_path("super::super::a"), (3, vec!["a".into()]));
        assert_eq!(split_path("std::io"), (0, vec!["std".into(), "io".into()]));
    }
}
