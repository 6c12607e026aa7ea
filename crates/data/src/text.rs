//! Language-model corpora in Mikolov's Penn Treebank format: `ptb.train.txt`, `ptb.valid.txt`,
//! `ptb.test.txt` in one directory, one sentence a line, `<unk>` already in the text. Every line
//! becomes its words plus `<eos>`; the vocabulary is the training set's (10,000 words for PTB).
//! Character level is an option: every character of a line (spaces as `_`) plus `<eos>`.
//!
//! A tiny synthetic corpus in the same format is compiled in for the default rnn search and the
//! tests ([`shipped_tiny_text`]); its generator sits beside it in `assets/text-tiny/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::DataError;

/// End-of-sentence token appended to every line.
pub const EOS: &str = "<eos>";

/// Word or character tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextLevel {
    #[default]
    Word,
    Char,
}

/// Token ↔ id. Ids are in order of first appearance in the training text (`<eos>` included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    words: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    pub fn len(&self) -> usize {
        self.words.len()
    }
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
    pub fn id(&self, w: &str) -> Option<u32> {
        self.ids.get(w).copied()
    }
    pub fn word(&self, id: u32) -> &str {
        &self.words[id as usize]
    }
    fn add(&mut self, w: &str) -> u32 {
        if let Some(&id) = self.ids.get(w) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(w.to_string());
        self.ids.insert(w.to_string(), id);
        id
    }
}

/// A tokenised corpus: the training vocabulary and the three streams of ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    pub vocab: Vocab,
    pub train: Vec<u32>,
    pub valid: Vec<u32>,
    pub test: Vec<u32>,
    pub level: TextLevel,
}

fn tokens(line: &str, level: TextLevel) -> Vec<String> {
    let mut t: Vec<String> = match level {
        TextLevel::Word => line.split_whitespace().map(str::to_string).collect(),
        TextLevel::Char => {
            line.trim().chars().map(|c| if c == ' ' { "_".to_string() } else { c.to_string() }).collect()
        }
    };
    t.push(EOS.to_string());
    t
}

/// Tokenise one file's text. With `vocab` open the vocabulary grows; closed, an unknown token is
/// an error naming the file, line and token.
fn tokenise(path: &Path, text: &str, level: TextLevel, vocab: &mut Vocab, open: bool) -> Result<Vec<u32>, DataError> {
    let mut ids = Vec::with_capacity(text.len() / 5);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        for t in tokens(line, level) {
            let id = if open {
                vocab.add(&t)
            } else {
                vocab.id(&t).ok_or_else(|| {
                    DataError::format(
                        path,
                        format!(
                            "line {}: token {t:?} is not in the training vocabulary (map rare words to <unk>)",
                            n + 1
                        ),
                    )
                })?
            };
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(DataError::format(path, "empty: no sentences"));
    }
    Ok(ids)
}

impl Corpus {
    /// Build a corpus from the three texts (`names` are shown in errors).
    pub fn from_texts(names: [&Path; 3], texts: [&str; 3], level: TextLevel) -> Result<Self, DataError> {
        let mut vocab = Vocab { words: Vec::new(), ids: HashMap::new() };
        vocab.add(EOS);
        let train = tokenise(names[0], texts[0], level, &mut vocab, true)?;
        let valid = tokenise(names[1], texts[1], level, &mut vocab, false)?;
        let test = tokenise(names[2], texts[2], level, &mut vocab, false)?;
        Ok(Corpus { vocab, train, valid, test, level })
    }

    /// Read `ptb.train.txt`, `ptb.valid.txt` and `ptb.test.txt` from `dir`.
    pub fn load_ptb(dir: &Path, level: TextLevel) -> Result<Self, DataError> {
        let paths: Vec<PathBuf> = ["train", "valid", "test"].iter().map(|s| dir.join(format!("ptb.{s}.txt"))).collect();
        let mut texts = Vec::with_capacity(3);
        for p in &paths {
            let bytes = std::fs::read(p).map_err(|e| DataError::io(p, e))?;
            texts.push(String::from_utf8(bytes).map_err(|e| DataError::format(p, format!("not UTF-8 text ({e})")))?);
        }
        Self::from_texts([&paths[0], &paths[1], &paths[2]], [&texts[0], &texts[1], &texts[2]], level)
    }
}

/// The tiny synthetic corpus compiled into the crate (2,000 / 250 / 250 sentences, 67 words).
pub fn shipped_tiny_text(level: TextLevel) -> Corpus {
    let names = ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"].map(Path::new);
    Corpus::from_texts(
        names,
        [
            include_str!("../assets/text-tiny/ptb.train.txt"),
            include_str!("../assets/text-tiny/ptb.valid.txt"),
            include_str!("../assets/text-tiny/ptb.test.txt"),
        ],
        level,
    )
    .expect("the shipped corpus is well-formed")
}

