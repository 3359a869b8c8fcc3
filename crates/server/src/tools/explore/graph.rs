//! The code graph built from every indexed file's [`Facts`]: file and symbol
//! nodes, and edges that say how they relate, each with the confidence and
//! provenance of the evidence behind it. Names are resolved here, against the
//! whole index: an import to the file it names, a call or a base class to the
//! definitions it can mean (the same file first, then what the file imports,
//! then any definition of that name).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde_json::{Value, json};

use super::extract::{CallStyle, Facts, Lang, Ref, SymKind};

/// Confidence of an edge read straight from syntax.
pub const EXTRACTED: f64 = 1.0;
/// Confidence of an edge resolved by name or naming convention.
pub const INFERRED: f64 = 0.6;
/// Confidence of an edge whose name fits several definitions.
pub const AMBIGUOUS: f64 = 0.3;

/// Method names so common in standard libraries that a call `x.name()` whose
/// receiver is unknown is not linked to the index's one `name` method.
const COMMON_METHODS: &[&str] = &[
    "get",
    "get_mut",
    "len",
    "is_empty",
    "insert",
    "remove",
    "push",
    "pop",
    "clone",
    "iter",
    "iter_mut",
    "into_iter",
    "map",
    "unwrap",
    "expect",
    "to_string",
    "to_owned",
    "into",
    "from",
    "as_ref",
    "as_str",
    "contains",
    "join",
    "split",
    "append",
    "extend",
    "keys",
    "values",
    "items",
    "update",
    "read",
    "write",
    "close",
    "open",
    "send",
    "recv",
    "lock",
    "next",
    "collect",
    "default",
    "parse",
    "find",
    "filter",
    "format",
    "copy",
    "add",
    "run",
    "start",
    "stop",
    "wait",
    "clear",
    "sort",
    "count",
    "strip",
    "lower",
    "upper",
    "encode",
    "decode",
    "load",
    "dump",
    "setdefault",
    "startswith",
    "endswith",
    "replace",
    "trim",
    "lines",
    "chars",
    "bytes",
    "new",
];

/// Most definitions one ambiguous name is linked to.
const MAX_CANDIDATES: usize = 5;

/// How two nodes relate, in the order results rank them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Relation {
    /// A file defines a symbol.
    Defines,
    /// A file imports a file or one of its symbols.
    Imports,
    /// A symbol (or a file at module level) calls a symbol.
    CallsSyntax,
    /// A test file or test function exercises a file or symbol.
    Tests,
    /// A Markdown file links to a file.
    Mentions,
    /// A class derives from a class.
    InheritsSyntax,
    /// A symbol encloses a symbol.
    Contains,
}

impl Relation {
    /// Every relation.
    pub const ALL: [Self; 7] = [
        Self::Defines,
        Self::Imports,
        Self::CallsSyntax,
        Self::Tests,
        Self::Mentions,
        Self::InheritsSyntax,
        Self::Contains,
    ];

    /// Its name in requests and results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Defines => "defines",
            Self::Imports => "imports",
            Self::CallsSyntax => "calls_syntax",
            Self::Tests => "tests",
            Self::Mentions => "mentions",
            Self::InheritsSyntax => "inherits_syntax",
            Self::Contains => "contains",
        }
    }

    /// The relation of a name, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A node: a file or a symbol.
#[derive(Debug, Clone)]
pub struct Node {
    /// `file:<path>` or `sym:<path>#<qualname>`.
    pub id: String,
    /// `file` or the symbol's kind.
    pub kind: &'static str,
    /// The path, or the symbol's qualified name.
    pub label: String,
    /// The file it is in.
    pub path: String,
    /// First line (0 for a file).
    pub line: u32,
}

/// An edge between two nodes.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Source node index.
    pub from: u32,
    /// Target node index.
    pub to: u32,
    /// How they relate.
    pub relation: Relation,
    /// The file holding the evidence.
    pub path: String,
    /// Line of the evidence.
    pub line: u32,
    /// How sure the edge is.
    pub confidence: f64,
    /// Why, in a few words.
    pub reason: &'static str,
}

impl Edge {
    fn provenance(&self) -> &'static str {
        if self.confidence >= EXTRACTED {
            "extracted"
        } else if self.confidence >= INFERRED {
            "inferred"
        } else {
            "ambiguous"
        }
    }

    fn evidence_id(&self) -> String {
        format!("{}:{}:{}", self.relation.name(), self.path, self.line)
    }
}

/// The whole graph.
#[derive(Debug, Default)]
pub struct Graph {
    /// Every node.
    pub nodes: Vec<Node>,
    /// Every edge.
    pub edges: Vec<Edge>,
    by_id: HashMap<String, u32>,
    out: Vec<Vec<u32>>,
    inn: Vec<Vec<u32>>,
    /// Symbol nodes by qualified name.
    by_qualname: HashMap<String, Vec<u32>>,
    /// Symbol nodes by last name.
    by_name: HashMap<String, Vec<u32>>,
}

/// A file is a test by its name: `test_*.py`, `*_test.py`, `conftest.py`, or
/// anything under a `tests`/`test` directory.
pub fn is_test_path(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.starts_with("test_")
        || file.ends_with("_test.py")
        || file == "conftest.py"
        || path
            .split('/')
            .rev()
            .skip(1)
            .any(|d| d == "tests" || d == "test")
}

/// What a path is for: `test`, `docs`, `config`, `generated` or `source`.
pub fn role_of(path: &str) -> &'static str {
    let file = path.rsplit('/').next().unwrap_or(path);
    if is_test_path(path) {
        "test"
    } else if Lang::of(path) == Some(Lang::Markdown)
        || path.starts_with("docs/")
        || path.contains("/docs/")
    {
        "docs"
    } else if file.ends_with("_pb2.py") || file.contains(".generated.") || path.contains("/gen/") {
        "generated"
    } else if matches!(
        file,
        "setup.py" | "conftest.py" | "noxfile.py" | "fabfile.py"
    ) {
        "config"
    } else {
        "source"
    }
}

/// The module path of a source file: `a/b/c.py` → `a.b.c`, `a/b/__init__.py` →
/// `a.b`; `a/b/c.rs` → `a.b.c`, `a/b/mod.rs`, `a/b/lib.rs` and `a/b/main.rs` → `a.b`.
fn module_of(path: &str) -> Option<String> {
    let stem = if let Some(stem) = path.strip_suffix(".rs") {
        ["/mod", "/lib", "/main"]
            .iter()
            .find_map(|s| stem.strip_suffix(s))
            .unwrap_or(stem)
    } else {
        let stem = path
            .strip_suffix(".py")
            .or_else(|| path.strip_suffix(".pyi"))?;
        stem.strip_suffix("/__init__").unwrap_or(stem)
    };
    if matches!(stem, "__init__" | "mod" | "lib" | "main") {
        return None;
    }
    Some(stem.replace('/', "."))
}

