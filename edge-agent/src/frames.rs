//! Reading still images safely: format by content (not by extension), bounded size.

use std::path::Path;

use image::{ImageReader, Limits, RgbImage};

/// The largest image side accepted, in pixels.
pub const MAX_SIDE: u32 = 12_000;

/// Errors of reading an image.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an image, is corrupt, or is too large.
    #[error("{path} is not a readable image: {reason}")]
    Decode {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Decodes an image from bytes, sniffing the format, refusing images over [`MAX_SIDE`] or
/// needing more than 512 MiB.
pub fn decode(bytes: &[u8], path: &Path) -> Result<RgbImage, FrameError> {
    let fail = |reason: String| FrameError::Decode {
        path: path.display().to_string(),
        reason,
    };
    if bytes.is_empty() {
        return Err(fail("the file is empty".into()));
    }
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    if reader.format().is_none() {
        return Err(fail("unknown image format".into()));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| fail(e.to_string()))?;
    Ok(image.to_rgb8())
}

/// Reads and decodes an image file.
pub fn read(path: &Path) -> Result<RgbImage, FrameError> {
    let bytes = std::fs::read(path).map_err(|source| FrameError::Io {
        path: path.display().to_string(),
        source,
    })?;
    decode(&bytes, path)
}

/// The files under `path` (itself if a file), sorted, recursing into folders.
pub fn list_files(path: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_garbage_and_truncated_files_are_clear_errors() {
        let p = Path::new("x.jpg");
        assert!(decode(b"", p).unwrap_err().to_string().contains("empty"));
        assert!(
            decode(b"hello, not an image", p)
                .unwrap_err()
                .to_string()
                .contains("unknown image format")
        );
        let mut png = Vec::new();
        RgbImage::new(8, 8)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(decode(&png, p).unwrap().dimensions(), (8, 8));
        assert!(decode(&png[..png.len() / 2], p).is_err());
    }

    #[test]
    fn a_huge_image_is_refused_before_it_is_decoded() {
        let mut png = Vec::new();
        image::GrayImage::new(MAX_SIDE + 1, 1)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(decode(&png, Path::new("big.png")).is_err());
    }
}
