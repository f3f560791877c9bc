//! Text columns built straight from arrow string views, for the two places where marsad makes
//! millions of strings: parsing (every value is a view of the file's text) and code mapping
//! (every row repeats one of a few hundred codes). A string view is 16 bytes: a value of up to
//! 12 bytes is held in it, a longer one points into a shared buffer, so neither copies values
//! row by row.

use polars::prelude::*;
use polars_arrow::array::{Utf8ViewArray, View};
use polars_arrow::bitmap::{Bitmap, MutableBitmap};
use polars_arrow::datatypes::ArrowDataType;
use polars_buffer::Buffer;

/// A text column of `views` over `buffers`.
///
/// # Safety
/// Every view longer than `View::MAX_INLINE_SIZE` must point, by its buffer index and offset,
/// at its own bytes in `buffers`, and every value must be valid UTF-8; `value_bytes` is the
/// sum of the valid values' lengths.
pub(crate) unsafe fn column_of_views(
    name: &str,
    views: Vec<View>,
    buffers: Vec<Buffer<u8>>,
    validity: Option<Bitmap>,
    value_bytes: usize,
) -> StringChunked {
    let buffer_bytes = buffers.iter().map(|b| b.len()).sum();
    // SAFETY: as the caller promises; debug builds check the views again.
    let array = unsafe {
        Utf8ViewArray::new_unchecked(
            ArrowDataType::Utf8View,
            views.into(),
            buffers.into(),
            validity,
            Some(value_bytes),
            buffer_bytes,
        )
    };
    StringChunked::with_chunk(name.into(), array)
}

/// A text column whose row `i` is `values[ids[i]]` (a `None` value is a null).
pub(crate) fn repeat(name: &str, values: &[Option<&str>], ids: &[u32]) -> StringChunked {
    let mut buffer = Vec::new();
    let dictionary: Vec<Option<View>> = values
        .iter()
        .map(|v| {
            v.map(|s| {
                let offset = buffer.len() as u32;
                if s.len() > View::MAX_INLINE_SIZE as usize {
                    buffer.extend_from_slice(s.as_bytes());
                }
                View::new_from_bytes(s.as_bytes(), 0, offset)
            })
        })
        .collect();
    let mut views = Vec::with_capacity(ids.len());
    let mut value_bytes = 0usize;
    let mut nulls = 0usize;
    for &id in ids {
        match dictionary[id as usize] {
            Some(v) => {
                value_bytes += v.length as usize;
                views.push(v);
            }
            None => {
                nulls += 1;
                views.push(View::default());
            }
        }
    }
    let validity = (nulls > 0).then(|| {
        let mut bits = MutableBitmap::with_capacity(ids.len());
        for &id in ids {
            bits.push(dictionary[id as usize].is_some());
        }
        bits.into()
    });
    // SAFETY: the long values were copied into `buffer` at the offsets their views record, and
    // they come from `&str`s.
    unsafe {
        column_of_views(
            name,
            views,
            vec![Buffer::from(buffer)],
            validity,
            value_bytes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_short_long_and_missing_values() {
        let values = [Some("MA-06"), None, Some("Laâyoune-Sakia El Hamra")];
        let col = repeat("region", &values, &[0, 2, 1, 2, 0]);
        let got: Vec<Option<&str>> = col.iter().collect();
        assert_eq!(
            got,
            vec![
                Some("MA-06"),
                Some("Laâyoune-Sakia El Hamra"),
                None,
                Some("Laâyoune-Sakia El Hamra"),
                Some("MA-06")
            ]
        );
        assert_eq!(col.null_count(), 1);
        assert_eq!(col.name().as_str(), "region");
    }
}
