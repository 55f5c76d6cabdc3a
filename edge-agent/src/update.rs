//! Model updates: the door asks the server which model to run, downloads it, checks its
//! SHA-256, loads it beside the running one, self-tests it, and only then swaps it in
//! between two frames. On any failure it keeps the running model and says why in its
//! heartbeat.
//!
//! The self-test has two parts. Loading runs the manifest's test vector on this CPU (the
//! same numbers the trainer saw). Then the pipeline thread runs both models on the faces the
//! door saw recently and refuses a new model that disagrees with the running one too often:
//! a model that loads and has the right shapes can still have its labels swapped or expect
//! another colour order, and that would fail every masked visitor.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use image::RgbImage;
use image::imageops::FilterType;
use maskgate_api_types::AssignedModel;
use tokio::sync::{oneshot, watch};

use crate::classify::{Classifier, FaceClassifier, sha256_hex};
use crate::crop::crop_rect;
use crate::decide::BBox;

/// The model the door runs, shared with the heartbeat.
#[derive(Debug, Clone, Default)]
pub struct ModelStatus(Arc<Mutex<RunningModel>>);

/// What the heartbeat reports about the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunningModel {
    /// `name@version`.
    pub version: String,
    /// SHA-256 of the ONNX file.
    pub sha256: String,
    /// Why the last update failed; `None` when the door runs what it was assigned.
    pub error: Option<String>,
}

impl ModelStatus {
    /// A status for the model the door starts with.
    pub fn new(classifier: &Classifier) -> Self {
        Self(Arc::new(Mutex::new(RunningModel {
            version: classifier.model_id(),
            sha256: classifier.manifest().sha256.to_ascii_lowercase(),
            error: None,
        })))
    }