/// Which corpus, and where its files are. `--dataset ptb:DIR`, `ptb-char:DIR`, `text-tiny`; in
/// TOML `[text] kind = "ptb", dir = "…"`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TextSpec {
    /// Penn Treebank (Mikolov's files) from `dir`, word level.
    Ptb { dir: PathBuf },
    /// The same files, character level.
    PtbChar { dir: PathBuf },
    /// The tiny corpus shipped in the binary.
    #[default]
    TextTiny,
}

impl TextSpec {
    /// Parse a `--dataset` value naming a text corpus; `None` when it names something else.
    pub fn parse(s: &str) -> Option<Result<Self, String>> {
        let (name, dir) = s.split_once(':').map_or((s, None), |(n, d)| (n, Some(PathBuf::from(d))));
        let need = |dir: Option<PathBuf>| {
            dir.filter(|d| !d.as_os_str().is_empty())
                .ok_or_else(|| format!("--dataset {name} needs the directory holding ptb.train.txt: {name}:DIR"))
        };
        Some(match name {
            "ptb" => need(dir).map(|dir| TextSpec::Ptb { dir }),
            "ptb-char" => need(dir).map(|dir| TextSpec::PtbChar { dir }),
            "text-tiny" => Ok(TextSpec::TextTiny),
            _ => return None,
        })
    }

    /// Load the corpus, with a one-line description.
    pub fn load(&self) -> Result<(Corpus, String), DataError> {
        Ok(match self {
            TextSpec::Ptb { dir } => (Corpus::load_ptb(dir, TextLevel::Word)?, format!("PTB from {}", dir.display())),
            TextSpec::PtbChar { dir } => {
                (Corpus::load_ptb(dir, TextLevel::Char)?, format!("PTB characters from {}", dir.display()))
            }
            TextSpec::TextTiny => (shipped_tiny_text(TextLevel::Word), "the shipped tiny corpus".to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, train: &str, valid: &str, test: &str) {
        for (n, t) in [("train", train), ("valid", valid), ("test", test)] {
            std::fs::write(dir.join(format!("ptb.{n}.txt")), t).unwrap();
        }
    }

    #[test]
    fn words_and_eos() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), " a b <unk> \n b a \n", " b a \n", " a \n");
        let c = Corpus::load_ptb(d.path(), TextLevel::Word).unwrap();
        assert_eq!(c.vocab.len(), 4, "<eos>, a, b, <unk>");
        assert_eq!(c.train, vec![1, 2, 3, 0, 2, 1, 0]);
        assert_eq!(c.valid, vec![2, 1, 0]);
        assert_eq!(c.vocab.word(3), "<unk>");
    }

    #[test]
    fn characters() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), " ab a \n", " a \n", " b \n");
        let c = Corpus::load_ptb(d.path(), TextLevel::Char).unwrap();
        let words: Vec<&str> = c.train.iter().map(|&i| c.vocab.word(i)).collect();
        assert_eq!(words, ["a", "b", "_", "a", "<eos>"]);
    }

    #[test]
    fn errors_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        let e = Corpus::load_ptb(d.path(), TextLevel::Word).unwrap_err().to_string();
        assert!(e.contains("ptb.train.txt: no such file"), "{e}");
        write(d.path(), " a b \n", " a c \n", " a \n");
        let e = Corpus::load_ptb(d.path(), TextLevel::Word).unwrap_err().to_string();
        assert!(e.contains("ptb.valid.txt: line 1: token \"c\" is not in the training vocabulary"), "{e}");
        write(d.path(), " a b \n", " a \n", "\n\n");
        let e = Corpus::load_ptb(d.path(), TextLevel::Word).unwrap_err().to_string();
        assert!(e.contains("ptb.test.txt: empty"), "{e}");
        std::fs::write(d.path().join("ptb.train.txt"), [0xff, 0xfe]).unwrap();
        let e = Corpus::load_ptb(d.path(), TextLevel::Word).unwrap_err().to_string();
        assert!(e.contains("ptb.train.txt: not UTF-8"), "{e}");
    }

    #[test]
    fn shipped_corpus_and_specs() {
        let c = shipped_tiny_text(TextLevel::Word);
        assert_eq!(c.vocab.len(), 68, "67 words and <eos>");
        assert!(c.train.len() > 20_000);
        assert_eq!(TextSpec::parse("ptb:/x"), Some(Ok(TextSpec::Ptb { dir: "/x".into() })));
        assert!(TextSpec::parse("ptb").unwrap().unwrap_err().contains("ptb:DIR"));
        assert_eq!(TextSpec::parse("cifar10:/x"), None);
    }

    #[test]
    fn real_ptb_when_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ptb");
        if !dir.join("ptb.train.txt").exists() {
            eprintln!("skipping: no PTB copy at {}", dir.display());
            return;
        }
        let c = Corpus::load_ptb(&dir, TextLevel::Word).unwrap();
        assert_eq!(c.vocab.len(), 10_000);
        assert_eq!(c.train.len(), 887_521 + 42_068);
    }
}
