//! What one file says about the code graph: the symbols it defines and the
//! names it imports, calls, inherits from or links to. Pure (no I/O): Python
//! and Rust through tree-sitter's grammars (Rust in [`super::rust`]), Markdown
//! through Ralph's heading and link rules. Names are resolved to other files' symbols later, by [`super::graph`].

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser};

/// The languages the index understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// `.py`, `.pyi`
    Python,
    /// `.md`, `.markdown`
    Markdown,
    /// `.rs`
    Rust,
}

impl Lang {
    /// The language of a workspace-relative path, by its extension.
    pub fn of(path: &str) -> Option<Self> {
        let ext = path.rsplit_once('.')?.1;
        match ext {
            "py" | "pyi" => Some(Self::Python),
            "md" | "markdown" => Some(Self::Markdown),
            "rs" => Some(Self::Rust),
            _ => None,
        }
    }

    /// Its name in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Markdown => "markdown",
            Self::Rust => "rust",
        }
    }
}

/// What a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SymKind {
    /// A Python class.
    Class,
    /// A function outside a class.
    Function,
    /// A function defined in a class body.
    Method,
    /// A module-level assignment to a plain name.
    Variable,
    /// A Markdown heading.
    Heading,
    /// A Rust struct or union.
    Struct,
    /// A Rust enum.
    Enum,
    /// A Rust trait.
    Trait,
    /// A Rust module with a body.
    Module,
    /// A Rust `const` or `static`.
    Constant,
    /// A Rust type alias.
    TypeAlias,
    /// A `macro_rules!` macro.
    Macro,
}

impl SymKind {
    /// Its name in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Class => "class",
            Self::Function => "function",
            Self::Method => "method",
            Self::Variable => "variable",
            Self::Heading => "heading",
            Self::Struct => "struct",
            Self::Enum => "enum",
            Self::Trait => "trait",
            Self::Module => "module",
            Self::Constant => "constant",
            Self::TypeAlias => "type",
            Self::Macro => "macro",
        }
    }
}

/// One definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// Dotted name within its file (`Class.method`; a heading's slug path).
    pub qualname: String,
    /// What it is.
    pub kind: SymKind,
    /// First line, 1-based.
    pub line: u32,
    /// Last line, 1-based.
    pub end_line: u32,
    /// The enclosing symbol (index into the file's symbols).
    pub parent: Option<u32>,
}

impl Symbol {
    /// The last segment of its qualified name.
    pub fn name(&self) -> &str {
        self.qualname.rsplit('.').next().unwrap_or(&self.qualname)
    }
}

/// How a call is written, which decides what it can mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStyle {
    /// `f(…)`, `Type::f(…)`, `module.f(…)` in Python is [`CallStyle::Method`].
    #[default]
    Plain,
    /// `receiver.f(…)`: a method of a type the index cannot see.
    Method,
    /// `f!(…)`: a macro.
    Macro,
}

/// One use of a name, to be resolved against the whole index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ref {
    /// `import a.b` or `from a.b import c, d` (`level` leading dots).
    Import {
        /// The module as written, without leading dots.
        module: String,
        /// Leading dots of a relative import.
        level: u32,
        /// Names imported from it (`from … import`), empty for `import a.b`.
        names: Vec<String>,
        /// Where.
        line: u32,
    },
    /// A call whose callee ends in `callee` (`f(…)`, `obj.f(…)`, `Type::f(…)`).
    Call {
        /// The calling symbol; `None` at module level.
        from: Option<u32>,
        /// The callee's last name.
        callee: String,
        /// The name before it in a path call (`Type` of `Type::f(…)`).
        #[serde(default)]
        qualifier: Option<String>,
        /// How it is written.
        #[serde(default)]
        style: CallStyle,
        /// Where.
        line: u32,
    },
    /// A class base.
    Inherits {
        /// The class.
        from: u32,
        /// The base's last name.
        base: String,
        /// Where.
        line: u32,
    },
    /// A Markdown link to a relative target.
    Link {
        /// The link target without its `#fragment`.
        target: String,
        /// Where.
        line: u32,
    },
}