/// Where a file's relative imports start (`level` 1): a Python file's package
/// (its directory); a Rust file's own module (`self::`), whose children are
/// the directory named after it (`a/b.rs` → `a.b`; `a/mod.rs` → `a`).
fn package_of(path: &str) -> String {
    if path.ends_with(".rs") {
        return module_of(path).unwrap_or_default();
    }
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    dir.replace('/', ".")
}

/// A node that belongs to the tests: in a test file, or a Rust item inside a
/// `tests` module.
fn is_test_node(node: &Node) -> bool {
    is_test_path(&node.path) || (node.kind != "file" && node.label.split('.').any(|s| s == "tests"))
}

impl Graph {
    /// Builds the graph of `files` (path → facts).
    pub fn build(files: &BTreeMap<String, Facts>) -> Self {
        let mut g = Self::default();
        // Files and their symbols.
        let mut sym_base: HashMap<&str, u32> = HashMap::new();
        for (path, facts) in files {
            let file = g.add_node(Node {
                id: format!("file:{path}"),
                kind: "file",
                label: path.clone(),
                path: path.clone(),
                line: 0,
            });
            sym_base.insert(path, g.nodes.len() as u32);
            for sym in &facts.symbols {
                let node = g.add_node(Node {
                    id: format!("sym:{path}#{}", sym.qualname),
                    kind: sym.kind.name(),
                    label: sym.qualname.clone(),
                    path: path.clone(),
                    line: sym.line,
                });
                g.by_qualname
                    .entry(sym.qualname.clone())
                    .or_default()
                    .push(node);
                g.by_name
                    .entry(sym.name().to_string())
                    .or_default()
                    .push(node);
                let _ = file;
            }
        }
        // Modules (suffixes too, for `src/` layouts: `src/pkg/m.py` is `pkg.m`).
        // A Rust file under `<crate>/src/` is also `<crate>.…` (how other crates
        // and integration tests name it: `use mycrate::store`).
        let mut modules: HashMap<String, Vec<&str>> = HashMap::new();
        for path in files.keys() {
            let Some(module) = module_of(path) else {
                continue;
            };
            let mut names = vec![module.clone()];
            if path.ends_with(".rs")
                && let Some(i) = module.split('.').position(|s| s == "src")
                && i > 0
            {
                let parts: Vec<&str> = module.split('.').collect();
                let crate_name = parts[i - 1].replace('-', "_");
                let rest = &parts[i + 1..];
                names.push(
                    std::iter::once(crate_name.as_str())
                        .chain(rest.iter().copied())
                        .collect::<Vec<_>>()
                        .join("."),
                );
            }
            let mut seen = HashSet::new();
            for name in names {
                let parts: Vec<&str> = name.split('.').collect();
                for start in 0..parts.len() {
                    let key = parts[start..].join(".");
                    if seen.insert(key.clone()) {
                        modules.entry(key).or_default().push(path);
                    }
                }
            }
        }
        let mut edges = Vec::new();
        for (path, facts) in files {
            let lang = Lang::of(path);
            let file = g.by_id[&format!("file:{path}")];
            let base = sym_base[path.as_str()];
            let sym = |i: u32| base + i;
            let test_file = is_test_path(path);
            for (i, s) in facts.symbols.iter().enumerate() {
                let node = sym(i as u32);
                edges.push(edge(
                    file,
                    node,
                    Relation::Defines,
                    path,
                    s.line,
                    EXTRACTED,
                    "definition",
                ));
                if let Some(p) = s.parent {
                    edges.push(edge(
                        sym(p),
                        node,
                        Relation::Contains,
                        path,
                        s.line,
                        EXTRACTED,
                        "nested definition",
                    ));
                }
            }
            // Names this file imports: name → the files or symbols they resolve to.
            let mut imported: HashMap<&str, Vec<u32>> = HashMap::new();
            // Modules this file names by one identifier (`import store`,
            // `from pkg import store`), for `store.f(…)`: name → their files.
            let mut module_alias: HashMap<&str, Vec<&str>> = HashMap::new();
            for r in &facts.refs {
                match r {
                    Ref::Import {
                        module,
                        level,
                        names,
                        line,
                    } => {
                        let full = if *level > 0 {
                            let mut pkg: Vec<String> = package_of(path)
                                .split('.')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect();
                            for _ in 1..*level {
                                pkg.pop();
                            }
                            if !module.is_empty() {
                                pkg.push(module.clone());
                            }
                            pkg.join(".")
                        } else {
                            module.clone()
                        };
                        let exact = lang == Some(Lang::Python)
                            && (files.contains_key(&format!("{}.py", full.replace('.', "/")))
                                || files.contains_key(&format!(
                                    "{}/__init__.py",
                                    full.replace('.', "/")
                                )));
                        let mut targets: Vec<&str> =
                            modules.get(&full).cloned().unwrap_or_default();
                        // `use mycrate::store`: the first segment names a crate, maybe this one.
                        if targets.is_empty()
                            && lang == Some(Lang::Rust)
                            && *level == 0
                            && let Some((first, rest)) = full.split_once('.')
                            && !matches!(first, "std" | "core" | "alloc")
                        {
                            targets = modules.get(rest).cloned().unwrap_or_default();
                        }
                        if names.is_empty() && *level == 0 && !module.contains('.') {
                            module_alias
                                .entry(module.as_str())
                                .or_default()
                                .extend(targets.iter().copied());
                        }
                        let confidence = if exact && targets.len() == 1 {
                            EXTRACTED
                        } else if targets.len() == 1 {
                            INFERRED
                        } else {
                            AMBIGUOUS
                        };
                        for t in targets.iter().take(MAX_CANDIDATES) {
                            let tf = g.by_id[&format!("file:{t}")];
                            if tf != file {
                                edges.push(edge(
                                    file,
                                    tf,
                                    Relation::Imports,
                                    path,
                                    *line,
                                    confidence,
                                    "import statement",
                                ));
                                if test_file && !is_test_path(t) {
                                    edges.push(edge(
                                        file,
                                        tf,
                                        Relation::Tests,
                                        path,
                                        *line,
                                        INFERRED,
                                        "test imports it",
                                    ));
                                }
                            }
                            // `use module::*` / `from module import *`: every top-level name.
                            if names.is_empty() && (*level > 0 || lang == Some(Lang::Rust)) {
                                for node in g.top_levels(t, files) {
                                    let name = g.nodes[node as usize].label.as_str();
                                    imported.entry(name).or_default().push(node);
                                }
                            }
                            for name in names {
                                if let Some(node) = g.top_level(t, name, files) {
                                    edges.push(edge(
                                        file,
                                        node,
                                        Relation::Imports,
                                        path,
                                        *line,
                                        confidence,
                                        "imported name",
                                    ));
                                    imported.entry(name).or_default().push(node);
                                }
                            }
                        }
                        // `from pkg import module`
                        for name in names {
                            if let Some(sub) = modules.get(&format!("{full}.{name}")) {
                                module_alias
                                    .entry(name.as_str())
                                    .or_default()
                                    .extend(sub.iter().copied());
                                for t in sub.iter().take(MAX_CANDIDATES) {
                                    let tf = g.by_id[&format!("file:{t}")];
                                    edges.push(edge(
                                        file,
                                        tf,
                                        Relation::Imports,
                                        path,
                                        *line,
                                        confidence.min(INFERRED),
                                        "imported module",
                                    ));
                                }
                            }
                        }
                    }
                    Ref::Link { target, line } => {
                        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                        let joined = if let Some(abs) = target.strip_prefix('/') {
                            abs.to_string()
                        } else if dir.is_empty() {
                            target.clone()
                        } else {
                            format!("{dir}/{target}")
                        };
                        if let Some(norm) = normalize(&joined)
                            && let Some(&tf) = g.by_id.get(&format!("file:{norm}"))
                        {
                            edges.push(edge(
                                file,
                                tf,
                                Relation::Mentions,
                                path,
                                *line,
                                EXTRACTED,
                                "markdown link",
                            ));
                        }
                    }
                    _ => {}
                }
            }
            for r in &facts.refs {
                let (from, name, qualifier, style, line, relation) = match r {
                    Ref::Call {
                        from,
                        callee,
                        qualifier,
                        style,
                        line,
                    } => (
                        from.map_or(file, sym),
                        callee.as_str(),
                        qualifier.as_deref(),
                        *style,
                        *line,
                        Relation::CallsSyntax,
                    ),
                    Ref::Inherits { from, base, line } => (
                        sym(*from),
                        base.as_str(),
                        None,
                        CallStyle::Plain,
                        *line,
                        Relation::InheritsSyntax,
                    ),
                    _ => continue,
                };
                // What the name can mean: a definition of a fitting kind in a file
                // of the same language.
                let kinds: &[SymKind] = match (relation, style) {
                    (Relation::InheritsSyntax, _) => &[SymKind::Class, SymKind::Trait],
                    (_, CallStyle::Macro) => &[SymKind::Macro],
                    (_, CallStyle::Method) => &[SymKind::Method, SymKind::Function],
                    (_, CallStyle::Plain) if qualifier.is_some() => {
                        &[SymKind::Function, SymKind::Method, SymKind::Struct]
                    }
                    (_, CallStyle::Plain) => &[SymKind::Class, SymKind::Function, SymKind::Struct],
                };
                let wanted = |n: &u32| {
                    let node = &g.nodes[*n as usize];
                    kinds.iter().any(|k| k.name() == node.kind) && Lang::of(&node.path) == lang
                };
                // `Type::f(…)`: the definition of `Type.f`, wherever it is; `module.f(…)`
                // of an imported module: its top-level `f`.
                let mut qualified: Vec<u32> = qualifier
                    .and_then(|q| g.by_qualname.get(&format!("{q}.{name}")))
                    .map(|v| v.iter().copied().filter(wanted).collect())
                    .unwrap_or_default();
                if let Some(modules) = qualifier.and_then(|q| module_alias.get(q)) {
                    qualified.extend(
                        modules
                            .iter()
                            .filter_map(|m| g.top_level(m, name, files))
                            .filter(|n| {
                                let kind = g.nodes[*n as usize].kind;
                                kind == SymKind::Function.name() || kind == SymKind::Class.name()
                            }),
                    );
                }
                if qualified.iter().any(|n| g.nodes[*n as usize].path == *path) {
                    qualified.retain(|n| g.nodes[*n as usize].path == *path);
                }
                // A `Type::f` whose type the index does not define (`String::new`), or
                // `module.f` of an imported module it does not hold (`json.dumps`),
                // says nothing about the index's `f`s; Rust's `module::f` still names an `f`.
                let foreign_type = qualified.is_empty()
                    && qualifier.is_some_and(|q| {
                        q.starts_with(char::is_uppercase) || module_alias.contains_key(q)
                    });
                let local: Vec<u32> = g
                    .by_name
                    .get(name)
                    .map(|v| {
                        v.iter()
                            .copied()
                            .filter(|n| g.nodes[*n as usize].path == *path)
                            .filter(wanted)
                            .collect()
                    })
                    .unwrap_or_default();
                let (targets, confidence, reason) = if !qualified.is_empty() {
                    (qualified, INFERRED, "qualified name")
                } else if foreign_type {
                    continue;
                } else if !local.is_empty() {
                    (local, INFERRED, "same-file name")
                } else if let Some(v) = imported.get(name)
                    && style != CallStyle::Method
                {
                    (
                        v.iter().copied().filter(wanted).collect(),
                        INFERRED,
                        "imported name",
                    )
                } else if lang == Some(Lang::Rust) && style != CallStyle::Method {
                    // Rust names a function only through its own file or a `use`.
                    continue;
                } else if style == CallStyle::Method && COMMON_METHODS.contains(&name) {
                    // `x.get()`, `x.len()`: almost always the standard library's.
                    continue;
                } else {
                    let any: Vec<u32> = g
                        .by_name
                        .get(name)
                        .map(|v| v.iter().copied().filter(wanted).collect())
                        .unwrap_or_default();
                    // A method call's receiver type is unknown: never more than ambiguous.
                    let c = if any.len() == 1 && style != CallStyle::Method {
                        INFERRED
                    } else {
                        AMBIGUOUS
                    };
                    (any, c, "name elsewhere in the index")
                };
                if targets.len() > MAX_CANDIDATES {
                    continue;
                }
                let confidence = if targets.len() > 1 {
                    AMBIGUOUS
                } else {
                    confidence
                };
                for t in targets {
                    if t == from {
                        continue;
                    }
                    edges.push(edge(from, t, relation, path, line, confidence, reason));
                    if relation == Relation::CallsSyntax
                        && is_test_node(&g.nodes[from as usize])
                        && !is_test_node(&g.nodes[t as usize])
                    {
                        edges.push(edge(
                            from,
                            t,
                            Relation::Tests,
                            path,
                            line,
                            confidence,
                            "test calls it",
                        ));
                    }
                }
            }
        }
        // One edge per (from, to, relation): the most confident evidence.
        let mut best: HashMap<(u32, u32, Relation), usize> = HashMap::new();
        let mut kept: Vec<Edge> = Vec::new();
        for e in edges {
            match best.get(&(e.from, e.to, e.relation)) {
                Some(&i) if kept[i].confidence >= e.confidence => {}
                Some(&i) => kept[i] = e,
                None => {
                    best.insert((e.from, e.to, e.relation), kept.len());
                    kept.push(e);
                }
            }
        }
        g.out = vec![Vec::new(); g.nodes.len()];
        g.inn = vec![Vec::new(); g.nodes.len()];
        for (i, e) in kept.iter().enumerate() {
            g.out[e.from as usize].push(i as u32);
            g.inn[e.to as usize].push(i as u32);
        }
        g.edges = kept;
        g
    }