    /// The current report.
    pub fn get(&self) -> RunningModel {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn set_running(&self, classifier: &Classifier) {
        if let Ok(mut m) = self.0.lock() {
            m.version = classifier.model_id();
            m.sha256 = classifier.manifest().sha256.to_ascii_lowercase();
            m.error = None;
        }
    }

    fn set_error(&self, error: Option<String>) {
        if let Ok(mut m) = self.0.lock() {
            // The server takes at most 1,000 characters.
            m.error = error.map(|e| e.chars().take(1000).collect());
        }
    }
}

/// Faces the door saw recently, kept (small) for comparing a new model with the running
/// one. They never leave the device.
#[derive(Debug)]
pub struct RecentFaces {
    faces: VecDeque<(RgbImage, BBox)>,
    capacity: usize,
}

/// The longest side a kept face region is shrunk to.
const RECENT_FACE_SIDE: u32 = 192;

impl RecentFaces {
    /// Keeps up to `capacity` faces, the newest.
    pub fn new(capacity: usize) -> Self {
        Self {
            faces: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Keeps the region around `face` of `frame` (the face and half its size on each side,
    /// so any model's crop rule can cut its own crop from it).
    pub fn record(&mut self, frame: &RgbImage, face: &BBox) {
        if self.capacity == 0 {
            return;
        }
        let rect = crop_rect(face, 0.5, frame.width(), frame.height());
        let region =
            image::imageops::crop_imm(frame, rect.x, rect.y, rect.width, rect.height).to_image();
        let scale = (RECENT_FACE_SIDE as f32 / rect.width.max(rect.height) as f32).min(1.0);
        let (w, h) = (
            ((rect.width as f32 * scale).round() as u32).max(1),
            ((rect.height as f32 * scale).round() as u32).max(1),
        );
        let region = if scale < 1.0 {
            image::imageops::resize(&region, w, h, FilterType::Triangle)
        } else {
            region
        };
        let bbox = BBox::new(
            (face.x1 - rect.x as f32) * scale,
            (face.y1 - rect.y as f32) * scale,
            (face.x2 - rect.x as f32) * scale,
            (face.y2 - rect.y as f32) * scale,
        );
        if self.faces.len() == self.capacity {
            self.faces.pop_front();
        }
        self.faces.push_back((region, bbox));
    }

    /// How many faces are kept.
    pub fn len(&self) -> usize {
        self.faces.len()
    }

    /// Whether no face is kept.
    pub fn is_empty(&self) -> bool {
        self.faces.is_empty()
    }

    /// On how many kept faces the two models reach the same decision (each by its own
    /// threshold), out of how many.
    pub fn agreement(
        &self,
        running: &Classifier,
        running_threshold: f32,
        candidate: &Classifier,
        candidate_threshold: f32,
    ) -> Result<(usize, usize), String> {
        let mut same = 0;
        for (region, face) in &self.faces {
            let old = running
                .mask_probability(region, face)
                .map_err(|e| e.to_string())?;
            let new = candidate
                .mask_probability(region, face)
                .map_err(|e| e.to_string())?;
            if (old >= running_threshold) == (new >= candidate_threshold) {
                same += 1;
            }
        }
        Ok((same, self.faces.len()))
    }
}

/// The agreement a candidate must reach with the running model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgreementRule {
    /// Below this many recent faces, no comparison is made.
    pub min_faces: usize,
    /// The least share of faces with the same decision.
    pub min_agreement: f32,
}

/// What the pipeline did with a model it was handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapVerdict {
    /// Swapped in; a note for the log.
    Swapped(String),
    /// Not yet: too few recent faces to compare on. Offered again later.
    Deferred(String),
    /// Refused, with the reason. Not offered again.
    Refused(String),
}

/// Judges an agreement count. With fewer faces than the rule needs, the swap waits: a
/// model nobody could check must not replace one that works.
pub fn judge_agreement(same: usize, of: usize, rule: AgreementRule) -> SwapVerdict {
    if of < rule.min_faces {
        return SwapVerdict::Deferred(format!(
            "waiting to compare it with the running model: {of} of {} recent faces seen",
            rule.min_faces
        ));
    }
    if of == 0 {
        return SwapVerdict::Swapped("not compared (model_update.min_faces = 0)".into());
    }
    let share = same as f32 / of as f32;
    if share + f32::EPSILON < rule.min_agreement {
        SwapVerdict::Refused(format!(
            "fails the self-test on this door's recent faces: agrees with the running model \
             on {same} of {of} ({:.0} %, needs {:.0} %)",
            share * 100.0,
            rule.min_agreement * 100.0
        ))
    } else {
        SwapVerdict::Swapped(format!(
            "agrees with the running model on {same} of {of} recent faces"
        ))
    }
}

/// A model to swap in, sent to the pipeline thread, which answers whether it did.
#[derive(Debug)]
pub struct SwapRequest {
    /// The loaded model.
    pub classifier: Classifier,
    /// Compare it with the running model on recent faces first (not for the installed one).
    pub compare: bool,
    /// The pipeline's verdict.
    pub reply: oneshot::Sender<SwapVerdict>,
}

/// Errors of the model folder.
#[derive(Debug, thiserror::Error)]
#[error("model folder {path}: {source}")]
pub struct ModelDirError {
    /// The file or folder.
    pub path: String,
    /// Why.
    pub source: std::io::Error,
}

/// The folder of downloaded models: `<key>.onnx`, `<key>.json` (its manifest) and `active`
/// (the key of the model in use; absent: the installed model). A key is the registry id and
/// the SHA-256 (`12-3fa4…`): two registry models may share one ONNX file with different
/// manifests.
#[derive(Debug, Clone)]
pub struct ModelDir {
    dir: PathBuf,
}

impl ModelDir {
    /// The folder at `dir` (made when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelDirError + '_ {
        move |source| ModelDirError {
            path: path.display().to_string(),
            source,
        }
    }

    /// The manifest of the active downloaded model, if one is active.
    pub fn active_manifest(&self) -> Option<PathBuf> {
        let key = std::fs::read_to_string(self.dir.join("active")).ok()?;
        let key = key.trim();
        is_key(key).then(|| self.dir.join(format!("{key}.json")))
    }

    /// Writes a file whole or not at all: a temporary file, fsync, rename, fsync the folder.
    fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, ModelDirError> {
        use std::io::Write;
        std::fs::create_dir_all(&self.dir).map_err(Self::err(&self.dir))?;
        let path = self.dir.join(name);
        let part = self.dir.join(format!("{name}.part"));
        let mut file = std::fs::File::create(&part).map_err(Self::err(&part))?;
        file.write_all(bytes).map_err(Self::err(&part))?;
        file.sync_all().map_err(Self::err(&part))?;
        std::fs::rename(&part, &path).map_err(Self::err(&path))?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(path)
    }