#[cfg(test)]
impl Ref {
    /// An import (tests compare with it).
    pub(super) fn import(module: &str, level: u32, names: &[&str], line: u32) -> Self {
        Self::Import {
            module: module.into(),
            level,
            names: names.iter().map(|n| (*n).to_string()).collect(),
            line,
        }
    }
}

impl Facts {
    /// Every index the facts hold points where it may: a symbol's parent comes
    /// before it, a call or a base names one of the file's symbols. Facts read
    /// back from the index file are checked with this before the graph uses them.
    pub fn is_consistent(&self) -> bool {
        let n = self.symbols.len();
        self.symbols
            .iter()
            .enumerate()
            .all(|(i, s)| s.parent.is_none_or(|p| (p as usize) < i))
            && self.refs.iter().all(|r| match r {
                Ref::Call { from: Some(f), .. } | Ref::Inherits { from: f, .. } => {
                    (*f as usize) < n
                }
                _ => true,
            })
    }
}

#[cfg(test)]
impl Facts {
    /// Each symbol's qualified name and kind (tests compare with them).
    pub(super) fn names(&self) -> Vec<(&str, SymKind)> {
        self.symbols
            .iter()
            .map(|s| (s.qualname.as_str(), s.kind))
            .collect()
    }
}

/// Everything extracted from one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Definitions, parents before children.
    pub symbols: Vec<Symbol>,
    /// Uses of names.
    pub refs: Vec<Ref>,
    /// The parser recovered from syntax errors (the facts are partial).
    pub syntax_errors: bool,
}

/// Extracts the facts of `text`, a file in `lang`.
pub fn extract(lang: Lang, text: &str) -> Facts {
    match lang {
        Lang::Python => python(text),
        Lang::Markdown => markdown(text),
        Lang::Rust => super::rust::extract(text),
    }
}

fn python(text: &str) -> Facts {
    gather(tree_sitter_python::LANGUAGE.into(), text, |facts, root| {
        PyWalker {
            src: text.as_bytes(),
            facts,
        }
        .children(root, None, false, true);
    })
}

/// Parses `text` with a tree-sitter `language` and lets `walk` gather the facts
/// from the root; what cannot be parsed at all yields no facts, marked as errors.
pub(super) fn gather(
    language: tree_sitter::Language,
    text: &str,
    walk: impl FnOnce(&mut Facts, Node<'_>),
) -> Facts {
    let mut parser = Parser::new();
    let tree = parser
        .set_language(&language)
        .ok()
        .and_then(|()| parser.parse(text, None));
    let Some(tree) = tree else {
        return Facts {
            syntax_errors: true,
            ..Facts::default()
        };
    };
    let root = tree.root_node();
    let mut facts = Facts {
        syntax_errors: root.has_error(),
        ..Facts::default()
    };
    walk(&mut facts, root);
    facts
}

/// What the tree-sitter walkers share: reading a node's text and name, and
/// recording a definition under its parent.
pub(super) trait Walk {
    /// The source being walked.
    fn src(&self) -> &[u8];
    /// The facts being gathered.
    fn facts(&mut self) -> &mut Facts;

    /// The text of `node`.
    fn text(&self, node: Node<'_>) -> String {
        node.utf8_text(self.src()).unwrap_or_default().to_string()
    }

    /// The name of a definition, unless the parser had to invent it.
    fn name_of(&self, node: Node<'_>) -> Option<String> {
        let name = node.child_by_field_name("name")?;
        let text = self.text(name);
        (!name.is_missing() && !text.is_empty()).then_some(text)
    }

    /// Records the definition `node` named `name`, nested in `parent`.
    fn define(&mut self, node: Node<'_>, name: &str, kind: SymKind, parent: Option<u32>) -> u32 {
        let facts = self.facts();
        let qualname = match parent {
            Some(p) => format!("{}.{name}", facts.symbols[p as usize].qualname),
            None => name.to_string(),
        };
        facts.symbols.push(Symbol {
            qualname,
            kind,
            line: line_of(node),
            end_line: node.end_position().row as u32 + 1,
            parent,
        });
        (facts.symbols.len() - 1) as u32
    }
}

struct PyWalker<'a> {
    src: &'a [u8],
    facts: &'a mut Facts,
}

