//! A WordPiece vocabulary learned the way Hugging Face's `WordPieceTrainer` learns it (byte-pair
//! merges over words split into a first character and `##`-prefixed continuations, the most
//! frequent pair first), but the same for the same texts in every run. The `tokenizers`
//! trainer numbers continuation tokens in hash-map order and breaks ties between equally
//! frequent pairs by those numbers, so two runs on one corpus learned different tokens (`##ation`
//! in one, `##atio` in the other) and a model trained on them different embedding rows. Here
//! every number comes from sorted order, and ties go to the pair of smaller numbers, as there.

use crate::error::Result;
use rayon::prelude::*;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

type Pair = (u32, u32);

/// Counts of the words `split` makes of `texts`.
pub(crate) fn count_words<S, F>(texts: &[S], split: F) -> Result<BTreeMap<String, u64>>
where
    S: AsRef<str> + Sync,
    F: Fn(&str) -> Result<Vec<String>> + Sync,
{
    let counts = texts
        .par_iter()
        .map(|text| split(text.as_ref()))
        .try_fold(HashMap::<String, u64>::new, |mut counts, words| {
            for word in words? {
                *counts.entry(word).or_default() += 1;
            }
            Ok::<_, crate::Error>(counts)
        })
        .try_reduce(HashMap::new, |mut a, b| {
            for (word, n) in b {
                *a.entry(word).or_default() += n;
            }
            Ok::<_, crate::Error>(a)
        })?;
    Ok(counts.into_iter().collect())
}

/// The vocabulary (token → id): `specials` first, then the characters, then `##` + each
/// character seen after the first of a word, then merged tokens in the order they were learned,
/// until `vocab_size` tokens or no pair is left.
pub(crate) fn learn_vocab(words: &BTreeMap<String, u64>, specials: &[&str], vocab_size: usize) -> HashMap<String, u32> {
    let mut tokens: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
    let alphabet: std::collections::BTreeSet<char> = words.keys().flat_map(|w| w.chars()).collect();
    let continuations: std::collections::BTreeSet<char> = words.keys().flat_map(|w| w.chars().skip(1)).collect();
    tokens.extend(alphabet.iter().map(|c| c.to_string()));
    tokens.extend(continuations.iter().map(|c| format!("##{c}")));
    let mut ids: HashMap<String, u32> = HashMap::new();
    for (i, t) in tokens.iter().enumerate() {
        ids.entry(t.clone()).or_insert(i as u32);
    }

    let counts: Vec<i64> = words.values().map(|&n| n as i64).collect();
    let mut symbols: Vec<Vec<u32>> = words
        .keys()
        .map(|w| {
            w.chars()
                .enumerate()
                .map(|(i, c)| ids[&if i == 0 { c.to_string() } else { format!("##{c}") }])
                .collect()
        })
        .collect();

    let mut pair_counts: HashMap<Pair, i64> = HashMap::new();
    let mut holders: HashMap<Pair, HashSet<usize>> = HashMap::new();
    for (w, word) in symbols.iter().enumerate() {
        for pair in word.windows(2).map(|p| (p[0], p[1])) {
            *pair_counts.entry(pair).or_default() += counts[w];
            holders.entry(pair).or_default().insert(w);
        }
    }
    // Most frequent first; among equals, the smaller pair (lazy: stale entries are re-queued).
    let mut queue: BinaryHeap<(i64, Reverse<Pair>)> =
        pair_counts.iter().filter(|(_, &n)| n > 0).map(|(&p, &n)| (n, Reverse(p))).collect();

    while ids.len() < vocab_size {
        let Some((count, Reverse(pair))) = queue.pop() else { break };
        let current = pair_counts.get(&pair).copied().unwrap_or(0);
        if current != count {
            if current > 0 {
                queue.push((current, Reverse(pair)));
            }
            continue;
        }
        let (a, b) = (&tokens[pair.0 as usize], &tokens[pair.1 as usize]);
        let merged = format!("{a}{}", b.strip_prefix("##").unwrap_or(b));
        let new_id = match ids.get(&merged) {
            Some(&id) => id,
            None => {
                tokens.push(merged.clone());
                ids.insert(merged, tokens.len() as u32 - 1);
                tokens.len() as u32 - 1
            }
        };
        let mut holding: Vec<usize> = holders.remove(&pair).unwrap_or_default().into_iter().collect();
        holding.sort_unstable();
        let mut changed: HashSet<Pair> = HashSet::new();
        for w in holding {
            let word = &mut symbols[w];
            if !word.windows(2).any(|p| (p[0], p[1]) == pair) {
                continue;
            }
            for p in word.windows(2).map(|p| (p[0], p[1])) {
                *pair_counts.entry(p).or_default() -= counts[w];
                changed.insert(p);
            }
            *word = merge_pair(word, pair, new_id);
            for p in word.windows(2).map(|p| (p[0], p[1])) {
                *pair_counts.entry(p).or_default() += counts[w];
                holders.entry(p).or_default().insert(w);
                changed.insert(p);
            }
        }
        pair_counts.remove(&pair);
        for p in changed {
            match pair_counts.get(&p) {
                Some(&n) if n > 0 && p != pair => queue.push((n, Reverse(p))),
                _ => {}
            }
        }
    }
    ids
}

/// `word` with each occurrence of `pair`, left to right and not overlapping, made `id`.
fn merge_pair(word: &[u32], pair: Pair, id: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        if i + 1 < word.len() && (word[i], word[i + 1]) == pair {
            out.push(id);
            i += 2;
        } else {
            out.push(word[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(words: &[(&str, u64)]) -> BTreeMap<String, u64> {
        words.iter().map(|&(w, n)| (w.to_string(), n)).collect()
    }

    #[test]
    fn merges_the_most_frequent_pair_first_and_strips_the_continuation_prefix() {
        let words = counts(&[("hug", 10), ("pug", 5), ("pun", 12), ("bun", 4), ("hugs", 5)]);
        let vocab = learn_vocab(&words, &["[UNK]"], 100);
        // Alphabet b g h n p s u (ids 1..=7), continuations ##g ##n ##s ##u (8..=11).
        assert_eq!(vocab["b"], 1);
        assert_eq!(vocab["##u"], 11);
        // ("##u", "##g") is the commonest pair (20), then ("##u", "##n") (16).
        assert_eq!(vocab["##ug"], 12);
        assert_eq!(vocab["##un"], 13);
        assert!(vocab.contains_key("hug") && vocab.contains_key("hugs") && vocab.contains_key("pun"));
    }

    #[test]
    fn stops_at_the_vocabulary_size() {
        let words = counts(&[("hug", 10), ("pug", 5), ("pun", 12), ("bun", 4), ("hugs", 5)]);
        assert_eq!(learn_vocab(&words, &["[UNK]"], 14).len(), 14);
    }

    #[test]
    fn overlapping_pairs_merge_left_to_right() {
        assert_eq!(merge_pair(&[1, 1, 1], (1, 1), 9), vec![9, 1]);
        assert_eq!(merge_pair(&[1, 1, 1, 1], (1, 1), 9), vec![9, 9]);
        let vocab = learn_vocab(&counts(&[("aaaa", 3)]), &[], 100);
        assert!(vocab.contains_key("##aa") && !vocab.contains_key("##a##a"));
    }
}