    /// Stores a downloaded model and its manifest (pointed at the stored file) under `key`;
    /// returns the manifest's path.
    pub fn store(
        &self,
        key: &str,
        onnx: &[u8],
        manifest: &serde_json::Value,
    ) -> Result<PathBuf, ModelDirError> {
        self.write_atomic(&format!("{key}.onnx"), onnx)?;
        let mut manifest = manifest.clone();
        manifest["file"] = serde_json::Value::String(format!("{key}.onnx"));
        let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        self.write_atomic(&format!("{key}.json"), &text)
    }

    /// Marks a stored model as the one to load at start; `None`: the installed model.
    pub fn set_active(&self, key: Option<&str>) -> Result<(), ModelDirError> {
        match key {
            Some(key) => self.write_atomic("active", key.as_bytes()).map(|_| ()),
            None => match std::fs::remove_file(self.dir.join("active")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Self::err(&self.dir.join("active"))(e))
                }
                _ => Ok(()),
            },
        }
    }

    /// The manifest path of the model stored under `key`.
    pub fn manifest(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// Whether the model under `key` was refused on this door.
    pub fn is_refused(&self, key: &str) -> bool {
        std::fs::read_to_string(self.dir.join("refused"))
            .is_ok_and(|text| text.lines().any(|line| line.trim() == key))
    }

    /// Remembers that the model under `key` was refused, across restarts.
    pub fn add_refused(&self, key: &str) -> Result<(), ModelDirError> {
        let mut text = std::fs::read_to_string(self.dir.join("refused")).unwrap_or_default();
        text.push_str(key);
        text.push('\n');
        self.write_atomic("refused", text.as_bytes()).map(|_| ())
    }

    /// Deletes stored models other than `keep` (the running one).
    pub fn prune(&self, keep: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name.split('.').next().unwrap_or_default();
            if is_key(stem) && stem != keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The folder key of a registry model.
pub fn model_key(id: i64, sha256: &str) -> String {
    format!("{id}-{}", sha256.to_ascii_lowercase())
}

fn is_key(s: &str) -> bool {
    s.split_once('-').is_some_and(|(id, sha)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && sha.len() == 64
            && sha.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// Asks the server for the assigned model every `poll` and brings the door to it.
#[derive(Debug)]
pub struct Updater {
    /// The server's base URL.
    pub server_url: String,
    /// The device token.
    pub token: String,
    /// Time between polls.
    pub poll: Duration,
    /// Where downloads go.
    pub dir: ModelDir,
    /// The model the door was installed with (`classifier.model`).
    pub installed: PathBuf,
    /// The running model, as the heartbeat reports it.
    pub status: ModelStatus,
    /// The pipeline thread's swap requests.
    pub swaps: mpsc::Sender<SwapRequest>,
}

impl Updater {
    /// Polls until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let client = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "cannot make the model updater's HTTP client");
                return;
            }
        };
        let mut deferred_logged = None;
        while !*stop.borrow() {
            match self.poll_once(&client).await {
                Ok(Some(note)) => {
                    // Said once per model, not once per poll.
                    if deferred_logged.as_ref() != Some(&note) {
                        tracing::info!(%note, "the assigned model waits");
                        deferred_logged = Some(note);
                    }
                }
                Ok(None) => deferred_logged = None,
                Err(e) => tracing::debug!(error = %e, "model update check failed; will retry"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One check: fetch the assignment and act on it. `Ok(Some(note))` when the assigned
    /// model waits for enough faces to be checked on; `Err` only for transient failures
    /// (network, server, disk), which the next poll retries.
    pub async fn poll_once(&self, client: &reqwest::Client) -> Result<Option<String>, String> {
        let base = self.server_url.trim_end_matches('/');
        let response = client
            .get(format!("{base}/api/v1/devices/me/model"))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("cannot reach the server: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("the server answered HTTP {}", response.status()));
        }
        let assigned: AssignedModel = response
            .json()
            .await
            .map_err(|e| format!("unreadable assignment: {e}"))?;
        let running = self.status.get();
        let Some(model) = assigned.model else {
            return self.return_to_installed(&running).await.map(|()| None);
        };
        let sha = model.sha256.to_ascii_lowercase();
        if sha == running.sha256 && model.model_id() == running.version {
            // Already running it (after a rollback to it, say): nothing is wrong any more.
            if running.error.is_some() {
                self.status.set_error(None);
            }
            return Ok(None);
        }
        let key = model_key(model.id, &sha);
        // A model refused here (also before a restart) is not tried again until the
        // server assigns another.
        if self.dir.is_refused(&key) {
            return Ok(None);
        }
        let candidate = match self.cached(&key).await {
            Some(candidate) => candidate,
            None => match self.download(client, &model, &sha, &key).await? {
                Ok(candidate) => candidate,
                Err(reason) => return Ok(self.refuse(&key, &model.model_id(), reason)),
            },
        };
        match self.swap(candidate, true).await? {
            SwapVerdict::Swapped(note) => {
                tracing::info!(model = %model.model_id(), %note, "now running the assigned model");
                if let Err(e) = self.dir.set_active(Some(&key)) {
                    tracing::error!(error = %e, "cannot record the active model; a restart will load the previous one");
                }
                self.dir.prune(&key);
                Ok(None)
            }
            SwapVerdict::Deferred(note) => Ok(Some(format!("{}: {note}", model.model_id()))),
            SwapVerdict::Refused(reason) => Ok(self.refuse(&key, &model.model_id(), reason)),
        }
    }

    /// The model stored under `key` by an earlier poll, if it still loads.
    async fn cached(&self, key: &str) -> Option<Classifier> {
        let manifest = self.dir.manifest(key);
        if !manifest.exists() {
            return None;
        }
        tokio::task::spawn_blocking(move || Classifier::load(&manifest).ok())
            .await
            .ok()
            .flatten()
    }

    /// Downloads, checks and loads a model. The outer `Err` is transient (retry); the
    /// inner one means the model itself is unusable here.
    async fn download(
        &self,
        client: &reqwest::Client,
        model: &maskgate_api_types::Model,
        sha: &str,
        key: &str,
    ) -> Result<Result<Classifier, String>, String> {
        let base = self.server_url.trim_end_matches('/');
        tracing::info!(model = %model.model_id(), sha256 = %sha, "the server assigned a new model; downloading");
        let response = client
            .get(format!("{base}/api/v1/devices/me/model/{sha}"))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("cannot download the model: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("downloading the model: HTTP {}", response.status()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("the model download broke off: {e}"))?;
        let got = sha256_hex(&bytes);
        if got != sha {
            // A proxy or a broken link, not the model: try again next time.
            return Err(format!(
                "the download has SHA-256 {got}, the server promised {sha}"
            ));
        }
        let dir = self.dir.clone();
        let manifest = model.manifest.clone();
        let store_key = key.to_owned();
        let stored = tokio::task::spawn_blocking(move || {
            let path = dir.store(&store_key, &bytes, &manifest)?;
            Ok::<_, ModelDirError>(Classifier::load(&path).map_err(|e| e.to_string()))
        })
        .await
        .map_err(|e| e.to_string())?;
        match stored {
            Ok(loaded) => Ok(loaded),
            // A full disk is no fault of the model: say so, and retry.
            Err(e) => {
                self.status
                    .set_error(Some(format!("cannot store {}: {e}", model.model_id())));
                Err(e.to_string())
            }
        }
    }

    fn refuse(&self, key: &str, model: &str, reason: String) -> Option<String> {
        let running = self.status.get().version;
        tracing::error!(%model, %reason, %running, "refused the assigned model; keeping the running one");
        if let Err(e) = self.dir.add_refused(key) {
            tracing::warn!(error = %e, "cannot remember the refusal; will check the model again after a restart");
        }
        self.status
            .set_error(Some(format!("refused {model}: {reason}")));
        None
    }

    async fn return_to_installed(&self, running: &RunningModel) -> Result<(), String> {
        if self.dir.active_manifest().is_none() && running.error.is_none() {
            return Ok(());
        }
        let installed = self.installed.clone();
        let classifier = tokio::task::spawn_blocking(move || Classifier::load(&installed))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot load the installed model: {e}"))?;
        if classifier
            .manifest()
            .sha256
            .eq_ignore_ascii_case(&running.sha256)
            && classifier.model_id() == running.version
        {
            self.status.set_error(None);
            let _ = self.dir.set_active(None);
            return Ok(());
        }
        tracing::info!(model = %classifier.model_id(), "no model assigned any more: back to the installed one");
        match self.swap(classifier, false).await? {
            SwapVerdict::Swapped(_) => {
                if let Err(e) = self.dir.set_active(None) {
                    tracing::error!(error = %e, "cannot clear the active model");
                }
                Ok(())
            }
            SwapVerdict::Deferred(reason) | SwapVerdict::Refused(reason) => Err(reason),
        }
    }

    /// Hands a model to the pipeline thread and waits for its verdict.
    async fn swap(&self, classifier: Classifier, compare: bool) -> Result<SwapVerdict, String> {
        let (reply, verdict) = oneshot::channel();
        self.swaps
            .send(SwapRequest {
                classifier,
                compare,
                reply,
            })
            .map_err(|_| "the pipeline has stopped".to_string())?;
        let verdict = verdict
            .await
            .map_err(|_| "the pipeline has stopped".to_string())?;
        if matches!(verdict, SwapVerdict::Swapped(_)) {
            self.status.set_error(None);
        }
        Ok(verdict)
    }
}

/// The pipeline thread's side of a swap: compare (when asked), then swap, wait or refuse.
/// Returns the new pass threshold when it swapped.
pub fn apply_swap(
    request: SwapRequest,
    running: &mut Arc<Classifier>,
    threshold_override: Option<f32>,
    recent: &RecentFaces,
    rule: AgreementRule,
    status: &ModelStatus,
) -> Option<f32> {
    let candidate = request.classifier;
    let new_threshold = threshold_override.unwrap_or_else(|| candidate.threshold());
    let verdict = if request.compare {
        let old_threshold = threshold_override.unwrap_or_else(|| running.threshold());
        match recent.agreement(running, old_threshold, &candidate, new_threshold) {
            Ok((same, of)) => judge_agreement(same, of, rule),
            Err(e) => SwapVerdict::Refused(format!("fails on this door's faces: {e}")),
        }
    } else {
        SwapVerdict::Swapped("the installed model".to_string())
    };
    let swapped = matches!(verdict, SwapVerdict::Swapped(_));
    if swapped {
        status.set_running(&candidate);
        *running = Arc::new(candidate);
    }
    let _ = request.reply.send(verdict);
    swapped.then_some(new_threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: AgreementRule = AgreementRule {
        min_faces: 4,
        min_agreement: 0.75,
    };

    #[test]
    fn with_too_few_faces_the_swap_waits_and_says_so() {
        let SwapVerdict::Deferred(note) = judge_agreement(3, 3, RULE) else {
            panic!("a model nobody could check went in");
        };
        assert!(note.contains("3 of 4 recent faces"), "{note}");
        let off = AgreementRule {
            min_faces: 0,
            min_agreement: 0.75,
        };
        assert!(matches!(
            judge_agreement(0, 0, off),
            SwapVerdict::Swapped(_)
        ));
    }

    #[test]
    fn a_model_that_disagrees_too_often_is_refused_with_the_numbers() {
        let SwapVerdict::Refused(reason) = judge_agreement(2, 8, RULE) else {
            panic!("not refused");
        };
        assert!(
            reason.contains("2 of 8") && reason.contains("25 %"),
            "{reason}"
        );
        assert!(
            matches!(judge_agreement(6, 8, RULE), SwapVerdict::Swapped(_)),
            "exactly the share needed passes"
        );
        assert!(matches!(
            judge_agreement(8, 8, RULE),
            SwapVerdict::Swapped(_)
        ));
    }

    #[test]
    fn the_model_folder_keeps_the_active_model_across_restarts() {
        let dir = std::env::temp_dir().join(format!("mg-models-{}", uuid::Uuid::new_v4().simple()));
        let models = ModelDir::new(&dir);
        assert_eq!(models.active_manifest(), None);
        let sha = model_key(7, &"a".repeat(64));
        let manifest = serde_json::json!({"name": "m", "file": "elsewhere.onnx"});
        let path = models.store(&sha, b"onnx", &manifest).expect("store");
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(written["file"], format!("{sha}.onnx"));
        models.set_active(Some(&sha)).expect("activate");
        assert_eq!(ModelDir::new(&dir).active_manifest(), Some(path));
        models.set_active(None).expect("deactivate");
        assert_eq!(models.active_manifest(), None);
        models.set_active(None).expect("deactivating twice is fine");
        assert!(!models.is_refused(&sha));
        models.add_refused(&sha).expect("refuse");
        assert!(
            ModelDir::new(&dir).is_refused(&sha),
            "a refusal survives a restart"
        );
        let other = model_key(8, &"b".repeat(64));
        models.store(&other, b"x", &manifest).expect("store");
        models.prune(&other);
        assert!(!dir.join(format!("{sha}.onnx")).exists());
        assert!(dir.join(format!("{other}.onnx")).exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