impl Walk for PyWalker<'_> {
    fn src(&self) -> &[u8] {
        self.src
    }
    fn facts(&mut self) -> &mut Facts {
        self.facts
    }
}

/// The 1-based line a node starts on.
pub(super) fn line_of(node: Node<'_>) -> u32 {
    node.start_position().row as u32 + 1
}

impl PyWalker<'_> {
    fn children(&mut self, node: Node<'_>, scope: Option<u32>, in_class: bool, module: bool) {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            self.node(child, scope, in_class, module);
        }
    }

    fn node(&mut self, node: Node<'_>, scope: Option<u32>, in_class: bool, module: bool) {
        match node.kind() {
            "class_definition" => {
                let Some(name) = self.name_of(node) else {
                    // A definition the parser could not name (syntax error): its
                    // body's uses still count, in the enclosing scope.
                    return self.children(node, scope, in_class, false);
                };
                let id = self.define(node, &name, SymKind::Class, scope);
                if let Some(bases) = node.child_by_field_name("superclasses") {
                    let mut cursor = bases.walk();
                    for base in bases.named_children(&mut cursor) {
                        if let Some(base_name) = self.last_name(base) {
                            self.facts.refs.push(Ref::Inherits {
                                from: id,
                                base: base_name,
                                line: line_of(base),
                            });
                        } else {
                            self.node(base, scope, false, false);
                        }
                    }
                }
                if let Some(body) = node.child_by_field_name("body") {
                    self.children(body, Some(id), true, false);
                }
            }
            "function_definition" => {
                let Some(name) = self.name_of(node) else {
                    // A definition the parser could not name (syntax error): its
                    // body's uses still count, in the enclosing scope.
                    return self.children(node, scope, in_class, false);
                };
                let kind = if in_class {
                    SymKind::Method
                } else {
                    SymKind::Function
                };
                let id = self.define(node, &name, kind, scope);
                for field in ["parameters", "return_type"] {
                    if let Some(part) = node.child_by_field_name(field) {
                        self.node(part, Some(id), false, false);
                    }
                }
                if let Some(body) = node.child_by_field_name("body") {
                    self.children(body, Some(id), false, false);
                }
            }
            "import_statement" => {
                for module in self.imported_names(node) {
                    self.facts.refs.push(Ref::Import {
                        module,
                        level: 0,
                        names: Vec::new(),
                        line: line_of(node),
                    });
                }
            }
            "import_from_statement" => {
                let Some(module_node) = node.child_by_field_name("module_name") else {
                    return;
                };
                let written = self.text(module_node);
                let level = written.chars().take_while(|c| *c == '.').count() as u32;
                let module = written.trim_start_matches('.').to_string();
                let names = self.imported_names(node);
                self.facts.refs.push(Ref::Import {
                    module,
                    level,
                    names,
                    line: line_of(node),
                });
            }
            "call" => {
                if let Some(function) = node.child_by_field_name("function")
                    && let Some(callee) = self.last_name(function)
                {
                    let (style, qualifier) = if function.kind() == "attribute" {
                        (CallStyle::Method, self.receiver_class(function, scope))
                    } else {
                        (CallStyle::Plain, None)
                    };
                    self.facts.refs.push(Ref::Call {
                        from: scope,
                        callee,
                        qualifier,
                        style,
                        line: line_of(node),
                    });
                }
                self.children(node, scope, false, false);
            }
            "expression_statement" if module => {
                let mut cursor = node.walk();
                for child in node.named_children(&mut cursor) {
                    if child.kind() == "assignment"
                        && let Some(left) = child.child_by_field_name("left")
                        && left.kind() == "identifier"
                        && !left.is_missing()
                    {
                        let name = self.text(left);
                        self.define(child, &name, SymKind::Variable, None);
                    }
                    self.node(child, scope, false, false);
                }
            }
            _ => self.children(node, scope, in_class, module && is_block(node)),
        }
    }

    /// The names an import statement imports (`a.b` of `import a.b as c`).
    fn imported_names(&self, node: Node<'_>) -> Vec<String> {
        let mut cursor = node.walk();
        node.children_by_field_name("name", &mut cursor)
            .map(|name| match name.kind() {
                "aliased_import" => name
                    .child_by_field_name("name")
                    .map(|n| self.text(n))
                    .unwrap_or_default(),
                _ => self.text(name),
            })
            .filter(|n| !n.is_empty())
            .collect()
    }

    /// What a method call's receiver is known to be: the enclosing class for
    /// `self.f()`/`cls.f()`, `C` for `C().f()`, and the name itself for
    /// `name.f()` (a module or a class, when the index knows one by that name).
    fn receiver_class(&self, attribute: Node<'_>, scope: Option<u32>) -> Option<String> {
        let object = attribute.child_by_field_name("object")?;
        match object.kind() {
            "identifier" if matches!(self.text(object).as_str(), "self" | "cls") => {
                let mut at = scope;
                while let Some(i) = at {
                    let sym = &self.facts.symbols[i as usize];
                    if sym.kind == SymKind::Class {
                        return Some(sym.qualname.clone());
                    }
                    at = sym.parent;
                }
                None
            }
            "call" => object
                .child_by_field_name("function")
                .filter(|f| f.kind() == "identifier")
                .map(|f| self.text(f))
                .filter(|n| n.starts_with(char::is_uppercase)),
            "identifier" => Some(self.text(object)),
            _ => None,
        }
    }

    /// The last name of `f`, `a.b.f` (but not of calls, subscripts or literals).
    fn last_name(&self, node: Node<'_>) -> Option<String> {
        match node.kind() {
            "identifier" => Some(self.text(node)),
            "attribute" => node.child_by_field_name("attribute").map(|a| self.text(a)),
            _ => None,
        }
    }
}

