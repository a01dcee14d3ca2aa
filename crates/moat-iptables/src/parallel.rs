//! Pure work on many items (reading rules back, writing their listing
//! lines) shared among the machine's cores when there is enough of it.

/// The fewest items worth a thread of their own.
const ITEMS_PER_THREAD: usize = 2_000;

/// `f` of every item, in order, on several threads when `items` is large
/// enough; the error is the first failing item's.
pub(crate) fn map_ordered<T: Sync, U: Send, E: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<U, E> + Sync,
) -> Result<Vec<U>, E> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / ITEMS_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let parts = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Result<Vec<U>, E>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Result<Vec<_>, E>>()
    })?;
    Ok(parts.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_reports_the_first_failure() {
        let items: Vec<u32> = (0..10_000).collect();
        let doubled = map_ordered(&items, |&i| Ok::<_, u32>(i * 2)).unwrap();
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        // Failures in several parts: the earliest item's error comes back.
        let failed = map_ordered(&items, |&i| if i % 3_000 == 2_999 { Err(i) } else { Ok(i) });
        assert_eq!(failed, Err(2_999));
        assert_eq!(
            map_ordered(&items[..3], |&i| Ok::<_, ()>(i)),
            Ok(vec![0, 1, 2])
        );
    }
}
