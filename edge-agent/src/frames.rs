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

/// Shrinks `frame` to `width`×`height` for a detector: halves it by 2×2 averaging while it is
/// at least twice the target (exact, and much cheaper than a filter over the full frame: a
/// 640×480 frame to 320×240 is one halving), then resizes the rest bilinearly.
pub fn downscale(frame: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (width, height) = (width.max(1), height.max(1));
    let mut current: Option<RgbImage> = None;
    loop {
        let image = current.as_ref().unwrap_or(frame);
        if image.width() < width * 2 || image.height() < height * 2 {
            break;
        }
        current = Some(halve(image));
    }
    let image = current.as_ref().unwrap_or(frame);
    if image.dimensions() == (width, height) {
        return current.unwrap_or_else(|| frame.clone());
    }
    image::DynamicImage::ImageRgb8(image.clone())
        .resize_exact(width, height, image::imageops::FilterType::Triangle)
        .to_rgb8()
}

/// Each output pixel is the mean of a 2×2 block (an odd last row or column is dropped).
fn halve(image: &RgbImage) -> RgbImage {
    let (w, h) = (image.width() / 2, image.height() / 2);
    let src = image.as_raw();
    let stride = image.width() as usize * 3;
    let mut out = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h as usize {
        let top = &src[2 * y * stride..];
        let bottom = &src[(2 * y + 1) * stride..];
        for x in 0..w as usize {
            for c in 0..3 {
                let i = 6 * x + c;
                let sum = u16::from(top[i])
                    + u16::from(top[i + 3])
                    + u16::from(bottom[i])
                    + u16::from(bottom[i + 3]);
                out.push(((sum + 2) / 4) as u8);
            }
        }
    }
    RgbImage::from_raw(w, h, out).unwrap_or_else(|| RgbImage::new(w, h))
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
    fn downscaling_halves_by_averaging_then_resizes_the_rest() {
        let frame = RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x % 2 * 100) as u8, (y % 2 * 200) as u8, 7])
        });
        let half = downscale(&frame, 320, 240);
        assert_eq!(half.dimensions(), (320, 240));
        assert_eq!(half.get_pixel(10, 10).0, [50, 100, 7]);
        assert_eq!(downscale(&frame, 300, 200).dimensions(), (300, 200));
        assert_eq!(downscale(&frame, 640, 480), frame);
        assert_eq!(downscale(&frame, 1000, 900).dimensions(), (1000, 900));
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