/// Statements whose bodies still count as module level (`if`, `try`, `with` at
/// the top of a module define module-level names).
fn is_block(node: Node<'_>) -> bool {
    matches!(
        node.kind(),
        "if_statement"
            | "else_clause"
            | "elif_clause"
            | "try_statement"
            | "except_clause"
            | "finally_clause"
            | "with_statement"
            | "block"
            | "decorated_definition"
    )
}

fn atx_heading() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(#{1,6})\s+(.*?)\s*#*\s*$").expect("valid regex"))
}

fn inline_link() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\[([^\]\n]+)\]\(([^)\n]+)\)").expect("valid regex"))
}

/// Ralph's heading slug: lower case, runs of anything but letters and digits
/// become one `-`, no leading or trailing `-`.
pub fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.to_lowercase().chars() {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        "section".into()
    } else {
        slug
    }
}

fn markdown(text: &str) -> Facts {
    let mut facts = Facts::default();
    // Open headings by level: (level, symbol index).
    let mut open: Vec<(usize, u32)> = Vec::new();
    let mut fence: Option<&str> = None;
    let lines: Vec<&str> = text.lines().collect();
    for (i, raw) in lines.iter().enumerate() {
        let line_no = i as u32 + 1;
        let trimmed = raw.trim_start();
        let marker = if trimmed.starts_with("```") {
            Some("```")
        } else if trimmed.starts_with("~~~") {
            Some("~~~")
        } else {
            None
        };
        if let Some(m) = marker {
            match fence {
                Some(f) if f == m => fence = None,
                None => fence = Some(m),
                _ => {}
            }
            continue;
        }
        if fence.is_some() {
            continue;
        }
        if let Some(caps) = atx_heading().captures(raw) {
            let level = caps[1].len();
            let title = caps[2].trim();
            while open.last().is_some_and(|(l, _)| *l >= level) {
                open.pop();
            }
            let parent = open.last().map(|(_, id)| *id);
            let slug = slugify(title);
            let qualname = match parent {
                Some(p) => format!("{}.{slug}", facts.symbols[p as usize].qualname),
                None => slug,
            };
            facts.symbols.push(Symbol {
                qualname,
                kind: SymKind::Heading,
                line: line_no,
                end_line: line_no,
                parent,
            });
            let id = (facts.symbols.len() - 1) as u32;
            open.push((level, id));
        }
        for caps in inline_link().captures_iter(raw) {
            let target = caps[2].trim();
            let target = target.split_whitespace().next().unwrap_or("");
            let target = target.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            facts.refs.push(Ref::Link {
                target: target.to_string(),
                line: line_no,
            });
        }
    }
    // A heading's section ends where the next heading of its level or above starts.
    let total = lines.len() as u32;
    let starts: Vec<(u32, usize)> = facts
        .symbols
        .iter()
        .map(|s| (s.line, depth_of(&facts.symbols, s)))
        .collect();
    for (i, sym) in facts.symbols.iter_mut().enumerate() {
        let (_, depth) = starts[i];
        sym.end_line = starts[i + 1..]
            .iter()
            .find(|(_, d)| *d <= depth)
            .map_or(total.max(sym.line), |(l, _)| l - 1);
    }
    facts
}