    fn add_node(&mut self, node: Node) -> u32 {
        let i = self.nodes.len() as u32;
        self.by_id.insert(node.id.clone(), i);
        self.nodes.push(node);
        i
    }

    /// The top-level symbols of the file `path`.
    fn top_levels(&self, path: &str, files: &BTreeMap<String, Facts>) -> Vec<u32> {
        let Some(facts) = files.get(path) else {
            return Vec::new();
        };
        let file = self.by_id[&format!("file:{path}")];
        facts
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, s)| s.parent.is_none())
            .map(|(i, _)| file + 1 + i as u32)
            .collect()
    }

    /// The top-level symbol `name` of the file `path`.
    fn top_level(&self, path: &str, name: &str, files: &BTreeMap<String, Facts>) -> Option<u32> {
        let facts = files.get(path)?;
        let i = facts
            .symbols
            .iter()
            .position(|s| s.parent.is_none() && s.qualname == name)?;
        let file = self.by_id[&format!("file:{path}")];
        Some(file + 1 + i as u32)
    }

    /// Resolves a target: a node id, a path, a qualified name (`Class.method`,
    /// or `path:Class.method`), or a bare name. Several matches: the first by path.
    pub fn resolve(&self, target: &str) -> Option<u32> {
        let target = target.trim();
        if let Some(&n) = self.by_id.get(target) {
            return Some(n);
        }
        let path = target.trim_start_matches("./");
        if let Some(&n) = self.by_id.get(&format!("file:{path}")) {
            return Some(n);
        }
        if let Some((p, q)) = path.split_once(':')
            && let Some(&n) = self.by_id.get(&format!("sym:{p}#{q}"))
        {
            return Some(n);
        }
        let first = |v: &Vec<u32>| {
            v.iter().copied().min_by(|a, b| {
                self.nodes[*a as usize]
                    .path
                    .cmp(&self.nodes[*b as usize].path)
            })
        };
        if let Some(v) = self.by_qualname.get(path) {
            return first(v);
        }
        // A module path: `pkg.mod` → its file; `pkg.mod.Class` → the symbol.
        let segments: Vec<&str> = path.split('.').collect();
        for cut in (1..=segments.len()).rev() {
            let module = segments[..cut].join("/");
            for candidate in [
                format!("file:{module}.py"),
                format!("file:{module}/__init__.py"),
            ] {
                if let Some(&f) = self.by_id.get(&candidate) {
                    if cut == segments.len() {
                        return Some(f);
                    }
                    let rest = segments[cut..].join(".");
                    let file = &self.nodes[f as usize].path;
                    if let Some(&n) = self.by_id.get(&format!("sym:{file}#{rest}")) {
                        return Some(n);
                    }
                }
            }
        }
        self.by_name.get(path).and_then(first)
    }

    fn edge_ok(&self, e: &Edge, relations: &[Relation]) -> bool {
        relations.is_empty() || relations.contains(&e.relation)
    }

    /// Edges around `n`: outgoing, incoming or both.
    fn adjacent<'a>(
        &'a self,
        n: u32,
        direction: Direction,
        relations: &'a [Relation],
    ) -> impl Iterator<Item = (u32, u32)> + 'a {
        let out = matches!(direction, Direction::Out | Direction::Both)
            .then(|| {
                self.out[n as usize]
                    .iter()
                    .map(|&e| (e, self.edges[e as usize].to))
            })
            .into_iter()
            .flatten();
        let inn = matches!(direction, Direction::In | Direction::Both)
            .then(|| {
                self.inn[n as usize]
                    .iter()
                    .map(|&e| (e, self.edges[e as usize].from))
            })
            .into_iter()
            .flatten();
        out.chain(inn)
            .filter(move |(e, _)| self.edge_ok(&self.edges[*e as usize], relations))
    }

    fn node_json(&self, n: u32, confidence: f64, provenance: &str) -> Value {
        let node = &self.nodes[n as usize];
        json!({
            "id": node.id,
            "kind": node.kind,
            "label": node.label,
            "path": node.path,
            "line": node.line,
            "confidence": confidence,
            "provenance": provenance,
            "evidence_ids": if node.kind == "file" { vec![] } else { vec![format!("defines:{}:{}", node.path, node.line)] },
        })
    }

    fn edge_json(&self, e: u32) -> Value {
        let edge = &self.edges[e as usize];
        json!({
            "source": self.nodes[edge.from as usize].id,
            "target": self.nodes[edge.to as usize].id,
            "relation": edge.relation.name(),
            "path": edge.path,
            "line": edge.line,
            "confidence": edge.confidence,
            "provenance": edge.provenance(),
            "reason": edge.reason,
            "evidence_id": edge.evidence_id(),
        })
    }

    /// Nodes reached from `start` within `depth` steps, with the edges used,
    /// in breadth-first order (each level ranked by relation, then confidence).
    fn reach(
        &self,
        start: &[u32],
        depth: u32,
        direction: Direction,
        relations: &[Relation],
    ) -> (Vec<u32>, Vec<u32>) {
        let mut seen: HashSet<u32> = start.iter().copied().collect();
        let mut nodes = Vec::new();
        let mut used = Vec::new();
        let mut used_set: HashSet<u32> = HashSet::new();
        let mut frontier: Vec<u32> = start.to_vec();
        for _ in 0..depth {
            let mut step: Vec<(u32, u32)> = frontier
                .iter()
                .flat_map(|&n| self.adjacent(n, direction, relations))
                .collect();
            step.sort_by(|a, b| {
                let (ea, eb) = (&self.edges[a.0 as usize], &self.edges[b.0 as usize]);
                ea.relation
                    .cmp(&eb.relation)
                    .then(eb.confidence.total_cmp(&ea.confidence))
                    .then(
                        self.nodes[a.1 as usize]
                            .id
                            .cmp(&self.nodes[b.1 as usize].id),
                    )
            });
            let mut next = Vec::new();
            for (e, n) in step {
                // A set beside the list: a walk over a hub meets tens of thousands of edges.
                if used_set.insert(e) {
                    used.push(e);
                }
                if seen.insert(n) {
                    nodes.push(n);
                    next.push(n);
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        (nodes, used)
    }

    /// Runs one query.
    pub fn query(&self, q: &Query) -> Answer {
        let mut answer = Answer::default();
        let target = if q.target.is_empty() {
            None
        } else {
            match self.resolve(&q.target) {
                Some(n) => Some(n),
                None => {
                    answer.missing.push("target_not_found".into());
                    answer.metadata.insert(
                        "hint".into(),
                        json!("Give a path (`pkg/mod.py`), a qualified name (`Class.method`, `pkg.mod.func`), a node id from an earlier result, or a bare name."),
                    );
                    return answer;
                }
            }
        };
        if let Some(t) = target {
            answer
                .metadata
                .insert("resolved_target".into(), json!(self.nodes[t as usize].id));
        }
        match q.kind {
            QueryKind::Neighbors => {
                let t = target.expect("checked");
                let (nodes, edges) = self.reach(&[t], q.depth, q.direction, &q.relations);
                answer.fill(self, nodes, edges, q.limit);
            }
            QueryKind::Path => {
                let t = target.expect("checked");
                let Some(b) = self.resolve(q.target_b.as_deref().unwrap_or_default()) else {
                    answer.missing.push("target_b_not_found".into());
                    return answer;
                };
                let paths = self.paths(t, b, q.depth, q.max_paths, &q.relations);
                if paths.is_empty() {
                    answer.missing.push("no_path_within_depth".into());
                }
                let mut nodes = Vec::new();
                let mut edges = Vec::new();
                for (p, es) in &paths {
                    for n in p {
                        if !nodes.contains(n) {
                            nodes.push(*n);
                        }
                    }
                    for e in es {
                        if !edges.contains(e) {
                            edges.push(*e);
                        }
                    }
                }
                answer.paths = paths
                    .iter()
                    .map(|(p, _)| {
                        p.iter()
                            .map(|n| self.nodes[*n as usize].id.clone())
                            .collect()
                    })
                    .collect();
                answer.fill(self, nodes, edges, q.limit);
            }
            QueryKind::Impact => {
                let t = target.expect("checked");
                let relations: Vec<Relation> = if q.relations.is_empty() {
                    impact_relations(q.change_kind).to_vec()
                } else {
                    q.relations.clone()
                };
                let start = self.with_definitions(t);
                let (nodes, edges) = self.reach(&start, q.depth.max(2), Direction::In, &relations);
                let own = &self.nodes[t as usize].path;
                let mut files: Vec<String> = nodes
                    .iter()
                    .map(|n| self.nodes[*n as usize].path.clone())
                    .filter(|p| p != own)
                    .collect();
                files.sort();
                files.dedup();
                answer.suggested = self.tests_of(&start, q.limit);
                answer.impacted_files = files;
                answer.fill(self, nodes, edges, q.limit);
            }
            QueryKind::Hubs => {
                let mut ranked: Vec<(f64, u32)> = (0..self.nodes.len() as u32)
                    .filter(|&n| {
                        let node = &self.nodes[n as usize];
                        q.scope_path.as_deref().is_none_or(|s| {
                            let s = s.trim_end_matches('/');
                            node.path == s || node.path.starts_with(&format!("{s}/"))
                        }) && q
                            .role
                            .as_deref()
                            .is_none_or(|r| r == "any" || role_of(&node.path) == r)
                    })
                    .map(|n| {
                        let score: f64 = self
                            .adjacent(n, Direction::Both, &q.relations)
                            .filter(|(e, _)| {
                                !matches!(
                                    self.edges[*e as usize].relation,
                                    Relation::Defines | Relation::Contains
                                )
                            })
                            .map(|(e, _)| self.edges[e as usize].confidence)
                            .sum();
                        (score, n)
                    })
                    .filter(|(s, _)| *s > 0.0)
                    .collect();
                ranked.sort_by(|a, b| {
                    b.0.total_cmp(&a.0).then(
                        self.nodes[a.1 as usize]
                            .id
                            .cmp(&self.nodes[b.1 as usize].id),
                    )
                });
                answer.truncated = ranked.len() > q.limit;
                ranked.truncate(q.limit);
                answer.nodes = ranked
                    .iter()
                    .map(|(score, n)| {
                        let mut v = self.node_json(*n, 1.0, "degree");
                        v["score"] = json!((score * 100.0).round() / 100.0);
                        v
                    })
                    .collect();
                answer.confidence = if ranked.is_empty() { 0.0 } else { EXTRACTED };
                answer.provenance = "degree".into();
            }
            QueryKind::Tests => {
                let t = target.expect("checked");
                let start = self.with_definitions(t);
                answer.suggested = self.tests_of(&start, q.limit);
                let (nodes, edges) = self.reach(&start, 1, Direction::In, &[Relation::Tests]);
                if answer.suggested.is_empty() {
                    answer.missing.push("no_tests_found".into());
                }
                answer.fill(self, nodes, edges, q.limit);
            }
        }
        answer
    }

    /// `n`, and when it is a file, every symbol it defines: a file's change
    /// reaches what uses its symbols, and its tests are those of its symbols.
    fn with_definitions(&self, n: u32) -> Vec<u32> {
        let mut start = vec![n];
        if self.nodes[n as usize].kind == "file" {
            start.extend(self.out[n as usize].iter().filter_map(|&e| {
                let e = &self.edges[e as usize];
                (e.relation == Relation::Defines).then_some(e.to)
            }));
        }
        start
    }

    /// Test nodes that reach any of `start` through test, call or import edges
    /// (two steps), most confident first.
    fn tests_of(&self, start: &[u32], limit: usize) -> Vec<Value> {
        let relations = [Relation::Tests, Relation::CallsSyntax, Relation::Imports];
        // A test's confidence is its path's weakest edge, halved when the path goes
        // through something else first (a test of a caller tests the target less surely).
        let mut best: BTreeMap<u32, f64> = BTreeMap::new();
        let mut via: BTreeMap<u32, f64> = BTreeMap::new();
        for &s in start {
            for (e, n) in self.adjacent(s, Direction::In, &relations) {
                let c = self.edges[e as usize].confidence;
                let slot = if is_test_node(&self.nodes[n as usize]) {
                    best.entry(n).or_default()
                } else if start.contains(&n) {
                    continue;
                } else {
                    via.entry(n).or_default()
                };
                *slot = slot.max(c);
            }
        }
        for (&mid, &c1) in &via {
            for (e, n) in self.adjacent(mid, Direction::In, &relations) {
                if is_test_node(&self.nodes[n as usize]) {
                    let c = c1.min(self.edges[e as usize].confidence) * 0.5;
                    let slot = best.entry(n).or_default();
                    *slot = slot.max(c);
                }
            }
        }
        let mut ranked: Vec<(u32, f64)> = best.into_iter().collect();
        ranked.sort_by(|a, b| {
            b.1.total_cmp(&a.1).then(
                self.nodes[a.0 as usize]
                    .id
                    .cmp(&self.nodes[b.0 as usize].id),
            )
        });
        ranked.truncate(limit);
        ranked
            .into_iter()
            .map(|(n, c)| {
                self.node_json(
                    n,
                    c,
                    if c >= EXTRACTED {
                        "extracted"
                    } else {
                        "inferred"
                    },
                )
            })
            .collect()
    }

    /// Up to `max` shortest paths from `a` to `b` of at most `depth` edges,
    /// following edges either way.
    fn paths(
        &self,
        a: u32,
        b: u32,
        depth: u32,
        max: usize,
        relations: &[Relation],
    ) -> Vec<(Vec<u32>, Vec<u32>)> {
        if a == b {
            return vec![(vec![a], vec![])];
        }
        // Breadth first, remembering every predecessor at the shortest distance.
        let mut dist: HashMap<u32, u32> = HashMap::from([(a, 0)]);
        let mut preds: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
        let mut queue = VecDeque::from([a]);
        while let Some(n) = queue.pop_front() {
            let d = dist[&n];
            if d >= depth || dist.get(&b).is_some_and(|&db| d >= db) {
                continue;
            }
            for (e, m) in self.adjacent(n, Direction::Both, relations) {
                match dist.get(&m) {
                    None => {
                        dist.insert(m, d + 1);
                        preds.entry(m).or_default().push((n, e));
                        queue.push_back(m);
                    }
                    Some(&dm) if dm == d + 1 => preds.entry(m).or_default().push((n, e)),
                    _ => {}
                }
            }
        }
        if !dist.contains_key(&b) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut stack: Vec<(Vec<u32>, Vec<u32>)> = vec![(vec![b], vec![])];
        while let Some((nodes, edges)) = stack.pop() {
            if out.len() >= max {
                break;
            }
            let head = *nodes.last().expect("non-empty");
            if head == a {
                let mut n = nodes.clone();
                n.reverse();
                let mut e = edges.clone();
                e.reverse();
                out.push((n, e));
                continue;
            }
            let mut ps = preds.get(&head).cloned().unwrap_or_default();
            ps.sort_by(|x, y| {
                self.edges[y.1 as usize]
                    .confidence
                    .total_cmp(&self.edges[x.1 as usize].confidence)
            });
            for (p, e) in ps.into_iter().rev() {
                let mut n = nodes.clone();
                n.push(p);
                let mut es = edges.clone();
                es.push(e);
                stack.push((n, es));
            }
        }
        out
    }
}

fn impact_relations(kind: ChangeKind) -> &'static [Relation] {
    use Relation::*;
    match kind {
        ChangeKind::Rename => &[Imports, CallsSyntax, Tests, Mentions, InheritsSyntax],
        ChangeKind::Signature => &[CallsSyntax, Tests, InheritsSyntax],
        ChangeKind::Behavior => &[Imports, CallsSyntax, Tests, InheritsSyntax],
        ChangeKind::Delete => &[
            Contains,
            Imports,
            CallsSyntax,
            Tests,
            Mentions,
            InheritsSyntax,
        ],
        ChangeKind::Unknown => &[Contains, Imports, CallsSyntax, Tests, InheritsSyntax],
    }
}

fn edge(
    from: u32,
    to: u32,
    relation: Relation,
    path: &str,
    line: u32,
    confidence: f64,
    reason: &'static str,
) -> Edge {
    Edge {
        from,
        to,
        relation,
        path: path.to_string(),
        line,
        confidence,
        reason,
    }
}

/// Resolves `.` and `..` in a relative path; `None` when it climbs out.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// Which way a walk follows edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From source to target.
    Out,
    /// From target to source.
    In,
    /// Both.
    Both,
}

