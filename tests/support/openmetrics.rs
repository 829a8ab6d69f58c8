//! An OpenMetrics text read back strictly, for the tests of the runtime's metrics:
//! included with `#[path]` where it is used.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

/// One scrape: every sample by name and labels (sorted), and the families declared.
#[derive(Debug)]
pub struct Scrape {
    pub samples: BTreeMap<(String, Vec<(String, String)>), f64>,
    /// Each family's `# TYPE`.
    pub types: BTreeMap<String, String>,
    /// The families with a `# HELP`.
    pub helped: BTreeSet<String>,
    /// Each family's `# UNIT`, when it has one.
    pub units: BTreeMap<String, String>,
    pub text: String,
}

impl Scrape {
    /// Parses `text`, refusing any line that is not a comment of the format or
    /// `name{label="value",...} value`, and a text that does not end with `# EOF`.
    pub fn parse(text: String) -> Self {
        let mut samples = BTreeMap::new();
        let mut types = BTreeMap::new();
        let mut helped = BTreeSet::new();
        let mut units = BTreeMap::new();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"# EOF"), "{text}");
        for line in &lines[..lines.len() - 1] {
            if let Some(comment) = line.strip_prefix("# ") {
                let mut parts = comment.splitn(3, ' ');
                let (kind, family, rest) = (
                    parts.next().unwrap(),
                    parts.next().unwrap_or_else(|| panic!("{line}")),
                    parts.next().unwrap_or_else(|| panic!("{line}")),
                );
                assert!(is_name(family), "{line}");
                match kind {
                    "TYPE" => {
                        types.insert(family.to_string(), rest.to_string());
                    }
                    "HELP" => {
                        assert!(!rest.is_empty(), "{line}");
                        helped.insert(family.to_string());
                    }
                    "UNIT" => {
                        units.insert(family.to_string(), rest.to_string());
                    }
                    _ => panic!("an unknown comment: {line}"),
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                    (name, labels(inner, line))
                }
                None => (series, Vec::new()),
            };
            assert!(is_name(name), "{line}");
            let key = (name.to_string(), labels);
            assert!(
                samples.insert(key, value).is_none(),
                "a sample twice: {line}"
            );
        }
        Self {
            samples,
            types,
            helped,
            units,
            text,
        }
    }

    /// The sample `name` with exactly `labels` (in any order); 0 when absent.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }

    /// The sample `name` with exactly `labels` (in any order), if there is one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        self.samples.get(&(name.to_string(), labels)).copied()
    }

    /// The samples of `name` whatever their labels.
    pub fn all(&self, name: &str) -> Vec<(&[(String, String)], f64)> {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, labels), value)| (labels.as_slice(), *value))
            .collect()
    }

    /// Every family is typed and explained, and every sample belongs to one.
    pub fn check_declarations(&self) {
        for family in self.types.keys() {
            assert!(self.helped.contains(family), "{family} has no HELP");
            assert!(family.starts_with("dji_ota_"), "{family}");
        }
        for (name, _) in self.samples.keys() {
            let family = self
                .types
                .keys()
                .filter(|f| name.starts_with(f.as_str()))
                .max_by_key(|f| f.len())
                .unwrap_or_else(|| panic!("{name} has no TYPE"));
            let suffix = &name[family.len()..];
            let allowed: &[&str] = match self.types[family].as_str() {
                "counter" => &["_total", "_created"],
                "gauge" => &[""],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                other => panic!("an unexpected type {other} of {family}"),
            };
            assert!(allowed.contains(&suffix), "{name} in {family}");
        }
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `k="v",k2="v2"` as sorted pairs (the values here have no quote or comma).
fn labels(inner: &str, line: &str) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = inner
        .split(',')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
            assert!(is_name(key), "{line}");
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{line}"));
            (key.to_string(), value.to_string())
        })
        .collect();
    labels.sort();
    labels
}
