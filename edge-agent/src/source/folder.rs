//! A folder of images played as camera frames: for demos, tests and replaying recordings.

use std::path::{Path, PathBuf};

use image::RgbImage;

use super::{FrameSource, SourceError, empty_frame};
use crate::frames;

/// Plays the images of a folder in name order. Each image is shown for `hold` frames (a
/// person standing at the door), then `gap` empty frames (they walk on).
#[derive(Debug)]
pub struct FolderSource {
    root: PathBuf,
    files: Vec<PathBuf>,
    hold: u32,
    gap: u32,
    repeat: bool,
    next_file: usize,
    current: Option<RgbImage>,
    held: u32,
    gaps_left: u32,
}

impl FolderSource {
    /// Lists the folder; fails if it is missing or holds no files.
    pub fn open(root: &Path, hold: u32, gap: u32, repeat: bool) -> Result<Self, SourceError> {
        let unavailable = |reason: String| SourceError::Unavailable {
            source_name: root.display().to_string(),
            reason,
        };
        if !root.is_dir() {
            return Err(unavailable("no such folder".into()));
        }
        let files = frames::list_files(root).map_err(|e| unavailable(e.to_string()))?;
        if files.is_empty() {
            return Err(unavailable("the folder holds no files".into()));
        }
        Ok(Self {
            root: root.to_path_buf(),
            files,
            hold: hold.max(1),
            gap,
            repeat,
            next_file: 0,
            current: None,
            held: 0,
            gaps_left: 0,
        })
    }

    /// The number of images in the folder.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the folder holds no images (never true after a successful `open`).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl FrameSource for FolderSource {
    fn describe(&self) -> String {
        format!(
            "folder {} ({} files)",
            self.root.display(),
            self.files.len()
        )
    }

    fn next_frame(&mut self) -> Result<Option<RgbImage>, SourceError> {
        if let Some(frame) = &self.current {
            if self.held < self.hold {
                self.held += 1;
                return Ok(Some(frame.clone()));
            }
            if self.gaps_left > 0 {
                self.gaps_left -= 1;
                return Ok(Some(empty_frame(frame.width(), frame.height())));
            }
            self.current = None;
        }
        if self.next_file >= self.files.len() {
            if !self.repeat {
                return Ok(None);
            }
            self.next_file = 0;
        }
        let path = &self.files[self.next_file];
        self.next_file += 1;
        let frame = frames::read(path).map_err(|e| SourceError::BadFrame {
            source_name: self.root.display().to_string(),
            reason: e.to_string(),
        })?;
        self.held = 1;
        self.gaps_left = self.gap;
        self.current = Some(frame.clone());
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with(names: &[(&str, &[u8])]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mg-folder-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, bytes) in names {
            std::fs::write(dir.join(name), bytes).expect("write");
        }
        dir
    }

    fn png(shade: u8) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        RgbImage::from_pixel(8, 6, image::Rgb([shade, shade, shade]))
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    }

    #[test]
    fn images_are_held_then_followed_by_gaps_and_a_corrupt_file_is_one_bad_frame() {
        let dir = folder_with(&[
            ("a.png", &png(10)),
            ("b.jpg", b"not a jpeg"),
            ("c.png", &png(200)),
        ]);
        let mut source = FolderSource::open(&dir, 2, 1, false).expect("open");
        let mut seen = Vec::new();
        loop {
            match source.next_frame() {
                Ok(Some(frame)) => seen.push(format!("{}", frame.get_pixel(0, 0)[0])),
                Ok(None) => break,
                Err(SourceError::BadFrame { reason, .. }) => {
                    assert!(reason.contains("b.jpg"), "{reason}");
                    seen.push("bad".into());
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(seen.len(), 7, "{seen:?}");
        assert_eq!(&seen[..2], ["10", "10"]);
        assert_eq!(seen[3], "bad");
        assert_eq!(&seen[4..6], ["200", "200"]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_missing_or_empty_folder_is_a_clear_error() {
        let err =
            FolderSource::open(Path::new("/nonexistent/frames"), 1, 0, false).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/frames"), "{err}");
        let dir = folder_with(&[]);
        let err = FolderSource::open(&dir, 1, 0, false).expect_err("empty");
        assert!(err.to_string().contains("no files"), "{err}");
    }
}
