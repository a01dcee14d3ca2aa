//! Lists as they were before a change, kept to put them back: `moat apply`
//! loads a configuration's lists before its rules, so a refused ruleset or
//! a `--confirm` that times out must bring the lists back with the rules.

use serde::{Deserialize, Serialize};

use crate::entries::Entries;
use crate::kernel::{Blocklists, ListSpec, Source};
use crate::layout::Direction;
use crate::BlocklistError;

/// One list as it was, or that it did not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedList {
    /// The list's name.
    pub name: String,
    /// What it held; `None` when there was no such list.
    pub held: Option<SavedContents>,
}

/// What a list held: enough to load it again as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedContents {
    /// Where its addresses came from (a hand-made list when its comment
    /// does not say).
    pub source: Source,
    /// Its addresses.
    pub entries: Entries,
    /// Its exceptions.
    pub except: Entries,
    /// What it blocked.
    pub directions: Vec<Direction>,
}

impl Blocklists {
    /// Loads every saved list that existed again as it was, in one
    /// transaction. Lists that did not exist are left for
    /// [`Blocklists::remove_unsaved`], once no rule uses them.
    pub fn restore_saved(&mut self, saved: &[SavedList]) -> Result<(), BlocklistError> {
        let specs: Vec<ListSpec> = saved
            .iter()
            .filter_map(|list| {
                let held = list.held.as_ref()?;
                Some(ListSpec {
                    name: list.name.clone(),
                    source: held.source.clone(),
                    entries: held.entries.clone(),
                    except: Some(held.except.clone()),
                    directions: Some(held.directions.clone()),
                    allow_empty: true,
                })
            })
            .collect();
        if specs.is_empty() {
            return Ok(());
        }
        self.load(&specs).map(|_| ())
    }

    /// Removes the lists `saved` says did not exist and that exist now.
    pub fn remove_unsaved(&mut self, saved: &[SavedList]) -> Result<(), BlocklistError> {
        let present = self.names()?;
        let new: Vec<String> = saved
            .iter()
            .filter(|list| list.held.is_none() && present.contains(&list.name))
            .map(|list| list.name.clone())
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        self.unblock(&new)
    }
}

/// `earlier` with the lists of `later` it does not name: a change saved
/// before an earlier pending one names the older state of a list.
pub fn merge_saved(mut earlier: Vec<SavedList>, later: Vec<SavedList>) -> Vec<SavedList> {
    for list in later {
        if earlier.iter().all(|e| e.name != list.name) {
            earlier.push(list);
        }
    }
    earlier
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(name: &str, v4: Vec<(u32, u32)>) -> SavedList {
        SavedList {
            name: name.into(),
            held: Some(SavedContents {
                source: Source::Manual,
                entries: Entries {
                    v4,
                    v6: vec![(1, u128::MAX)],
                },
                except: Entries::default(),
                directions: vec![Direction::In, Direction::Out],
            }),
        }
    }

    #[test]
    fn saved_lists_read_back_as_written() {
        let lists = vec![
            saved("a", vec![(1, 2)]),
            SavedList {
                name: "b".into(),
                held: None,
            },
        ];
        let json = serde_json::to_string(&lists).unwrap();
        let back: Vec<SavedList> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, lists);
    }

    #[test]
    fn the_earlier_state_of_a_list_wins() {
        let merged = merge_saved(
            vec![saved("a", vec![(1, 1)])],
            vec![saved("a", vec![(2, 2)]), saved("c", vec![(3, 3)])],
        );
        let names: Vec<&str> = merged.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(merged[0], saved("a", vec![(1, 1)]));
    }
}