/// What kind of change an impact query asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A rename.
    Rename,
    /// A signature change.
    Signature,
    /// A behaviour change.
    Behavior,
    /// A deletion.
    Delete,
    /// Not said.
    Unknown,
}

/// The query kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// Nodes around the target.
    Neighbors,
    /// Shortest paths between two targets.
    Path,
    /// What a change of the target may affect.
    Impact,
    /// The most connected nodes.
    Hubs,
    /// Tests that exercise the target.
    Tests,
}

/// One validated query.
#[derive(Debug, Clone)]
pub struct Query {
    /// Which.
    pub kind: QueryKind,
    /// The target (empty for hubs without one).
    pub target: String,
    /// The other end of a path.
    pub target_b: Option<String>,
    /// Relations to follow (empty: all).
    pub relations: Vec<Relation>,
    /// Result cap.
    pub limit: usize,
    /// Neighbors' direction.
    pub direction: Direction,
    /// Steps.
    pub depth: u32,
    /// Paths returned.
    pub max_paths: usize,
    /// Impact mode.
    pub change_kind: ChangeKind,
    /// Hubs' path prefix.
    pub scope_path: Option<String>,
    /// Hubs' role filter.
    pub role: Option<String>,
}

/// A query's result before the index adds freshness.
#[derive(Debug, Default)]
pub struct Answer {
    /// Nodes, as JSON.
    pub nodes: Vec<Value>,
    /// Edges, as JSON.
    pub edges: Vec<Value>,
    /// Paths as node-id lists.
    pub paths: Vec<Vec<String>>,
    /// Files a change may affect.
    pub impacted_files: Vec<String>,
    /// Tests to run.
    pub suggested: Vec<Value>,
    /// Overall confidence.
    pub confidence: f64,
    /// Overall provenance.
    pub provenance: String,
    /// Evidence ids of the edges.
    pub evidence: Vec<String>,
    /// What the answer lacks.
    pub missing: Vec<String>,
    /// More than `limit` were found.
    pub truncated: bool,
    /// Extra facts.
    pub metadata: serde_json::Map<String, Value>,
}