fn depth_of(symbols: &[Symbol], sym: &Symbol) -> usize {
    let mut depth = 0;
    let mut parent = sym.parent;
    while let Some(p) = parent {
        depth += 1;
        parent = symbols[p as usize].parent;
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_definitions_nest_and_carry_their_lines() {
        let src = "import os, a.b as c\nfrom ..pkg.mod import X, Y as Z\nLIMIT = 3\n\nclass Store(Base, mod.Mixin):\n    def get(self, k):\n        return helper(k).strip()\n\n    @property\n    def size(self):\n        return len(self.items)\n\ndef helper(x):\n    def inner():\n        pass\n    return inner()\n";
        let f = extract(Lang::Python, src);
        assert!(!f.syntax_errors);
        assert_eq!(
            f.names(),
            vec![
                ("LIMIT", SymKind::Variable),
                ("Store", SymKind::Class),
                ("Store.get", SymKind::Method),
                ("Store.size", SymKind::Method),
                ("helper", SymKind::Function),
                ("helper.inner", SymKind::Function),
            ]
        );
        let store = &f.symbols[1];
        assert_eq!((store.line, store.end_line), (5, 11));
        assert!(f.refs.contains(&Ref::import("os", 0, &[], 1)));
        assert!(f.refs.contains(&Ref::import("a.b", 0, &[], 1)));
        assert!(f.refs.contains(&Ref::import("pkg.mod", 2, &["X", "Y"], 2)));
        assert!(f.refs.contains(&Ref::Inherits {
            from: 1,
            base: "Base".into(),
            line: 5
        }));
        assert!(f.refs.contains(&Ref::Inherits {
            from: 1,
            base: "Mixin".into(),
            line: 5
        }));
        let calls: Vec<(Option<u32>, &str)> = f
            .refs
            .iter()
            .filter_map(|r| match r {
                Ref::Call { from, callee, .. } => Some((*from, callee.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls,
            vec![
                (Some(2), "strip"),
                (Some(2), "helper"),
                (Some(3), "len"),
                (Some(4), "inner")
            ]
        );
    }

    #[test]
    fn a_python_syntax_error_still_yields_what_parses() {
        let f = extract(Lang::Python, "def ok():\n    pass\n\ndef broken(:\n");
        assert!(f.syntax_errors);
        assert_eq!(f.symbols[0].qualname, "ok");
    }

    #[test]
    fn markdown_headings_nest_links_resolve_and_fences_are_skipped() {
        let src = "# Guide\nSee [the api](docs/api.md#top) and [site](https://x.y).\n## Install It!\n```\n# not a heading\n[no](link.md)\n```\n## Use\n# Other\n";
        let f = extract(Lang::Markdown, src);
        assert_eq!(
            f.names(),
            vec![
                ("guide", SymKind::Heading),
                ("guide.install-it", SymKind::Heading),
                ("guide.use", SymKind::Heading),
                ("other", SymKind::Heading),
            ]
        );
        assert_eq!((f.symbols[0].line, f.symbols[0].end_line), (1, 8));
        assert_eq!((f.symbols[1].line, f.symbols[1].end_line), (3, 7));
        assert_eq!(
            f.refs,
            vec![Ref::Link {
                target: "docs/api.md".into(),
                line: 2
            }]
        );
    }

    #[test]
    fn languages_by_extension() {
        assert_eq!(Lang::of("a/b.py"), Some(Lang::Python));
        assert_eq!(Lang::of("README.md"), Some(Lang::Markdown));
        assert_eq!(Lang::of("Makefile"), None);
        assert_eq!(Lang::of("x.rs"), Some(Lang::Rust));
        assert_eq!(Lang::of("x.go"), None);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Source-like text: Python and Markdown tokens, brackets, quotes and
        /// indentation in any order, plus arbitrary characters.
        fn sourceish() -> impl Strategy<Value = String> {
            let token = prop_oneof![
                Just("def ".to_string()),
                Just("class ".to_string()),
                Just("import ".to_string()),
                Just("from . import ".to_string()),
                Just("fn ".to_string()),
                Just("impl ".to_string()),
                Just(" for ".to_string()),
                Just("use a::{b, c::*};".to_string()),
                Just("mod ".to_string()),
                Just("::".to_string()),
                Just("{".to_string()),
                Just("}".to_string()),
                Just("!(".to_string()),
                Just("(".to_string()),
                Just(")".to_string()),
                Just(":".to_string()),
                Just("\n".to_string()),
                Just("    ".to_string()),
                Just("# ".to_string()),
                Just("[a](b.md)".to_string()),
                Just("```".to_string()),
                Just("\"".to_string()),
                "[a-zA-Z_][a-zA-Z0-9_]{0,6}",
                any::<char>().prop_map(String::from),
            ];
            prop::collection::vec(token, 0..80).prop_map(|v| v.concat())
        }

        proptest! {
            #[test]
            fn extraction_never_panics_and_its_facts_hold_together(text in sourceish(), which in 0..3u8) {
                let lang = [Lang::Python, Lang::Markdown, Lang::Rust][usize::from(which)];
                let facts = extract(lang, &text);
                prop_assert!(facts.is_consistent());
                let lines = text.lines().count().max(1) as u32 + 1;
                for (i, sym) in facts.symbols.iter().enumerate() {
                    prop_assert!(sym.line >= 1 && sym.line <= sym.end_line && sym.end_line <= lines, "{sym:?} in {lines} lines");
                    if let Some(p) = sym.parent {
                        // Parents come first and their qualified name prefixes the child's.
                        prop_assert!((p as usize) < i);
                        let parent = &facts.symbols[p as usize];
                        let prefix = format!("{}.", parent.qualname);
                        prop_assert!(sym.qualname.starts_with(&prefix), "{} under {}", sym.qualname, prefix);
                    }
                    prop_assert!(!sym.qualname.is_empty());
                }
                for r in &facts.refs {
                    match r {
                        Ref::Call { from: Some(f), .. } | Ref::Inherits { from: f, .. } => {
                            prop_assert!((*f as usize) < facts.symbols.len());
                        }
                        Ref::Link { target, .. } => prop_assert!(!target.is_empty() && !target.contains("://")),
                        _ => {}
                    }
                }
            }

            #[test]
            fn slugs_are_lowercase_words_joined_by_single_dashes(title in any::<String>()) {
                let slug = slugify(&title);
                prop_assert!(!slug.is_empty());
                prop_assert!(!slug.starts_with('-') && !slug.ends_with('-') && !slug.contains("--"));
                prop_assert!(slug.chars().all(|c| c == '-' || c.is_alphanumeric()));
            }
        }
    }
}
