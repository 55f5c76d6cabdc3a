//! The `edge-agent` binary on bad input: unreadable images, a broken model, a bad config,
//! no token. Each gives a clear message; `classify` goes on past bad files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use maskgate_tests::{temp_dir, workspace_binary, workspace_root};

fn edge_agent() -> Command {
    let mut cmd = Command::new(workspace_binary(
        "edge-agent",
        "maskgate-edge-agent",
        "edge-agent",
    ));
    cmd.current_dir(workspace_root())
        .env_remove("EDGE_AGENT_TOKEN")
        .env_remove("EDGE_AGENT_CONFIG")
        .env_remove("EDGE_AGENT_MODEL");
    cmd
}

/// How a run that may go on forever ended.
enum Ended {
    /// It exited by itself.
    Exited(Output),
    /// It was still running when its stderr said the awaited words (all of its stderr so
    /// far); it was killed.
    Said(String),
}

/// Runs `cmd` until it exits or its stderr contains `words` (then kills it); at most 60 s.
fn run_until(cmd: &mut Command, words: &str) -> Ended {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut pipe = child.stderr.take().expect("stderr");
    let reader = {
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&seen.lock().expect("lock")).into_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            reader.join().expect("reader");
            return Ended::Exited(Output {
                status,
                stdout: Vec::new(),
                stderr: seen.lock().expect("lock").clone(),
            });
        }
        if text().contains(words) {
            child.kill().expect("kill");
            child.wait().expect("wait");
            return Ended::Said(text());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "neither exited nor said `{words}` in 60 s: {}",
            text()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A BMP header claiming 100,000 × 100,000 pixels: 30 GB if anyone believed it.
fn huge_bmp() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&100_000i32.to_le_bytes());
    b.extend_from_slice(&100_000i32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0u8; 24]);
    b
}

fn bad_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("dir");
    let files = [
        ("empty.jpg", Vec::new()),
        ("corrupt.jpg", {
            let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
            jpeg.extend_from_slice(b"JFIF garbage that is not a JPEG at all");
            jpeg
        }),
        ("huge.bmp", huge_bmp()),
        ("notes.txt", b"a text file among the photos".to_vec()),
    ];
    files
        .into_iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).expect("write");
            path
        })
        .collect()
}

#[test]
fn classify_reports_each_bad_file_and_goes_on() {
    let dir = temp_dir();
    let bad = bad_files(&dir.join("photos"));
    // One good image: a blank frame has no face, which is a result, not an error.
    let blank = dir.join("photos/zz-blank.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([120, 130, 140]))
        .save(&blank)
        .expect("blank png");
    let out = edge_agent()
        .arg("classify")
        .arg(dir.join("photos"))
        .output()
        .expect("classify");
    assert!(out.status.success(), "one readable image: {}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), bad.len() + 1, "one line per file");
    for line in &lines {
        let image = line["image"].as_str().expect("image");
        if image.ends_with("zz-blank.png") {
            assert!(line["faces"].is_array(), "{line}");
        } else {
            let error = line["error"].as_str().unwrap_or_else(|| panic!("{line}"));
            assert!(error.contains(image), "the error names the file: {error}");
        }
    }
    let huge = lines
        .iter()
        .find(|l| l["image"].as_str().is_some_and(|i| i.ends_with("huge.bmp")))
        .expect("huge line");
    assert!(huge["error"].as_str().is_some());

    // Nothing readable at all: a non-zero exit.
    std::fs::remove_file(&blank).expect("rm");
    let out = edge_agent()
        .arg("classify")
        .arg(dir.join("photos"))
        .output()
        .expect("classify");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("0 images classified"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn run_refuses_a_broken_model_a_bad_config_and_a_missing_token_clearly() {
    let dir = temp_dir();
    std::fs::create_dir_all(dir.join("frames")).expect("dir");
    std::fs::write(dir.join("token"), "mgd_test\n").expect("token");
    std::fs::write(dir.join("broken.onnx"), b"this is not an onnx model").expect("model");
    let write_config = |name: &str, extra: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                "[server]\ntoken_file = \"token\"\n[camera]\nsource = \"folder\"\npath = \"frames\"\n\
                 [queue]\npath = \"queue.db\"\n{extra}"
            ),
        )
        .expect("config");
        path
    };

    let broken = write_config("broken.toml", "[classifier]\nmodel = \"broken.onnx\"\n");
    let out = edge_agent()
        .args(["run", "--config"])
        .arg(&broken)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("broken"), "{}", stderr(&out));

    let typo = write_config("typo.toml", "[decision]\nwindwo = 5\n");
    let out = edge_agent()
        .args(["run", "--config"])
        .arg(&typo)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("windwo"), "{}", stderr(&out));

    // The default camera is V4L2, a cargo feature. A build without it says so and stops
    // instead of retrying forever; a build with it (as CI's, when libclang is installed)
    // retries a camera that is not there yet, which may be plugged in later, and says so.
    let v4l2 = dir.join("v4l2.toml");
    std::fs::write(
        &v4l2,
        format!(
            "[server]\ntoken_file = \"token\"\n[queue]\npath = \"queue.db\"\n\
             [classifier]\nmodel = \"{}\"\n[camera]\ndevice = \"/dev/maskgate-no-such-camera\"\n",
            workspace_root()
                .join("models/maskgate-cnn-v1.json")
                .display()
        ),
    )
    .expect("config");
    match run_until(
        edge_agent().args(["run", "--config"]).arg(&v4l2),
        "cannot open the camera source yet",
    ) {
        Ended::Exited(out) => {
            assert!(!out.status.success());
            assert!(stderr(&out).contains("without V4L2"), "{}", stderr(&out));
        }
        Ended::Said(text) => {
            assert!(text.contains("/dev/maskgate-no-such-camera"), "{text}");
        }
    }

    std::fs::remove_file(dir.join("token")).expect("rm token");
    let no_token = write_config("no-token.toml", "");
    let out = edge_agent()
        .args(["run", "--config"])
        .arg(&no_token)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no device token"), "{}", stderr(&out));
    std::fs::remove_dir_all(dir).ok();
}