impl Answer {
    fn fill(&mut self, g: &Graph, nodes: Vec<u32>, edges: Vec<u32>, limit: usize) {
        self.truncated |= nodes.len() > limit || edges.len() > limit * 4;
        let kept: HashSet<u32> = nodes.iter().copied().take(limit).collect();
        let edges: Vec<u32> = edges
            .into_iter()
            .filter(|e| {
                let edge = &g.edges[*e as usize];
                kept.contains(&edge.from) || kept.contains(&edge.to)
            })
            .take(limit * 4)
            .collect();
        // A node's confidence: the best edge that reached it.
        let mut conf: HashMap<u32, f64> = HashMap::new();
        for &e in &edges {
            let edge = &g.edges[e as usize];
            for n in [edge.from, edge.to] {
                let c = conf.entry(n).or_default();
                *c = c.max(edge.confidence);
            }
        }
        self.nodes = nodes
            .iter()
            .take(limit)
            .map(|n| {
                let c = conf.get(n).copied().unwrap_or(EXTRACTED);
                g.node_json(
                    *n,
                    c,
                    if c >= EXTRACTED {
                        "extracted"
                    } else {
                        "inferred"
                    },
                )
            })
            .collect();
        self.evidence = edges
            .iter()
            .map(|e| g.edges[*e as usize].evidence_id())
            .collect();
        self.evidence.dedup();
        let min = edges
            .iter()
            .map(|e| g.edges[*e as usize].confidence)
            .fold(f64::INFINITY, f64::min);
        self.confidence = if edges.is_empty() { 0.0 } else { min };
        self.provenance = if edges.is_empty() {
            "none".into()
        } else if edges
            .iter()
            .all(|e| g.edges[*e as usize].confidence >= EXTRACTED)
        {
            "extracted".into()
        } else {
            "inferred".into()
        };
        self.edges = edges.iter().map(|e| g.edge_json(*e)).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::super::extract::extract;
    use super::*;

    fn graph(files: &[(&str, &str)]) -> Graph {
        let map: BTreeMap<String, Facts> = files
            .iter()
            .map(|(p, t)| (p.to_string(), extract(Lang::of(p).expect("lang"), t)))
            .collect();
        Graph::build(&map)
    }

    fn query(kind: QueryKind, target: &str) -> Query {
        Query {
            kind,
            target: target.into(),
            target_b: None,
            relations: vec![],
            limit: 25,
            direction: Direction::Both,
            depth: 1,
            max_paths: 3,
            change_kind: ChangeKind::Unknown,
            scope_path: None,
            role: None,
        }
    }

    /// Whether the graph has an edge `a` → `b` of relation `r` (node ids).
    fn has_edge(g: &Graph, a: &str, b: &str, r: &str) -> bool {
        g.edges.iter().any(|e| {
            g.nodes[e.from as usize].id == a
                && g.nodes[e.to as usize].id == b
                && e.relation.name() == r
        })
    }

    fn ids(v: &[Value]) -> Vec<&str> {
        v.iter().map(|n| n["id"].as_str().expect("id")).collect()
    }

    fn sample() -> Graph {
        graph(&[
            ("pkg/__init__.py", ""),
            (
                "pkg/store.py",
                "class Base:\n    pass\n\nclass Store(Base):\n    def get(self, k):\n        return normalize(k)\n\ndef normalize(k):\n    return k.lower()\n",
            ),
            (
                "pkg/api.py",
                "from .store import Store\n\ndef handler(k):\n    return Store().get(k)\n",
            ),
            (
                "tests/test_store.py",
                "from pkg.store import Store\n\ndef test_get():\n    assert Store().get('A') == 'a'\n",
            ),
            ("README.md", "# Pkg\nSee [api](pkg/api.py).\n"),
        ])
    }

    #[test]
    fn imports_resolve_to_files_and_names_to_definitions() {
        let g = sample();
        let has = |a: &str, b: &str, r: &str| has_edge(&g, a, b, r);
        assert!(has("file:pkg/api.py", "file:pkg/store.py", "imports"));
        assert!(has("file:pkg/api.py", "sym:pkg/store.py#Store", "imports"));
        assert!(has(
            "sym:pkg/api.py#handler",
            "sym:pkg/store.py#Store",
            "calls_syntax"
        ));
        assert!(has(
            "sym:pkg/store.py#Store.get",
            "sym:pkg/store.py#normalize",
            "calls_syntax"
        ));
        assert!(has(
            "sym:pkg/store.py#Store",
            "sym:pkg/store.py#Base",
            "inherits_syntax"
        ));
        assert!(has(
            "sym:pkg/store.py#Store",
            "sym:pkg/store.py#Store.get",
            "contains"
        ));
        assert!(has(
            "file:tests/test_store.py",
            "file:pkg/store.py",
            "tests"
        ));
        assert!(has(
            "sym:tests/test_store.py#test_get",
            "sym:pkg/store.py#Store",
            "tests"
        ));
        assert!(has("file:README.md", "file:pkg/api.py", "mentions"));
        // The absolute import from a test resolves exactly.
        let imp = g
            .edges
            .iter()
            .find(|e| {
                g.nodes[e.from as usize].id == "file:tests/test_store.py"
                    && e.relation == Relation::Imports
            })
            .expect("import");
        assert_eq!(imp.confidence, EXTRACTED);
    }

    #[test]
    fn targets_resolve_by_id_path_qualified_module_and_bare_name() {
        let g = sample();
        let id = |n: Option<u32>| n.map(|n| g.nodes[n as usize].id.clone());
        assert_eq!(
            id(g.resolve("pkg/store.py")).as_deref(),
            Some("file:pkg/store.py")
        );
        assert_eq!(
            id(g.resolve("Store.get")).as_deref(),
            Some("sym:pkg/store.py#Store.get")
        );
        assert_eq!(
            id(g.resolve("pkg.store.Store")).as_deref(),
            Some("sym:pkg/store.py#Store")
        );
        assert_eq!(id(g.resolve("pkg.api")).as_deref(), Some("file:pkg/api.py"));
        assert_eq!(
            id(g.resolve("pkg/api.py:handler")).as_deref(),
            Some("sym:pkg/api.py#handler")
        );
        assert_eq!(
            id(g.resolve("normalize")).as_deref(),
            Some("sym:pkg/store.py#normalize")
        );
        assert_eq!(g.resolve("nothing_here"), None);
    }

    #[test]
    fn neighbors_follow_direction_and_relations() {
        let g = sample();
        let mut q = query(QueryKind::Neighbors, "normalize");
        q.direction = Direction::In;
        q.relations = vec![Relation::CallsSyntax];
        let a = g.query(&q);
        assert_eq!(ids(&a.nodes), vec!["sym:pkg/store.py#Store.get"]);
        assert_eq!(a.edges.len(), 1);
        assert_eq!(a.edges[0]["relation"], "calls_syntax");
        assert!(a.missing.is_empty());
    }

    #[test]
    fn impact_of_a_method_reaches_callers_and_their_tests() {
        let g = sample();
        let a = g.query(&query(QueryKind::Impact, "Store.get"));
        assert!(
            a.impacted_files.contains(&"pkg/api.py".to_string()),
            "{:?}",
            a.impacted_files
        );
        assert!(
            a.impacted_files
                .contains(&"tests/test_store.py".to_string())
        );
        assert!(
            ids(&a.suggested).contains(&"sym:tests/test_store.py#test_get"),
            "{:?}",
            a.suggested
        );
    }

    #[test]
    fn tests_query_names_the_test_function_and_file() {
        let g = sample();
        let a = g.query(&query(QueryKind::Tests, "pkg/store.py"));
        let found = ids(&a.suggested);
        assert!(
            found.contains(&"sym:tests/test_store.py#test_get"),
            "{found:?}"
        );
        assert!(found.contains(&"file:tests/test_store.py"), "{found:?}");
        let none = g.query(&query(QueryKind::Tests, "README.md"));
        assert_eq!(none.missing, vec!["no_tests_found".to_string()]);
    }

    #[test]
    fn path_finds_the_shortest_chain() {
        let g = sample();
        let mut q = query(QueryKind::Path, "handler");
        q.target_b = Some("normalize".into());
        q.depth = 4;
        let a = g.query(&q);
        assert_eq!(
            a.paths[0],
            vec![
                "sym:pkg/api.py#handler",
                "sym:pkg/store.py#Store.get",
                "sym:pkg/store.py#normalize"
            ]
        );
        q.depth = 1;
        assert_eq!(
            g.query(&q).missing,
            vec!["no_path_within_depth".to_string()]
        );
    }

    #[test]
    fn hubs_rank_by_connections_within_scope_and_role() {
        let g = sample();
        let mut q = query(QueryKind::Hubs, "");
        q.limit = 3;
        let a = g.query(&q);
        assert_eq!(a.nodes[0]["id"], "sym:pkg/store.py#Store");
        q.role = Some("test".into());
        let t = g.query(&q);
        assert!(
            ids(&t.nodes).iter().all(|id| id.contains("tests/")),
            "{:?}",
            t.nodes
        );
        q.role = None;
        q.scope_path = Some("README.md".into());
        assert_eq!(ids(&g.query(&q).nodes), vec!["file:README.md"]);
    }

    #[test]
    fn an_unknown_target_says_so() {
        let a = sample().query(&query(QueryKind::Neighbors, "Nope"));
        assert_eq!(a.missing, vec!["target_not_found".to_string()]);
        assert!(a.nodes.is_empty());
    }

    #[test]
    fn relative_links_climbing_out_are_dropped() {
        assert_eq!(normalize("a/../b/c.md").as_deref(), Some("b/c.md"));
        assert_eq!(normalize("../x.md"), None);
    }

    #[test]
    fn a_call_through_an_imported_module_reaches_its_function() {
        let g = graph(&[
            ("util/__init__.py", ""),
            (
                "util/helpers.py",
                "def clean(x):\n    return x\n\n\ndef get(x):\n    return x\n",
            ),
            ("other.py", "def clean(x):\n    return None\n"),
            (
                "app.py",
                "from util import helpers\n\n\ndef run(x):\n    return helpers.clean(x) + helpers.get(x)\n",
            ),
            (
                "tool.py",
                "import json\n\n\ndef dump(x):\n    return json.clean(x)\n",
            ),
        ]);
        let calls = |from: &str| -> Vec<(String, f64, &str)> {
            g.edges
                .iter()
                .filter(|e| {
                    g.nodes[e.from as usize].id == from && e.relation == Relation::CallsSyntax
                })
                .map(|e| (g.nodes[e.to as usize].id.clone(), e.confidence, e.reason))
                .collect()
        };
        // The module's own `clean`, not other.py's; even `get` (a name too common
        // to follow on an unknown receiver) is followed through the module.
        assert_eq!(
            calls("sym:app.py#run"),
            vec![
                (
                    "sym:util/helpers.py#clean".to_string(),
                    INFERRED,
                    "qualified name"
                ),
                (
                    "sym:util/helpers.py#get".to_string(),
                    INFERRED,
                    "qualified name"
                ),
            ]
        );
        // A module the index does not hold says nothing about the index's `clean`s.
        assert!(
            calls("sym:tool.py#dump")
                .iter()
                .all(|(to, c, _)| *c < INFERRED || !to.ends_with("#clean")),
            "{:?}",
            calls("sym:tool.py#dump")
        );
    }

    #[test]
    fn rust_modules_uses_paths_and_in_file_tests_resolve() {
        let g = graph(&[
            ("crates/a/src/lib.rs", "pub mod store;\npub mod api;\n"),
            (
                "crates/a/src/store.rs",
                "pub struct Store;\nimpl Store {\n    pub fn new() -> Self { Store }\n    pub fn get(&self) -> u8 { normalize(1) }\n}\npub fn normalize(x: u8) -> u8 { x }\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn gets() { Store::new().get(); }\n}\n",
            ),
            (
                "crates/a/src/api.rs",
                "use crate::store::Store;\npub fn handler() -> u8 { Store::new().get() }\n",
            ),
            (
                "crates/a/tests/it.rs",
                "use a::store::normalize;\n#[test]\nfn norm() { normalize(2); }\n",
            ),
        ]);
        let has = |a: &str, b: &str, r: &str| has_edge(&g, a, b, r);
        assert!(has(
            "file:crates/a/src/lib.rs",
            "file:crates/a/src/store.rs",
            "imports"
        ));
        assert!(has(
            "file:crates/a/src/api.rs",
            "file:crates/a/src/store.rs",
            "imports"
        ));
        assert!(has(
            "file:crates/a/src/api.rs",
            "sym:crates/a/src/store.rs#Store",
            "imports"
        ));
        assert!(has(
            "sym:crates/a/src/api.rs#handler",
            "sym:crates/a/src/store.rs#Store.new",
            "calls_syntax"
        ));
        assert!(has(
            "sym:crates/a/src/store.rs#Store",
            "sym:crates/a/src/store.rs#Store.get",
            "contains"
        ));
        assert!(has(
            "sym:crates/a/src/store.rs#tests.gets",
            "sym:crates/a/src/store.rs#Store.new",
            "tests"
        ));
        assert!(has(
            "file:crates/a/tests/it.rs",
            "file:crates/a/src/store.rs",
            "imports"
        ));
        assert!(has(
            "sym:crates/a/tests/it.rs#norm",
            "sym:crates/a/src/store.rs#normalize",
            "tests"
        ));
        let tests = g.query(&query(QueryKind::Tests, "crates/a/src/store.rs"));
        let found = ids(&tests.suggested);
        assert!(
            found.contains(&"sym:crates/a/src/store.rs#tests.gets"),
            "{found:?}"
        );
        assert!(
            found.contains(&"sym:crates/a/tests/it.rs#norm"),
            "{found:?}"
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// A link target resolves to a path inside the workspace or to nothing:
            /// never an absolute path, never a `..` or `.` segment, never empty segments.
            #[test]
            fn normalized_links_stay_inside(segments in prop::collection::vec(prop_oneof![Just(".."), Just("."), Just(""), Just("a"), Just("b.md"), Just("dir")], 0..10)) {
                let path = segments.join("/");
                if let Some(norm) = normalize(&path) {
                    prop_assert!(!norm.starts_with('/'));
                    prop_assert!(norm.split('/').all(|s| s != ".." && s != "."));
                    prop_assert!(norm.is_empty() || norm.split('/').all(|s| !s.is_empty()));
                    // Climbing never goes above the start: as many `..` as names before them.
                    let mut depth: i32 = 0;
                    for s in &segments {
                        match *s { ".." => depth -= 1, "" | "." => {}, _ => depth += 1 }
                        prop_assert!(depth >= 0);
                    }
                } else {
                    let mut depth: i32 = 0;
                    let mut climbed_out = false;
                    for s in &segments {
                        match *s { ".." => depth -= 1, "" | "." => {}, _ => depth += 1 }
                        climbed_out |= depth < 0;
                    }
                    prop_assert!(climbed_out);
                }
            }
        }
    }
}
